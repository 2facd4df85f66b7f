"""Window planning (``monitor.windowing``): the window of each event of a batch, and which close.

``plan_model_write`` is pure: it reads a cursor, returns the write and the next cursor.
These tests feed it decoded columns directly and carry the cursor from batch to batch the
way the daemon does once Redis has applied each write. Event times double as event numbers
where that helps: a delta's ``start_ts`` and ``end_ts`` then name the events it holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from detectors.profile import build_reference_profile
from detectors.window import WindowLayout
from monitor.batch_data import ModelCursor
from monitor.config import ModelConfig, parse_config
from monitor.decode import ModelColumns
from monitor.profiles import signal_specs
from monitor.windowing import Plan, plan_model_write

START = ModelCursor(events=0, watermark=None, reference_collected=0, open_windows=frozenset())


def _model(window: dict[str, Any], reference: dict[str, Any] | None = None) -> ModelConfig:
    config = parse_config(
        {
            "models": {
                "fraud": {
                    "reference": reference or {"path": "data/fraud.jsonl"},
                    "window": window,
                    "features": {"amount": "numeric", "country": "categorical"},
                    "prediction": "numeric",
                }
            }
        },
        environ={},
    )
    return config.models["fraud"]


def _columns(ts: Sequence[float] | NDArray[np.float64], seed: int = 0) -> ModelColumns:
    times = np.asarray(ts, dtype=np.float64)
    rng = np.random.default_rng(seed)
    n = times.size
    return ModelColumns(
        model="fraud",
        rows=n,
        numeric={"amount": rng.normal(10.0, 2.0, n), "prediction": rng.random(n)},
        categorical={"country": [str(c) for c in rng.choice(["DE", "FR", "US"], n)]},
        mismatches={},
        ts=times,
    )


def _layout(model: ModelConfig) -> WindowLayout:
    data = _columns(np.arange(1_000.0), seed=99)
    columns: dict[str, NDArray[Any]] = dict(data.numeric)
    columns["country"] = np.asarray(data.categorical["country"], dtype=object)
    profile = build_reference_profile(
        "fraud",
        signal_specs(model),
        columns,
        bins=10,
        max_categories=10,
        created_at=0.0,
        source="t",
    )
    return WindowLayout(profile)


def _plan(
    model: ModelConfig,
    cursor: ModelCursor,
    layout: WindowLayout | None,
    ts: Sequence[float] | NDArray[np.float64],
) -> Plan:
    return plan_model_write(model, cursor, layout, _columns(ts), (), now=0.0)


def _windows(plan: Plan) -> dict[int, int]:
    """Events per window in this batch's deltas."""
    return {d.window_id: d.counts.events for d in plan.write.windows}


# --------------------------------------------------------------------------- count windows

COUNT = _model({"events": 5})
COUNT_LAYOUT = _layout(COUNT)


def test_events_numbered_across_batches_fill_windows_of_exactly_n() -> None:
    cursor, number = START, 0
    events: dict[int, int] = {}
    members: dict[int, list[tuple[float, float]]] = {}
    for size in (7, 3, 12, 1, 9, 5, 3):
        plan = _plan(COUNT, cursor, COUNT_LAYOUT, np.arange(number, number + size, dtype=float))
        for delta in plan.write.windows:
            events[delta.window_id] = events.get(delta.window_id, 0) + delta.counts.events
            members.setdefault(delta.window_id, []).append((delta.start_ts, delta.end_ts))
        cursor, number = plan.cursor, number + size
    assert number == 40
    assert events == dict.fromkeys(range(8), 5)
    # Event k (ts = k) is in window k // 5.
    for window, spans in members.items():
        assert min(s for s, _ in spans) == 5 * window
        assert max(e for _, e in spans) == 5 * window + 4


def test_window_closes_in_the_batch_that_holds_its_last_event() -> None:
    cursor, number = START, 0
    closed_by: dict[int, list[int]] = {}
    for size in (7, 3, 12, 1, 9, 5, 3):
        plan = _plan(COUNT, cursor, COUNT_LAYOUT, np.arange(number, number + size, dtype=float))
        batch = range(number, number + size)
        for window in plan.write.close:
            closed_by.setdefault(window, []).append(number)
            assert 5 * window + 4 in batch
        cursor, number = plan.cursor, number + size
    assert sorted(closed_by) == list(range(8))
    assert all(len(batches) == 1 for batches in closed_by.values())


