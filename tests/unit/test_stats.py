"""detectors.stats checked against scipy's raw-sample and table implementations.

Raw samples come from a seeded generator: a 50k reference and 5k windows
drawn from the same distribution, shifted, or rescaled, for a light-tailed
(normal) and a heavy-tailed (Student t, 3 dof) family. They are binned the
way the daemon bins them: interior quantile edges of the reference at k = 50,
counts and sums per bin via ``searchsorted(side="right")`` + ``bincount``.

Measured binning error at k = 50, 5k windows (30 seeds, normal, t3 and
lognormal; the fixed seed below stays inside these):

* KS: raw D minus binned D in [0, 0.0033], against a guaranteed bound of the
  largest bin share (~0.024-0.09 here).
* Wasserstein / reference std: absolute error <= 0.021 (worst: t3 shifted by
  0.5 std, 4.2 % relative, from the open-ended outer bins of a heavy tail);
  normal shifted/rescaled <= 0.3 % relative at 0.5 std; no shift <= 0.007.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy import stats
from scipy.spatial.distance import jensenshannon
from scipy.stats.contingency import association

from detectors.stats import (
    ChiSquareResult,
    KSResult,
    ProportionResult,
    chi_square_from_counts,
    chi_square_of_table,
    edge_cdf,
    jensen_shannon_distance,
    jensen_shannon_rows,
    ks_from_bins,
    ks_p_value,
    ks_p_values,
    ks_statistic_rows,
    pooled_chi_square_rows,
    pooled_table,
    population_stability_index,
    psi_rows,
    shares,
    two_proportion_test,
    wasserstein_from_bins,
    wasserstein_rows,
)

SEED = 20261127
K = 50
N_REF = 50_000
N_WIN = 5_000
ALPHA = 0.01

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Sampler = Callable[[np.random.Generator, int], FloatArray]

FAMILIES: dict[str, Sampler] = {
    "normal": lambda rng, n: rng.normal(0.0, 1.0, n),
    "t3": lambda rng, n: rng.standard_t(3, n),
}
# Window transforms, in units of the reference standard deviation.
WINDOWS: dict[str, Callable[[FloatArray, float], FloatArray]] = {
    "same": lambda x, sd: x,
    "shift_0.1": lambda x, sd: x + 0.1 * sd,
    "shift_0.5": lambda x, sd: x + 0.5 * sd,
    "scale_1.5": lambda x, sd: 1.5 * x,
    "scale_0.7": lambda x, sd: 0.7 * x,
}
DRIFTED = [name for name in WINDOWS if name != "same"]


class Binned:
    """A reference and a window, raw and binned against the reference's edges."""

    def __init__(self, family: str, window: str) -> None:
        rng = np.random.default_rng([SEED, *family.encode(), *window.encode()])
        sample = FAMILIES[family]
        self.ref = sample(rng, N_REF)
        self.sd = float(self.ref.std())
        self.win = WINDOWS[window](sample(rng, N_WIN), self.sd)
        self.edges = np.quantile(self.ref, np.linspace(0.0, 1.0, K + 1)[1:-1])
        self.ref_counts, self.ref_means = self._bin(self.ref)
        self.win_counts, self.win_means = self._bin(self.win)

    def _bin(self, x: FloatArray) -> tuple[IntArray, FloatArray]:
        index = np.searchsorted(self.edges, x, side="right")
        counts = np.bincount(index, minlength=K)
        sums = np.bincount(index, weights=x, minlength=K)
        means = np.divide(sums, counts, out=np.full(K, np.nan), where=counts > 0)
        return counts, means

    @property
    def max_share(self) -> float:
        return float(
            max(
                self.ref_counts.max() / self.ref_counts.sum(),
                self.win_counts.max() / self.win_counts.sum(),
            )
        )


@functools.cache
def binned(family: str, window: str) -> Binned:
    """Build each data set once per session (they are read-only)."""
    return Binned(family, window)


def random_counts(rng: np.random.Generator, k: int, zeros: int = 0) -> IntArray:
    counts = rng.integers(1, 500, size=k)
    counts[rng.choice(k, size=zeros, replace=False)] = 0
    return counts


