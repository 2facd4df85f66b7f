"""Judging a closed window against its reference: one result per signal and method.

Every decision pairs an effect size with a significance test: a result is
drifted only when its effect reaches the ``warn`` threshold *and* its test
stays significant after correcting for the number of tests run on the window
(Bonferroni or Holm at ``alpha``). The distribution methods of a signal (PSI,
Jensen-Shannon, Wasserstein, KS for numeric; chi-square, PSI, Jensen-Shannon
for categorical) share one test, the signal's KS or chi-square test, counted
once in the correction; ``missing_rate`` has its own test of a rise (exact, binomial);
``unseen_rate`` a one-sided binomial test against the chance, known from the
reference's size, that a value drawn like it is new (``detectors.stats.unseen_test``).

The chi-square test leaves the ``unseen`` slot to ``unseen_rate`` (a single
new category in a window would otherwise be "infinitely" surprising against a
reference count of 0) and pools the categories whose expected window count is
below 5 into one column (Cochran's rule): with 200 categories, half of them
rare, the unpooled test flagged 40% of 500-event windows drawn like the
reference.

Large windows therefore cannot flag trivial shifts (the effect is small), small
windows cannot flag sampling noise in PSI or Jensen-Shannon (the test is not
significant), and many features cannot flag noise (the correction holds the
family-wise error rate of a window at ``alpha``).

It runs once per closed window, and most of its arrays are a signal's 50 bins, where a
numpy call costs more in overhead than in arithmetic. So what depends only on the
reference is computed once per layout (:class:`_Reference`), the numeric signals of every
part are stacked and compared in one call per statistic (``detectors.stats``' row-wise
forms), and so are their joint measures (``detectors.multivariate.joint_measures_of_all``),
and each result is made once, as its score is, then marked if it drifted: a segmented
window (twenty segments and the whole model) or a wide one makes thousands.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import compress
from typing import Any, Literal, NamedTuple, TypeVar

import numpy as np
from numpy.typing import NDArray
from scipy import special

from detectors import null_levels, stats
from detectors.estimation import Estimate
from detectors.methods import Thresholds
from detectors.multivariate import (
    JOINT_SIGNAL,
    Contributor,
    JointMeasure,
    joint_measures_of_all,
)
from detectors.profile import SignalRole
from detectors.tail import NamedValue, dominant_value, named_values, tail_table
from detectors.window import (
    CategoricalSlots,
    NumericSlots,
    WindowCounts,
    WindowLayout,
)

Severity = Literal["ok", "warning", "critical", "insufficient"]
Correction = Literal["bonferroni", "holm", "none"]


@dataclass(frozen=True, slots=True)
class DecisionSettings:
    """Which methods run and how their results are judged (from a model's config)."""

    numeric_methods: tuple[str, ...]
    categorical_methods: tuple[str, ...]
    quality_methods: tuple[str, ...]
    thresholds: Mapping[str, Thresholds]
    alpha: float = 0.01
    correction: Correction = "bonferroni"
    min_events: int = 1
    multivariate_methods: tuple[str, ...] = ()


def named_facts(
    attribution: Sequence[Contributor],
    values: Sequence[NamedValue],
    estimate: Estimate | None,
    segment: str | None,
) -> dict[str, Any]:
    """What a result names beyond its score, as plain data: only the parts it has, so a
    result of the whole model with none of them adds no key."""
    out: dict[str, Any] = {}
    if attribution:
        out["attribution"] = [c.to_dict() for c in attribution]
    if values:
        out["values"] = [v.to_dict() for v in values]
    if estimate is not None:
        out["estimate"] = estimate.to_dict()
    if segment is not None:
        out["segment"] = segment
    return out


@dataclass(slots=True)
class SignalResult:
    """The verdict of one method on one signal for one window.

    Not frozen, but never changed once made: a segmented or wide window makes thousands,
    and a frozen dataclass sets each of its 15 fields through ``object.__setattr__``
    (1.8 us a result against 0.3 us).
    """

    signal: str
    role: SignalRole
    method: str
    score: float
    p_value: float | None
    statistic: float | None
    warn: float
    critical: float
    drifted: bool
    severity: Severity
    attribution: tuple[Contributor, ...] = ()
    """What a joint result names: the pairs or features that moved most (else empty)."""
    values: tuple[NamedValue, ...] = ()
    """A categorical signal's heaviest values outside its top reference categories, by
    name (``dominant_value`` and ``unseen_rate`` results; see :mod:`detectors.tail`)."""
    estimate: Estimate | None = None
    """An estimated-performance result's estimate, band and reference value (its score
    is the drop below that value; see :mod:`detectors.estimated_performance`)."""
    segment: str | None = None
    """The segment judged (``region=eu``); None for the whole model."""
    no_drift: float | None = None
    """A distribution score's no-drift level: its expected value on a window of this
    size drawn like the reference (:mod:`detectors.null_levels`); None for the scores
    centred on 0 already (data quality, joint, estimated performance)."""

    @property
    def key(self) -> str:
        """``signal/method``, and ``@segment`` for a segment's result: unique in a window."""
        base = f"{self.signal}/{self.method}"
        return base if self.segment is None else f"{base}@{self.segment}"

    def to_dict(self) -> dict[str, Any]:
        out = {
            "signal": self.signal,
            "role": self.role,
            "method": self.method,
            "score": self.score,
            "p_value": self.p_value,
            "statistic": self.statistic,
            "threshold": self.warn,
            "critical_threshold": self.critical,
            "drifted": self.drifted,
            "severity": self.severity,
        }
        if self.no_drift is not None:
            out["no_drift"] = self.no_drift
        # Updated rather than merged into a copy: a window's latest results add to the
        # dict of each of its thousands of results (monitor.evaluation.latest_fields).
        out.update(named_facts(self.attribution, self.values, self.estimate, self.segment))
        return out

    def row(self) -> list[Any]:
        """Its first ten fields in order: the compact JSON form of a result, where many
        are stored together (a window's counts history, a segment's latest results)."""
        return [
            self.signal,
            self.role,
            self.method,
            self.score,
            self.p_value,
            self.statistic,
            self.warn,
            self.critical,
            self.drifted,
            self.severity,
        ]

    def describe_attribution(self) -> str:
        """The named pairs or features, for people: ``a~b +0.80->-0.79, ...`` (or "")."""
        return ", ".join(c.describe() for c in self.attribution)


_Entry = tuple[SignalResult, int]
"""A result not yet judged (``drifted`` False, ``severity`` ok), and the position of the
test it must pass among its family's (-1: none)."""


class _Family:
    """The tests of one window's parts, each counted once in one correction.

    Results are made as their scores are computed, waiting for the correction: each entry
    names its test by position, and measures sharing a test share that position.
    """

    __slots__ = ("p_values", "thresholds")

    def __init__(self, thresholds: Mapping[str, Thresholds]) -> None:
        self.p_values: list[float] = []
        self.thresholds = thresholds

    def test(self, p_value: float) -> int:
        """A new test's position."""
        self.p_values.append(p_value)
        return len(self.p_values) - 1

    def entry(
        self,
        signal: str,
        role: SignalRole,
        method: str,
        score: float,
        p_value: float | None,
        statistic: float | None,
        test: int,
        segment: str | None,
        *,
        attribution: tuple[Contributor, ...] = (),
        values: tuple[NamedValue, ...] = (),
        no_drift: float | None = None,
    ) -> _Entry:
        limits = self.thresholds[method]
        return SignalResult(
            signal,
            role,
            method,
            float(score),
            None if p_value is None else float(p_value),
            None if statistic is None else float(statistic),
            limits.warn,
            limits.critical,
            False,
            "ok",
            attribution,
            values,
            None,
            segment,
            no_drift,
        ), test


@dataclass(frozen=True, slots=True)
class WindowPart:
    """A part of one window judged together with the others: the whole model's counts,
    or one segment's against its own reference (see :mod:`detectors.segments`)."""

    layout: WindowLayout
    counts: WindowCounts
    segment: str | None = None
    """``region=eu``; None for the whole model."""
    min_events: int | None = None
    """Events the part needs to be judged; None: the settings' ``min_events``."""


def prepare(layout: WindowLayout) -> None:
    """Compute now what every window of ``layout`` is compared with, rather than at its
    first window: for a segmented model's twenty references or a wide model's thousand
    signals (the KS levels simulate a bridge per signal) that first window took 150 to
    300 ms longer, and its alerts waited as long."""
    _Reference.of(layout)


def evaluate_window(
    layout: WindowLayout, counts: WindowCounts, settings: DecisionSettings
) -> tuple[SignalResult, ...]:
    """All results for one closed window, in signal then method order."""
    return evaluate_parts([WindowPart(layout, counts)], settings)


def evaluate_parts(
    parts: Sequence[WindowPart], settings: DecisionSettings
) -> tuple[SignalResult, ...]:
    """All results of a window's parts, part by part, each in signal then method order.

    The parts are one family of tests: the correction runs over every part's tests at
    once, so twenty segments do not buy twenty times the false alarms.
    """
    family = _Family(settings.thresholds)
    numeric = _numeric_entries_of_all(
        [_numeric_rows(_Reference.of(part.layout), part.counts) for part in parts],
        [part.segment for part in parts],
        settings,
        family,
    )
    categorical = _categorical_entries_of_all(parts, settings, family)
    joint = _joint_measures_of_all(parts, settings)
    by_part = [
        _entries(part, settings, {**by_numeric, **by_categorical}, measures, family)
        for part, by_numeric, by_categorical, measures in zip(
            parts, numeric, categorical, joint, strict=True
        )
    ]
    entries = [entry for part_entries in by_part for entry in part_entries]
    results = [result for result, _ in entries]
    # Position -1, past the last test, stands for "no test": always passed.
    significant = _significant(family.p_values, settings.alpha, settings.correction)
    passes = np.append(np.asarray(significant, dtype=bool), True)
    tests = np.fromiter((test for _, test in entries), dtype=np.intp, count=len(entries))
    scores = np.fromiter((r.score for r in results), dtype=np.float64, count=len(results))
    warn = np.fromiter((r.warn for r in results), dtype=np.float64, count=len(results))
    judged = np.repeat(
        [part.counts.events >= _needed(part, settings) for part in parts],
        [len(part_entries) for part_entries in by_part],
    )
    for row in np.flatnonzero(~judged).tolist():
        results[row].severity = "insufficient"
    for row in np.flatnonzero(judged & passes[tests] & (scores >= warn)).tolist():
        result = results[row]
        result.drifted = True
        result.severity = "critical" if result.score >= result.critical else "warning"
    return tuple(results)


def _needed(part: WindowPart, settings: DecisionSettings) -> int:
    """Events the part needs to be judged."""
    return settings.min_events if part.min_events is None else part.min_events


def _entries(
    part: WindowPart,
    settings: DecisionSettings,
    made: Mapping[str, list[_Entry]],
    joint: Sequence[JointMeasure],
    family: _Family,
) -> list[_Entry]:
    """A part's results in signal then method order (the distribution results of its
    numeric signals and of its categorical ones without a tail already made), then its
    ``joint`` measures."""
    layout, counts, segment = part.layout, part.counts, part.segment
    reference = _Reference.of(layout)
    entries: list[_Entry] = []
    missing_tests = reference.missing_tests(counts, settings)
    present_counts = reference.present(counts)
    unseen_tests = (
        reference.unseen_tests(counts, present_counts)
        if "unseen_rate" in settings.quality_methods
        else [None] * len(reference.signals)
    )
    for signal, present, missing_test, unseen_test in zip(
        reference.signals, present_counts, missing_tests, unseen_tests, strict=True
    ):
        if signal.name in made:
            entries.extend(made[signal.name])
        elif signal.categorical is not None and signal.categorical.tail:
            entries.extend(
                _categorical_entries(
                    signal, signal.categorical, present, counts, settings, family, segment
                )
            )
        entries.extend(
            _quality_entries(
                signal, present, counts, settings, (missing_test, unseen_test), family, segment
            )
        )
    entries.extend(_joint_entries(joint, family, segment))
    return entries


_REFERENCES: weakref.WeakKeyDictionary[WindowLayout, _Reference] = weakref.WeakKeyDictionary()
"""The reference side of each live layout, built at its first window (profiles never change)."""


@dataclass(frozen=True, slots=True, eq=False)
class _Reference:
    """What every window of one layout is compared with, computed once."""

    signals: tuple[_Signal, ...]
    """In the layout's order, the order of the results."""
    numeric: tuple[_NumericGroup, ...]
    """The numeric signals with a reference distribution, stacked by shape."""
    bounds: NDArray[np.intp]
    """Each signal's first bin (or slot) position and the position after its last."""
    missing_at: NDArray[np.intp]
    """Each signal's ``missing`` counter position."""
    ref_missing: NDArray[np.int64]
    ref_total: NDArray[np.int64]
    """Each signal's reference missing count, and its missing plus present count."""
    unseen_at: NDArray[np.intp]
    """``(signals, 2)``: the counters of each signal's new values, added: ``below`` and
    ``above`` of a numeric signal, its ``unseen`` slot twice for a categorical one."""
    unseen_twice: NDArray[np.bool_]
    """The categorical signals, whose one counter ``unseen_at`` names twice."""
    chances: NDArray[np.float64]
    """Each signal's chance that a value drawn like its reference is new."""

    @staticmethod
    def of(layout: WindowLayout) -> _Reference:
        reference = _REFERENCES.get(layout)
        if reference is None:
            reference = _REFERENCES[layout] = _Reference.build(layout)
        return reference

    @staticmethod
    def build(layout: WindowLayout) -> _Reference:
        signals, spans = [], []
        shapes: dict[tuple[int, int], list[NumericSlots]] = {}
        for where in layout.signals.values():
            signals.append(_Signal.build(where))
            if isinstance(where, CategoricalSlots):
                spans.append(where.slots)
                continue
            spans.append(where.bins)
            if where.profile.present > 0:  # else there is no distribution to compare with
                shape = (where.profile.bins, where.profile.coarse_starts.size)
                shapes.setdefault(shape, []).append(where)
        return _Reference(
            signals=tuple(signals),
            numeric=tuple(_NumericGroup.build(group) for group in shapes.values()),
            bounds=np.array([(span.start, span.stop) for span in spans], dtype=np.intp).ravel(),
            missing_at=np.array([s.where.missing for s in signals], dtype=np.intp),
            ref_missing=np.array([s.ref_missing for s in signals], dtype=np.int64),
            ref_total=np.array([s.ref_missing + s.ref_present for s in signals], dtype=np.int64),
            unseen_at=np.array([_unseen_at(s.where) for s in signals], dtype=np.intp).reshape(
                -1, 2
            ),
            unseen_twice=np.array([isinstance(s.where, CategoricalSlots) for s in signals]),
            chances=np.array([_chance(s.where) for s in signals], dtype=np.float64),
        )

    def unseen_tests(
        self, counts: WindowCounts, present: list[int]
    ) -> list[stats.ProportionResult]:
        """Each signal's ``unseen_rate`` test: :func:`stats.unseen_test` on every signal at
        once, operation for operation (so bit for bit)."""
        hits = counts.ints[self.unseen_at].sum(axis=1)
        hits[self.unseen_twice] //= 2
        total = np.asarray(present, dtype=np.int64)
        tested = (total > 0) & (hits > 0)
        p_values = np.ones(hits.size)
        bounded = tested & (self.chances < 1.0)
        if bounded.any():
            p_values[bounded] = np.clip(
                special.bdtrc(hits[bounded] - 1, total[bounded], self.chances[bounded]), 0.0, 1.0
            )
        differences = np.zeros(hits.size)
        if tested.any():
            shares = hits[tested] / total[tested]
            differences[tested] = np.maximum(0.0, shares - self.chances[tested])
        return [
            stats.ProportionResult(d, p)
            for d, p in zip(differences.tolist(), p_values.tolist(), strict=True)
        ]

    def missing_tests(
        self, counts: WindowCounts, settings: DecisionSettings
    ) -> list[stats.ProportionResult | None]:
        """Each signal's ``missing_rate`` test (None when the method or the events are absent).

        :func:`stats.two_proportion_test` on every signal at once, operation for operation
        (so bit for bit: the same IEEE divisions and ``bdtrc``), because a window
        of 1,000 signals spent 10 ms calling it one signal at a time. Counts it would
        refuse go through it, one by one, so that it raises as before.
        """
        if "missing_rate" not in settings.quality_methods or counts.events == 0:
            return [None] * len(self.signals)
        win_hits, win_total = counts.ints[self.missing_at], counts.events
        ref_hits, ref_total = self.ref_missing, self.ref_total
        if (ref_total <= 0).any() or (win_hits < 0).any() or (win_hits > win_total).any():
            return [
                stats.two_proportion_test(r_hits, r_total, w_hits, win_total)
                for r_hits, r_total, w_hits in zip(
                    ref_hits.tolist(), ref_total.tolist(), win_hits.tolist(), strict=True
                )
            ]
        difference = win_hits / win_total - ref_hits / ref_total
        share = win_total / (ref_total + win_total)
        p_values = np.clip(special.bdtrc(win_hits - 1, ref_hits + win_hits, share), 0.0, 1.0)
        return [
            stats.ProportionResult(d, p)
            for d, p in zip(difference.tolist(), p_values.tolist(), strict=True)
        ]

    def present(self, counts: WindowCounts) -> list[int]:
        """Each signal's values in the window: the sum of its bin (or slot) counts.

        ``reduceat`` sums ``ints[bounds[i]:bounds[i + 1]]``; as ``bounds`` alternates
        starts and ends (every span has counters after it, so no end is past the
        vector), every other sum is a signal's.
        """
        present: list[int] = np.add.reduceat(counts.ints, self.bounds)[::2].tolist()
        return present


@dataclass(frozen=True, slots=True, eq=False)
class _Signal:
    """One signal's window positions and reference numbers, as its measures need them."""

    where: NumericSlots | CategoricalSlots
    name: str
    role: SignalRole
    ref_missing: int
    ref_present: int
    categorical: _CategoricalReference | None
    """The reference side of the categorical tests; None for a numeric signal, and for a
    categorical one without reference values (no distribution to compare with)."""

    @staticmethod
    def build(where: NumericSlots | CategoricalSlots) -> _Signal:
        profile = where.profile
        return _Signal(
            where=where,
            name=profile.name,
            role=profile.role,
            ref_missing=profile.missing,
            ref_present=profile.present,
            categorical=_CategoricalReference.build(where)
            if isinstance(where, CategoricalSlots) and profile.present > 0
            else None,
        )


@dataclass(frozen=True, slots=True, eq=False)
class _CategoricalReference:
    """The reference side of one categorical signal's tests, as ``stats`` takes it."""

    slots: slice
    counts: NDArray[np.float64]
    shares: stats.Rows
    """``(1, slots)``: the one row of the row-wise PSI and Jensen-Shannon."""
    seen: NDArray[np.bool_]
    """Every slot but ``unseen``: the columns of the chi-square table."""
    tail: bool
    """Other and unseen are one cell (a sketched, high-cardinality signal: its window
    counts as ``other`` only the reference categories it remembers)."""
    levels: dict[int, tuple[float, float]]
    """The PSI and Jensen-Shannon no-drift levels by window size (without a tail)."""

    @staticmethod
    def build(where: CategoricalSlots) -> _CategoricalReference:
        counts = where.profile.counts.astype(np.float64)
        seen = np.ones(counts.size, dtype=bool)
        seen[where.profile.unseen_slot] = False
        return _CategoricalReference(
            where.slots, counts, stats.shares(counts[None]), seen, where.profile.sketched, {}
        )

    def coarse_levels(self, ref_shares: stats.Rows, table: stats.Rows) -> tuple[float, float]:
        """The PSI and Jensen-Shannon no-drift levels of a window whose shares compare with
        ``ref_shares``; ``table`` is the chi-square table (its rows' totals are the sizes)."""
        present = int(null_levels.on_size_grid(np.array([int(table[1].sum())]))[0])
        big_n = float(table[0].sum())
        if self.tail:  # the reference side is the window's own table: nothing to keep
            return _cell_levels(ref_shares, present, big_n)
        return self.levels_at(present, big_n)

    def levels_at(self, present: int, big_n: float) -> tuple[float, float]:
        """:meth:`coarse_levels` of a window without a tail, given its size on the grid
        and the reference's seen values, kept by size."""
        return _kept(self.levels, present, lambda: _cell_levels(self.shares, present, big_n))

    def table(self, window: NDArray[np.int64]) -> NDArray[np.float64]:
        """The 2 x k chi-square table: seen slots only, rare ones pooled; with a tail,
        the top categories and the tail, rare ones pooled (:func:`detectors.tail.tail_table`)."""
        if self.tail:
            return tail_table(self.counts, window)
        return stats.pooled_table(self.counts[self.seen], window[self.seen])


def _cell_levels(ref_shares: stats.Rows, present: int, big_n: float) -> tuple[float, float]:
    psi, distance = null_levels.cell_levels(
        ref_shares, np.array([float(present)]), np.array([big_n])
    )
    return float(psi[0]), float(distance[0])


@dataclass(frozen=True, slots=True, eq=False)
class _NumericGroup:
    """Numeric signals with the same numbers of fine and coarse bins, one row each.

    Arrays are ``(signals, bins)`` unless noted. The reference side is here; the
    window side is gathered from the window vectors through ``bins`` and ``sums``.
    """

    names: tuple[str, ...]
    roles: tuple[SignalRole, ...]
    scales: tuple[float, ...]
    """Reference standard deviation (1 if 0), the unit of the Wasserstein score."""
    bins: NDArray[np.intp]
    """Position of each bin's count in ``WindowCounts.ints``."""
    sums: NDArray[np.intp]
    """Position of each bin's sum in ``WindowCounts.floats``."""
    coarse_starts: NDArray[np.intp]
    """``(signals, coarse bins)``: first fine bin of each coarse bin (PSI, Jensen-Shannon)."""
    counts: NDArray[np.int64]
    totals: tuple[float, ...]
    cdf: stats.Rows
    coarse_shares: stats.Rows
    atoms: stats.Rows
    """Mean of each bin, NaN where it is empty."""
    ks_scales: stats.Rows
    wasserstein_scales: stats.Rows
    """``(signals,)``: the KS and Wasserstein no-drift levels times ``sqrt(n_eff)``
    (:mod:`detectors.null_levels`)."""
    levels: dict[int, tuple[stats.Rows, stats.Rows]]
    """Every row's PSI and Jensen-Shannon no-drift levels at one window size (on the grid
    of :func:`null_levels.on_size_grid`), by that size. Kept per size, not per vector of
    the rows' sizes: a segment's window, or a signal with a few missing values, makes a
    new vector nearly every window, while its sizes fall on a few grid points."""

    @staticmethod
    def build(signals: Sequence[NumericSlots]) -> _NumericGroup:
        profiles = [where.profile for where in signals]
        counts = np.stack([p.counts for p in profiles])
        sums = np.stack([p.sums for p in profiles])
        coarse_starts = np.stack([p.coarse_starts for p in profiles]).astype(np.intp)
        scales = tuple(p.std if p.std > 0 else 1.0 for p in profiles)
        cdf, atoms = stats.edge_cdf(counts), _bin_means(sums, counts)
        edges = np.stack([p.edges for p in profiles])
        return _NumericGroup(
            names=tuple(p.name for p in profiles),
            roles=tuple(p.role for p in profiles),
            scales=scales,
            bins=np.stack([np.arange(w.bins.start, w.bins.stop) for w in signals]),
            sums=np.stack([np.arange(w.sums.start, w.sums.stop) for w in signals]),
            coarse_starts=coarse_starts,
            counts=counts,
            totals=tuple(float(n) for n in counts.sum(axis=1)),
            cdf=cdf,
            coarse_shares=stats.shares(_coarse(counts, coarse_starts)),
            atoms=atoms,
            ks_scales=null_levels.ks_scales(cdf),
            wasserstein_scales=null_levels.wasserstein_scales(
                counts, atoms, edges, np.asarray(scales)
            ),
            levels={},
        )

    def rows(self, keep: NDArray[np.bool_]) -> _NumericGroup:
        """The signals of ``keep`` only (those with values in a window)."""
        return _NumericGroup(
            names=tuple(compress(self.names, keep)),
            roles=tuple(compress(self.roles, keep)),
            scales=tuple(compress(self.scales, keep)),
            bins=self.bins[keep],
            sums=self.sums[keep],
            coarse_starts=self.coarse_starts[keep],
            counts=self.counts[keep],
            totals=tuple(compress(self.totals, keep)),
            cdf=self.cdf[keep],
            coarse_shares=self.coarse_shares[keep],
            atoms=self.atoms[keep],
            ks_scales=self.ks_scales[keep],
            wasserstein_scales=self.wasserstein_scales[keep],
            levels={},
        )

    def coarse_levels(self, sizes: NDArray[np.int64]) -> tuple[stats.Rows, stats.Rows]:
        """The PSI and Jensen-Shannon no-drift levels of windows of ``sizes`` values (on
        the grid of :func:`null_levels.on_size_grid`), one per row."""
        grid = null_levels.on_size_grid(sizes)
        psi, distance = np.empty(grid.size), np.empty(grid.size)
        for size in np.unique(grid).tolist():
            at = grid == size
            every_psi, every_distance = _kept(self.levels, size, partial(self._levels_at, size))
            psi[at], distance[at] = every_psi[at], every_distance[at]
        return psi, distance

    def _levels_at(self, size: int) -> tuple[stats.Rows, stats.Rows]:
        """Every row's levels at one window size."""
        rows = self.coarse_shares.shape[0]
        return null_levels.cell_levels(
            self.coarse_shares, np.full(rows, float(size)), np.asarray(self.totals)
        )


_LEVELS_KEPT = 16
"""Window sizes whose levels a reference keeps (event-time windows vary in size)."""

_Key = TypeVar("_Key")
_Levels = TypeVar("_Levels")


def _kept(cache: dict[_Key, _Levels], key: _Key, compute: Callable[[], _Levels]) -> _Levels:
    """``cache[key]``, computed on a miss; at most :data:`_LEVELS_KEPT` kept, all dropped
    when full (sizes rarely come back once they stop)."""
    found = cache.get(key)
    if found is None:
        if len(cache) >= _LEVELS_KEPT:
            cache.clear()
        found = cache[key] = compute()
    return found


@dataclass(slots=True, eq=False)
class _NumericRows:
    """A numeric group's signals with values in one window, their KS statistics, and
    (once :func:`_ks_p_values_of_all` ran) their p-values."""

    group: _NumericGroup
    window: NDArray[np.int64]
    sums: NDArray[np.float64]
    """The window's sum of each bin's values."""
    totals: NDArray[np.int64]
    ks: stats.Rows
    p_values: list[float]


def _numeric_rows(reference: _Reference, counts: WindowCounts) -> list[_NumericRows]:
    """Each numeric group's signals that have values in the window, with their KS
    statistics; p-values still to come."""
    found = []
    for group in reference.numeric:
        window = counts.ints[group.bins]
        totals = window.sum(axis=1)
        live = totals > 0
        if not live.any():
            continue
        if not live.all():
            group, window, totals = group.rows(live), window[live], totals[live]
        _check_counts(window)
        ks = stats.ks_statistic_rows(group.cdf, stats.edge_cdf(window))
        found.append(_NumericRows(group, window, counts.floats[group.sums], totals, ks, []))
    return found


def _ks_p_values_of_all(found: Sequence[_NumericRows]) -> None:
    """Every KS p-value of a window's parts in one call: the exact ones cost far more per
    call than per value (see :func:`detectors.kolmogorov.kolmogorov_sf`)."""
    if not found:
        return
    p_values = stats.ks_p_values(
        np.concatenate([rows.ks for rows in found]),
        np.concatenate([np.asarray(rows.group.totals) for rows in found]),
        np.concatenate([rows.totals for rows in found]).astype(np.float64),
    ).tolist()
    start = 0
    for rows in found:
        rows.p_values = p_values[start : start + rows.ks.size]
        start += rows.ks.size


def _numeric_entries_of_all(
    found: Sequence[Sequence[_NumericRows]],
    segments: Sequence[str | None],
    settings: DecisionSettings,
    family: _Family,
) -> list[dict[str, list[_Entry]]]:
    """Each part's numeric results, by signal: the rows of every part are stacked by
    shape and compared in one call per statistic, so twenty segments cost a window about
    what its whole model costs (the row-wise forms give each row the bits it gets alone)."""
    _ks_p_values_of_all([rows for part in found for rows in part])
    entries: list[dict[str, list[_Entry]]] = [{} for _ in found]
    if not settings.numeric_methods:
        return entries
    shapes: dict[tuple[int, ...], list[tuple[int, _NumericRows]]] = {}
    for index, part in enumerate(found):
        for rows in part:
            shapes.setdefault(rows.group.coarse_starts.shape, []).append((index, rows))
    for stacked in shapes.values():
        _stacked_entries(stacked, segments, settings, family, entries)
    return entries


def _stacked_entries(
    stacked: Sequence[tuple[int, _NumericRows]],
    segments: Sequence[str | None],
    settings: DecisionSettings,
    family: _Family,
    entries: list[dict[str, list[_Entry]]],
) -> None:
    """The results of numeric rows of one shape from any parts, into ``entries`` (one dict
    per part, by signal)."""
    found = [rows for _, rows in stacked]
    groups = [rows.group for rows in found]

    def joined(arrays: Sequence[NDArray[Any]]) -> NDArray[Any]:
        return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)

    window = joined([rows.window for rows in found])
    totals = joined([rows.totals for rows in found])
    methods = settings.numeric_methods
    scores: dict[str, list[float]] = {}
    statistics: dict[str, list[float]] = {}
    levels: dict[str, list[float]] = {}
    sizes = totals.astype(np.float64)
    reference_totals = joined([np.asarray(group.totals) for group in groups])
    root_n = np.sqrt(null_levels.effective_sizes(sizes, reference_totals))
    if "psi" in methods or "jensen_shannon" in methods:
        coarse = stats.shares(_coarse(window, joined([g.coarse_starts for g in groups])))
        reference_shares = joined([g.coarse_shares for g in groups])
        scores["psi"] = stats.psi_rows(reference_shares, coarse).tolist()
        scores["jensen_shannon"] = stats.jensen_shannon_rows(reference_shares, coarse).tolist()
        by_group = [rows.group.coarse_levels(rows.totals) for rows in found]
        levels["psi"] = joined([psi for psi, _ in by_group]).tolist()
        levels["jensen_shannon"] = joined([js for _, js in by_group]).tolist()
    if "wasserstein" in methods:
        means = _bin_means(joined([rows.sums for rows in found]), window)
        if not np.isfinite(means[window > 0]).all():
            raise ValueError("win_means must be finite wherever win_counts is positive")
        atoms, counts = joined([g.atoms for g in groups]), joined([g.counts for g in groups])
        distances = stats.wasserstein_rows(atoms, counts, means, window)
        # The score is in reference standard deviations; the distance is its statistic.
        statistics["wasserstein"] = distances.tolist()
        scores["wasserstein"] = (
            distances / joined([np.asarray(g.scales) for g in groups])
        ).tolist()
        scales = joined([g.wasserstein_scales for g in groups])
        levels["wasserstein"] = (scales / root_n).tolist()
    if "ks" in methods:
        scores["ks"] = statistics["ks"] = joined([rows.ks for rows in found]).tolist()
        levels["ks"] = (joined([g.ks_scales for g in groups]) / root_n).tolist()
    for method in methods:
        if method not in scores:
            raise ValueError(f"{method!r} is not a numeric drift method")
    thresholds = settings.thresholds
    row = 0
    for index, rows in stacked:
        segment, into = segments[index], entries[index]
        for name, role, p_value in zip(
            rows.group.names, rows.group.roles, rows.p_values, strict=True
        ):
            test = family.test(p_value)
            signal = into[name] = []
            for method in methods:
                # By position, as in _Family.entry: a window makes thousands of these.
                limits, level = thresholds[method], levels[method][row]
                statistic = statistics[method][row] if method in statistics else None
                result = SignalResult(
                    name,
                    role,
                    method,
                    scores[method][row],
                    p_value if method == "ks" else None,
                    statistic,
                    limits.warn,
                    limits.critical,
                    False,
                    "ok",
                    (),
                    (),
                    None,
                    segment,
                    level,
                )
                signal.append((result, test))
            row += 1