def test_window_without_its_last_event_stays_open() -> None:
    plan = _plan(COUNT, START, COUNT_LAYOUT, [0.0, 1.0, 2.0])
    assert plan.write.close == []
    assert plan.cursor.open_windows == frozenset({0})


def test_batch_spanning_three_windows_gives_three_deltas() -> None:
    cursor = ModelCursor(events=3, watermark=None, reference_collected=0, open_windows=frozenset())
    plan = _plan(COUNT, cursor, COUNT_LAYOUT, np.arange(3.0, 13.0))
    assert _windows(plan) == {0: 2, 1: 5, 2: 3}
    assert plan.write.close == [0, 1]
    assert plan.cursor.open_windows == frozenset({2})
    assert [(d.start_ts, d.end_ts) for d in plan.write.windows] == [
        (3.0, 4.0),
        (5.0, 9.0),
        (10.0, 12.0),
    ]


def test_deltas_hold_the_counts_of_their_rows() -> None:
    columns = _columns(np.arange(8.0))
    plan = plan_model_write(COUNT, START, COUNT_LAYOUT, columns, (), now=0.0)
    encoded: dict[str, NDArray[Any]] = dict(columns.numeric)
    country = COUNT_LAYOUT.profile.signal("country")
    encoded["country"] = country.encode(columns.categorical["country"])  # type: ignore[union-attr]
    for delta, rows in zip(plan.write.windows, (slice(0, 5), slice(5, 8)), strict=True):
        expected = COUNT_LAYOUT.accumulate(encoded, {}, rows)
        np.testing.assert_array_equal(delta.counts.ints, expected.ints)
        np.testing.assert_array_equal(delta.counts.floats, expected.floats)


def test_mismatch_is_counted_in_the_window_of_its_row() -> None:
    columns = _columns(np.arange(8.0))
    columns.numeric["amount"][6] = np.nan
    columns.mismatches["amount"] = np.arange(8) == 6
    plan = plan_model_write(COUNT, START, COUNT_LAYOUT, columns, (), now=0.0)
    where = COUNT_LAYOUT.signals["amount"]
    assert [int(d.counts.ints[where.mismatch]) for d in plan.write.windows] == [0, 1]


def test_cursor_counts_every_event_of_the_batch() -> None:
    plan = _plan(COUNT, START, COUNT_LAYOUT, np.arange(12.0))
    assert plan.cursor.events == 12
    assert plan.write.expected_events == 0
    assert plan.write.events == 12
    assert plan.write.reference_id == COUNT_LAYOUT.profile.id


# --------------------------------------------------------------------------- event-time windows

TIMED = _model({"seconds": 10, "allowed_lateness_seconds": 5})
TIMED_LAYOUT = _layout(TIMED)


def test_events_are_grouped_by_floor_of_ts_over_the_window_length() -> None:
    plan = _plan(TIMED, START, TIMED_LAYOUT, [1.0, 25.0, 9.99, 10.0, 12.0, 0.0])
    assert _windows(plan) == {0: 3, 1: 2, 2: 1}
    spans = {d.window_id: (d.start_ts, d.end_ts) for d in plan.write.windows}
    assert spans == {0: (0.0, 9.99), 1: (10.0, 12.0), 2: (25.0, 25.0)}


def test_window_closes_once_the_watermark_passes_its_end_plus_lateness() -> None:
    first = _plan(TIMED, START, TIMED_LAYOUT, [1.0, 12.0, 24.0])
    # Watermark 24, minus 5 s lateness: 19 passes window 0's end (10), not window 1's (20).
    assert first.write.watermark == 24.0
    assert first.write.close == [0]
    assert first.cursor.open_windows == frozenset({1, 2})
    second = _plan(TIMED, first.cursor, TIMED_LAYOUT, [25.0])
    assert second.write.close == [1]
    assert second.cursor.open_windows == frozenset({2})


