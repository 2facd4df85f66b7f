"""Window accumulators: mergeable counts of one model's signals against its reference.

A window is two flat vectors, one of integer counters and one of float sums,
laid out by :class:`WindowLayout` from the reference profile. Because every
entry is a count or a sum, windows combine by addition: a micro-batch becomes
a delta, deltas from any number of batches, partitions or daemon instances
add up to the same window, and Redis can add a delta to the stored window
element by element.

Per numeric signal: one counter per bin, then ``missing``, ``mismatch`` (a
wrong type, also counted as missing), ``below`` and ``above`` the reference
range; one float per bin (the sum of its values). Per categorical signal: one
counter per slot (categories, other, unseen), then ``missing`` and ``mismatch``,
then, for a signal whose profile sketches its tail (a high-cardinality feature), the
``depth * width`` counters of the count-min sketch of its tail values
(:mod:`detectors.sketch`). Beside the vectors, ``WindowCounts.names`` keeps the heaviest
tail values of each categorical signal by name: at most ``WINDOW_NAMES`` per signal,
merged by summing and trimming rather than plain addition.
With an estimator (:mod:`detectors.estimation`): one counter of events and one float sum of
calibrated probability per score segment of the prediction. With a joint profile, last: one
counter of complete rows and the joint sums (:func:`detectors.multivariate.joint_sums`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from detectors.estimation import BinaryEstimator, SegmentCounts
from detectors.histogram import histogram
from detectors.multivariate import JointProfile, joint_sums
from detectors.profile import (
    MISSING,
    CategoricalProfile,
    NumericProfile,
    ReferenceProfile,
    category_key,
)
from detectors.sketch import (
    BATCH_NAMES,
    WINDOW_NAMES,
    fingerprints,
    heaviest,
    merge_names,
    sketch_counts,
)


@dataclass(frozen=True, slots=True)
class NumericSlots:
    """Positions of one numeric signal's counters in the window vectors."""

    profile: NumericProfile
    bins: slice
    missing: int
    mismatch: int
    below: int
    above: int
    sums: slice


@dataclass(frozen=True, slots=True)
class CategoricalSlots:
    """Positions of one categorical signal's counters in the window vectors."""

    profile: CategoricalProfile
    slots: slice
    missing: int
    mismatch: int
    sketch: slice | None = None
    """The count-min sketch of the tail values, when the profile has one."""


SignalSlots = NumericSlots | CategoricalSlots

SCORE_SIGNAL = "prediction"
"""The signal whose values the estimator calibrates: the model's score."""


@dataclass(frozen=True, slots=True)
class EstimatorSlots:
    """Positions of the estimator's segment counts (ints) and probability sums (floats)."""

    estimator: BinaryEstimator
    counts: slice
    sums: slice

    def state(self, counts: WindowCounts) -> SegmentCounts:
        return SegmentCounts(counts.ints[self.counts], counts.floats[self.sums])


@dataclass(frozen=True, slots=True)
class JointSlots:
    """Positions of the joint sums of the numeric features (see :mod:`.multivariate`)."""

    profile: JointProfile
    rows: int
    sums: slice


@dataclass(slots=True)
class WindowCounts:
    """A window's (or a batch's) counters: events, integer counts and float sums.

    ``names``: per categorical signal, its heaviest tail values by name with their
    (summed) counts, at most ``WINDOW_NAMES`` each; signals without tail values are absent.
    """

    events: int
    ints: NDArray[np.int64]
    floats: NDArray[np.float64]
    names: dict[str, dict[str, int]] = field(default_factory=dict)

    def __add__(self, other: WindowCounts) -> WindowCounts:
        names = dict(self.names)
        for signal, values in other.names.items():
            names[signal] = merge_names(names.get(signal, {}), values, WINDOW_NAMES)
        return WindowCounts(
            self.events + other.events, self.ints + other.ints, self.floats + other.floats, names
        )


