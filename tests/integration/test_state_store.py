"""Batch state in a real Redis, written by apply_batch.lua: window counters and the label join.

The counters of a window travel and live as packed int64 / float64 vectors that the
apply script adds element by element, so what any number of batches (from any number
of instances) wrote must read back as the counts of all their events together.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import numpy as np
import pytest
import redis
from numpy.typing import NDArray

from detectors.evaluate import SignalResult
from detectors.multivariate import Contributor
from detectors.profile import SignalSpec, build_reference_profile
from detectors.window import WindowCounts, WindowLayout
from monitor.alerts.rules import kind_of
from monitor.batch_data import BatchWrite, JoinPlan, ModelReads, ModelWrite, WindowDelta
from monitor.errors import StateError
from monitor.evaluation import WindowReport, latest_fields
from monitor.keys import Keys
from monitor.store import StateStore

MODEL = "fraud"
SEED = 20261127


def _layout(signals: int, *, bins: int = 50, seed: int = 0) -> WindowLayout:
    rng = np.random.default_rng([SEED, seed])
    specs = [SignalSpec(f"x{i}", "numeric", "feature") for i in range(signals)]
    specs.append(SignalSpec("country", "categorical", "feature"))
    columns: dict[str, NDArray[Any]] = {f"x{i}": rng.normal(i, 1.0, 4000) for i in range(signals)}
    columns["country"] = rng.choice(np.asarray(["DE", "FR", "US"], dtype=object), 4000)
    profile = build_reference_profile(
        MODEL, specs, columns, bins=bins, max_categories=10, created_at=0.0, source="test"
    )
    return WindowLayout(profile)


def _counts(layout: WindowLayout, rows: int, seed: int) -> WindowCounts:
    """The counts of a batch of ``rows`` events, a little shifted from the reference."""
    rng = np.random.default_rng([SEED, seed])
    columns: dict[str, NDArray[Any]] = {}
    for name, where in layout.signals.items():
        if name == "country":
            values = rng.choice(np.asarray(["DE", "FR", "XX", None], dtype=object), rows)
            columns[name] = where.profile.encode(list(values))  # type: ignore[union-attr]
        else:
            column = rng.normal(float(name[1:]) + 0.3, 1.2, rows)
            column[rng.random(rows) < 0.05] = np.nan
            columns[name] = column
    return layout.accumulate(columns, {})


def _apply(store: StateStore, layout: WindowLayout, deltas: list[WindowCounts]) -> None:
    """Each delta as a batch of its own, all into window 0, as instances would apply them."""
    events = 0
    for offset, counts in enumerate(deltas):
        write = ModelWrite(
            model=MODEL,
            expected_events=events,
            events=counts.events,
            reference_id=layout.profile.id,
            windows=[WindowDelta(0, counts, start_ts=100.0 + offset, end_ts=200.0 + offset)],
        )
        outcome = store.apply(BatchWrite({("t", 0): (offset, offset + 1)}, [write]))
        assert outcome.status == "ok"
        events += counts.events


@pytest.fixture
def store(redis_client: redis.Redis) -> StateStore:
    return StateStore(redis_client, Keys("store-test"), history_size=10)


def test_batch_deltas_read_back_as_the_counts_of_all_their_events(store: StateStore) -> None:
    layout = _layout(5)
    deltas = [_counts(layout, rows, seed) for seed, rows in enumerate((700, 1, 2300))]
    _apply(store, layout, deltas)
    stored = store.window(MODEL, 0, layout)
    whole = deltas[0] + deltas[1] + deltas[2]
    assert stored.counts.events == whole.events == 3001
    np.testing.assert_array_equal(stored.counts.ints, whole.ints)
    np.testing.assert_allclose(stored.counts.floats, whole.floats, rtol=1e-12)
    assert (stored.start_ts, stored.end_ts) == (100.0, 202.0)


def test_layouts_longer_than_one_unpacking_step_add_up_exactly(store: StateStore) -> None:
    layout = _layout(90)  # 90 x 54 integer counters: past the script's 4000-value steps
    assert layout.int_size > 4000
    deltas = [_counts(layout, 500, seed) for seed in range(3)]
    _apply(store, layout, deltas)
    stored = store.window(MODEL, 0, layout)
    np.testing.assert_array_equal(stored.counts.ints, (deltas[0] + deltas[1] + deltas[2]).ints)


def test_each_delta_reads_back_as_the_exact_sum_in_arrival_order(store: StateStore) -> None:
    """The script leaves a window's next deltas beside it and folds them in later; read
    back after every batch, the counts are the bits of adding each delta as it came."""
    layout = _layout(90)
    deltas = [_counts(layout, 300 + seed, seed) for seed in range(9)]  # past 1 + 3, twice
    running = deltas[0]
    for offset, delta in enumerate(deltas):
        write = ModelWrite(
            model=MODEL,
            expected_events=sum(d.events for d in deltas[:offset]),
            events=delta.events,
            reference_id=layout.profile.id,
            windows=[WindowDelta(0, delta, start_ts=100.0, end_ts=200.0)],
        )
        outcome = store.apply(BatchWrite({("t", 0): (offset, offset + 1)}, [write]))
        assert outcome.status == "ok"
        running = delta if offset == 0 else running + delta
        stored = store.window(MODEL, 0, layout)
        assert stored.counts.events == running.events
        np.testing.assert_array_equal(stored.counts.ints, running.ints)
        np.testing.assert_array_equal(stored.counts.floats, running.floats)


def test_counts_stay_exact_far_beyond_32_bits(store: StateStore) -> None:
    layout = _layout(1)
    big = layout.empty()
    big.events = 1
    big.ints[:] = 2**50 + 1
    _apply(store, layout, [big, big])
    np.testing.assert_array_equal(store.window(MODEL, 0, layout).counts.ints, 2**51 + 2)


def test_a_delta_counted_against_another_reference_leaves_the_window_counts_alone(
    store: StateStore,
) -> None:
    first, other = _layout(2, seed=1), _layout(3, seed=2)
    counts = _counts(first, 400, seed=1)
    _apply(store, first, [counts])
    late = _counts(other, 300, seed=2)
    write = ModelWrite(
        model=MODEL,
        expected_events=400,
        events=300,
        reference_id=other.profile.id,
        windows=[WindowDelta(0, late, start_ts=0.0, end_ts=0.0)],
    )
    assert store.apply(BatchWrite({("t", 0): (1, 2)}, [write])).status == "ok"
    stored = store.window(MODEL, 0, first)
    assert stored.reference_id == first.profile.id
    np.testing.assert_array_equal(stored.counts.ints, counts.ints)


def test_counters_that_do_not_fit_the_layout_are_a_state_error_naming_the_window(
    store: StateStore, redis_client: redis.Redis
) -> None:
    layout = _layout(2)
    _apply(store, layout, [_counts(layout, 100, seed=1)])
    redis_client.hset(Keys("store-test").window(MODEL, 0), "ints", b"\x00" * 8)
    with pytest.raises(StateError, match=r"window 0 .* does not fit its layout"):
        store.window(MODEL, 0, layout)


def test_a_window_in_the_earlier_one_field_per_counter_layout_is_refused_by_name(
    store: StateStore, redis_client: redis.Redis
) -> None:
    layout = _layout(1)
    fields = {"n": 10, "ref": layout.profile.id, "start": 1.0, "end": 2.0, "i:0": 4, "f:0": 1.5}
    redis_client.hset(Keys("store-test").window(MODEL, 7), mapping=fields)
    with pytest.raises(StateError, match=r"window 7 .* earlier drift-monitor"):
        store.window(MODEL, 7, layout)


# --------------------------------------------------------------------------- label join


def _join(
    store: StateStore,
    version: int,
    plan: JoinPlan,
    *,
    ttl: float = 3600.0,
    cap: int = 1_000_000,
) -> None:
    """Apply a batch that only changes the label join (no prediction events)."""
    plan.expected_version = version
    write = ModelWrite(model=MODEL, expected_events=0, events=0, join=plan, join_limits=(ttl, cap))
    offsets = {("labels", 0): (version, version + 1)}
    assert store.apply(BatchWrite(offsets, [write])).status == "ok"


def _waiting(ids: list[str]) -> JoinPlan:
    stored = {event_id: json.dumps([0, 0.5, 1.0]) for event_id in ids}
    return JoinPlan(expected_version=0, store_predictions=stored, predictions_keyed=len(ids))


def test_partition_watermarks_written_with_a_batch_come_back_in_the_cursor(
    store: StateStore,
) -> None:
    marks = {0: (1_764_182_460.5, 1_800_000_000.25), 3: (-math.inf, 1_800_000_001.0)}
    write = ModelWrite(model=MODEL, expected_events=0, events=1, partition_marks=marks)
    assert store.apply(BatchWrite({("t", 0): (0, 1)}, [write])).status == "ok"
    assert store.cursor(MODEL).partition_marks == marks


def test_unreadable_partition_watermarks_are_a_state_error(
    store: StateStore, redis_client: redis.Redis
) -> None:
    redis_client.hset(Keys("store-test").meta(MODEL), "partition_marks", "{not json")
    with pytest.raises(StateError, match="partition watermarks are unreadable"):
        store.cursor(MODEL)


def test_thousands_of_waiting_predictions_are_stored_and_deleted_whole(
    store: StateStore, redis_client: redis.Redis
) -> None:
    keys, ids = Keys("store-test"), [f"e{i}" for i in range(4999)]
    _join(store, 0, _waiting(ids))
    assert redis_client.hlen(keys.pending_predictions(MODEL)) == 4999
    assert redis_client.zcard(keys.pending_prediction_times(MODEL)) == 4999
    joined = JoinPlan(expected_version=1, delete_predictions=ids[:4000], labels_received=4000)
    _join(store, 1, joined)
    assert sorted(redis_client.hkeys(keys.pending_predictions(MODEL))) == sorted(
        i.encode() for i in ids[4000:]
    )
    assert redis_client.zcard(keys.pending_prediction_times(MODEL)) == 999


def test_waiting_predictions_older_than_the_ttl_are_forgotten_as_never_labelled(
    store: StateStore, redis_client: redis.Redis
) -> None:
    _join(store, 0, _waiting(["old-1", "old-2"]))
    time.sleep(0.3)
    _join(store, 1, _waiting(["new"]), ttl=0.2)
    keys = Keys("store-test")
    assert redis_client.hkeys(keys.pending_predictions(MODEL)) == [b"new"]
    assert redis_client.zrange(keys.pending_prediction_times(MODEL), 0, -1) == [b"new"]
    assert store.model_status(MODEL)["labels"]["predictions_never_labelled"] == 2


def test_past_the_size_cap_the_oldest_waiting_labels_are_forgotten_as_never_matched(
    store: StateStore, redis_client: redis.Redis
) -> None:
    first = {f"a{i}": json.dumps([1, 10.0]) for i in range(3)}
    _join(store, 0, JoinPlan(expected_version=0, store_labels=first, labels_received=3))
    time.sleep(0.01)
    second = {f"b{i}": json.dumps([1, 10.0]) for i in range(3)}
    _join(store, 1, JoinPlan(expected_version=1, store_labels=second, labels_received=3), cap=4)
    keys = Keys("store-test")
    assert sorted(redis_client.hkeys(keys.pending_labels(MODEL))) == [b"a2", b"b0", b"b1", b"b2"]
    assert redis_client.zcard(keys.pending_label_times(MODEL)) == 4
    assert store.model_status(MODEL)["labels"]["labels_never_matched"] == 2


def test_the_batch_read_returns_waiting_entries_by_id_and_the_join_version(
    store: StateStore,
) -> None:
    _join(store, 0, _waiting(["a", "b"]))
    read = store.read_for_batch({MODEL: ModelReads(label_ids=["b", "zz"])})[MODEL]
    assert read.join.version == 1
    assert read.join.predictions_for_labels == {"b": json.dumps([0, 0.5, 1.0]).encode()}
    assert read.join.labels_for_predictions == {}


def test_the_batch_read_survives_redis_forgetting_its_scripts(
    store: StateStore, redis_client: redis.Redis
) -> None:
    _join(store, 0, _waiting(["a"]))
    redis_client.script_flush()
    read = store.read_for_batch({MODEL: ModelReads(label_ids=["a"])})[MODEL]
    assert set(read.join.predictions_for_labels) == {"a"}


def _result(signal: str, method: str, segment: str | None, **extra: Any) -> SignalResult:
    return SignalResult(
        signal, "feature", method, 0.04, None, 0.03, 0.1, 0.25, False, "ok", segment=segment,
        **extra,
    )  # fmt: skip


def test_a_segmented_windows_latest_results_read_back_as_each_results_entry(
    store: StateStore, redis_client: redis.Redis
) -> None:
    results = [
        _result("x0", "psi", None, no_drift=0.02),
        *(_result("x0", "psi", part, no_drift=0.02) for part in ("region=eu", "region=us")),
        _result("x1", "ks", "region=eu"),
        SignalResult(
            "features", "multivariate", "correlation", 0.0, 0.5, 2.1, 0.1, 0.2, False, "ok",
            attribution=(Contributor(("x0", "x1"), 0.1, -0.2, 2.1),), segment="region=us",
        ),
    ]  # fmt: skip
    report = WindowReport(MODEL, 3, 500, 0.0, 60.0, "ref-1", tuple(results))
    redis_client.zadd(store.keys.closing_windows(MODEL), {"3": 3})
    latest = latest_fields(report, "ref-1")

    assert store.finalize(MODEL, 3, "a", report.history_entry(61.0), latest) == "recorded"

    window = report.window_dict()
    assert store.model_status(MODEL)["signals"] == {
        r.key: {**r.to_dict(), "kind": kind_of(r), "window": window, "reference_id": "ref-1"}
        for r in results
    }