def test_lateness_keeps_a_window_open_past_its_end() -> None:
    plan = _plan(TIMED, START, TIMED_LAYOUT, [1.0, 14.99])
    assert plan.write.close == []
    assert plan.cursor.open_windows == frozenset({0, 1})


def test_late_event_is_counted_not_windowed() -> None:
    cursor = ModelCursor(events=10, watermark=30.0, reference_collected=0, open_windows=frozenset())
    # Window 1 ends at 20, and 20 <= 30 - 5: it has closed. Window 2 ends at 30 > 25: open.
    plan = _plan(TIMED, cursor, TIMED_LAYOUT, [15.0, 27.0, 31.0])
    assert plan.write.late == 1
    assert _windows(plan) == {2: 1, 3: 1}
    assert plan.cursor.events == 13


def test_late_events_still_count_towards_the_model_total() -> None:
    cursor = ModelCursor(events=0, watermark=100.0, reference_collected=0, open_windows=frozenset())
    plan = _plan(TIMED, cursor, TIMED_LAYOUT, [1.0, 2.0])
    assert (plan.write.late, plan.write.events, plan.write.windows) == (2, 2, [])
    assert plan.cursor.events == 2


def test_watermark_never_moves_back() -> None:
    cursor = ModelCursor(events=0, watermark=50.0, reference_collected=0, open_windows=frozenset())
    plan = _plan(TIMED, cursor, TIMED_LAYOUT, [48.0])
    assert plan.cursor.watermark == 50.0
    assert plan.write.late == 0  # window 4 ends at 50 > 45


def test_open_window_with_no_new_events_closes_when_the_watermark_passes() -> None:
    cursor = ModelCursor(
        events=5, watermark=12.0, reference_collected=0, open_windows=frozenset({1})
    )
    plan = _plan(TIMED, cursor, TIMED_LAYOUT, [40.0])
    assert plan.write.close == [1]
    assert plan.cursor.open_windows == frozenset({4})


def _partitioned(
    cursor: ModelCursor,
    batch: dict[int, list[float]],
    now: float = 0.0,
    assigned: frozenset[int] = frozenset(),
) -> Plan:
    """A batch of events from several partitions (partition -> event times)."""
    ts = [t for times in batch.values() for t in times]
    partitions = np.array([p for p, times in batch.items() for _ in times], dtype=np.int64)
    return plan_model_write(
        TIMED,
        cursor,
        TIMED_LAYOUT,
        _columns(ts),
        (),
        now=now,
        partitions=partitions,
        assigned=assigned,
    )


def test_a_partition_behind_the_others_holds_the_windows_open_until_it_catches_up() -> None:
    ahead = _partitioned(START, {0: [1.0, 39.0], 1: [2.0, 8.0]})
    assert (ahead.cursor.watermark, ahead.write.close) == (8.0, [])

    caught_up = _partitioned(ahead.cursor, {1: [12.0, 18.0, 39.5]})

    assert caught_up.write.late == 0
    assert caught_up.cursor.watermark == 39.0
    assert caught_up.write.close == [0, 1]  # end at 10 and 20 <= 39 - 5; window 3 ends at 40


def test_an_idle_partition_stops_holding_the_watermark_back_after_its_idle_time() -> None:
    first = _partitioned(START, {0: [1.0], 1: [2.0]}, now=0.0)
    within = _partitioned(first.cursor, {0: [50.0]}, now=300.0)
    assert within.cursor.watermark == 2.0  # partition 1 was seen 300 s ago: still counts

    after = _partitioned(within.cursor, {0: [60.0]}, now=301.0)

    assert after.cursor.watermark == 60.0
    assert after.write.close == [0]  # window 5 ends at 60 > 60 - 5


def test_an_assigned_partition_not_seen_yet_holds_every_window_open() -> None:
    plan = _partitioned(START, {0: [1.0, 59.0]}, assigned=frozenset({0, 1}))
    assert (plan.cursor.watermark, plan.write.close) == (None, [])


def test_an_assigned_partition_never_seen_stops_holding_them_after_its_idle_time() -> None:
    first = _partitioned(START, {0: [1.0]}, now=0.0, assigned=frozenset({0, 1}))
    later = _partitioned(first.cursor, {0: [59.0]}, now=301.0, assigned=frozenset({0, 1}))
    assert later.cursor.watermark == 59.0
    assert later.write.close == [0]


