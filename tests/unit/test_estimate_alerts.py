"""A window's estimated performance as results, as alerts, and reconciled (pure logic)."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.estimated_performance import (
    EstimationSettings,
    Reconciliation,
    estimate_window,
    reconcile,
    stale,
)
from detectors.estimation import build_binary_estimator
from detectors.profile import SignalSpec, build_reference_profile
from detectors.window import WindowCounts, WindowLayout
from monitor.alerts.plan import StoredAlerts, plan_window
from monitor.alerts.state import WindowFacts
from monitor.config import parse_config
from tests.estimation_streams import SyntheticModel

SETTINGS = EstimationSettings(("accuracy", "roc_auc"), min_effect=0.05, critical_effect=0.1)


def _layout(model: SyntheticModel) -> WindowLayout:
    x, y = model.draw(5000)
    scores = model.score(x)
    profile = build_reference_profile(
        "m",
        [SignalSpec("x0", "numeric", "feature"), SignalSpec("prediction", "numeric", "prediction")],
        {"x0": x[:, 0], "prediction": scores},
        bins=20,
        max_categories=10,
        created_at=0.0,
        source="test",
    )
    return WindowLayout(profile.with_estimator(build_binary_estimator(scores, y == 1, 0.5)))


def _window(layout: WindowLayout, x: np.ndarray, scores: np.ndarray) -> WindowCounts:
    columns = {"x0": x[:, 0], "prediction": scores}
    return layout.accumulate(columns, {})


def test_a_drop_beyond_band_and_minimum_effect_is_flagged_with_its_estimate() -> None:
    model = SyntheticModel(5)
    layout = _layout(model)
    x, _ = model.draw(2000, scale=(0.3, 0.3, 1.0))
    results = {
        r.signal: r for r in estimate_window(layout, _window(layout, x, model.score(x)), SETTINGS)
    }
    accuracy = results["accuracy"]
    assert accuracy.role == "estimated_performance"
    assert accuracy.method == "cbpe"
    assert accuracy.estimate is not None
    assert accuracy.score == pytest.approx(accuracy.estimate.baseline - accuracy.estimate.value)
    assert accuracy.drifted
    assert accuracy.severity == "critical"


def test_traffic_like_the_reference_is_not_flagged() -> None:
    model = SyntheticModel(6)
    layout = _layout(model)
    x, _ = model.draw(2000)
    for result in estimate_window(layout, _window(layout, x, model.score(x)), SETTINGS):
        assert not result.drifted
        assert result.estimate is not None
        assert abs(result.score) < result.estimate.band


def test_a_drop_within_the_minimum_effect_is_not_flagged_however_significant() -> None:
    model = SyntheticModel(7)
    layout = _layout(model)
    x, _ = model.draw(2000, scale=(0.3, 0.3, 1.0))
    lenient = EstimationSettings(("accuracy",), min_effect=0.5, critical_effect=0.6)
    (accuracy,) = estimate_window(layout, _window(layout, x, model.score(x)), lenient)
    assert accuracy.estimate is not None
    assert accuracy.score > accuracy.estimate.band
    assert not accuracy.drifted


def test_an_estimated_drop_fires_an_alert_whose_message_says_it_is_an_estimate() -> None:
    model = SyntheticModel(8)
    layout = _layout(model)
    x, _ = model.draw(2000, scale=(0.3, 0.3, 1.0))
    results = estimate_window(layout, _window(layout, x, model.score(x)), SETTINGS)
    config = parse_config(
        {
            "models": {
                "m": {
                    "reference": {"path": "ref.jsonl"},
                    "window": {"events": 2000},
                    "features": {"x0": "numeric"},
                    "prediction": "numeric",
                    "task": "binary",
                    "estimation": {},
                    "alerts": ["team"],
                    "alert_rules": {"drift": {"for_windows": 1}},
                }
            },
            "sinks": {"team": {"type": "webhook", "url": "http://127.0.0.1:1/a"}},
        },
        environ={},
    )
    plan = plan_window(
        config.models["m"],
        StoredAlerts(),
        results,
        WindowFacts(0, 0.0, 10.0, 2000),
        {"id": "ref", "events": 5000},
        100.0,
        frozenset(),
    )
    facts = {m.facts["dedup_key"]: m.facts for m in plan.outbox}
    accuracy = facts["m/estimated_performance/accuracy"]
    assert accuracy["kind"] == "estimated_performance"
    assert "an estimate from predictions alone, not from labels" in accuracy["message"]
    assert accuracy["estimate"]["lower"] < accuracy["estimate"]["value"]


def test_reconciliation_misses_when_the_realized_value_leaves_the_band() -> None:
    model = SyntheticModel(9)
    x, y = model.draw(5000)
    estimator = build_binary_estimator(model.score(x), y == 1, 0.5)
    (close,) = reconcile(3, estimator, {"accuracy": 0.80}, {"accuracy": 0.79}, 1000)
    (far,) = reconcile(4, estimator, {"accuracy": 0.80}, {"accuracy": 0.60}, 1000)
    assert close.band == pytest.approx(3 * estimator.sampling["accuracy"].at(1000))
    assert not close.missed
    assert far.missed
    assert far.error == pytest.approx(-0.2)


def test_the_estimator_is_stale_after_the_configured_misses_in_a_row() -> None:
    def row(window: int, realized: float) -> Reconciliation:
        return Reconciliation(window, "accuracy", 0.8, realized, 0.03, 1000)

    assert not stale([row(1, 0.5), row(2, 0.5), row(3, 0.79)], 2)
    assert stale([row(1, 0.79), row(2, 0.5), row(3, 0.5)], 2)
    assert not stale([row(3, 0.5)], 2)
