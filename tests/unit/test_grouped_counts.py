"""Many groups of a batch counted at once, each against its own layout, as one by one.

A segmented model counts each segment's rows of each window against the segment's own
reference (``detectors.grouped_counts``); every group must come out exactly as
:meth:`WindowLayout.accumulate` counts that group's rows alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from detectors.grouped_counts import Group, accumulate_groups
from detectors.profile import CategoricalProfile, SignalSpec, build_reference_profile
from detectors.window import NumericSlots, WindowCounts, WindowLayout

SPECS = [
    SignalSpec("amount", "numeric", "feature"),
    SignalSpec("latency", "numeric", "feature"),
    SignalSpec("country", "categorical", "feature"),
    SignalSpec("prediction", "numeric", "prediction"),
]


def _layout(seed: int, centre: float, countries: list[str]) -> WindowLayout:
    rng = np.random.default_rng(seed)
    n = 3_000
    columns: dict[str, NDArray[Any]] = {
        "amount": rng.normal(centre, centre / 5, n),
        "latency": rng.exponential(centre / 10, n),
        "country": rng.choice(np.asarray(countries, dtype=object), n),
        "prediction": rng.random(n),
    }
    profile = build_reference_profile(
        "fraud", SPECS, columns, bins=12, max_categories=3, created_at=0.0, source="test"
    )
    return WindowLayout(profile)


EU = _layout(1, 100.0, ["DE", "FR", "IT", "ES", "NL"])
US = _layout(2, 40.0, ["CA", "NY", "TX"])


def _batch(rows: int, seed: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Columns with everything a count distinguishes: missing values, wrong types, values
    outside the reference's range, unseen categories, a JSON number as a category."""
    rng = np.random.default_rng(seed)
    amount = rng.normal(80.0, 40.0, rows)
    amount[rng.random(rows) < 0.05] = np.nan
    latency = rng.exponential(8.0, rows)
    latency[::17] = np.nan
    countries = ["DE", "FR", "CA", "TX", "XX", None, 7, "IT", "NY"]
    country = [countries[i] for i in rng.integers(0, len(countries), rows)]
    mismatch = rng.random(rows) < 0.03
    amount[mismatch] = np.nan
    numeric = {"amount": amount, "latency": latency, "prediction": rng.random(rows)}
    return numeric, {"country": country}, {"amount": mismatch}


def _edges(layout: WindowLayout, name: str) -> NDArray[np.float64]:
    where = layout.signals[name]
    assert isinstance(where, NumericSlots)
    return where.profile.edges


def _alone(
    group: Group, numeric: dict[str, Any], categorical: dict[str, Any], flags: dict[str, Any]
) -> WindowCounts:
    rows = slice(group.start, group.stop)
    columns: dict[str, NDArray[Any]] = {name: column[rows] for name, column in numeric.items()}
    values = {name: column[rows] for name, column in categorical.items()}
    for name, raw in values.items():
        where = group.layout.signals[name]
        assert isinstance(where.profile, CategoricalProfile)
        columns[name] = where.profile.encode(raw)
    mismatches = {name: column[rows] for name, column in flags.items()}
    return group.layout.accumulate(columns, mismatches, slice(None), values)


def _assert_same(got: WindowCounts, alone: WindowCounts) -> None:
    assert got.events == alone.events
    np.testing.assert_array_equal(got.ints, alone.ints)
    np.testing.assert_allclose(got.floats, alone.floats, rtol=1e-12, atol=1e-9)
    assert got.names == alone.names


def test_each_group_counts_as_its_rows_alone_would_against_its_own_layout() -> None:
    numeric, categorical, flags = _batch(900, 3)
    groups = [Group(EU, 0, 300), Group(US, 300, 520), Group(EU, 520, 521), Group(US, 521, 900)]
    for group in groups[:2]:  # values on the edges belong to the bin above
        edges = _edges(group.layout, "amount")
        numeric["amount"][group.start : group.start + edges.size] = edges

    counted = accumulate_groups(groups, numeric, categorical, flags)

    assert EU.joint is not None
    assert US.joint is not None
    assert len(counted) == len(groups)
    for group, got in zip(groups, counted, strict=True):
        _assert_same(got, _alone(group, numeric, categorical, flags))


def test_groups_may_start_after_the_first_row_of_the_columns() -> None:
    numeric, categorical, flags = _batch(400, 4)
    groups = [Group(US, 100, 250), Group(EU, 250, 330)]

    counted = accumulate_groups(groups, numeric, categorical, flags)

    for group, got in zip(groups, counted, strict=True):
        _assert_same(got, _alone(group, numeric, categorical, flags))


def test_values_near_the_float_limit_are_counted_in_the_outer_bin() -> None:
    numeric, categorical, flags = _batch(200, 5)
    numeric["amount"][:2] = np.finfo(np.float64).max
    groups = [Group(EU, 0, 100), Group(US, 100, 200)]

    with np.errstate(all="raise"):
        counted = accumulate_groups(groups, numeric, categorical, flags)

    alone = _alone(groups[0], numeric, categorical, flags)
    np.testing.assert_array_equal(counted[0].ints, alone.ints)


@pytest.mark.parametrize(
    "groups",
    [
        [Group(EU, 0, 100), Group(US, 120, 200)],
        [Group(EU, 100, 200), Group(US, 0, 100)],
        [Group(EU, 0, 0)],
    ],
    ids=["a gap", "out of order", "empty"],
)
def test_groups_that_are_not_contiguous_non_empty_runs_are_refused(groups: list[Group]) -> None:
    numeric, categorical, flags = _batch(200, 6)

    with pytest.raises(ValueError, match="contiguous"):
        accumulate_groups(groups, numeric, categorical, flags)