def _bin_means(sums: NDArray[np.float64], counts: NDArray[np.int64]) -> stats.Rows:
    """Mean value of each bin, NaN where it is empty (the atoms of the Wasserstein rows).

    Values are finite, but two near the float limit (valid JSON: 1.7976931348623157e308)
    sum to inf in an open-ended outer bin. Their mean is finite, and at least that large:
    it is taken as the largest float of its sign, so such a window is judged (its distance
    as large as floats go) instead of being refused at every restart.
    """
    means: stats.Rows = np.divide(sums, counts, out=np.full(sums.shape, np.nan), where=counts > 0)
    largest = np.finfo(np.float64).max
    return np.clip(means, -largest, largest)


def _categorical_entries_of_all(
    parts: Sequence[WindowPart], settings: DecisionSettings, family: _Family
) -> list[dict[str, list[_Entry]]]:
    """Each part's categorical results without a tail, by signal: the signals of every part
    with as many slots are stacked, and tested and scored in one call per statistic (the
    segments of a key mostly share their slots); a signal with a tail is judged alone
    (:func:`_categorical_entries`)."""
    entries: list[dict[str, list[_Entry]]] = [{} for _ in parts]
    shapes: dict[int, list[tuple[int, _Signal, _CategoricalReference, NDArray[np.int64]]]] = {}
    for index, part in enumerate(parts):
        reference = _Reference.of(part.layout)
        for signal in reference.signals:
            categorical = signal.categorical
            if categorical is None or categorical.tail:
                continue
            window = part.counts.ints[categorical.slots]
            if window.sum() == 0:
                entries[index][signal.name] = []
                continue
            _check_counts(window)
            if not window[categorical.seen].any():  # all new: left unpooled, as alone
                entries[index][signal.name] = _categorical_entries(
                    signal,
                    categorical,
                    int(window.sum()),
                    part.counts,
                    settings,
                    family,
                    part.segment,
                )
                continue
            shapes.setdefault(window.size, []).append((index, signal, categorical, window))
    for stacked in shapes.values():
        _stacked_categorical(stacked, [part.segment for part in parts], settings, family, entries)
    return entries


