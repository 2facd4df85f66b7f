"""A joint drift names what moved, wherever it is reported: alert facts and message,
the metrics (three series per model and method at most), and ``status``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from detectors.evaluate import SignalResult
from detectors.multivariate import Contributor
from monitor.alerts.plan import StoredAlerts, plan_window
from monitor.alerts.state import WindowFacts
from monitor.config import parse_config
from monitor.metrics import Metrics
from monitor.status_view import _attribution_lines

FLIP = (
    Contributor(("amount", "age"), 0.6, -0.58, 41.2),
    Contributor(("age", "score"), 0.0, -0.04, 2.1),
)


def _joint(attribution: tuple[Contributor, ...], *, drifted: bool = True) -> SignalResult:
    return SignalResult(
        "features", "multivariate", "correlation", 1.05 if drifted else 0.0, 1e-40, 41.2,
        0.1, 0.2, drifted, "critical" if drifted else "ok", attribution,
    )  # fmt: skip


def test_a_joint_alert_names_the_pair_in_its_facts_and_its_message() -> None:
    config = parse_config(
        {
            "models": {
                "fraud": {
                    "reference": {"path": "ref.jsonl"},
                    "window": {"events": 500},
                    "features": {"amount": "numeric", "age": "numeric", "score": "numeric"},
                    "alerts": ["team"],
                    "alert_rules": {"joint": {"kinds": ["multivariate_drift"], "for_windows": 1}},
                }
            },
            "sinks": {"team": {"type": "webhook", "url": "http://127.0.0.1:1/a"}},
        },
        environ={},
    )
    plan = plan_window(
        config.models["fraud"],
        StoredAlerts(),
        [_joint(FLIP)],
        WindowFacts(0, 0.0, 10.0, 500),
        {"id": "ref", "events": 1},
        1000.0,
        frozenset(),
    )
    (message,) = plan.outbox
    assert message.facts["attribution"][0] == {
        "features": ["amount", "age"], "reference": 0.6, "window": -0.58, "contribution": 41.2,
    }  # fmt: skip
    assert message.facts["message"].endswith(
        "critical; moved most: amount~age +0.60->-0.58, age~score +0.00->-0.04"
    )


def test_metrics_keep_only_the_latest_windows_named_pairs() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    metrics.record_results("fraud", [_joint(FLIP)], 10.0)
    labels = {"model": "fraud", "method": "correlation", "rank": "1", "features": "amount~age"}
    assert registry.get_sample_value("drift_monitor_joint_contribution", labels) == 41.2
    moved = (Contributor(("score", "amount"), 0.1, 0.5, 9.0),)
    metrics.record_results("fraud", [_joint(moved)], 20.0)
    assert registry.get_sample_value("drift_monitor_joint_contribution", labels) is None
    series = [
        s
        for family in registry.collect()
        if family.name == "drift_monitor_joint_contribution"
        for s in family.samples
    ]
    assert [(s.labels["rank"], s.labels["features"], s.value) for s in series] == [
        ("1", "score~amount", 9.0)
    ]


def test_the_status_json_of_a_joint_result_carries_its_attribution() -> None:
    shown = _joint(FLIP).to_dict()
    assert [c["features"] for c in shown["attribution"]] == [["amount", "age"], ["age", "score"]]
    assert "attribution" not in _joint(()).to_dict()


def test_the_status_table_adds_a_moved_most_line_under_a_joint_result() -> None:
    shown = [_joint(FLIP).to_dict(), _joint(()).to_dict()]
    assert list(_attribution_lines(shown)) == [
        "  features/correlation moved most: amount~age +0.60->-0.58, age~score +0.00->-0.04"
    ]
