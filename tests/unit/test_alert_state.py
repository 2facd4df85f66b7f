"""The alert state machine and its plan, window by window, without Redis (pure logic)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from detectors.evaluate import SignalResult
from monitor.alerts.plan import AlertPlan, StoredAlerts, plan_window
from monitor.alerts.state import AlertState, WindowFacts
from monitor.config import ModelConfig, parse_config

WINDOW_SECONDS = 10.0


def _model(**extra: Any) -> ModelConfig:
    section: dict[str, Any] = {
        "reference": {"path": "ref.jsonl"},
        "window": {"events": 500},
        "features": {"amount": "numeric", "age": "numeric", "country": "categorical"},
        "prediction": "numeric",
        "alerts": ["team"],
        **extra,
    }
    config = parse_config(
        {
            "models": {"fraud": section},
            "sinks": {
                "team": {"type": "webhook", "url": "http://127.0.0.1:1/a"},
                "pager": {"type": "pagerduty", "secret_env": "PD_KEY"},
                "retrain": {"type": "kafka", "topic": "retrain"},
                "am": {"type": "alertmanager", "url": "http://127.0.0.1:1"},
            },
        },
        environ={},
    )
    return config.models["fraud"]


def _rule(**rule: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "methods": ["psi"],
        "for_windows": 2,
        "resolve_windows": 2,
    }
    return {"alert_rules": {"drift": base | rule}}


def _psi(signal: str, score: float, drifted: bool | None = None) -> SignalResult:
    flagged = score >= 0.1 if drifted is None else drifted
    severity = "ok" if not flagged else ("critical" if score >= 0.25 else "warning")
    return SignalResult(
        signal=signal,
        role="feature",
        method="psi",
        score=score,
        p_value=None,
        statistic=None,
        warn=0.1,
        critical=0.25,
        drifted=flagged,
        severity=severity,
    )


class Run:
    """Feeds windows through ``plan_window`` as the finalize script would apply them."""

    def __init__(self, model: ModelConfig, refresh_sinks: frozenset[str] = frozenset()) -> None:
        self.model = model
        self.refresh_sinks = refresh_sinks
        self.stored = StoredAlerts()
        self.window = 0
        self.plans: list[AlertPlan] = []

    def feed(
        self,
        *results: SignalResult,
        now: float = 1000.0,
        late_for: int | None = None,
        look: int | None = None,
    ) -> AlertPlan:
        """The next window's results; or, with ``late_for``, that window's late verdict."""
        number = self.window if late_for is None else late_for
        window = WindowFacts(number, number * WINDOW_SECONDS, (number + 1) * WINDOW_SECONDS, 500)
        reference = {"id": "ref", "events": 1}
        plan = plan_window(
            self.model,
            self.stored,
            results,
            window,
            reference,
            now,
            self.refresh_sinks,
            late=late_for is not None,
            look=look,
        )
        states = dict(self.stored.states)
        for key, value in plan.states.items():
            if not key.startswith("_"):
                states[key] = AlertState.from_json(value)
        retrain = self.stored.retrain
        if "_retrain" in plan.states:
            from monitor.alerts.retrain import RetrainState

            retrain = RetrainState.from_json(plan.states["_retrain"])
        self.stored = StoredAlerts(plan.version, states, retrain)
        self.window += late_for is None and look is None
        self.plans.append(plan)
        return plan

    def feed_all(self, scores: Sequence[float], signal: str = "amount") -> list[str]:
        """Each window's notifications as ``status/severity`` strings ('' for none)."""
        out = []
        for score in scores:
            plan = self.feed(_psi(signal, score))
            out.append(",".join(sorted({f"{m.facts['status']}" for m in plan.outbox})))
        return out

    def status(self, key: str = "fraud/feature_drift/amount") -> str:
        return self.stored.states[key].status


def test_alert_fires_only_after_for_windows_breaching_windows_in_a_row() -> None:
    run = Run(_model(**_rule(for_windows=3)))

    assert run.feed_all([0.3, 0.3, 0.3]) == ["", "", "firing"]