def _stacked_categorical(
    stacked: Sequence[tuple[int, _Signal, _CategoricalReference, NDArray[np.int64]]],
    segments: Sequence[str | None],
    settings: DecisionSettings,
    family: _Family,
    entries: list[dict[str, list[_Entry]]],
) -> None:
    """The results of categorical signals with as many slots, from any parts."""
    methods = settings.categorical_methods
    references = [reference for _, _, reference, _ in stacked]
    window = np.stack([w for _, _, _, w in stacked])
    seen = references[0].seen
    reference_counts = np.stack([reference.counts for reference in references])
    statistic, dof, total = stats.pooled_chi_square_rows(
        reference_counts[:, seen], window[:, seen].astype(np.float64)
    )
    p_values = np.where(dof > 0, special.chdtrc(np.maximum(dof, 1), statistic), 1.0).tolist()
    cramers_v = np.sqrt(statistic / total).tolist()
    levels = np.where(
        dof > 0, null_levels.root_mean(np.maximum(dof, 1).astype(np.float64)) / np.sqrt(total), 0.0
    ).tolist()
    statistics = statistic.tolist()
    scores: dict[str, list[float]] = {}
    if "psi" in methods or "jensen_shannon" in methods:
        reference_shares = np.concatenate([reference.shares for reference in references])
        shares = stats.shares(window)
        scores["psi"] = stats.psi_rows(reference_shares, shares).tolist()
        scores["jensen_shannon"] = stats.jensen_shannon_rows(reference_shares, shares).tolist()
        sizes = null_levels.on_size_grid(window[:, seen].sum(axis=1)).tolist()
        totals = reference_counts[:, seen].sum(axis=1).tolist()
        coarse = [
            reference.levels_at(size, big_n)
            for reference, size, big_n in zip(references, sizes, totals, strict=True)
        ]
    for row, (index, signal, _, _) in enumerate(stacked):
        chi = _ChiSquared(cramers_v[row], p_values[row], statistics[row], levels[row])
        distances = (
            _Distances(scores["psi"][row], scores["jensen_shannon"][row], *coarse[row])
            if scores
            else None
        )
        entries[index][signal.name] = _chi_square_entries(
            family, signal, segments[index], methods, (chi, distances)
        )


