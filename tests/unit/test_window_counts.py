"""Window counts: a batch counted against the reference's bins and slots, and counts added up.

A window is a vector of counts and a vector of per-bin sums; any split of a batch must add
up to the counts of the whole batch, which is what lets Redis apply deltas with ``HINCRBY``.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from detectors.profile import (
    MISSING,
    CategoricalProfile,
    NumericProfile,
    ReferenceProfile,
    SignalSpec,
    build_reference_profile,
)
from detectors.window import CategoricalSlots, NumericSlots, WindowCounts, WindowLayout

SEED = 20261127
Columns = dict[str, NDArray[Any]]


def _layout() -> WindowLayout:
    rng = np.random.default_rng(SEED)
    n = 5_000
    specs = [
        SignalSpec("amount", "numeric", "feature"),
        SignalSpec("country", "categorical", "feature"),
        SignalSpec("prediction", "numeric", "prediction"),
    ]
    columns: Columns = {
        "amount": rng.normal(100.0, 15.0, n),
        "country": rng.choice(np.asarray(["DE", "FR", "US", "GB"], dtype=object), n),
        "prediction": rng.random(n),
    }
    profile = build_reference_profile(
        "fraud", specs, columns, bins=20, max_categories=3, created_at=0.0, source="test"
    )
    return WindowLayout(profile)


LAYOUT = _layout()
PROFILE: ReferenceProfile = LAYOUT.profile


def _numeric(name: str) -> tuple[NumericSlots, NumericProfile]:
    where = LAYOUT.signals[name]
    assert isinstance(where, NumericSlots)
    return where, where.profile


def _categorical(name: str) -> tuple[CategoricalSlots, CategoricalProfile]:
    where = LAYOUT.signals[name]
    assert isinstance(where, CategoricalSlots)
    return where, where.profile


def _batch(n: int, seed: int = 1) -> tuple[Columns, dict[str, NDArray[np.bool_]]]:
    """A decoded batch with some missing values, some wrong types and values past both ends."""
    rng = np.random.default_rng([SEED, seed])
    amount = rng.normal(100.0, 20.0, n)
    amount[rng.random(n) < 0.05] = np.nan
    amount[rng.random(n) < 0.02] = 1e6
    amount[rng.random(n) < 0.02] = -1e6
    mismatch = np.isnan(amount) & (rng.random(n) < 0.5)
    _, country = _categorical("country")
    values = rng.choice(np.asarray(["DE", "FR", "US", "GB", "XX", None], dtype=object), n)
    columns: Columns = {
        "amount": amount,
        "country": country.encode(list(values)),
        "prediction": rng.random(n),
    }
    return columns, {"amount": mismatch}


def _assert_equal(merged: WindowCounts, whole: WindowCounts) -> None:
    assert merged.events == whole.events
    np.testing.assert_array_equal(merged.ints, whole.ints)  # counts add exactly
    # Sums of floats depend on the order of addition: equal up to rounding.
    np.testing.assert_allclose(merged.floats, whole.floats, rtol=1e-12, atol=1e-9)


# --------------------------------------------------------------------------- numeric signals


def test_bin_counts_match_a_histogram_on_the_reference_edges() -> None:
    where, profile = _numeric("amount")
    values = np.concatenate([np.random.default_rng(2).normal(100.0, 30.0, 3_000), profile.edges])
    counts = LAYOUT.accumulate(
        {"amount": values, "country": np.zeros(values.size, np.int64), "prediction": values},
        {},
    )
    # Outer bins are open-ended; a value on an edge counts in the bin to its right, which is
    # np.histogram's [a, b) convention once the edges are padded with -inf and +inf.
    expected, _ = np.histogram(values, bins=np.r_[-np.inf, profile.edges, np.inf])
    assert counts.ints[where.bins].tolist() == expected.tolist()


def test_bin_sums_are_the_sums_of_the_values_in_each_bin() -> None:
    where, profile = _numeric("amount")
    columns, mismatches = _batch(2_000)
    counts = LAYOUT.accumulate(columns, mismatches)
    values = columns["amount"][~np.isnan(columns["amount"])]
    lower = np.r_[-np.inf, profile.edges]
    upper = np.r_[profile.edges, np.inf]
    expected = [
        values[(lo <= values) & (values < hi)].sum() for lo, hi in zip(lower, upper, strict=True)
    ]
    np.testing.assert_allclose(counts.floats[where.sums], expected, rtol=1e-12)


def test_nan_is_counted_as_missing_not_in_a_bin() -> None:
    where, _ = _numeric("amount")
    columns, mismatches = _batch(2_000)
    counts = LAYOUT.accumulate(columns, mismatches)
    nan = int(np.isnan(columns["amount"]).sum())
    assert counts.ints[where.missing] == nan
    assert counts.ints[where.bins].sum() == 2_000 - nan


def test_mismatched_values_are_counted_as_mismatches() -> None:
    where, _ = _numeric("amount")
    columns, mismatches = _batch(2_000)
    counts = LAYOUT.accumulate(columns, mismatches)
    assert counts.ints[where.mismatch] == mismatches["amount"].sum() > 0


def test_values_outside_the_reference_range_are_counted_below_and_above() -> None:
    where, profile = _numeric("amount")
    columns, mismatches = _batch(2_000)
    counts = LAYOUT.accumulate(columns, mismatches)
    values = columns["amount"]
    assert counts.ints[where.below] == np.count_nonzero(values < profile.minimum) > 0
    assert counts.ints[where.above] == np.count_nonzero(values > profile.maximum) > 0


def test_values_outside_the_reference_range_still_land_in_the_outer_bins() -> None:
    where, _ = _numeric("amount")
    values = np.array([-1e9, 1e9])
    counts = LAYOUT.accumulate(
        {"amount": values, "country": np.zeros(2, np.int64), "prediction": np.zeros(2)}, {}
    )
    bins = counts.ints[where.bins]
    assert (bins[0], bins[-1], bins.sum()) == (1, 1, 2)


# --------------------------------------------------------------------------- categorical signals


def test_categorical_counts_per_slot() -> None:
    where, profile = _categorical("country")
    values = ["DE", "DE", "FR", "GB", "XX", "YY", None, "US"]
    codes = profile.encode(values)
    counts = LAYOUT.accumulate(
        {"amount": np.zeros(len(values)), "country": codes, "prediction": np.zeros(len(values))},
        {"country": np.array([False] * 6 + [True, False])},
    )
    slots = counts.ints[where.slots]
    # max_categories=3 keeps three of DE, FR, GB, US; the fourth is in `other`.
    expected = np.zeros(profile.slots, np.int64)
    for code in codes[codes != MISSING]:
        expected[code] += 1
    assert slots.tolist() == expected.tolist()
    assert slots[profile.unseen_slot] == 2  # XX and YY
    assert slots[profile.other_slot] == 1
    assert counts.ints[where.missing] == 1
    assert counts.ints[where.mismatch] == 1


# --------------------------------------------------------------------------- the whole window


def test_events_is_the_number_of_selected_rows() -> None:
    columns, mismatches = _batch(500)
    assert LAYOUT.accumulate(columns, mismatches).events == 500
    assert LAYOUT.accumulate(columns, mismatches, slice(10, 30)).events == 20


def test_a_row_mask_counts_only_the_selected_rows() -> None:
    columns, mismatches = _batch(1_000)
    mask = np.random.default_rng(3).random(1_000) < 0.3
    selected = {name: column[mask] for name, column in columns.items()}
    _assert_equal(
        LAYOUT.accumulate(columns, mismatches, mask),
        LAYOUT.accumulate(selected, {k: v[mask] for k, v in mismatches.items()}),
    )


def test_empty_window_is_all_zeros() -> None:
    empty = LAYOUT.empty()
    assert empty.events == 0
    assert not empty.ints.any()
    assert not empty.floats.any()
    assert empty.ints.size == LAYOUT.int_size
    assert empty.floats.size == LAYOUT.float_size


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(0, 1_000), max_size=12), seed=st.integers(0, 2**16))
def test_counts_of_any_split_add_up_to_the_counts_of_the_whole(cuts: list[int], seed: int) -> None:
    columns, mismatches = _batch(1_000, seed)
    bounds = [0, *sorted(cuts), 1_000]
    merged = LAYOUT.empty()
    for start, stop in itertools.pairwise(bounds):
        merged = merged + LAYOUT.accumulate(columns, mismatches, slice(start, stop))
    _assert_equal(merged, LAYOUT.accumulate(columns, mismatches))


def test_adding_windows_is_commutative() -> None:
    a = LAYOUT.accumulate(*_batch(300, 1))
    b = LAYOUT.accumulate(*_batch(300, 2))
    _assert_equal(a + b, b + a)
