"""Counting a challenger into its champion's windows (``monitor.challenger``): pure planning.

The challenger's rows of a batch go into the champion's event-time windows of the same
span, on the champion's bins, as the comparison's counts beside the champion's own.
"""

from __future__ import annotations

from monitor.batch_data import ModelCursor
from monitor.challenger import comparison_of, with_challenger
from monitor.config import ModelConfig, parse_config
from monitor.versions import stream_config, version_reference
from monitor.windowing import Plan, plan_model_write
from tests.unit.test_window_planning import _columns, _layout

START = ModelCursor(events=0, watermark=None, reference_collected=0, open_windows=frozenset())
NAME = "4 vs 3"


def _stream(version: str) -> ModelConfig:
    model = parse_config(
        {
            "models": {
                "fraud": {
                    "reference": {"by_version": {"3": "v3.jsonl", "4": "v4.jsonl"}},
                    "window": {"seconds": 10},
                    "features": {"amount": "numeric", "country": "categorical"},
                    "prediction": "numeric",
                    "compare_versions": ["3", "4"],
                }
            }
        },
        environ={},
    ).models["fraud"]
    reference = version_reference(model, version)
    assert reference is not None
    return stream_config(model, version, reference)


CHAMPION = _stream("3")


LAYOUT = _layout(CHAMPION)


def _champion(ts: list[float], cursor: ModelCursor = START) -> Plan:
    return plan_model_write(CHAMPION, cursor, LAYOUT, _columns(ts, 1), (), now=0.0)


def _compared(plan: Plan) -> dict[int, int]:
    """The challenger's events per window of the champion's plan."""
    return {
        d.window_id: d.segments.events[NAME]
        for d in plan.write.windows
        if d.segments is not None and NAME in d.segments.events
    }


def test_only_the_champions_stream_holds_the_comparison() -> None:
    comparison = comparison_of(CHAMPION)
    assert comparison is not None
    assert (comparison.champion, comparison.challenger, comparison.name) == (
        "fraud/version=3",
        "fraud/version=4",
        NAME,
    )
    assert comparison_of(_stream("4")) is None


def test_the_challenger_is_counted_in_the_champions_window_of_the_same_span() -> None:
    plan = with_challenger(
        CHAMPION, START, LAYOUT, _champion([1.0, 2.0, 12.0]), _columns([3.0, 4.0, 15.0, 16.0], 2)
    )
    assert _compared(plan) == {0: 2, 1: 2}
    assert {d.window_id: d.counts.events for d in plan.write.windows} == {0: 2, 1: 1}
    delta = plan.write.windows[0].segments
    assert delta is not None
    assert delta.counts[NAME].ints.size == LAYOUT.int_size


def test_a_batch_of_the_challenger_alone_opens_the_champions_windows() -> None:
    plan = with_challenger(CHAMPION, START, LAYOUT, None, _columns([21.0, 22.0], 2))
    assert (plan.write.model, plan.write.events, plan.write.expected_events) == (
        "fraud/version=3",
        0,
        0,
    )
    assert plan.write.reference_id == LAYOUT.profile.id
    assert _compared(plan) == {2: 2}
    assert plan.cursor.open_windows == frozenset({2})


def test_a_challenger_event_of_a_closed_champion_window_is_not_compared() -> None:
    first = _champion([1.0, 25.0])
    assert first.write.close == [0]
    plan = with_challenger(CHAMPION, first.cursor, LAYOUT, None, _columns([5.0, 15.0, 26.0], 2))
    assert _compared(plan) == {2: 1}