class WindowLayout:
    """Maps each signal of a reference profile to its slice of the window vectors."""

    def __init__(self, profile: ReferenceProfile) -> None:
        self.profile = profile
        slots: dict[str, SignalSlots] = {}
        ints = floats = 0
        for signal in profile.signals:
            if isinstance(signal, NumericProfile):
                k = signal.bins
                slots[signal.name] = NumericSlots(
                    profile=signal,
                    bins=slice(ints, ints + k),
                    missing=ints + k,
                    mismatch=ints + k + 1,
                    below=ints + k + 2,
                    above=ints + k + 3,
                    sums=slice(floats, floats + k),
                )
                ints += k + 4
                floats += k
            else:
                k = signal.slots
                size = signal.sketch_width * signal.sketch_depth
                slots[signal.name] = CategoricalSlots(
                    profile=signal,
                    slots=slice(ints, ints + k),
                    missing=ints + k,
                    mismatch=ints + k + 1,
                    sketch=slice(ints + k + 2, ints + k + 2 + size) if size else None,
                )
                ints += k + 2 + size
        self.signals: Mapping[str, SignalSlots] = slots
        # Before the joint sums: a wide model's kept counts drop those (monitor.report.history).
        self.estimator: EstimatorSlots | None = None
        if profile.estimator is not None and SCORE_SIGNAL in slots:
            k = profile.estimator.segments
            self.estimator = EstimatorSlots(
                profile.estimator, slice(ints, ints + k), slice(floats, floats + k)
            )
            ints += k
            floats += k
        self.joint: JointSlots | None = None
        if profile.joint is not None:
            size = profile.joint.sums_size
            self.joint = JointSlots(profile.joint, ints, slice(floats, floats + size))
            ints += 1
            floats += size
        self.int_size = ints
        self.float_size = floats

    def empty(self) -> WindowCounts:
        return WindowCounts(
            0, np.zeros(self.int_size, np.int64), np.zeros(self.float_size, np.float64)
        )

    def count_scores(self, scores: NDArray[np.float64], counts: WindowCounts) -> None:
        """The estimator's counts of the model's ``scores`` (nothing without an estimator)."""
        if self.estimator is None:
            return
        state = self.estimator.estimator.accumulate(scores)
        counts.ints[self.estimator.counts] = state.counts
        counts.floats[self.estimator.sums] = state.sums

    def accumulate(
        self,
        columns: Mapping[str, NDArray[Any]],
        mismatches: Mapping[str, NDArray[np.bool_]],
        rows: NDArray[np.bool_] | slice = slice(None),
        values: Mapping[str, Sequence[object]] | None = None,
    ) -> WindowCounts:
        """Counts of the selected rows of a decoded batch.

        Numeric columns are float64 with NaN for missing; categorical columns are
        slot codes from :meth:`CategoricalProfile.encode`. ``mismatches`` flags,
        per signal, the rows whose value had the wrong type (already NaN/missing).
        ``values``: the raw values of the categorical columns, row for row, which the
        codes were made from; without them the tail is neither named nor sketched.
        """
        counts = self.empty()
        ints, floats = counts.ints, counts.floats
        events = -1
        for name, where in self.signals.items():
            column = columns[name][rows]
            events = column.size
            mismatch = mismatches.get(name)
            if mismatch is not None:
                ints[where.mismatch] = int(np.count_nonzero(mismatch[rows]))
            if isinstance(where, NumericSlots):
                bins, sums = histogram(where.profile.edges, column)
                ints[where.bins] = bins
                floats[where.sums] = sums
                ints[where.missing] = column.size - int(bins.sum())
                # NaN compares false both ways: only present values are below or above.
                ints[where.below] = int(np.count_nonzero(column < where.profile.minimum))
                ints[where.above] = int(np.count_nonzero(column > where.profile.maximum))
            else:
                raw = None if values is None else values.get(name)
                count_categorical(where, column, raw, rows, counts)
        if self.estimator is not None:
            self.count_scores(columns[SCORE_SIGNAL][rows], counts)
        if self.joint is not None:
            rows_used, sums = joint_sums(self.joint.profile, columns, rows)
            ints[self.joint.rows] = rows_used
            floats[self.joint.sums] = sums
        counts.events = max(events, 0)
        return counts


def count_categorical(
    where: CategoricalSlots,
    codes: NDArray[np.int64],
    raw: Sequence[object] | None,
    rows: NDArray[np.bool_] | slice,
    counts: WindowCounts,
) -> None:
    """One categorical signal's slots and missing values from its codes, and, given the
    raw values the codes were made from (``rows`` of them), its tail named and sketched."""
    present = codes[codes != MISSING]
    counts.ints[where.missing] = codes.size - present.size
    counts.ints[where.slots] = np.bincount(present, minlength=where.profile.slots)
    if raw is not None:
        count_tail(where, codes, raw, rows, counts)


def count_tail(
    where: CategoricalSlots,
    codes: NDArray[np.int64],
    raw: Sequence[object],
    rows: NDArray[np.bool_] | slice,
    counts: WindowCounts,
) -> None:
    """Name the heaviest tail values of the selected rows, and sketch them all."""
    tail = np.flatnonzero(codes >= where.profile.other_slot)
    if tail.size == 0:
        return
    positions = np.arange(len(raw))[rows][tail].tolist()
    keys = [raw[i] for i in positions]
    if set(map(type, keys)) != {str}:  # JSON numbers and booleans, compared as text
        keys = [category_key(value) for value in keys]
    counts.names[where.profile.name] = heaviest(keys, BATCH_NAMES)
    if where.sketch is not None:
        profile = where.profile
        counts.ints[where.sketch] = sketch_counts(
            fingerprints(keys), profile.sketch_width, profile.sketch_depth
        )