# --------------------------------------------------------------------------- KS


@pytest.mark.parametrize("window", list(WINDOWS))
@pytest.mark.parametrize("family", list(FAMILIES))
def test_ks_statistic_within_binning_error(family: str, window: str) -> None:
    data = binned(family, window)
    raw = float(stats.ks_2samp(data.ref, data.win).statistic)
    result = ks_from_bins(data.ref_counts, data.win_counts)
    gap = raw - result.statistic
    # Guaranteed: binned D is a lower bound, short by at most the largest bin share.
    assert -1e-12 <= gap <= data.max_share
    # Measured <= 0.0033 over 30 seeds; 0.005 still catches an off-by-one edge,
    # which costs about one bin share (1/50 = 0.02).
    assert gap < 0.005


@pytest.mark.parametrize("window", list(WINDOWS))
def test_ks_p_value_is_scipys_asymptotic_distribution(window: str) -> None:
    data = binned("normal", window)
    result = ks_from_bins(data.ref_counts, data.win_counts)
    n, m = N_REF, N_WIN
    expected = stats.kstwo.sf(result.statistic, round(n * m / (n + m)))
    # Effective n 4545 > KS_EXACT_MAX_N: Stephens' corrected limit, measured within 5.7%
    # of kstwo for p above 1e-12 (a wrong n or a missing correction is off by far more).
    if expected > 1e-12:
        assert result.p_value == pytest.approx(expected, rel=0.06)
    else:
        assert result.p_value < 1e-10


def test_ks_matches_scipy_exactly_when_each_bin_holds_one_value() -> None:
    # Integer data with edges at half-integers: every bin holds a single value,
    # so the CDFs at the edges are the whole CDFs and binning loses nothing.
    rng = np.random.default_rng(SEED)
    ref = rng.binomial(20, 0.5, size=3000)
    win = rng.binomial(20, 0.55, size=1200)
    edges = np.arange(20) + 0.5
    ref_counts = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=21)
    win_counts = np.bincount(np.searchsorted(edges, win, side="right"), minlength=21)
    expected = stats.ks_2samp(ref, win, method="asymp")
    result = ks_from_bins(ref_counts, win_counts)
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9)


@pytest.mark.parametrize(("window", "drifted"), [("same", False), ("shift_0.5", True)])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_ks_drift_decision_agrees_with_scipy(family: str, window: str, drifted: bool) -> None:
    data = binned(family, window)
    raw_p = float(stats.ks_2samp(data.ref, data.win).pvalue)
    binned_p = ks_from_bins(data.ref_counts, data.win_counts).p_value
    assert (raw_p < ALPHA) is drifted
    assert (binned_p < ALPHA) is drifted


def test_ks_single_bin_has_no_gap() -> None:
    assert ks_from_bins(np.array([10]), np.array([3])) == KSResult(statistic=0.0, p_value=1.0)


# --------------------------------------------------------------------------- Wasserstein


@pytest.mark.parametrize("window", list(WINDOWS))
@pytest.mark.parametrize("family", list(FAMILIES))
def test_wasserstein_equals_scipy_on_the_atoms(family: str, window: str) -> None:
    data = binned(family, window)
    ref_keep, win_keep = data.ref_counts > 0, data.win_counts > 0
    expected = stats.wasserstein_distance(
        u_values=data.ref_means[ref_keep],
        v_values=data.win_means[win_keep],
        u_weights=data.ref_counts[ref_keep],
        v_weights=data.win_counts[win_keep],
    )
    result = wasserstein_from_bins(data.ref_means, data.ref_counts, data.win_means, data.win_counts)
    # Same distributions, same algorithm: only summation order may differ.
    assert result == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("window", DRIFTED)