class _ChiSquared(NamedTuple):
    """A categorical signal's chi-square test and Cramér's V, with its no-drift level."""

    cramers_v: float
    p_value: float
    statistic: float
    level: float


class _Distances(NamedTuple):
    """A categorical signal's PSI and Jensen-Shannon, with their no-drift levels."""

    psi: float
    jensen_shannon: float
    psi_level: float
    jensen_shannon_level: float


def _chi_square_entries(
    family: _Family,
    signal: _Signal,
    segment: str | None,
    methods: Sequence[str],
    tested: tuple[_ChiSquared, _Distances | None],
    others: Mapping[str, _Entry] | None = None,
) -> list[_Entry]:
    """A categorical signal's results in the methods' order: chi-square, PSI and
    Jensen-Shannon share the chi-square test, counted once if any of them runs (the
    distances are None when neither PSI nor Jensen-Shannon does); ``others``: the
    results of the methods with tests of their own."""
    name, role = signal.name, signal.role
    chi, distances = tested
    test = family.test(chi.p_value) if _SHARE_CHI_SQUARE.intersection(methods) else -1
    entries = []
    for method in methods:
        if method == "chi2":
            entries.append(
                family.entry(
                    name, role, method, chi.cramers_v, chi.p_value, chi.statistic, test, segment,
                    no_drift=chi.level,
                )
            )  # fmt: skip
        elif method in ("psi", "jensen_shannon"):
            assert distances is not None  # computed whenever either runs
            score, level = (
                (distances.psi, distances.psi_level)
                if method == "psi"
                else (distances.jensen_shannon, distances.jensen_shannon_level)
            )
            entries.append(
                family.entry(name, role, method, score, None, None, test, segment, no_drift=level)
            )
        elif others is not None and method in others:
            entries.append(others[method])
        elif method not in _CATEGORICAL_METHODS:
            raise ValueError(f"{method!r} is not a categorical drift method")
    return entries


