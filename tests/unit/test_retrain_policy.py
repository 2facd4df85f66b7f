"""Retraining triggers: K critical signals for N windows, a minimum interval, stable keys."""

from __future__ import annotations

from typing import Any

from detectors.evaluate import SignalResult
from tests.unit.test_alert_state import Run, _model, _psi


def _retrain(**policy: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"sinks": ["retrain"], "min_critical_signals": 2, "for_windows": 2}
    return {"retrain": base | policy, "alerts": []}


def _window(run: Run, *critical: str) -> list[str]:
    results = [_psi(s, 0.4 if s in critical else 0.01) for s in ("amount", "age", "country")]
    return [m.key for m in run.feed(*results).outbox if m.kind == "retrain"]


def _error_rate(severity: str) -> SignalResult:
    """A window's performance verdict, judged when its labels came."""
    return SignalResult(
        signal="error_rate",
        role="performance",
        method="binomial",
        score={"ok": 0.01, "critical": 0.2}[severity],
        p_value=1e-6 if severity == "critical" else 0.5,
        statistic=None,
        warn=0.05,
        critical=0.1,
        drifted=severity != "ok",
        severity=severity,
    )


def test_retraining_starts_after_k_critical_signals_persist_for_n_windows() -> None:
    run = Run(_model(**_retrain(min_interval_seconds=0)))

    keys = [_window(run, "amount", "age") for _ in range(2)]

    assert keys == [[], ["fraud/retrain/1"]]


def test_one_critical_signal_is_not_enough_when_k_is_two() -> None:
    run = Run(_model(**_retrain(min_interval_seconds=0)))

    assert [_window(run, "amount") for _ in range(4)] == [[], [], [], []]


def test_persistent_drift_triggers_again_only_after_the_minimum_interval() -> None:
    # Windows are 10 s of event time; triggers at least 35 s apart.
    run = Run(_model(**_retrain(min_interval_seconds=35)))

    keys = [k for _ in range(8) for k in _window(run, "amount", "age")]

    assert keys == ["fraud/retrain/1", "fraud/retrain/2"]
    triggers = [i for i, p in enumerate(run.plans) if p.trigger is not None]
    assert triggers == [1, 5]


def test_trigger_payload_carries_the_evidence_and_its_idempotency_key() -> None:
    run = Run(_model(**_retrain(min_interval_seconds=0)))
    _window(run, "amount", "age")

    (message,) = run.feed(_psi("amount", 0.4), _psi("age", 0.3)).outbox

    payload = message.facts
    assert payload["idempotency_key"] == "fraud/retrain/1"
    assert payload["reason"] == (
        "critical drift on 2 signal(s) (age, amount) for 2 window(s) in a row"
    )
    assert [s["signal"] for s in payload["signals"]] == ["age", "amount"]
    assert [w["id"] for w in payload["windows"]] == [0, 1]
    assert payload["reference"] == {"id": "ref", "events": 1}
    # The alert facts of docs/formats.md, so a receiver of alerts can take it as one.
    assert set(payload) >= {
        "dedup_key",
        "status",
        "severity",
        "model",
        "model_version",
        "kind",
        "feature",
        "method",
        "score",
        "threshold",
        "p_value",
        "window",
        "reference",
        "detected_at",
        "message",
    }
    assert (payload["dedup_key"], payload["status"]) == ("fraud/retrain", "firing")


def test_a_late_performance_verdict_that_is_not_critical_leaves_the_streak_as_it_was() -> None:
    run = Run(_model(**_retrain(min_critical_signals=1, min_interval_seconds=0)))
    _window(run, "amount")

    run.feed(_error_rate("ok"), late_for=0)

    assert _window(run, "amount") == ["fraud/retrain/1"]


def test_a_late_critical_performance_verdict_counts_a_window_the_drift_did_not() -> None:
    run = Run(_model(**_retrain(min_critical_signals=1, min_interval_seconds=0)))
    _window(run)

    run.feed(_error_rate("critical"), late_for=0)

    assert _window(run, "amount") == ["fraud/retrain/1"]


def test_a_window_counts_once_when_drift_and_its_late_verdict_are_both_critical() -> None:
    run = Run(_model(**_retrain(min_critical_signals=1, for_windows=3, min_interval_seconds=0)))
    _window(run, "amount")

    late = run.feed(_error_rate("critical"), late_for=0)

    assert late.trigger is None
    assert _window(run, "amount") == []
    assert _window(run, "amount") == ["fraud/retrain/1"]
    trigger = run.plans[-1].trigger
    assert trigger is not None
    assert [s["signal"] for s in trigger.windows[0]["signals"]] == ["amount", "error_rate"]


def test_a_window_judged_on_labels_before_it_closed_counts_once_when_it_closes() -> None:
    run = Run(_model(**_retrain(min_critical_signals=1, for_windows=2, min_interval_seconds=0)))
    run.feed(_error_rate("critical"), late_for=0)

    assert _window(run, "amount") == []
    assert _window(run, "amount") == ["fraud/retrain/1"]
    trigger = run.plans[-1].trigger
    assert trigger is not None
    assert [w["id"] for w in trigger.windows] == [0, 1]