def test_breach_streak_broken_by_a_clear_window_returns_pending_to_inactive() -> None:
    run = Run(_model(**_rule(for_windows=2)))

    assert run.feed_all([0.3, 0.01, 0.3]) == ["", "", ""]
    assert run.status() == "pending"
    assert [t.status for p in run.plans for t in p.transitions] == [
        "pending",
        "inactive",
        "pending",
    ]


def test_a_score_that_the_test_does_not_flag_counts_as_clear_however_close_to_warn() -> None:
    # 0.09 of warn 0.1 is not drifted: it resolves, as the test's own verdict says.
    run = Run(_model(**_rule(for_windows=1, resolve_windows=1)))

    assert run.feed_all([0.3, 0.09]) == ["firing", "resolved"]


def test_a_score_above_warn_but_not_significant_counts_as_clear() -> None:
    # A small window's PSI sits near warn by noise alone; its test says it is noise.
    run = Run(_model(**_rule(for_windows=1, resolve_windows=2)))
    run.feed(_psi("amount", 0.3))

    run.feed(_psi("amount", 0.4, drifted=False))
    plan = run.feed(_psi("amount", 0.4, drifted=False))

    assert [m.facts["status"] for m in plan.outbox] == ["resolved"]
    assert plan.transitions[0].reason == "not drifted for 2 window(s) in a row"


def test_firing_alert_resolves_after_resolve_windows_clear_windows_in_a_row() -> None:
    run = Run(_model(**_rule(for_windows=1, resolve_windows=2)))

    assert run.feed_all([0.3, 0.01, 0.3, 0.01, 0.01]) == ["firing", "", "", "", "resolved"]


def test_a_drift_right_after_a_resolve_is_a_new_episode_and_is_notified() -> None:
    # No cooldown: resolved by window 2, drifted again in window 3, fired again at once.
    run = Run(_model(**_rule(for_windows=1, resolve_windows=1)))

    notes = run.feed_all([0.3, 0.3, 0.01, 0.3])

    assert notes == ["firing", "", "resolved", "firing"]
    assert run.stored.states["fraud/feature_drift/amount"].episode == 2


def test_a_dip_shorter_than_resolve_windows_stays_one_episode_notified_once() -> None:
    run = Run(_model(**_rule(for_windows=1, resolve_windows=3)))

    notes = run.feed_all([0.3, 0.01, 0.01, 0.3, 0.01, 0.3])

    assert notes == ["firing", "", "", "", "", ""]
    assert run.stored.states["fraud/feature_drift/amount"].episode == 1


def test_default_rule_waits_two_windows_without_a_budget_and_one_with_it() -> None:
    plain = Run(_model())
    budgeted = Run(_model(drift={"false_alarms_per_week": 1}))

    assert plain.feed_all([0.3, 0.3]) == ["", "firing"]
    assert budgeted.feed_all([0.3, 0.3]) == ["firing", ""]


def test_a_look_that_breaches_fires_before_its_window_closes_and_the_close_counts_it_once() -> None:
    run = Run(_model(**_rule(for_windows=1)))

    early = run.feed(_psi("amount", 0.3), look=1)
    close = run.feed(_psi("amount", 0.3))

    assert [m.facts["status"] for m in early.outbox] == ["firing"]
    assert early.version == "0~1"
    assert close.outbox == []
    assert close.transitions == []


def test_a_window_counted_early_is_counted_once_towards_for_windows() -> None:
    run = Run(_model(**_rule(for_windows=2)))

    run.feed(_psi("amount", 0.3), look=1)
    run.feed(_psi("amount", 0.3), look=2)  # a second look at the same window
    closed = run.feed(_psi("amount", 0.3))
    fired = run.feed(_psi("amount", 0.3), look=1)  # window 1: the second breaching window

    assert closed.outbox == []
    assert run.stored.states["fraud/feature_drift/amount"].episode == 1
    assert [m.facts["status"] for m in fired.outbox] == ["firing"]


def test_the_close_of_a_window_a_look_flagged_is_not_a_clear_window() -> None:
    run = Run(_model(**_rule(for_windows=1, resolve_windows=1)))
    run.feed(_psi("amount", 0.3), look=1)

    closed = run.feed(_psi("amount", 0.01))
    resolved = run.feed(_psi("amount", 0.01))

    assert closed.outbox == []
    assert [m.facts["status"] for m in resolved.outbox] == ["resolved"]