_CATEGORICAL_METHODS = frozenset({"chi2", "psi", "jensen_shannon", "dominant_value"})
"""What a categorical signal is judged by (``dominant_value`` only with a tail)."""


def _categorical_entries(
    signal: _Signal,
    reference: _CategoricalReference,
    present: int,
    counts: WindowCounts,
    settings: DecisionSettings,
    family: _Family,
    segment: str | None,
) -> list[_Entry]:
    if present == 0:
        return []
    window = counts.ints[reference.slots]
    _check_counts(window)
    name, role = signal.name, signal.role
    table = reference.table(window)
    chi = stats.chi_square_of_table(table)
    methods = settings.categorical_methods
    if reference.tail:  # PSI and Jensen-Shannon on the table's cells, not 50,000 sparse slots
        ref_shares, shares = stats.shares(table[:1]), stats.shares(table[1:])
    else:
        ref_shares, shares = reference.shares, stats.shares(window[None])
    distances = None
    if "psi" in methods or "jensen_shannon" in methods:
        distances = _Distances(
            float(stats.psi_rows(ref_shares, shares)[0]),
            float(stats.jensen_shannon_rows(ref_shares, shares)[0]),
            *reference.coarse_levels(ref_shares, table),
        )
    level = null_levels.cramers_v_level(chi.dof, float(table.sum()))
    tested = (_ChiSquared(chi.cramers_v, chi.p_value, chi.statistic, level), distances)
    others = {}
    where = signal.where
    if (
        "dominant_value" in methods
        and isinstance(where, CategoricalSlots)
        and where.profile.sketched
    ):
        names = counts.names.get(name, {})
        score, p_value = dominant_value(where.profile, names, present, counts.events)
        others["dominant_value"] = family.entry(
            name,
            role,
            "dominant_value",
            score,
            p_value,
            None,
            family.test(p_value),
            segment,
            values=_named(where, counts, present),
        )
    return _chi_square_entries(family, signal, segment, methods, tested, others)


