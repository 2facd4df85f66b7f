"""Judging a closed window against its reference: one result per signal and method.

Every decision pairs an effect size with a significance test: a result is
drifted only when its effect reaches the ``warn`` threshold *and* its test
stays significant after correcting for the number of tests run on the window
(Bonferroni or Holm at ``alpha``). The distribution methods of a signal (PSI,
Jensen-Shannon, Wasserstein, KS for numeric; chi-square, PSI, Jensen-Shannon
for categorical) share one test, the signal's KS or chi-square test, counted
once in the correction; ``missing_rate`` has its own two-proportion test;
``unseen_rate`` has none (the reference has no unseen values to vary).

Large windows therefore cannot flag trivial shifts (the effect is small), small
windows cannot flag sampling noise in PSI or Jensen-Shannon (the test is not
significant), and many features cannot flag noise (the correction holds the
family-wise error rate of a window at ``alpha``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from detectors import stats
from detectors.methods import Thresholds
from detectors.profile import SignalRole
from detectors.window import CategoricalSlots, NumericSlots, WindowCounts, WindowLayout

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


@dataclass(frozen=True, slots=True)
class SignalResult:
    """The verdict of one method on one signal for one window."""

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

    def to_dict(self) -> dict[str, Any]:
        return {
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


@dataclass(frozen=True, slots=True)
class _Gate:
    """A significance test, named by signal and test, counted once in the correction."""

    key: tuple[str, str]
    p_value: float


@dataclass(frozen=True, slots=True)
class _Measure:
    signal: str
    role: SignalRole
    method: str
    score: float
    p_value: float | None = None
    statistic: float | None = None
    gate: _Gate | None = None
    """The test this result must pass; measures sharing a test share its gate."""


def evaluate_window(
    layout: WindowLayout, counts: WindowCounts, settings: DecisionSettings
) -> tuple[SignalResult, ...]:
    """All results for one closed window, in signal then method order."""
    measures: list[_Measure] = []
    for where in layout.signals.values():
        if isinstance(where, NumericSlots):
            measures.extend(_numeric_measures(where, counts, settings))
        else:
            measures.extend(_categorical_measures(where, counts, settings))
        measures.extend(_quality_measures(where, counts, settings))
    gates: dict[tuple[str, str], float] = {}
    for m in measures:
        if m.gate is not None:
            gates.setdefault(m.gate.key, m.gate.p_value)
    significant = dict(
        zip(
            gates,
            _significant(list(gates.values()), settings.alpha, settings.correction),
            strict=True,
        )
    )
    judged = counts.events >= settings.min_events
    results = []
    for m in measures:
        passes_test = m.gate is None or significant[m.gate.key]
        limits = settings.thresholds[m.method]
        drifted = bool(judged and passes_test and m.score >= limits.warn)
        severity: Severity
        if not judged:
            severity = "insufficient"
        elif not drifted:
            severity = "ok"
        else:
            severity = "critical" if m.score >= limits.critical else "warning"
        results.append(
            SignalResult(
                signal=m.signal,
                role=m.role,
                method=m.method,
                score=float(m.score),
                p_value=None if m.p_value is None else float(m.p_value),
                statistic=None if m.statistic is None else float(m.statistic),
                warn=limits.warn,
                critical=limits.critical,
                drifted=drifted,
                severity=severity,
            )
        )
    return tuple(results)


def _numeric_measures(
    where: NumericSlots, counts: WindowCounts, settings: DecisionSettings
) -> list[_Measure]:
    profile = where.profile
    window = counts.ints[where.bins]
    if window.sum() == 0 or profile.present == 0:
        return []
    name, role = profile.name, profile.role
    ks = stats.ks_from_bins(profile.counts, window)
    gate = _Gate((name, "ks"), ks.p_value)
    measures = []
    for method in settings.numeric_methods:
        if method == "psi":
            score = stats.population_stability_index(
                _coarse(profile.counts, profile.coarse_starts),
                _coarse(window, profile.coarse_starts),
            )
            measures.append(_Measure(name, role, method, score, gate=gate))
        elif method == "jensen_shannon":
            score = stats.jensen_shannon_distance(
                _coarse(profile.counts, profile.coarse_starts),
                _coarse(window, profile.coarse_starts),
            )
            measures.append(_Measure(name, role, method, score, gate=gate))
        elif method == "wasserstein":
            distance = stats.wasserstein_from_bins(
                _bin_means(profile.sums, profile.counts),
                profile.counts,
                _bin_means(counts.floats[where.sums], window),
                window,
            )
            scale = profile.std if profile.std > 0 else 1.0
            measures.append(
                _Measure(name, role, method, distance / scale, statistic=distance, gate=gate)
            )
        elif method == "ks":
            measures.append(
                _Measure(name, role, method, ks.statistic, ks.p_value, ks.statistic, gate=gate)
            )
        else:
            raise ValueError(f"{method!r} is not a numeric drift method")
    return measures


def _categorical_measures(
    where: CategoricalSlots, counts: WindowCounts, settings: DecisionSettings
) -> list[_Measure]:
    profile = where.profile
    window = counts.ints[where.slots]
    if window.sum() == 0 or profile.present == 0:
        return []
    name, role = profile.name, profile.role
    chi = stats.chi_square_from_counts(profile.counts, window)
    gate = _Gate((name, "chi2"), chi.p_value)
    measures = []
    for method in settings.categorical_methods:
        if method == "chi2":
            measures.append(
                _Measure(name, role, method, chi.cramers_v, chi.p_value, chi.statistic, gate=gate)
            )
        elif method == "psi":
            score = stats.population_stability_index(profile.counts, window)
            measures.append(_Measure(name, role, method, score, gate=gate))
        elif method == "jensen_shannon":
            score = stats.jensen_shannon_distance(profile.counts, window)
            measures.append(_Measure(name, role, method, score, gate=gate))
        else:
            raise ValueError(f"{method!r} is not a categorical drift method")
    return measures


def _quality_measures(
    where: NumericSlots | CategoricalSlots, counts: WindowCounts, settings: DecisionSettings
) -> list[_Measure]:
    profile = where.profile
    name, role = profile.name, profile.role
    missing = int(counts.ints[where.missing])
    if isinstance(where, NumericSlots):
        present = int(counts.ints[where.bins].sum())
        unseen = int(counts.ints[where.below] + counts.ints[where.above])
    else:
        present = int(counts.ints[where.slots].sum())
        unseen = int(counts.ints[where.slots][where.profile.unseen_slot])
    measures = []
    for method in settings.quality_methods:
        if method == "missing_rate":
            if counts.events == 0:
                continue
            test = stats.two_proportion_test(
                profile.missing, profile.missing + profile.present, missing, counts.events
            )
            measures.append(
                _Measure(
                    name,
                    role,
                    method,
                    test.difference,
                    test.p_value,
                    gate=_Gate((name, method), test.p_value),
                )
            )
        elif method == "unseen_rate":
            measures.append(_Measure(name, role, method, unseen / present if present else 0.0))
        else:
            raise ValueError(f"{method!r} is not a data-quality method")
    return measures


def _coarse(counts: NDArray[np.int64], starts: NDArray[np.int64]) -> NDArray[np.int64]:
    return np.add.reduceat(counts, starts)


def _bin_means(sums: NDArray[np.float64], counts: NDArray[np.int64]) -> NDArray[np.float64]:
    """Mean value of each bin; empty bins get 0 (their weight is 0, so the value is never used)."""
    return np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)


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