def test_a_look_that_does_not_breach_changes_nothing() -> None:
    run = Run(_model(**_rule(for_windows=1, resolve_windows=1)))
    run.feed(_psi("amount", 0.3))

    plan = run.feed(_psi("amount", 0.01), look=1)

    assert plan.states == {}
    assert plan.outbox == []
    assert run.status() == "firing"


def test_each_episode_has_its_own_idempotency_keys() -> None:
    run = Run(_model(**_rule(for_windows=1, resolve_windows=1)))

    run.feed_all([0.3, 0.01, 0.3, 0.01])

    keys = [m.key for p in run.plans for m in p.outbox]
    assert keys == [
        "fraud/feature_drift/amount/1/firing/critical",
        "fraud/feature_drift/amount/1/resolved",
        "fraud/feature_drift/amount/2/firing/critical",
        "fraud/feature_drift/amount/2/resolved",
    ]


def test_warning_episode_escalates_to_critical_once() -> None:
    run = Run(_model(**_rule(for_windows=1)))

    run.feed_all([0.15, 0.3, 0.15, 0.3])

    sent = [(m.facts["status"], m.facts["severity"]) for p in run.plans for m in p.outbox]
    assert sent == [("firing", "warning"), ("firing", "critical")]


def test_window_without_evidence_changes_nothing() -> None:
    run = Run(_model(**_rule(for_windows=2)))
    run.feed(_psi("amount", 0.3))

    plan = run.feed()  # e.g. a window counted against an older reference

    assert plan.states == {}
    assert plan.outbox == []
    assert plan.transitions == []
    assert run.stored.states["fraud/feature_drift/amount"].breach_streak == 1


def test_rule_level_above_the_tests_own_delays_the_breach() -> None:
    run = Run(_model(**_rule(for_windows=1, thresholds={"psi": {"warn": 0.2}})))

    assert run.feed_all([0.15, 0.22]) == ["", "firing"]


def test_grouping_per_model_sends_one_alert_listing_the_drifted_signals() -> None:
    run = Run(_model(**_rule(for_windows=1, grouping="model")))

    plan = run.feed(_psi("amount", 0.3), _psi("age", 0.12), _psi("country", 0.01))

    (message,) = plan.outbox
    assert message.facts["dedup_key"] == "fraud/drift"
    assert message.facts["feature"] == "amount"
    assert [s["signal"] for s in message.facts["signals"]] == ["amount", "age"]


def test_grouping_per_signal_sends_one_alert_per_drifted_signal() -> None:
    run = Run(_model(**_rule(for_windows=1)))

    plan = run.feed(_psi("amount", 0.3), _psi("age", 0.12), _psi("country", 0.01))

    assert sorted(m.facts["dedup_key"] for m in plan.outbox) == [
        "fraud/feature_drift/age",
        "fraud/feature_drift/amount",
    ]


def test_alert_facts_have_exactly_the_design_fields() -> None:
    run = Run(_model(**_rule(for_windows=1)))

    (message,) = run.feed(_psi("amount", 0.31)).outbox

    assert set(message.facts) == {
        "dedup_key", "status", "severity", "model", "model_version", "kind", "feature",
        "method", "score", "threshold", "p_value", "window", "reference", "detected_at",
        "message",
    }  # fmt: skip
    assert message.facts["window"] == {"start_ts": 0.0, "end_ts": 10.0, "events": 500}
    assert message.facts["threshold"] == 0.1
    assert message.facts["message"].startswith("PSI of amount rose to 0.31")


def test_alert_facts_and_message_show_the_scores_no_drift_level() -> None:
    run = Run(_model(**_rule(for_windows=1)))
    result = replace(_psi("amount", 0.31), no_drift=0.0184)

    (message,) = run.feed(result).outbox

    assert message.facts["no_drift"] == 0.0184
    assert "rose to 0.31 (no drift ~0.018, threshold 0.1" in message.facts["message"]