@pytest.mark.parametrize("family", list(FAMILIES))
def test_wasserstein_close_to_raw_samples_under_drift(family: str, window: str) -> None:
    data = binned(family, window)
    raw = stats.wasserstein_distance(data.ref, data.win)
    result = wasserstein_from_bins(data.ref_means, data.ref_counts, data.win_means, data.win_counts)
    # Worst measured over 30 seeds: 4.2 % (t3, shift 0.5 std) and, for the small
    # 0.1 std shift, 0.008 std absolute. A wrong atom (bin midpoint instead of
    # mean, or an unweighted atom) is off by far more.
    assert abs(result - raw) < max(0.05 * raw, 0.01 * data.sd)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_wasserstein_close_to_raw_samples_without_drift(family: str) -> None:
    data = binned(family, "same")
    raw = stats.wasserstein_distance(data.ref, data.win)
    result = wasserstein_from_bins(data.ref_means, data.ref_counts, data.win_means, data.win_counts)
    # Both are sampling noise (~0.015-0.02 std); they differ by <= 0.007 std measured
    # (30 seeds, three families), far below the 0.1 std warning threshold.
    assert abs(result - raw) < 0.01 * data.sd


@pytest.mark.parametrize("window", list(WINDOWS))
@pytest.mark.parametrize("family", list(FAMILIES))
def test_wasserstein_error_within_the_within_bin_spread(family: str, window: str) -> None:
    # Triangle inequality: |W(ref atoms, win atoms) - W(ref, win)| is at most the
    # distance from each raw sample to its own atoms. Holds for any data.
    data = binned(family, window)

    def to_atoms(x: FloatArray, counts: IntArray, means: FloatArray) -> float:
        keep = counts > 0
        return float(stats.wasserstein_distance(x, means[keep], v_weights=counts[keep]))

    bound = to_atoms(data.ref, data.ref_counts, data.ref_means) + to_atoms(
        data.win, data.win_counts, data.win_means
    )
    raw = stats.wasserstein_distance(data.ref, data.win)
    result = wasserstein_from_bins(data.ref_means, data.ref_counts, data.win_means, data.win_counts)
    assert abs(result - raw) <= bound + 1e-12


def test_wasserstein_of_a_translation_is_the_shift() -> None:
    means = np.array([-3.0, -1.0, 0.5, 2.0, 10.0])
    counts = np.array([5, 20, 40, 20, 1])
    assert wasserstein_from_bins(means, counts, means + 0.25, counts) == pytest.approx(0.25)


def test_wasserstein_skips_empty_bins_whatever_their_mean() -> None:
    ref_means = np.array([0.0, np.nan, 2.0, 3.0])
    ref_counts = np.array([4, 0, 4, 2])
    win_means = np.array([0.5, 1.5, np.inf, 3.5])
    win_counts = np.array([1, 5, 0, 4])
    expected = stats.wasserstein_distance([0.0, 2.0, 3.0], [0.5, 1.5, 3.5], [4, 4, 2], [1, 5, 4])
    result = wasserstein_from_bins(ref_means, ref_counts, win_means, win_counts)
    assert result == pytest.approx(expected, rel=1e-12)


# --------------------------------------------------------------------------- Jensen-Shannon


@pytest.mark.parametrize("zeros", [0, 1, 5])
@pytest.mark.parametrize("k", [2, 10, 50])
def test_jensen_shannon_equals_scipy(k: int, zeros: int) -> None:
    rng = np.random.default_rng([SEED, k, zeros])
    ref = random_counts(rng, k, zeros=min(zeros, k - 1))
    win = random_counts(rng, k, zeros=min(zeros, k - 1))
    expected = jensenshannon(ref / ref.sum(), win / win.sum(), base=2)
    # Same closed form; 1e-9 leaves room only for summation order.
    assert jensen_shannon_distance(ref, win) == pytest.approx(expected, abs=1e-9)


def test_jensen_shannon_known_values() -> None:
    assert jensen_shannon_distance(np.array([3, 7]), np.array([30, 70])) == 0.0
    assert jensen_shannon_distance(np.array([5, 0]), np.array([0, 9])) == pytest.approx(1.0)