_SHARE_CHI_SQUARE = frozenset({"chi2", "psi", "jensen_shannon"})
"""The categorical methods judged by the chi-square test."""


def _joint_measures_of_all(
    parts: Sequence[WindowPart], settings: DecisionSettings
) -> list[list[JointMeasure]]:
    """Each part's multivariate measures (none without a joint profile), measured together
    (``detectors.multivariate.joint_measures_of_all``)."""
    joined = [(k, part.layout.joint, part.counts) for k, part in enumerate(parts)]
    slots = [(k, where, counts) for k, where, counts in joined if where is not None]
    found = joint_measures_of_all(
        [where.profile for _, where, _ in slots],
        [int(counts.ints[where.rows]) for _, where, counts in slots],
        [counts.floats[where.sums] for _, where, counts in slots],
        settings.multivariate_methods,
    )
    measures: list[list[JointMeasure]] = [[] for _ in parts]
    for (k, _, _), part_measures in zip(slots, found, strict=True):
        measures[k] = part_measures
    return measures


def _joint_entries(
    found: Sequence[JointMeasure], family: _Family, segment: str | None
) -> list[_Entry]:
    """The multivariate methods, each with its own test, on the window's complete rows."""
    return [
        family.entry(
            JOINT_SIGNAL,
            "multivariate",
            m.method,
            m.score,
            m.p_value,
            m.statistic,
            family.test(m.p_value),
            segment,
            attribution=m.attribution,
        )
        for m in found
    ]


