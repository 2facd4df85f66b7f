"""Two-sample statistics computed from binned counts, never from raw samples.

The daemon keeps no raw values. For a numeric signal the reference profile
holds interior quantile ``edges`` (``k - 1`` increasing values, so ``k``
bins; bin ``i`` is ``[edges[i-1], edges[i])`` and the two outer bins are
open-ended, i.e. ``np.searchsorted(edges, x, side="right")``), the count of
values in each bin and the sum of the values in each bin. A window keeps the
same against the reference's edges, so windows merge by addition. For a
categorical signal both sides hold counts per category in one shared order.

Every function here takes those per-bin arrays and returns plain floats or a
small frozen result, so the caller can pair a significance test with an
effect size (see ``detectors.methods``). What binning costs each statistic:

* PSI, Jensen-Shannon and chi-square are defined on the bins: exact.
* Kolmogorov-Smirnov: the CDFs are known only at the edges, so ``D`` is a
  lower bound of the raw-sample ``D``, low by at most the largest bin share
  (:func:`ks_from_bins`).
* Wasserstein: each bin's mass sits at the bin's exact mean; the result is
  exact except inside bins where the two CDFs cross
  (:func:`wasserstein_from_bins`).

PSI, Jensen-Shannon, Wasserstein and the KS statistic also have row-wise forms over
2-D arrays, one signal per row (``*_rows``), so ``detectors.evaluate`` runs all numeric
signals of a window through one numpy call each; the public functions validate their
input and run one row, so both give the same bits.

Pure computation: numpy and scipy only, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import NDArray
from scipy import special

from detectors.kolmogorov import kolmogorov_sf

Counts: TypeAlias = NDArray[np.integer[Any]] | NDArray[np.floating[Any]]
"""Non-negative counts (or weights) per bin or category."""

Means: TypeAlias = NDArray[np.floating[Any]]
"""Mean value of each bin; ignored (may be NaN) where the bin's count is 0."""

Rows: TypeAlias = NDArray[np.float64]
"""A 2-D array, one signal per row (or a 1-D array, one value per signal)."""

__all__ = [
    "ChiSquareResult",
    "KSResult",
    "ProportionResult",
    "chi_square_from_counts",
    "chi_square_of_table",
    "edge_cdf",
    "jensen_shannon_distance",
    "jensen_shannon_rows",
    "ks_from_bins",
    "ks_p_value",
    "ks_statistic_rows",
    "pooled_chi_square_rows",
    "pooled_table",
    "population_stability_index",
    "psi_rows",
    "shares",
    "two_proportion_test",
    "unseen_test",
    "wasserstein_from_bins",
    "wasserstein_rows",
]


MIN_EXPECTED = 5.0
"""Categories expected fewer times than this in a window are pooled for chi-square."""

KS_EXACT_MAX_N = 1000
"""Largest effective sample size for which the KS p-value uses scipy's ``kstwo`` itself."""

PSI_EPSILON = 1e-4
"""Floor of both shares in PSI (see :func:`population_stability_index`)."""


@dataclass(frozen=True, slots=True)
class KSResult:
    """Two-sample Kolmogorov-Smirnov statistic ``D`` and its asymptotic p-value."""

    statistic: float
    p_value: float


@dataclass(frozen=True, slots=True)
class ChiSquareResult:
    """Pearson chi-square test of a 2 x k table, with Cramér's V as effect size."""

    statistic: float
    p_value: float
    dof: int
    cramers_v: float


@dataclass(frozen=True, slots=True)
class ProportionResult:
    """Difference of two rates (window minus reference) and the p-value of a rise."""

    difference: float
    p_value: float


# --------------------------------------------------------------------------- validation


