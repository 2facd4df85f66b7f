"""Joint drift of the numeric features, checked against numpy and scipy on the rows.

The window keeps only sums of winsorised values; every statistic computed from
them must equal what numpy's ``quantile``, ``clip`` and ``corrcoef`` and scipy's
``mahalanobis``, ``chi2`` and ``norm`` give on the rows themselves.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import stats
from scipy.spatial.distance import mahalanobis

from detectors.arrays import encode_array
from detectors.evaluate import DecisionSettings, SignalResult, evaluate_window
from detectors.methods import (
    CATEGORICAL_METHODS,
    DEFAULT_THRESHOLDS,
    MULTIVARIATE_METHODS,
    NUMERIC_METHODS,
    QUALITY_METHODS,
)
from detectors.multivariate import (
    JointProfile,
    build_joint_profile,
    joint_measures_of_all,
    joint_sums,
    largest,
)
from detectors.profile import ReferenceProfile, SignalSpec, build_reference_profile
from detectors.window import WindowLayout

NAMES = ("amount", "age", "score")
REFERENCE_CORRELATION = np.array([[1.0, 0.7, 0.2], [0.7, 1.0, -0.3], [0.2, -0.3, 1.0]])
SETTINGS = DecisionSettings(
    NUMERIC_METHODS,
    CATEGORICAL_METHODS,
    QUALITY_METHODS,
    DEFAULT_THRESHOLDS,
    multivariate_methods=MULTIVARIATE_METHODS,
)


def _rows(
    rng: np.random.Generator,
    n: int,
    correlation: NDArray[np.float64] = REFERENCE_CORRELATION,
    shift: float = 0.0,
) -> NDArray[np.float64]:
    """Correlated normal rows in each feature's own unit (amounts in hundreds, ages ~40)."""
    z = rng.multivariate_normal(np.full(3, shift), correlation, size=n)
    return z * np.array([120.0, 12.0, 0.1]) + np.array([300.0, 40.0, 0.5])


