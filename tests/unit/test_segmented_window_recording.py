"""Recording a segmented window of thousands of results: its alert observations and its
latest-results fields, checked against straightforward per-result computations."""

from __future__ import annotations

import json
import math
import random
from dataclasses import replace
from typing import Any

from detectors.estimation import Estimate
from detectors.evaluate import SignalResult
from detectors.multivariate import Contributor
from detectors.tail import NamedValue
from monitor import bulk_json
from monitor.alerts.plan import StoredAlerts, plan_window
from monitor.alerts.rules import Evidence, judge, kind_of, observe, segment_key
from monitor.alerts.state import WindowFacts
from monitor.config import AlertRuleConfig, Levels, ModelConfig, parse_config
from monitor.evaluation import WindowReport, latest_fields
from monitor.store import _latest_results


def _model() -> ModelConfig:
    """A model with the default alert rule (a key goes pending on its first breach)."""
    section = {
        "reference": {"path": "ref.jsonl"},
        "window": {"events": 500},
        "features": {"amount": "numeric"},
        "prediction": "numeric",
        "segments": ["tags.segment"],
    }
    return parse_config({"models": {"fraud": section}}, environ={}).models["fraud"]


SEGMENTS = [f"segment=s{i}" for i in range(20)]
ROLES_AND_METHODS = [
    ("feature", "psi"),
    ("feature", "ks"),
    ("feature", "missing_rate"),
    ("prediction", "psi"),
    ("multivariate", "correlation"),
    ("segment", "psi"),
]


def _result(rng: random.Random, signal: str, role: str, method: str, part: str | None) -> Any:
    flagged = rng.random() < 0.03
    score = rng.choice([0.05, 0.12, 0.3, math.nan]) if flagged else rng.random() * 0.1
    return SignalResult(
        signal=signal,
        role=role,  # type: ignore[arg-type]
        method=method,
        score=score,
        p_value=rng.choice([None, rng.random()]),
        statistic=rng.random(),
        warn=0.1,
        critical=0.25,
        drifted=flagged,
        severity=rng.choice(["ok", "ok", "ok", "insufficient"]) if not flagged else "warning",
        attribution=(Contributor(("a", "b"), 0.1, 0.7, 3.0),) if role == "multivariate" else (),
        values=(NamedValue("x", 9, 8, 0.2, True),) if method == "missing_rate" else (),
        estimate=Estimate("accuracy", 0.8, 0.01, 500, 0.9) if rng.random() < 0.01 else None,
        segment=part,
        no_drift=rng.choice([None, 0.01]),
    )


def _window(seed: int) -> list[SignalResult]:
    """Whole-model and per-segment results of many signals, shuffled: a key's results
    are spread over the window, as a rule filtering methods would see them."""
    rng = random.Random(seed)
    results = [
        _result(rng, f"{role}_{n}", role, method, part)
        for part in [None, *SEGMENTS]
        for n in range(20)
        for role, method in ROLES_AND_METHODS
    ]
    rng.shuffle(results)
    return results


RULES = [
    AlertRuleConfig(
        name="features", kinds=("feature_drift",), thresholds={"psi": Levels(0.11, 0.2)}
    ),
    AlertRuleConfig(name="ks", kinds=("feature_drift",), methods=("ks",), resolve_windows=3),
    AlertRuleConfig(name="quality", kinds=("data_quality",), methods=("missing_rate",)),
    AlertRuleConfig(name="by_method", kinds=("prediction_drift",), methods=("psi",)),
    AlertRuleConfig(
        name="joint",
        kinds=("multivariate_drift", "segment_share_drift"),
        signals=("multivariate_1", "multivariate_2", "segment_3"),
        grouping="model",
    ),
]


def _reference_observe(model: str, results: list[SignalResult]) -> list[dict[str, Any]]:
    """Every result judged by every rule, grouped per key in order of first evidence."""
    out = []
    for rule in RULES:
        evidence: list[Evidence] = [
            judge(r, rule, kind_of(r))
            for r in results
            if r.severity != "insufficient"
            and kind_of(r) in rule.kinds
            and (not rule.signals or r.signal in rule.signals)
            and (not rule.methods or r.method in rule.methods)
        ]
        if rule.grouping == "model" and evidence:
            kind = max(evidence, key=lambda e: e.weight).kind
            out.append(_summary(f"{model}/{rule.name}", kind, evidence))
            continue
        groups: dict[tuple[str, str, str], list[Evidence]] = {}
        for e in evidence:
            groups.setdefault((e.kind, e.signal, segment_key(e.segment)), []).append(e)
        for (kind, signal, key), items in groups.items():
            out.append(_summary(f"{model}/{kind}/{signal}{key}", kind, items))
    return out


def _summary(key: str, kind: str, evidence: list[Evidence]) -> dict[str, Any]:
    breaching = [e for e in evidence if e.breaching]
    return {
        "key": key,
        "kind": kind,
        "evidence": json.dumps([e.to_dict() for e in evidence]),
        "breaching": bool(breaching),
        "severity": "critical" if any(e.severity == "critical" for e in evidence) else "warning",
        "worst": max(breaching or evidence, key=lambda e: e.weight).to_dict(),
        "segments": sorted({e.segment for e in breaching if e.segment}),
    }