def _counts(name: str, values: Counts) -> NDArray[np.float64]:
    """Return ``values`` as a 1-D float64 array of finite, non-negative counts."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite")
    if np.any(array < 0):
        raise ValueError(f"{name} must be non-negative")
    return array


def _pair(
    ref_counts: Counts, win_counts: Counts
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Validate two count vectors over the same bins, each with a positive total."""
    ref = _counts("ref_counts", ref_counts)
    win = _counts("win_counts", win_counts)
    if ref.shape != win.shape:
        raise ValueError(
            f"ref_counts and win_counts must cover the same bins: lengths {ref.size} and {win.size}"
        )
    for name, array in (("ref_counts", ref), ("win_counts", win)):
        if array.sum() <= 0:
            raise ValueError(f"{name} is empty: its total is 0")
    return ref, win


def _atoms(
    prefix: str, means: Means, counts: Counts
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return (values, weights) of one distribution's bins, values NaN where a bin is empty."""
    weights = _counts(f"{prefix}_counts", counts)
    values = np.asarray(means, dtype=np.float64)
    if values.shape != weights.shape:
        raise ValueError(
            f"{prefix}_means and {prefix}_counts must have the same length: "
            f"{values.size} and {weights.size}"
        )
    occupied = weights > 0
    if not occupied.any():
        raise ValueError(f"{prefix}_counts is empty: its total is 0")
    if not np.all(np.isfinite(values[occupied])):
        raise ValueError(f"{prefix}_means must be finite wherever {prefix}_counts is positive")
    return np.where(occupied, values, np.nan), weights


# --------------------------------------------------------------------------- effect sizes


def population_stability_index(
    ref_counts: Counts, win_counts: Counts, *, epsilon: float = PSI_EPSILON
) -> float:
    """Population stability index ``sum((q - p) * ln(q / p))`` over the bins.

    ``p`` and ``q`` are the reference and window shares of each bin. A bin that
    is empty on one side (an unseen category, a tail the window never reached)
    would make ``ln(q / p)`` infinite, so both shares are floored at
    ``epsilon``: an empty bin then adds a large but finite amount that still
    grows with the share on the other side, and the index stays comparable
    across windows. Every term is non-negative, since ``q - p`` and
    ``ln(q / p)`` share their sign, so the index is ``>= 0`` and 0 only for
    equal shares.
    """
    if not 0.0 < epsilon < 1.0:
        raise ValueError(f"epsilon must be in (0, 1), got {epsilon}")
    ref, win = _pair(ref_counts, win_counts)
    return float(psi_rows(shares(ref[None]), shares(win[None]), epsilon)[0])


def jensen_shannon_distance(ref_counts: Counts, win_counts: Counts) -> float:
    """Jensen-Shannon distance in base 2: in ``[0, 1]``, symmetric, a metric.

    Unlike PSI it needs no flooring: it compares each side with the mixture
    ``m = (p + q) / 2``, which is positive wherever either side is, so empty
    bins contribute finite amounts. Equals
    ``scipy.spatial.distance.jensenshannon(p, q, base=2)``.
    """
    ref, win = _pair(ref_counts, win_counts)
    return float(jensen_shannon_rows(shares(ref[None]), shares(win[None]))[0])


def wasserstein_from_bins(
    ref_means: Means, ref_counts: Counts, win_means: Means, win_counts: Counts
) -> float:
    """Wasserstein-1 distance between the two binned distributions.

    Each distribution is taken as atoms at its bin means weighted by the bin
    counts (empty bins skipped), and the distance is the integral of
    ``|F_ref - F_win|`` over the sorted union of atoms. The result is in the
    signal's units; the caller divides by the reference standard deviation.

    Why bin means lose little: the integral of a CDF over a bin depends only on
    the bin's count and the sum of its values, which the atom at the mean
    preserves. So the binned distance equals the raw-sample distance except in
    bins where ``F_ref - F_win`` changes sign (in the raw or the binned CDFs).
    The error is at most the mean within-bin spread of the two samples (the
    distance from each sample to its own atoms), typically near the crossing of
    two shifted distributions, inside one narrow bin.
    """
    u_values, u_weights = _atoms("ref", ref_means, ref_counts)
    v_values, v_weights = _atoms("win", win_means, win_counts)
    return float(
        wasserstein_rows(u_values[None], u_weights[None], v_values[None], v_weights[None])[0]
    )


# --------------------------------------------------------------------------- tests


def ks_from_bins(ref_counts: Counts, win_counts: Counts) -> KSResult:
    """Two-sample Kolmogorov-Smirnov test from counts over shared bins.

    ``D = max |F_ref - F_win|`` over the interior bin edges, the only points
    where both CDFs are known. Inside a bin each CDF moves by that bin's share,
    so the raw-sample ``D`` is at least this ``D`` and at most this ``D`` plus
    the largest share any one bin holds in either sample (about ``1/k`` with
    ``k`` reference-quantile bins; far less in practice). The binned ``D``
    therefore under-reports, and its p-value is conservative.

    The p-value is :func:`ks_p_value`.
    """
    ref, win = _pair(ref_counts, win_counts)
    statistic = float(ks_statistic_rows(edge_cdf(ref[None]), edge_cdf(win[None]))[0])
    return KSResult(statistic, ks_p_value(statistic, float(ref.sum()), float(win.sum())))


def ks_p_value(statistic: float, n: float, m: float) -> float:
    """P-value of a two-sample KS statistic ``D`` for samples of ``n`` and ``m`` values.

    The asymptotic two-sample one, as
    ``scipy.stats.ks_2samp(method="asymp")`` computes it,
    ``kstwo.sf(D, en)`` with ``en = round(n * m / (n + m))`` (floored at 1 so
    two single observations still get a distribution), for ``en`` up to
    ``KS_EXACT_MAX_N`` (computed by :func:`detectors.kolmogorov.kolmogorov_sf`, which is
    ``kstwo.sf`` up to rounding). Past it, ``kstwo.sf`` costs milliseconds a call (about
    a third of a 5,000-event window's whole evaluation with 20 numeric
    signals), and Stephens' corrected Kolmogorov limit,
    ``kolmogorov((sqrt(en) + 0.12 + 0.11 / sqrt(en)) * D)``, takes microseconds
    and stays within 6% (relative) of it for every p-value above 1e-12,
    orders of magnitude finer than any significance level.
    """
    p_values = ks_p_values(np.array([statistic]), np.array([n]), np.array([m]))
    return float(p_values[0])


def ks_p_values(statistics: Rows, n: Rows, m: Rows) -> Rows:
    """:func:`ks_p_value` of each row. ``kstwo.sf`` runs in Python per value, about 75 µs
    each, and a window of twenty segments asks for hundreds: the exact p-values come from
    :func:`detectors.kolmogorov.kolmogorov_sf`, scipy's methods on every value at once."""
    effective_n = np.maximum(1.0, np.round(n * m / (n + m)))
    p_values = np.empty(statistics.shape, dtype=np.float64)
    exact = effective_n <= KS_EXACT_MAX_N
    if exact.any():
        p_values[exact] = kolmogorov_sf(statistics[exact], effective_n[exact])
    if not exact.all():
        root = np.sqrt(effective_n[~exact])
        p_values[~exact] = special.kolmogorov((root + 0.12 + 0.11 / root) * statistics[~exact])
    result: Rows = np.clip(p_values, 0.0, 1.0)
    return result


def chi_square_from_counts(ref_counts: Counts, win_counts: Counts) -> ChiSquareResult:
    """Pearson chi-square test of homogeneity on the 2 x k table ``[ref; win]``.

    Columns empty on both sides carry no information and would put a zero in
    the expected counts, so they are dropped; ``k'`` columns remain. No Yates
    correction (with ``k' > 2`` there is none, and at window sizes it is
    negligible). Cramér's V, ``sqrt(chi2 / (N * (min(2, k') - 1)))``, is the
    effect size that stays meaningful when large windows make every p tiny.
    A single non-empty column leaves 0 degrees of freedom: statistic 0, p 1.
    """
    ref, win = _pair(ref_counts, win_counts)
    return chi_square_of_table(np.vstack((ref, win)))


def chi_square_of_table(table: NDArray[np.float64]) -> ChiSquareResult:
    """:func:`chi_square_from_counts` of the unvalidated 2 x k table ``[ref; win]``."""
    table = table[:, table.sum(axis=0) > 0]
    dof = table.shape[1] - 1
    if dof == 0:
        return ChiSquareResult(statistic=0.0, p_value=1.0, dof=0, cramers_v=0.0)
    total = table.sum()
    expected = table.sum(axis=1)[:, None] * table.sum(axis=0) / total
    statistic = float(np.sum((table - expected) ** 2 / expected))
    return ChiSquareResult(
        statistic=statistic,
        # chi2.sf(x, dof) is this ufunc behind scipy's generic argument handling.
        p_value=float(special.chdtrc(dof, statistic)),
        dof=dof,
        cramers_v=math.sqrt(statistic / total),  # min(2, k') - 1 == 1 here
    )


def pooled_table(reference: Counts, window: Counts) -> NDArray[np.float64]:
    """The 2 x k table ``[reference; window]`` with every category expected fewer than
    :data:`MIN_EXPECTED` times in the window (at the reference's shares) pooled into one
    last column, and that pool into the least expected other category while it is still
    below it (Cochran's rule for the chi-square approximation)."""
    ref = np.asarray(reference, dtype=np.float64)
    win = np.asarray(window, dtype=np.float64)
    total, ref_total = win.sum(), ref.sum()
    if total == 0 or ref_total == 0:
        return np.vstack((ref, win))
    expected = ref / ref_total * total
    small = expected < MIN_EXPECTED
    if not small.any():
        return np.vstack((ref, win))
    big = np.flatnonzero(~small)
    pool_ref, pool_win = float(ref[small].sum()), float(win[small].sum())
    if pool_ref / ref_total * total < MIN_EXPECTED and big.size > 1:
        least = big[int(np.argmin(expected[big]))]
        pool_ref, pool_win = pool_ref + ref[least], pool_win + win[least]
        big = big[big != least]
    return np.vstack((np.append(ref[big], pool_ref), np.append(win[big], pool_win)))


def pooled_chi_square_rows(reference: Rows, window: Rows) -> tuple[Rows, NDArray[np.int64], Rows]:
    """:func:`chi_square_of_table` of each row pair's :func:`pooled_table`, all at once:
    the statistic, the degrees of freedom and the table's total of each row.

    Bit for bit the one-row forms' numbers. Every row's reference and window must have a
    positive total (the one-row forms leave such a table unpooled). A row with no degree
    of freedom has statistic 0.
    """
    ref_total = reference.sum(axis=1)
    total = window.sum(axis=1)
    expected = reference / ref_total[:, None] * total[:, None]
    small = expected < MIN_EXPECTED
    big = ~small
    pool_ref = np.where(small, reference, 0.0).sum(axis=1)
    pool_win = np.where(small, window, 0.0).sum(axis=1)
    # The pool still expected too few joins the least expected big category.
    move = small.any(axis=1) & (pool_ref / ref_total * total < MIN_EXPECTED) & (big.sum(axis=1) > 1)
    rows = np.flatnonzero(move)
    if rows.size:
        least = np.argmin(np.where(big[rows], expected[rows], np.inf), axis=1)
        pool_ref[rows] += reference[rows, least]
        pool_win[rows] += window[rows, least]
        big[rows, least] = False
    cells_ref = np.column_stack((np.where(big, reference, 0.0), pool_ref))
    cells_win = np.column_stack((np.where(big, window, 0.0), pool_win))
    columns = cells_ref + cells_win
    kept = columns > 0  # a pool of nothing, or a category empty on both sides, is no column
    grand = ref_total + total
    with np.errstate(divide="ignore", invalid="ignore"):
        expected_ref = ref_total[:, None] * columns / grand[:, None]
        expected_win = total[:, None] * columns / grand[:, None]
        terms_ref = (cells_ref - expected_ref) ** 2 / expected_ref
        terms_win = (cells_win - expected_win) ** 2 / expected_win
    width = kept.sum(axis=1)
    statistic = np.zeros(width.size)
    # Each row's kept terms, reference's then window's, summed as the one-row form sums
    # its 2 x k table: rows of one width at a time, so a row reduction adds in that order.
    for k in np.unique(width[width > 1]).tolist():
        rows = np.flatnonzero(width == k)
        at = np.nonzero(kept[rows])[1].reshape(rows.size, k)
        ordered = np.concatenate(
            (terms_ref[rows[:, None], at], terms_win[rows[:, None], at]), axis=1
        )
        statistic[rows] = ordered.sum(axis=1)
    return statistic, width - 1, grand


def two_proportion_test(
    ref_hits: float, ref_total: float, win_hits: float, win_total: float
) -> ProportionResult:
    """One-sided test that a window's rate (e.g. of missing values) rose above the reference's.

    ``difference`` is the window rate minus the reference rate. Under the null
    both samples share one rate, so given the ``K`` hits of both together, each
    hit lands in the window with the window's share of the rows, ``n / (N + n)``:
    the p-value is ``P(Binomial(K, n / (N + n)) >= window hits)``, the
    binomial form of Fisher's exact test (whose hypergeometric tail is a little
    lighter: scipy's ``fisher_exact`` gives at most as much, less 0.2%, below
    0.05). It is valid at any counts, as the pooled z-test it replaces was not:
    with 1% of the reference missing, its normal tail put 3 missing values of a
    50-event window at p = 2e-4 where the exact chance is 1.4e-2, and a
    false-alarm budget on such windows was overrun a hundredfold. A fall of the
    rate is never significant (p near 1): only a rise is a drift.
    """
    for name, hits, total in (("ref", ref_hits, ref_total), ("win", win_hits, win_total)):
        if not (math.isfinite(total) and total > 0):
            raise ValueError(f"{name}_total must be positive, got {total}")
        if not (math.isfinite(hits) and 0 <= hits <= total):
            raise ValueError(f"{name}_hits must be in [0, {name}_total], got {hits}")
    difference = win_hits / win_total - ref_hits / ref_total
    share = win_total / (ref_total + win_total)
    p_value = float(special.bdtrc(win_hits - 1, ref_hits + win_hits, share))
    return ProportionResult(difference=difference, p_value=min(max(p_value, 0.0), 1.0))


def unseen_test(hits: int, total: int, chance: float) -> ProportionResult:
    """One-sided exact binomial test that more than ``chance`` of a window's values are new.

    ``chance`` is known from the reference alone: a value drawn like ``n``
    continuous reference values falls outside their range with probability
    ``2 / (n + 1)`` (ties at the extremes only lower it), and is a category the
    reference never showed with probability about ``(singletons + 1) / (n + 1)``.
    ``difference`` is the window's share less that chance, floored at 0: the
    excess, about 0 without drift at any window size. The p-value is
    ``P(Binomial(total, chance) >= hits)``, 1 when nothing is new.
    """
    if total <= 0 or hits <= 0:
        return ProportionResult(difference=0.0, p_value=1.0)
    p_value = float(special.bdtrc(hits - 1, total, chance)) if chance < 1.0 else 1.0
    return ProportionResult(
        difference=max(0.0, hits / total - chance), p_value=min(max(p_value, 0.0), 1.0)
    )


# --------------------------------------------------------------------------- row-wise forms
#
# One signal per row. On 50-bin arrays a numpy call costs more in overhead than in
# arithmetic, so evaluating a window signal by signal spent most of its time in calls;
# these let one call serve every numeric signal. Row reductions (``sum(axis=1)``,
# ``cumsum(axis=1)``) add in the order their 1-D forms do, so a row gives the bits the
# same data gives alone. Inputs are not validated: the callers do that.


def shares(counts: Counts) -> Rows:
    """Each row's counts divided by the row's total."""
    result: Rows = counts / counts.sum(axis=1, keepdims=True)
    return result


def edge_cdf(counts: Counts) -> Rows:
    """Each row's CDF at its ``k - 1`` interior bin edges (the bins' right ends)."""
    result: Rows = np.cumsum(counts, axis=1)[:, :-1] / counts.sum(axis=1, keepdims=True)
    return result


def psi_rows(ref_shares: Rows, win_shares: Rows, epsilon: float = PSI_EPSILON) -> Rows:
    """:func:`population_stability_index` of each row pair of bin shares."""
    p = np.maximum(ref_shares, epsilon)
    q = np.maximum(win_shares, epsilon)
    result: Rows = np.sum((q - p) * np.log(q / p), axis=1)
    return result


def jensen_shannon_rows(ref_shares: Rows, win_shares: Rows) -> Rows:
    """:func:`jensen_shannon_distance` of each row pair of bin shares."""
    m = (ref_shares + win_shares) / 2.0
    divergence = (
        special.rel_entr(ref_shares, m).sum(axis=1) + special.rel_entr(win_shares, m).sum(axis=1)
    ) / 2.0
    # Rounding can push the divergence a hair outside [0, ln 2].
    result: Rows = np.sqrt(np.clip(divergence / math.log(2.0), 0.0, 1.0))
    return result


def ks_statistic_rows(ref_cdf: Rows, win_cdf: Rows) -> Rows:
    """KS ``D`` of each row pair of :func:`edge_cdf`; 0 for one bin (no interior edge)."""
    result: Rows = np.abs(ref_cdf - win_cdf).max(axis=1, initial=0.0)
    return result


def wasserstein_rows(u_values: Rows, u_weights: Counts, v_values: Rows, v_weights: Counts) -> Rows:
    """:func:`wasserstein_from_bins` of each row's two sets of weighted atoms.

    Atoms of zero weight must hold NaN. Sorting each row's merged atoms puts the NaN
    last, so the real atoms of row ``i`` come first, ``L_i`` of them: gap ``j`` (from
    atom ``j`` to ``j + 1``) is real for ``j < L_i - 1``. On it each CDF is the sum of
    its weights up to atom ``j``, divided by its total. (Where atoms tie, the gap after
    all but the last of them has width 0, so stopping the sum inside a tie is harmless.)
    """
    values = np.concatenate((u_values, v_values), axis=1)
    order = np.argsort(values, axis=1, kind="stable")
    # take_along_axis, by hand: on arrays this small its set-up costs more than the gather.
    flat = order + np.arange(0, values.size, values.shape[1])[:, None]
    grid = values.ravel()[flat]
    weights = np.concatenate((u_weights, v_weights), axis=1).ravel()[flat]
    from_u = order < u_values.shape[1]
    u_cumulative = np.cumsum(np.where(from_u, weights, 0.0), axis=1)
    v_cumulative = np.cumsum(np.where(from_u, 0.0, weights), axis=1)
    gap = np.abs(u_cumulative / u_cumulative[:, -1:] - v_cumulative / v_cumulative[:, -1:])
    terms = gap[:, :-1] * np.diff(grid, axis=1)
    atoms = np.count_nonzero(~np.isnan(grid), axis=1)
    return _leading_sums(terms, atoms - 1)


def _leading_sums(terms: Rows, lengths: NDArray[np.intp]) -> Rows:
    """Sum of the first ``lengths[i]`` entries of each row ``i``.

    Each row is summed on its own, as ``np.sum`` sums a 1-D array: padding the short
    rows with zeros would change numpy's pairwise summation order, and so the last bits.
    Rows mostly share one length (every bin occupied), which makes this one call.
    """
    sums = np.empty(terms.shape[0])
    for length in np.unique(lengths).tolist():
        rows = lengths == length
        sums[rows] = terms[rows, :length].sum(axis=1)
    return sums