def test_jensen_shannon_on_binned_samples() -> None:
    data = binned("normal", "shift_0.5")
    p = data.ref_counts / data.ref_counts.sum()
    q = data.win_counts / data.win_counts.sum()
    expected = jensenshannon(p, q, base=2)
    assert jensen_shannon_distance(data.ref_counts, data.win_counts) == pytest.approx(
        expected, abs=1e-9
    )


# --------------------------------------------------------------------------- chi-square


def assert_chi_square_matches_scipy(ref: IntArray, win: IntArray) -> ChiSquareResult:
    table = np.vstack((ref, win))
    kept = table[:, table.sum(axis=0) > 0]
    expected = stats.chi2_contingency(kept, correction=False)
    result = chi_square_from_counts(ref, win)
    # Same arithmetic on the same table: 1e-9 relative is rounding only.
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-9)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)
    assert result.dof == expected.dof
    n = kept.sum()
    direct_v = math.sqrt(expected.statistic / (n * (min(2, kept.shape[1]) - 1)))
    assert result.cramers_v == pytest.approx(direct_v, rel=1e-9)
    assert result.cramers_v == pytest.approx(
        association(kept, method="cramer", correction=False), rel=1e-9
    )
    return result


@pytest.mark.parametrize("zeros", [0, 1, 3])
@pytest.mark.parametrize("k", [2, 3, 12])
def test_chi_square_equals_scipy(k: int, zeros: int) -> None:
    rng = np.random.default_rng([SEED, k, zeros])
    ref = random_counts(rng, k)
    win = random_counts(rng, k)
    both_empty = rng.choice(k, size=min(zeros, k - 2), replace=False)  # keep dof >= 1
    ref[both_empty] = 0
    win[both_empty] = 0
    result = assert_chi_square_matches_scipy(ref, win)
    assert result.dof == k - 1 - len(both_empty)


def test_chi_square_unseen_bucket_counts() -> None:
    # The reference never has the unseen slot; a window that fills it must drift.
    ref = np.array([4000, 3000, 3000, 0])
    win = np.array([380, 300, 270, 50])
    result = assert_chi_square_matches_scipy(ref, win)
    assert result.p_value < ALPHA


def test_chi_square_on_same_distribution_is_not_significant() -> None:
    rng = np.random.default_rng(SEED)
    shares = np.array([0.5, 0.3, 0.15, 0.05])
    ref = rng.multinomial(50_000, shares)
    win = rng.multinomial(5_000, shares)
    result = assert_chi_square_matches_scipy(ref, win)
    assert result.p_value > ALPHA
    assert result.cramers_v < 0.02


def test_chi_square_single_column_has_no_degrees_of_freedom() -> None:
    result = chi_square_from_counts(np.array([0, 10, 0]), np.array([0, 4, 0]))
    assert result == ChiSquareResult(statistic=0.0, p_value=1.0, dof=0, cramers_v=0.0)
    expected = stats.chi2_contingency(np.array([[10], [4]]), correction=False)
    assert (expected.statistic, expected.pvalue, expected.dof) == (0.0, 1.0, 0)


# --------------------------------------------------------------------------- PSI


def psi_by_loop(ref: Any, win: Any, epsilon: float = 1e-4) -> float:
    total_ref, total_win = sum(ref), sum(win)
    psi = 0.0
    for r, w in zip(ref, win, strict=True):
        p = max(r / total_ref, epsilon)
        q = max(w / total_win, epsilon)
        psi += (q - p) * math.log(q / p)
    return psi


@pytest.mark.parametrize("zeros", [0, 1, 4])
@pytest.mark.parametrize("k", [2, 10, 50])
def test_psi_equals_loop_formula(k: int, zeros: int) -> None:
    rng = np.random.default_rng([SEED, k, zeros])
    ref = random_counts(rng, k, zeros=min(zeros, k - 1))
    win = random_counts(rng, k, zeros=min(zeros, k - 1))
    expected = psi_by_loop(ref.tolist(), win.tolist())
    assert population_stability_index(ref, win) == pytest.approx(expected, rel=1e-12)
    expected_coarse = psi_by_loop(ref.tolist(), win.tolist(), epsilon=0.01)
    result_coarse = population_stability_index(ref, win, epsilon=0.01)
    assert result_coarse == pytest.approx(expected_coarse, rel=1e-12)