def test_thousands_of_results_make_the_observations_of_judging_each_result_by_each_rule() -> None:
    results = _window(seed=3)
    assert len(results) > 2_500
    seen = [
        {
            "key": o.dedup_key,
            "kind": o.kind,
            "evidence": json.dumps([e.to_dict() for e in o.evidence]),
            "breaching": o.breaching,
            "severity": o.severity,
            "worst": o.worst.to_dict(),
            "segments": o.segments,
        }
        for o in observe("fraud", RULES, results)
    ]
    expected = _reference_observe("fraud", results)
    assert any(s["breaching"] for s in expected)
    assert not all(s["breaching"] for s in expected)
    assert json.dumps(seen) == json.dumps(expected)


def test_an_alert_that_goes_pending_audits_every_result_of_its_key() -> None:
    results = [
        _psi_result("amount", part, drifted=part == "segment=s7") for part in [None, *SEGMENTS]
    ]
    plan = plan_window(
        _model(), StoredAlerts(), results, WindowFacts(1, 0.0, 10.0, 500), {"id": "r"}, 11.0
    )
    (entry,) = plan.audit
    assert (entry["key"], entry["to"]) == ("fraud/feature_drift/amount@segment", "pending")
    audited = json.loads(entry["evidence"])
    assert [e["segment"] for e in audited] == SEGMENTS
    assert [e["severity"] for e in audited] == ["ok"] * 7 + ["warning"] + ["ok"] * 12


def test_every_alert_of_a_clear_window_stores_its_own_inactive_state() -> None:
    results = [_psi_result(f"f{n}", part, drifted=False) for n in range(50) for part in SEGMENTS]
    plan = plan_window(
        _model(), StoredAlerts(), results, WindowFacts(4, 0.0, 10.0, 500), {"id": "r"}, 11.0
    )
    assert sorted(plan.states) == sorted(f"fraud/feature_drift/f{n}@segment" for n in range(50))
    states = {json.loads(text)["last_window"] for text in plan.states.values()}
    assert states == {4}
    assert (plan.audit, plan.outbox, plan.transitions) == ([], [], [])


def _psi_result(signal: str, part: str | None, *, drifted: bool) -> SignalResult:
    return SignalResult(
        signal, "feature", "psi", 0.2 if drifted else 0.01, None, None, 0.1, 0.25, drifted,
        "warning" if drifted else "ok", segment=part,
    )  # fmt: skip


def _report(results: list[SignalResult]) -> WindowReport:
    return WindowReport("fraud", 9, 5_000, 0.0, 60.0, "ref-1", tuple(results))


def _entries(results: list[SignalResult]) -> dict[str, dict[str, Any]]:
    """Each result's dict with its kind, window and reference, by key, as JSON reads it."""
    window = {"id": 9, "start_ts": 0.0, "end_ts": 60.0, "events": 5_000}
    return {
        r.key: bulk_json.decode(
            bulk_json.encode(
                {**r.to_dict(), "kind": kind_of(r), "window": window, "reference_id": "ref-1"}
            )
        )
        for r in results
    }


def _read_back(fields: dict[str, str]) -> dict[str, Any]:
    return _latest_results({k.encode(): v.encode() for k, v in fields.items()})


def test_latest_results_read_back_each_result_as_its_dict_with_its_kind_window_and_reference() -> (
    None
):
    results = _window(seed=5)
    read = _read_back(latest_fields(_report(results), "ref-1"))
    expected = _entries(results)
    assert read == expected
    assert all(list(read[key]) == list(entry) for key, entry in expected.items())  # key order


def test_latest_fields_hold_a_whole_model_result_as_its_dict_and_a_segment_as_one_field() -> None:
    results = _window(seed=5)
    fields = latest_fields(_report(results), "ref-1")
    whole = {key: bulk_json.encode_text(entry) for key, entry in _entries(results).items()}
    assert {k: v for k, v in fields.items() if not k.startswith("@")} == {
        r.key: whole[r.key] for r in results if r.segment is None
    }
    assert sorted(k for k in fields if k.startswith("@")) == sorted(f"@{s}" for s in SEGMENTS)


def test_a_segment_field_names_its_window_reference_and_entry_keys_once() -> None:
    fields = latest_fields(_report(_window(seed=5)), "ref-1")
    stored = fields[f"@{SEGMENTS[0]}"]
    window = bulk_json.encode_text({"id": 9, "start_ts": 0.0, "end_ts": 60.0, "events": 5_000})
    assert (stored.count(window), stored.count('"ref-1"')) == (1, 1)
    for key in ('"threshold":', '"severity":', '"segment":', '"kind":'):
        assert key not in stored


def test_segment_results_stored_as_one_list_by_the_previous_version_read_back_as_they_were() -> (
    None
):
    entries = _entries(_window(seed=5))
    fields = {key: bulk_json.encode_text(e) for key, e in entries.items() if "@" not in key}
    for segment in SEGMENTS:
        listed = [e for key, e in entries.items() if key.endswith(f"@{segment}")]
        fields[f"@{segment}"] = bulk_json.encode_text(listed)
    assert _read_back(fields) == entries


def test_a_segment_result_with_a_nan_no_drift_level_reads_back_with_it_as_null() -> None:
    results = _window(seed=5)
    odd = next(i for i, r in enumerate(results) if r.segment == SEGMENTS[3])
    results[odd] = replace(results[odd], no_drift=math.nan)
    read = _read_back(latest_fields(_report(results), "ref-1"))
    assert read[results[odd].key]["no_drift"] is None
    assert read == _entries(results)