def _check_counts(window: NDArray[np.int64]) -> None:
    """Refuse negative counts, as the validating ``stats`` functions would."""
    if window.min() < 0:
        raise ValueError("win_counts must be non-negative")


def _quality_entries(
    signal: _Signal,
    present: int,
    counts: WindowCounts,
    settings: DecisionSettings,
    tests: tuple[stats.ProportionResult | None, stats.ProportionResult | None],
    family: _Family,
    segment: str | None,
) -> list[_Entry]:
    """``tests``: the signal's missing-rate and unseen-rate tests, computed for the part's
    signals at once (None when the method does not run, or the window is empty)."""
    name, role, where = signal.name, signal.role, signal.where
    missing_test, unseen_test = tests
    entries = []
    for method in settings.quality_methods:
        if method == "missing_rate":
            if counts.events == 0:
                continue
            test = missing_test or stats.two_proportion_test(
                signal.ref_missing,
                signal.ref_missing + signal.ref_present,
                int(counts.ints[where.missing]),
                counts.events,
            )
        elif method == "unseen_rate" and unseen_test is not None:
            test = unseen_test
        else:
            raise ValueError(f"{method!r} is not a data-quality method")
        named = (
            _named(where, counts, present)
            if method == "unseen_rate" and isinstance(where, CategoricalSlots)
            else ()
        )
        entries.append(
            family.entry(
                name,
                role,
                method,
                test.difference,
                test.p_value,
                None,
                family.test(test.p_value),
                segment,
                values=named,
            )
        )
    return entries