def test_psi_known_values() -> None:
    assert population_stability_index(np.array([5, 3, 2]), np.array([50, 30, 20])) == 0.0
    # Shares (0.5, 0.5) -> (0.25, 0.75): -0.25 ln 0.5 + 0.25 ln 1.5 = 0.25 ln 3.
    two_bins = population_stability_index(np.array([50, 50]), np.array([25, 75]))
    assert two_bins == pytest.approx(0.25 * math.log(3.0), rel=1e-12)
    # An empty reference bin is floored at epsilon: p = (1, 1e-4), q = (0.9, 0.1).
    floored = population_stability_index(np.array([100, 0]), np.array([90, 10]))
    expected = (0.9 - 1.0) * math.log(0.9) + (0.1 - 1e-4) * math.log(0.1 / 1e-4)
    assert floored == pytest.approx(expected, rel=1e-12)


def test_psi_on_binned_samples_tracks_drift() -> None:
    same = binned("normal", "same")
    shifted = binned("normal", "shift_0.5")
    assert population_stability_index(same.ref_counts, same.win_counts) < 0.02
    assert population_stability_index(shifted.ref_counts, shifted.win_counts) > 0.2


# --------------------------------------------------------------------------- proportions


def _fisher_greater(ref_hits: int, ref_total: int, win_hits: int, win_total: int) -> float:
    """Fisher's exact test that the window's rate is the higher: the hypergeometric tail."""
    table = [[win_hits, win_total - win_hits], [ref_hits, ref_total - ref_hits]]
    return float(stats.fisher_exact(table, alternative="greater").pvalue)


@pytest.mark.parametrize(
    ("ref_hits", "ref_total", "win_hits", "win_total"),
    [(10, 1000, 30, 1000), (200, 20_000, 3, 50), (0, 20_000, 2, 50), (40, 400, 12, 50)],
)
def test_a_significant_rise_is_fishers_exact_p_value_or_a_little_more(
    ref_hits: int, ref_total: int, win_hits: int, win_total: int
) -> None:
    """Below 0.05, the binomial tail is the hypergeometric one at most 0.2% lower, and at
    most twice it (the binomial draws its hits with replacement)."""
    result = two_proportion_test(ref_hits, ref_total, win_hits, win_total)
    assert result.difference == pytest.approx(win_hits / win_total - ref_hits / ref_total)
    exact = _fisher_greater(ref_hits, ref_total, win_hits, win_total)
    assert exact < 0.05
    assert exact * 0.998 <= result.p_value <= 2 * exact


@pytest.mark.parametrize(
    ("ref_hits", "ref_total", "win_hits", "win_total"),
    [(500, 50_000, 48, 5_000), (7, 20, 2, 30), (0, 100, 3, 100)],
)
def test_an_insignificant_rise_reads_about_fishers_exact_p_value(
    ref_hits: int, ref_total: int, win_hits: int, win_total: int
) -> None:
    result = two_proportion_test(ref_hits, ref_total, win_hits, win_total)
    assert result.p_value == pytest.approx(
        _fisher_greater(ref_hits, ref_total, win_hits, win_total), abs=0.005
    )


def test_small_windows_of_a_rare_missing_rate_reject_at_most_their_share() -> None:
    """1% missing in a 20,000-row reference, 50-event windows: the chance of a p-value
    below each level, summed over the binomial window counts, never exceeds the level
    (the pooled z-test rejected 16 times its share at 1e-4)."""
    counts = np.arange(51)
    chance = stats.binom.pmf(counts, 50, 0.01)
    p_values = np.array([two_proportion_test(200, 20_000, int(k), 50).p_value for k in counts])
    for level in (0.05, 0.01, 1e-3, 1e-4, 1e-6):
        assert chance[p_values < level].sum() <= level


