"""Counting many groups of a batch's rows at once, each against its own layout.

A segmented model counts every segment's rows of every window against the segment's own
reference (``monitor.segmenting``): twenty segments and a window make twenty small
counts of ~250 rows each. Counted one by one with :meth:`WindowLayout.accumulate`, each
signal of each group paid a dozen numpy calls of fixed cost, ~1 ms a group, more than
the whole model's count of 5,000 rows. Here the rows come ordered by group, so each
signal is looked up among its group's edges with one ``searchsorted`` a group, then
counted and summed for every group in one ``bincount``; the joint sums centre and clip
every row at once and leave only a ``d x d`` product per group.

The counts are those of :meth:`WindowLayout.accumulate` on each group's rows: integers
equal, float sums equal up to the order of addition.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from detectors.multivariate import JointProfile, centred_products
from detectors.window import (
    SCORE_SIGNAL,
    CategoricalSlots,
    NumericSlots,
    WindowCounts,
    WindowLayout,
    count_categorical,
)


@dataclass(frozen=True, slots=True)
class Group:
    """Rows ``start:stop`` of the ordered batch, counted against ``layout``."""

    layout: WindowLayout
    start: int
    stop: int


def accumulate_groups(
    groups: Sequence[Group],
    numeric: Mapping[str, NDArray[np.float64]],
    categorical: Mapping[str, Sequence[object]],
    mismatches: Mapping[str, NDArray[np.bool_]],
) -> list[WindowCounts]:
    """Each group's counts, in order. ``numeric``: float64 columns, NaN for missing;
    ``categorical``: the raw values (None for missing), encoded here by each group's
    own profile; ``mismatches``: per signal, the rows whose value had the wrong type.

    The groups' rows must be contiguous and in order: together, rows ``groups[0].start``
    to ``groups[-1].stop``; every layout must have the first layout's signals.
    """
    if not groups:
        return []
    out = [g.layout.empty() for g in groups]
    starts = np.array([g.start for g in groups], dtype=np.intp)
    sizes = np.array([g.stop - g.start for g in groups], dtype=np.intp)
    if (sizes <= 0).any() or (starts[1:] != starts[:-1] + sizes[:-1]).any():
        raise ValueError("groups must be non-empty, contiguous and in order")
    first, stop = groups[0].start, groups[-1].stop
    of_row = np.repeat(np.arange(len(groups)), sizes)
    for counts, size in zip(out, sizes.tolist(), strict=True):
        counts.events = size
    local = starts - first
    for name, where in groups[0].layout.signals.items():
        slots = [g.layout.signals[name] for g in groups]
        mismatch = mismatches.get(name)
        if mismatch is not None:
            flags = np.add.reduceat(mismatch[first:stop].astype(np.int64), local)
            for counts, at, n in zip(out, slots, flags.tolist(), strict=True):
                counts.ints[at.mismatch] = n
        if isinstance(where, NumericSlots):
            _numeric(numeric[name][first:stop], groups, slots, of_row, local, out)  # type: ignore[arg-type]
        else:
            _categorical(categorical[name], groups, slots, out)  # type: ignore[arg-type]
    for counts, group in zip(out, groups, strict=True):
        if group.layout.estimator is not None:
            scores = numeric[SCORE_SIGNAL][group.start : group.stop]
            group.layout.count_scores(scores, counts)
    if any(g.layout.joint is not None for g in groups):
        _joint(numeric, groups, out)
    return out


def _numeric(
    values: NDArray[np.float64],
    groups: Sequence[Group],
    slots: Sequence[NumericSlots],
    of_row: NDArray[np.intp],
    local: NDArray[np.intp],
    out: list[WindowCounts],
) -> None:
    """One numeric signal of every group: bin counts and sums, missing, below, above.

    A value's bin is the number of its group's edges at or below it (bin ``i`` holds
    ``edges[i-1] <= x < edges[i]``, as :func:`detectors.histogram.histogram` counts).
    """
    bins = np.empty(values.size, dtype=np.intp)
    offsets, total = [], 0
    for group, where, start in zip(groups, slots, local.tolist(), strict=True):
        rows = slice(start, start + group.stop - group.start)
        bins[rows] = np.searchsorted(where.profile.edges, values[rows], side="right")
        offsets.append(total)
        total += where.profile.bins
    present = ~np.isnan(values)
    flat = (np.asarray(offsets, dtype=np.intp)[of_row] + bins)[present]
    kept = values[present]
    counts = np.bincount(flat, minlength=total)
    with np.errstate(over="ignore", invalid="ignore"):  # sums near the float limit: see _bin_means
        sums = np.bincount(flat, weights=kept, minlength=total)
    minimum = np.array([w.profile.minimum for w in slots])[of_row]
    maximum = np.array([w.profile.maximum for w in slots])[of_row]
    # NaN compares false both ways: only present values are below or above.
    below = np.add.reduceat((values < minimum).astype(np.int64), local).tolist()
    above = np.add.reduceat((values > maximum).astype(np.int64), local).tolist()
    missing = np.add.reduceat((~present).astype(np.int64), local).tolist()
    for g, (where, offset) in enumerate(zip(slots, offsets, strict=True)):
        ints, floats, k = out[g].ints, out[g].floats, where.profile.bins
        ints[where.bins] = counts[offset : offset + k]
        floats[where.sums] = sums[offset : offset + k]
        ints[where.missing] = missing[g]
        ints[where.below] = below[g]
        ints[where.above] = above[g]


def _categorical(
    values: Sequence[object],
    groups: Sequence[Group],
    slots: Sequence[CategoricalSlots],
    out: list[WindowCounts],
) -> None:
    """One categorical signal of every group, each encoded by its own profile (the top
    categories differ by segment); its tail named and sketched as ``accumulate`` does."""
    for group, where, counts in zip(groups, slots, out, strict=True):
        raw = values[group.start : group.stop]
        count_categorical(where, where.profile.encode(raw), raw, slice(None), counts)


def _joint(
    numeric: Mapping[str, NDArray[np.float64]], groups: Sequence[Group], out: list[WindowCounts]
) -> None:
    """The joint sums of every group with a joint profile (:func:`joint_sums`' for each),
    from one ``(features, rows)`` array: complete rows kept, each clipped and centred by
    its group's profile, then one product per group."""
    profiles: list[JointProfile | None] = [
        None if g.layout.joint is None else g.layout.joint.profile for g in groups
    ]
    names = next(p for p in profiles if p is not None).names
    first, stop = groups[0].start, groups[-1].stop
    block = np.vstack([numeric[n][first:stop] for n in names])
    with np.errstate(over="ignore"):  # values near the float limit may sum to inf: left out
        complete = np.isfinite(block.sum(axis=0))
    for g, (group, profile) in enumerate(zip(groups, profiles, strict=True)):
        where = groups[g].layout.joint
        if profile is None or where is None:
            continue
        rows = slice(group.start - first, group.stop - first)
        kept = block[:, rows][:, complete[rows]]
        used, sums = centred_products(profile, kept)
        out[g].ints[where.rows] = used
        out[g].floats[where.sums] = sums