def test_critical_alerts_also_reach_the_severity_route_and_its_resolve_follows() -> None:
    routes = {"alert_routes": [{"severities": ["critical"], "sinks": ["pager"]}]}
    run = Run(_model(**_rule(for_windows=1, resolve_windows=1), **routes))

    warning = run.feed(_psi("amount", 0.15)).outbox
    critical = run.feed(_psi("amount", 0.3)).outbox
    resolved = run.feed(_psi("amount", 0.01)).outbox

    assert [m.sink for m in warning] == ["team"]
    assert [m.sink for m in critical] == ["team", "pager"]
    assert [m.sink for m in resolved] == ["team", "pager"]


def test_warning_only_episode_does_not_page() -> None:
    routes = {"alert_routes": [{"severities": ["critical"], "sinks": ["pager"]}]}
    run = Run(_model(**_rule(for_windows=1, resolve_windows=1), **routes))

    sinks = [m.sink for p in (run.feed(_psi("amount", 0.15)), run.feed(_psi("amount", 0.0)))
             for m in p.outbox]  # fmt: skip

    assert sinks == ["team", "team"]


def test_every_transition_is_audited_with_its_evidence() -> None:
    run = Run(_model(**_rule(for_windows=2)))

    run.feed_all([0.3, 0.3])

    audit = [entry for p in run.plans for entry in p.audit]
    assert [(a["from"], a["to"]) for a in audit] == [("inactive", "pending"), ("pending", "firing")]
    assert '"score":0.3' in audit[1]["evidence"]


DAY = 86400.0


def _sent(plan: AlertPlan) -> list[tuple[str, str]]:
    """Each outbox message as (sink, what its key says it is)."""
    return [(m.sink, m.key.split("/")[-2]) for m in plan.outbox]


def test_a_firing_alert_is_sent_to_alertmanager_again_once_a_day_while_it_lasts() -> None:
    run = Run(_model(alerts=["team", "am"], **_rule(for_windows=1)), frozenset({"am"}))

    fired = run.feed(_psi("amount", 0.15), now=1000.0)
    within_the_day = run.feed(_psi("amount", 0.15), now=1000.0 + DAY - 1)
    a_day_later = run.feed(_psi("amount", 0.15), now=1000.0 + DAY)
    an_hour_after = run.feed(_psi("amount", 0.15), now=1000.0 + DAY + 3600)
    two_days_later = run.feed(_psi("amount", 0.15), now=1000.0 + 2 * DAY)

    assert _sent(fired) == [("team", "firing"), ("am", "firing")]
    assert _sent(within_the_day) == []
    assert _sent(a_day_later) == [("am", "refresh")]
    assert _sent(an_hour_after) == []
    assert _sent(two_days_later) == [("am", "refresh")]
    assert a_day_later.outbox[0].facts["status"] == "firing"
    assert a_day_later.outbox[0].key != two_days_later.outbox[0].key


def test_refreshes_go_only_to_sinks_the_episode_was_routed_to() -> None:
    routes = {"alert_routes": [{"severities": ["critical"], "sinks": ["am"]}]}
    run = Run(_model(**_rule(for_windows=1), **routes), frozenset({"am"}))

    run.feed(_psi("amount", 0.15), now=1000.0)  # a warning: "am" is for critical only

    assert _sent(run.feed(_psi("amount", 0.15), now=1000.0 + DAY)) == []


def test_a_new_episode_restarts_the_refresh_clock() -> None:
    run = Run(_model(alerts=["am"], **_rule(for_windows=1, resolve_windows=1)), frozenset({"am"}))

    run.feed(_psi("amount", 0.15), now=1000.0)
    run.feed(_psi("amount", 0.0), now=1000.0 + DAY - 10)  # resolved
    refired = run.feed(_psi("amount", 0.15), now=1000.0 + DAY - 5)
    next_window = run.feed(_psi("amount", 0.15), now=1000.0 + DAY + 5)

    assert _sent(refired) == [("am", "firing")]
    assert _sent(next_window) == []


def test_alert_states_stored_before_refreshes_existed_still_read() -> None:
    stored = AlertState(status="firing", episode=3, fired_at=5.0).to_json()
    older = stored.replace(',"refreshed_at":null', "")
    assert "refreshed_at" not in older
    assert AlertState.from_json(older) == AlertState(status="firing", episode=3, fired_at=5.0)