def test_partition_watermarks_never_pull_the_model_watermark_back() -> None:
    cursor = ModelCursor(events=0, watermark=50.0, reference_collected=0, open_windows=frozenset())
    plan = _partitioned(cursor, {0: [49.0], 3: [20.0]})
    assert plan.cursor.watermark == 50.0
    assert plan.cursor.partition_marks == {0: (49.0, 0.0), 3: (20.0, 0.0)}


def test_absurd_event_time_does_not_crash_the_plan() -> None:
    plan = _plan(TIMED, START, TIMED_LAYOUT, [1.0, 1e20])
    assert sum(_windows(plan).values()) + plan.write.late == 2


# --------------------------------------------------------------------------- stream reference

STREAM = _model({"events": 5}, reference={"from_stream": 10, "bins": 10})


def test_first_events_go_to_the_reference_chunk() -> None:
    plan = _plan(STREAM, START, None, np.arange(6.0))
    assert plan.write.reference_rows == 6
    assert plan.write.reference_chunk is not None
    assert plan.write.reference is None
    assert plan.write.windows == []
    assert plan.layout is None
    assert plan.cursor.reference_collected == 6
    assert plan.cursor.events == 6


def test_batch_completing_the_reference_builds_the_profile() -> None:
    first = _plan(STREAM, START, None, np.arange(6.0))
    chunk = first.write.reference_chunk
    assert chunk is not None
    second = plan_model_write(
        STREAM, first.cursor, None, _columns(np.arange(6.0, 13.0), seed=1), [chunk], 0.0
    )
    profile = second.write.reference
    assert profile is not None
    assert profile.events == 10
    assert second.layout is not None
    assert second.layout.profile is profile
    assert second.write.reference_id == profile.id
    assert second.cursor.reference_collected == 10


def test_profile_from_the_stream_equals_one_built_from_the_same_events() -> None:
    first_columns = _columns(np.arange(6.0), seed=0)
    second_columns = _columns(np.arange(6.0, 13.0), seed=1)
    first = plan_model_write(STREAM, START, None, first_columns, (), 0.0)
    chunk = first.write.reference_chunk
    assert chunk is not None
    second = plan_model_write(STREAM, first.cursor, None, second_columns, [chunk], 0.0)
    assert second.write.reference is not None

    def head(name: str, kind: str) -> NDArray[Any]:
        a = getattr(first_columns, kind)[name]
        b = getattr(second_columns, kind)[name][:4]
        return np.concatenate([np.asarray(a, dtype=object), np.asarray(b, dtype=object)])

    direct = build_reference_profile(
        "fraud",
        signal_specs(STREAM),
        {
            "amount": head("amount", "numeric").astype(np.float64),
            "prediction": head("prediction", "numeric").astype(np.float64),
            "country": head("country", "categorical"),
        },
        bins=10,
        max_categories=STREAM.reference.max_categories,
        created_at=0.0,
        source="direct",
    )
    assert second.write.reference.id == direct.id


def test_rows_after_the_reference_go_to_window_zero() -> None:
    first = _plan(STREAM, START, None, np.arange(6.0))
    chunk = first.write.reference_chunk
    assert chunk is not None
    second = plan_model_write(
        STREAM, first.cursor, None, _columns(np.arange(6.0, 13.0)), [chunk], 0.0
    )
    # Events 6..9 complete the reference; events 10, 11, 12 are window 0's first three.
    assert _windows(second) == {0: 3}
    assert [(d.start_ts, d.end_ts) for d in second.write.windows] == [(10.0, 12.0)]
    assert second.write.close == []
    assert second.cursor.events == 13
    third = _plan(STREAM, second.cursor, second.layout, [13.0, 14.0, 15.0])
    assert _windows(third) == {0: 2, 1: 1}
    assert third.write.close == [0]


def test_model_without_a_reference_cannot_be_planned() -> None:
    with pytest.raises(ValueError, match="no reference profile"):
        _plan(COUNT, START, None, [1.0])
