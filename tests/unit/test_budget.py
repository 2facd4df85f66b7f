"""The false-alarm budget's per-window significance, against the README's formula (pure logic)."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.alerts.budget import MAX_WINDOW_ALPHA, window_budget
from monitor.config import ConfigError, DriftConfig, WindowConfig, parse_config

WEEK = 604800.0


def _drift(**budget: Any) -> DriftConfig:
    section = {
        "reference": {"path": "ref.jsonl"},
        "window": {"events": 50},
        "features": {"amount": "numeric"},
        "drift": budget,
    }
    return parse_config({"models": {"fraud": section}}, environ={}).models["fraud"].drift


def test_an_event_time_window_gets_the_weekly_budget_over_the_windows_a_week_holds() -> None:
    # 300 s windows: W = 604800 / 300 = 2016 windows a week; alpha = F / W.
    budget = window_budget(_drift(false_alarms_per_week=1), WindowConfig(seconds=300), 0, 0, 0)

    assert budget is not None
    assert budget.windows_per_week == pytest.approx(2016)
    assert budget.alpha == pytest.approx(1 / 2016)
    assert budget.source == "budget"
    assert budget.implied_per_week == pytest.approx(1.0)


def test_a_count_window_is_timed_by_its_events_first_to_last_plus_one_gap() -> None:
    # 50 events 10 ms apart: 0.49 s first to last, 0.5 s with the gap to the next window.
    budget = window_budget(
        _drift(false_alarms_per_week=2), WindowConfig(events=50), 50, 100, 100.49
    )

    assert budget is not None
    assert budget.windows_per_week == pytest.approx(WEEK / 0.5)
    assert budget.alpha == pytest.approx(2 / (WEEK / 0.5))
    assert budget.implied_per_week == pytest.approx(2.0)
    assert budget.windows_per_million_events == pytest.approx(20_000)


def test_a_budget_per_million_events_scales_with_the_window_size() -> None:
    # 5,000-event windows: M = 200 windows per million; alpha = G / M.
    budget = window_budget(
        _drift(false_alarms_per_million_events=2), WindowConfig(events=5000), 5000, 0, 50
    )

    assert budget is not None
    assert budget.alpha == pytest.approx(2 / 200)
    assert budget.implied_per_million_events == pytest.approx(2.0)
    assert budget.implied_per_week == pytest.approx(WEEK / (50 * 5000 / 4999) * 0.01)


def test_a_budget_larger_than_the_windows_a_week_holds_is_capped() -> None:
    # Daily windows, 10 a week allowed: 10 / 7 would pass anything; held at the cap.
    budget = window_budget(_drift(false_alarms_per_week=10), WindowConfig(seconds=86400), 0, 0, 0)

    assert budget is not None
    assert (budget.alpha, budget.source) == (MAX_WINDOW_ALPHA, "capped")
    assert budget.implied_per_week == pytest.approx(7 * MAX_WINDOW_ALPHA)


def test_a_count_window_without_a_time_span_falls_back_to_alpha() -> None:
    drift = _drift(false_alarms_per_week=1, alpha=0.001)

    budget = window_budget(drift, WindowConfig(events=50), 50, 100.0, 100.0)

    assert budget is not None
    assert (budget.alpha, budget.source, budget.implied_per_week) == (0.001, "fallback", None)


def test_without_a_budget_the_configured_alpha_stands() -> None:
    assert window_budget(_drift(), WindowConfig(events=50), 50, 0, 1) is None


def test_only_one_budget_may_be_given() -> None:
    with pytest.raises(ConfigError, match="one false-alarm budget"):
        _drift(false_alarms_per_week=1, false_alarms_per_million_events=1)


def test_status_prints_the_budget_and_the_rate_it_implies() -> None:
    from monitor.status_view import budget_line

    budget = window_budget(_drift(false_alarms_per_week=1), WindowConfig(seconds=300), 0, 0, 0)

    assert budget is not None
    assert budget_line(budget.to_dict()) == (
        "budget: 1 false alarm(s) a week; latest window judged at alpha 0.000496 "
        "(2,016 windows a week), implying at most 1 false alarm(s) a week"
    )