def test_a_fall_of_the_rate_is_not_significant() -> None:
    assert two_proportion_test(100, 1000, 0, 1000).p_value == 1.0
    assert two_proportion_test(100, 1000, 50, 1000).p_value > 0.99


def test_a_window_without_hits_is_never_significant() -> None:
    assert two_proportion_test(0, 100, 0, 40) == ProportionResult(0.0, 1.0)
    assert two_proportion_test(30, 100, 0, 40) == ProportionResult(-0.3, 1.0)


# --------------------------------------------------------------------------- validation


PAIR_FUNCTIONS = [
    population_stability_index,
    jensen_shannon_distance,
    ks_from_bins,
    chi_square_from_counts,
]


@pytest.mark.parametrize("function", PAIR_FUNCTIONS)
@pytest.mark.parametrize(
    ("ref", "win", "message"),
    [
        ([1, 2, 3], [1, 2], "same bins"),
        ([0, 0, 0], [1, 2, 3], "ref_counts is empty"),
        ([1, 2, 3], [0, 0, 0], "win_counts is empty"),
        ([1, -2, 3], [1, 2, 3], "non-negative"),
        ([1, np.nan, 3], [1, 2, 3], "finite"),
        ([], [], "non-empty 1-D"),
        ([[1, 2], [3, 4]], [[1, 2], [3, 4]], "non-empty 1-D"),
    ],
)
def test_count_pairs_are_validated(
    function: Callable[[Any, Any], object], ref: Any, win: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        function(np.array(ref, dtype=float), np.array(win, dtype=float))


@pytest.mark.parametrize("epsilon", [0.0, -1e-4, 1.0, math.nan])
def test_psi_rejects_bad_epsilon(epsilon: float) -> None:
    with pytest.raises(ValueError, match="epsilon"):
        population_stability_index(np.array([1, 2]), np.array([2, 1]), epsilon=epsilon)


@pytest.mark.parametrize(
    ("ref_means", "ref_counts", "win_means", "win_counts", "message"),
    [
        ([0.0, 1.0], [1, 2, 3], [0.0, 1.0, 2.0], [1, 2, 3], "ref_means and ref_counts"),
        ([0.0, 1.0, 2.0], [1, 2, 3], [0.0, 1.0, 2.0], [1, 2], "win_means and win_counts"),
        ([0.0, 1.0], [0, 0], [0.0, 1.0], [1, 1], "ref_counts is empty"),
        ([0.0, np.nan], [1, 1], [0.0, 1.0], [1, 1], "ref_means must be finite"),
        ([0.0, 1.0], [1, 1], [np.inf, 1.0], [1, 1], "win_means must be finite"),
        ([0.0, 1.0], [1, -1], [0.0, 1.0], [1, 1], "non-negative"),
    ],
)
def test_wasserstein_inputs_are_validated(
    ref_means: Any, ref_counts: Any, win_means: Any, win_counts: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        wasserstein_from_bins(
            np.array(ref_means), np.array(ref_counts), np.array(win_means), np.array(win_counts)
        )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((1, 0, 1, 10), "ref_total must be positive"),
        ((1, 10, 1, -5), "win_total must be positive"),
        ((11, 10, 1, 10), r"ref_hits must be in \[0, ref_total\]"),
        ((1, 10, -1, 10), r"win_hits must be in \[0, win_total\]"),
        ((math.nan, 10, 1, 10), "ref_hits"),
    ],
)
def test_two_proportion_inputs_are_validated(args: tuple[float, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        two_proportion_test(*args)


# --------------------------------------------------------------------------- properties


@st.composite
def count_pairs(draw: st.DrawFn) -> tuple[IntArray, IntArray]:
    k = draw(st.integers(1, 40))
    counts = st.lists(st.integers(0, 10_000), min_size=k, max_size=k)
    ref, win = np.array(draw(counts)), np.array(draw(counts))
    assume(ref.sum() > 0 and win.sum() > 0)
    return ref, win


@st.composite
def atom_pairs(draw: st.DrawFn) -> tuple[FloatArray, IntArray, FloatArray, IntArray]:
    k = draw(st.integers(1, 30))
    means = st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=k, max_size=k)
    counts = st.lists(st.integers(0, 10_000), min_size=k, max_size=k)
    ref_counts, win_counts = np.array(draw(counts)), np.array(draw(counts))
    assume(ref_counts.sum() > 0 and win_counts.sum() > 0)
    return np.array(draw(means)), ref_counts, np.array(draw(means)), win_counts


@settings(deadline=None)
@given(count_pairs())
def test_property_psi_is_non_negative(pair: tuple[IntArray, IntArray]) -> None:
    assert population_stability_index(*pair) >= 0.0


@settings(deadline=None)
@given(count_pairs())
def test_property_jensen_shannon_is_a_symmetric_unit_distance(
    pair: tuple[IntArray, IntArray],
) -> None:
    ref, win = pair
    distance = jensen_shannon_distance(ref, win)
    assert 0.0 <= distance <= 1.0
    assert distance == jensen_shannon_distance(win, ref)
    assert jensen_shannon_distance(ref, ref) == 0.0


@settings(deadline=None)
@given(count_pairs())
def test_property_ks_statistic_and_p_value_in_unit_interval(
    pair: tuple[IntArray, IntArray],
) -> None:
    result = ks_from_bins(*pair)
    assert 0.0 <= result.statistic <= 1.0
    assert 0.0 <= result.p_value <= 1.0


@settings(deadline=None)
@given(atom_pairs())
def test_property_wasserstein_is_non_negative_and_zero_on_itself(
    atoms: tuple[FloatArray, IntArray, FloatArray, IntArray],
) -> None:
    ref_means, ref_counts, win_means, win_counts = atoms
    assert wasserstein_from_bins(ref_means, ref_counts, win_means, win_counts) >= 0.0
    assert wasserstein_from_bins(ref_means, ref_counts, ref_means, ref_counts) == 0.0


def wasserstein_between_atoms(
    u_values: FloatArray, u_weights: IntArray, v_values: FloatArray, v_weights: IntArray
) -> float:
    """The integral of |F_u - F_v| gap by gap over the sorted atoms, CDFs by searchsorted."""
    grid = np.sort(np.concatenate((u_values, v_values)))

    def cdf(values: FloatArray, weights: IntArray) -> FloatArray:
        order = np.argsort(values, kind="stable")
        cumulative = np.concatenate(([0.0], np.cumsum(weights[order], dtype=np.float64)))
        index = np.searchsorted(values[order], grid[:-1], side="right")
        result: FloatArray = cumulative[index] / cumulative[-1]
        return result

    gaps = np.abs(cdf(u_values, u_weights) - cdf(v_values, v_weights))
    return float(np.sum(gaps * np.diff(grid)))


@settings(deadline=None)
@given(atom_pairs())
def test_property_wasserstein_sums_the_gaps_between_atoms_in_order(
    atoms: tuple[FloatArray, IntArray, FloatArray, IntArray],
) -> None:
    # Exactly, not within rounding: results keep their bits from one version to the next.
    ref_means, ref_counts, win_means, win_counts = atoms
    ref, win = ref_counts > 0, win_counts > 0
    expected = wasserstein_between_atoms(
        ref_means[ref], ref_counts[ref], win_means[win], win_counts[win]
    )
    assert wasserstein_from_bins(ref_means, ref_counts, win_means, win_counts) == expected


@st.composite
def stacked_bins(draw: st.DrawFn) -> tuple[FloatArray, IntArray, FloatArray, IntArray]:
    """Rows of (means, counts) over the same k bins: many empty bins, so rows differ in how
    many atoms they hold, and means from a short list, so atoms tie within and across rows."""
    k = draw(st.integers(1, 30))
    rows = draw(st.integers(1, 6))
    mean = st.sampled_from([-2.0, 0.0, 0.25, 3.0]) | st.floats(-1e6, 1e6, allow_nan=False)
    count = st.sampled_from([0, 0, 1]) | st.integers(0, 10_000)
    arrays = [
        np.array(
            draw(st.lists(st.lists(element, min_size=k, max_size=k), min_size=rows, max_size=rows))
        )
        for element in (mean, count, mean, count)
    ]
    ref_means, ref_counts, win_means, win_counts = arrays
    for counts in (ref_counts, win_counts):
        counts[:, 0] += counts.sum(axis=1) == 0  # every row needs a positive total
    return ref_means, ref_counts, win_means, win_counts


@settings(deadline=None)
@given(stacked_bins())
def test_property_row_forms_give_each_row_the_bits_it_gets_alone(
    stacked: tuple[FloatArray, IntArray, FloatArray, IntArray],
) -> None:
    # detectors.evaluate stacks signals and relies on each row's result not depending on
    # the other rows, down to the last bit (same summation order, same atoms).
    ref_means, ref_counts, win_means, win_counts = stacked
    psi = psi_rows(shares(ref_counts), shares(win_counts))
    js = jensen_shannon_rows(shares(ref_counts), shares(win_counts))
    ks = ks_statistic_rows(edge_cdf(ref_counts), edge_cdf(win_counts))
    wasserstein = wasserstein_rows(
        np.where(ref_counts > 0, ref_means, np.nan),
        ref_counts,
        np.where(win_counts > 0, win_means, np.nan),
        win_counts,
    )
    for row, (ref, win) in enumerate(zip(ref_counts, win_counts, strict=True)):
        assert psi[row] == population_stability_index(ref, win)
        assert js[row] == jensen_shannon_distance(ref, win)
        assert ks[row] == ks_from_bins(ref, win).statistic
        assert wasserstein[row] == wasserstein_from_bins(ref_means[row], ref, win_means[row], win)


@pytest.mark.parametrize("effective_n", [20, 500, 1000, 1001, 4545, 40_000])
def test_ks_p_value_is_within_six_percent_of_kstwo_at_every_sample_size(effective_n: int) -> None:
    # Two samples of n = 2 en observations in two bins: the gap in the first bin is D.
    n = 2 * effective_n
    for d in np.linspace(0.5, 4.5, 17) / np.sqrt(effective_n):
        shift = min(round(d * n), n // 2)
        ref = np.array([n // 2, n - n // 2])
        win = np.array([n // 2 + shift, n - n // 2 - shift])
        result = ks_from_bins(ref, win)
        assert result.statistic == pytest.approx(shift / n)
        exact = stats.kstwo.sf(result.statistic, effective_n)
        if exact > 1e-12:
            assert result.p_value == pytest.approx(exact, rel=0.06)


def test_ks_p_values_of_many_rows_are_each_rows_own_p_value() -> None:
    rng = np.random.default_rng(3)
    statistics = rng.uniform(0.0, 0.5, 300)
    n = rng.choice([20.0, 500.0, 20_000.0], 300)
    m = rng.integers(1, 5_000, 300).astype(np.float64)
    expected = [ks_p_value(d, a, b) for d, a, b in zip(statistics, n, m, strict=True)]
    assert ks_p_values(statistics, n, m).tolist() == expected


@pytest.mark.parametrize("width", [2, 5, 12])
def test_pooled_chi_square_rows_give_each_rows_one_row_numbers_bit_for_bit(width: int) -> None:
    """Tables with rare categories (pooled, the pool joined to the least expected big
    category) and categories empty on both sides, stacked in one call."""
    rng = np.random.default_rng(width)
    reference = rng.integers(0, 400, (600, width)) * (rng.random((600, width)) < 0.8)
    window = rng.integers(0, 25, (600, width)) * (rng.random((600, width)) < 0.7)
    usable = (reference.sum(axis=1) > 0) & (window.sum(axis=1) > 0)
    reference, window = reference[usable].astype(float), window[usable].astype(float)

    statistic, dof, total = pooled_chi_square_rows(reference, window)

    for row in range(reference.shape[0]):
        alone = chi_square_of_table(pooled_table(reference[row], window[row]))
        assert (statistic[row], dof[row]) == (alone.statistic, alone.dof)
        assert total[row] == reference[row].sum() + window[row].sum()