def _unseen_at(where: NumericSlots | CategoricalSlots) -> tuple[int, int]:
    if isinstance(where, NumericSlots):
        return where.below, where.above
    slot = where.slots.start + where.profile.unseen_slot
    return slot, slot


def _chance(where: NumericSlots | CategoricalSlots) -> float:
    if isinstance(where, NumericSlots):
        return where.profile.outside_chance
    return where.profile.unseen_chance


def _named(where: CategoricalSlots, counts: WindowCounts, present: int) -> tuple[NamedValue, ...]:
    """The signal's heaviest tail values of the window, with the sketch's estimates."""
    sketch = None if where.sketch is None else counts.ints[where.sketch]
    return named_values(where.profile, counts.names.get(where.profile.name, {}), sketch, present)


def _coarse(counts: NDArray[np.int64], starts: NDArray[np.intp]) -> NDArray[np.int64]:
    """Each row's counts summed over its coarse bins (rows differ in where those start)."""
    rows, bins = counts.shape
    offsets = np.arange(rows)[:, None] * bins
    coarse: NDArray[np.int64] = np.add.reduceat(counts.ravel(), (offsets + starts).ravel())
    return coarse.reshape(starts.shape)


def _significant(p_values: Sequence[float], alpha: float, correction: Correction) -> list[bool]:
    """Which p-values reject their null with the family-wise error rate held at ``alpha``."""
    m = len(p_values)
    if m == 0:
        return []
    p = np.asarray(p_values, dtype=np.float64)
    if correction == "none":
        return [bool(x) for x in p < alpha]
    if correction == "bonferroni":
        return [bool(x) for x in p < alpha / m]
    order = np.argsort(p, kind="stable")
    holm_levels = alpha / (m - np.arange(m))
    passing = p[order] < holm_levels
    # Holm stops at the first non-rejection: everything after it is retained.
    first_failure = int(np.argmin(passing)) if not passing.all() else m
    rejected = np.zeros(m, dtype=bool)
    rejected[order[:first_failure]] = True
    return [bool(x) for x in rejected]