def _columns(rows: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
    return {name: np.ascontiguousarray(rows[:, i]) for i, name in enumerate(NAMES)}


def _joint(rows: NDArray[np.float64]) -> JointProfile:
    profile = build_joint_profile(NAMES, _columns(rows))
    assert profile is not None
    return profile


def _profile(rows: NDArray[np.float64]) -> ReferenceProfile:
    specs = [SignalSpec(name, "numeric", "feature") for name in NAMES]
    return build_reference_profile(
        "fraud", specs, _columns(rows), bins=50, max_categories=50, created_at=0.0, source="test"
    )


def _measures(profile: JointProfile, window: NDArray[np.float64]) -> dict[str, tuple[float, ...]]:
    rows, sums = joint_sums(profile, _columns(window), slice(None))
    (found,) = joint_measures_of_all([profile], [rows], [sums], MULTIVARIATE_METHODS)
    return {m.method: (m.score, m.p_value, m.statistic) for m in found}


def _joint_results(profile: ReferenceProfile, window: NDArray[np.float64]) -> list[SignalResult]:
    layout = WindowLayout(profile)
    results = evaluate_window(layout, layout.accumulate(_columns(window), {}), SETTINGS)
    return [r for r in results if r.role == "multivariate"]


def _clipped(profile: JointProfile, rows: NDArray[np.float64]) -> NDArray[np.float64]:
    """The rows as the joint sums see them: clipped to the profile's bounds."""
    assert profile.bounds is not None
    return np.clip(rows, profile.bounds[0], profile.bounds[1])


def _winsorised(rows: NDArray[np.float64]) -> NDArray[np.float64]:
    """numpy's: each column clipped to its 1% and 99% quantiles."""
    low, high = np.quantile(rows, [0.01, 0.99], axis=0)
    return np.clip(rows, low, high)


def test_the_reference_correlation_is_numpys_corrcoef_of_its_winsorised_rows() -> None:
    rows = _rows(np.random.default_rng(1), 5000)
    rows[:, 0] *= np.sqrt(np.random.default_rng(2).chisquare(2, 5000) / 2)  # heavy tails
    profile = _joint(rows)
    assert profile.correlation == pytest.approx(np.corrcoef(_winsorised(rows).T), abs=1e-12)
    assert profile.mean == pytest.approx(_winsorised(rows).mean(axis=0), rel=1e-12)


def test_winsorising_normal_data_moves_its_correlations_by_about_one_percent() -> None:
    rows = _rows(np.random.default_rng(15), 50_000)
    assert _joint(rows).correlation == pytest.approx(np.corrcoef(rows.T), rel=0.015)


def test_correlation_statistic_is_fishers_z_of_numpys_correlations_of_the_clipped_rows() -> None:
    rng = np.random.default_rng(3)
    reference = _rows(rng, 20_000)
    window = _rows(rng, 2000, np.array([[1.0, 0.62, 0.2], [0.62, 1.0, -0.3], [0.2, -0.3, 1.0]]))
    profile = _joint(reference)
    score, _, statistic = _measures(profile, window)["correlation"]
    upper = np.triu_indices(3, 1)
    r_window, r_reference = (
        np.corrcoef(_clipped(profile, window).T)[upper],
        profile.correlation[upper],
    )
    se = np.sqrt(1 / (len(window) - 3) + 1 / (len(reference) - 3))
    z = np.abs(np.arctanh(r_window) - np.arctanh(r_reference)) / se
    assert statistic == pytest.approx(z.max(), rel=1e-9)
    assert 0.0 < score < np.abs(r_window - r_reference).max()
    analytic = build_joint_profile(NAMES, _columns(reference), calibrate=False)
    assert analytic is not None
    _, analytic_p, _ = _measures(analytic, window)["correlation"]
    assert analytic_p == pytest.approx(1 - (1 - 2 * stats.norm.sf(z.max())) ** 3, rel=1e-6)


def test_mahalanobis_statistic_is_scipys_distance_of_the_clipped_means() -> None:
    rng = np.random.default_rng(4)
    reference, window = _rows(rng, 20_000), _rows(rng, 3000, shift=0.15)
    analytic = build_joint_profile(NAMES, _columns(reference), calibrate=False)
    assert analytic is not None
    score, p_value, statistic = _measures(analytic, window)["mahalanobis"]
    scores = (_clipped(analytic, window) - analytic.mean) / analytic.std
    distance = mahalanobis(scores.mean(axis=0), np.zeros(3), np.linalg.inv(analytic.correlation))
    variance = 1 / len(window) + 1 / len(reference)
    assert statistic == pytest.approx(distance**2 / variance, rel=1e-9)
    assert p_value == pytest.approx(stats.chi2.sf(distance**2 / variance, 3), rel=1e-6)
    no_drift = stats.chi2.isf(0.05, 3) * variance  # the 95th percentile of D^2 without drift
    assert score == pytest.approx(np.sqrt(distance**2 - no_drift), rel=1e-9)


@pytest.mark.parametrize(
    ("method", "below", "above"),
    [
        # Sidak's bound over 3 correlated pairs is conservative by up to log10(3) = 0.48.
        ("correlation", 0.5, 0.6),
        ("mahalanobis", 0.25, 0.4),
    ],
)
def test_on_normal_data_calibrated_and_normal_theory_p_values_agree(
    method: str, below: float, above: float
) -> None:
    """Windows from no drift to strong drift, 30 to 10,000 rows: where normal theory is right,
    the bootstrap null gives its p-values, within ``below``/``above`` decades down to 1e-4
    (leaving out the reference's own sampling variance, or counting the wrong degrees of
    freedom, moves them by more). Deeper, the fitted tail may only be more conservative."""
    rng = np.random.default_rng(17)
    reference = _rows(rng, 20_000)
    calibrated = _joint(reference)
    analytic = build_joint_profile(NAMES, _columns(reference), calibrate=False)
    assert analytic is not None
    pairs = []
    for n in (30, 100, 700, 3000, 10_000):
        for step in np.linspace(0.0, 0.25, 12):
            moved = REFERENCE_CORRELATION.copy()
            moved[0, 1] = moved[1, 0] = 0.7 - 2 * step * np.sqrt(100 / n)
            window = _columns(_rows(rng, n, moved, shift=step * np.sqrt(100 / n)))
            rows, sums = joint_sums(calibrated, window, slice(None))
            pairs.append(
                (
                    joint_measures_of_all([analytic], [rows], [sums], [method])[0][0].p_value,
                    joint_measures_of_all([calibrated], [rows], [sums], [method])[0][0].p_value,
                )
            )
    normal, calibrated_p = np.log10(np.array(pairs)).T
    gap = calibrated_p - normal
    body = normal > -4
    assert -below <= gap[body].min()
    assert gap[body].max() <= above
    assert np.abs(gap[body]).mean() < 0.2
    assert gap.min() >= -below
    assert (calibrated_p[~body] < -3).all()


def test_sums_of_batches_add_up_to_the_sums_of_their_union() -> None:
    rng = np.random.default_rng(5)
    profile, window = _joint(_rows(rng, 5000)), _columns(_rows(rng, 3000))
    whole = joint_sums(profile, window, slice(None))
    parts = [joint_sums(profile, window, slice(a, a + 1000)) for a in (0, 1000, 2000)]
    assert sum(rows for rows, _ in parts) == whole[0]
    assert sum(sums for _, sums in parts) == pytest.approx(whole[1], rel=1e-9, abs=1e-6)


def test_rows_missing_any_joint_feature_are_left_out() -> None:
    rng = np.random.default_rng(6)
    profile, rows = _joint(_rows(rng, 5000)), _rows(rng, 1000)
    holed = rows.copy()
    holed[::10, 1] = np.nan
    counted, sums = joint_sums(profile, _columns(holed), slice(None))
    assert counted == 900
    kept = rows[np.arange(1000) % 10 != 0]
    assert sums == pytest.approx(joint_sums(profile, _columns(kept), slice(None))[1])


def test_rows_with_an_infinite_value_are_left_out_rather_than_poisoning_the_sums() -> None:
    rng = np.random.default_rng(14)
    profile, rows = _joint(_rows(rng, 5000)), _rows(rng, 100)
    rows[3, 0] = np.inf
    counted, sums = joint_sums(profile, _columns(rows), slice(None))
    assert counted == 99
    assert np.isfinite(sums).all()


def test_a_flipped_correlation_with_intact_marginals_is_critical_and_only_jointly() -> None:
    rng = np.random.default_rng(7)
    profile = _profile(_rows(rng, 20_000))
    flipped = REFERENCE_CORRELATION * np.array([[1, -1, 1], [-1, 1, 1], [1, 1, 1]])
    layout = WindowLayout(profile)
    window = _columns(_rows(rng, 5000, flipped))
    results = evaluate_window(layout, layout.accumulate(window, {}), SETTINGS)
    drifted = {(r.signal, r.method): r.severity for r in results if r.drifted}
    assert drifted == {("features", "correlation"): "critical"}


def test_a_mean_shift_of_every_feature_below_its_own_threshold_is_seen_jointly() -> None:
    """0.08 sd on each of three features: under wasserstein's 0.1 each, jointly 0.14."""
    rng = np.random.default_rng(8)
    profile = _profile(_rows(rng, 50_000, np.eye(3)))
    layout = WindowLayout(profile)
    window = _columns(_rows(rng, 20_000, np.eye(3), shift=0.08))
    results = evaluate_window(layout, layout.accumulate(window, {}), SETTINGS)
    drifted = {(r.signal, r.method) for r in results if r.drifted}
    assert drifted == {("features", "mahalanobis")}


@pytest.mark.parametrize("draw", ["normal", "student_t5"])
def test_200_windows_drawn_like_the_reference_raise_no_joint_drift(draw: str) -> None:
    """(Heavier tails, constant features and small windows: ``tests/unit/test_calibration.py``.)"""
    rng = np.random.default_rng(9)

    def rows(n: int) -> NDArray[np.float64]:
        if draw == "normal":
            return _rows(rng, n)
        chi = np.sqrt(rng.chisquare(5, size=(n, 1)) / 5)
        return _rows(rng, n) / chi

    profile = _profile(rows(100_000))
    flagged = [r for _ in range(200) for r in _joint_results(profile, rows(5000)) if r.drifted]
    assert flagged == []


def test_the_joint_part_of_a_profile_survives_its_json() -> None:
    profile = _profile(_rows(np.random.default_rng(10), 5000))
    back = ReferenceProfile.from_json(profile.to_json())
    assert back.joint is not None
    assert profile.joint is not None
    assert back.joint.names == profile.joint.names
    assert np.array_equal(back.joint.correlation, profile.joint.correlation)
    assert back.joint.null is not None
    assert json.loads(back.to_json()) == json.loads(profile.to_json())
    window = _rows(np.random.default_rng(18), 700, shift=0.1)
    assert _measures(back.joint, window) == _measures(profile.joint, window)


def test_the_null_calibration_is_seeded_and_bounded() -> None:
    rows = _rows(np.random.default_rng(19), 5000)
    first, second = _profile(rows), _profile(rows)
    assert first.id == second.id
    assert first.joint is not None
    assert len(json.dumps(first.joint.to_state()["null"])) < 4000


def test_a_joint_part_stored_before_winsorising_keeps_raw_values_and_normal_theory() -> None:
    reference = _rows(np.random.default_rng(20), 5000)
    state = _joint(reference).to_state()
    for key in ("bounds", "null"):
        del state[key]
    state["mean"] = encode_array(reference.mean(axis=0))
    state["std"] = encode_array(reference.std(axis=0))
    state["correlation"] = encode_array(np.corrcoef(reference.T))
    old = JointProfile.from_state(state)
    assert (old.bounds, old.null) == (None, None)
    window = _rows(np.random.default_rng(21), 3000, shift=0.15)
    _, p_value, statistic = _measures(old, window)["mahalanobis"]
    inverse = np.linalg.inv(np.cov(reference.T, bias=True))
    distance = mahalanobis(window.mean(axis=0), reference.mean(axis=0), inverse)
    assert statistic == pytest.approx(distance**2 / (1 / 3000 + 1 / 5000), rel=1e-9)
    assert p_value == pytest.approx(stats.chi2.sf(statistic, 3), rel=1e-6)


def test_a_profile_stored_without_a_joint_part_still_loads_and_gives_no_joint_results() -> None:
    profile = _profile(_rows(np.random.default_rng(11), 5000))
    state = json.loads(profile.to_json())
    del state["joint"]
    old = ReferenceProfile.from_json(json.dumps(state))
    assert old.joint is None
    assert _joint_results(old, _rows(np.random.default_rng(12), 1000)) == []


def test_features_that_do_not_vary_are_left_out_and_one_left_gives_no_joint_profile() -> None:
    rows = _rows(np.random.default_rng(13), 1000)
    rows[:, 1] = 7.0
    profile = build_joint_profile(NAMES, _columns(rows))
    assert profile is not None
    assert profile.names == ("amount", "score")
    rows[:, 2] = 1.0
    assert build_joint_profile(NAMES, _columns(rows)) is None


@pytest.mark.parametrize("seed", range(20))
def test_the_largest_changes_are_those_a_stable_sort_ranks_first_ties_in_pair_order(
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 6, size=(4, rng.integers(1, 40))).astype(np.float64)  # many ties
    values[rng.random(values.shape) < seed / 100] = np.nan  # and, as seeds grow, NaN
    for count in (1, 3, 10):
        expected = np.argsort(-values, axis=1, kind="stable")[:, :count]
        assert largest(values, count).tolist() == expected.tolist()


def test_the_largest_changes_rank_nan_last_as_a_sort_does() -> None:
    values = np.array([[0.5, np.nan, 2.0, np.nan, 1.0]])
    assert largest(values, 3).tolist() == [[2, 4, 0]]


def test_the_largest_changes_rank_infinities_first_as_a_sort_does() -> None:
    values = np.array([[0.5, np.inf, 2.0, np.inf, 1.0, -np.inf]])
    assert largest(values, 3).tolist() == [[1, 3, 2]]


def test_the_largest_changes_of_each_row_are_its_own() -> None:
    values = np.array([[3.0, 1.0, 2.0, 0.0], [np.nan, 0.0, 5.0, 5.0], [1.0, 1.0, 1.0, 1.0]])
    assert largest(values, 2).tolist() == [[0, 2], [2, 3], [0, 1]]
