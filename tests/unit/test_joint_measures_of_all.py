"""A window's parts measured together: each part gets, float for float, the joint measures
it gets alone.

A segmented window's parts (the whole model and its segments) are measured in one call,
their arrays stacked; every score, p-value, statistic and attribution must be the one part's
own, bit for bit, whatever the other parts are: other feature counts, a calibrated null or
normal theory, too few rows, a feature constant in the window.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from detectors.evaluate import DecisionSettings, WindowPart, evaluate_parts
from detectors.methods import (
    CATEGORICAL_METHODS,
    DEFAULT_THRESHOLDS,
    MULTIVARIATE_METHODS,
    NUMERIC_METHODS,
    QUALITY_METHODS,
)
from detectors.multivariate import (
    JointMeasure,
    JointProfile,
    build_joint_profile,
    joint_measures_of_all,
    joint_sums,
)
from detectors.profile import SignalSpec, build_reference_profile
from detectors.window import WindowLayout

Window = tuple[int, NDArray[np.float64]]


def _rows(
    rng: np.random.Generator, n: int, d: int, rho: float, shift: float = 0.0
) -> NDArray[np.float64]:
    correlation = np.full((d, d), rho)
    np.fill_diagonal(correlation, 1.0)
    return rng.multivariate_normal(np.full(d, shift), correlation, size=n)


def _columns(rows: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
    return {f"f{i}": np.ascontiguousarray(rows[:, i]) for i in range(rows.shape[1])}


def _profile(rng: np.random.Generator, d: int, *, calibrate: bool) -> JointProfile:
    rows = _rows(rng, 400, d, float(rng.uniform(-0.2, 0.7)))
    profile = build_joint_profile(tuple(_columns(rows)), _columns(rows), calibrate=calibrate)
    assert profile is not None
    return profile


def _window(profile: JointProfile, rows: NDArray[np.float64]) -> Window:
    return joint_sums(profile, _columns(rows), slice(None))


def _bits(measures: list[JointMeasure]) -> list[tuple[object, ...]]:
    """Every float as its hex digits: -0.0 is not 0.0, and NaN is itself."""
    return [
        (
            m.method,
            m.score.hex(),
            m.p_value.hex(),
            m.statistic.hex(),
            [
                (c.features, c.reference.hex(), c.window.hex(), c.contribution.hex())
                for c in m.attribution
            ],
        )
        for m in measures
    ]


def _together_and_alone(
    profiles: list[JointProfile], windows: list[Window], methods: tuple[str, ...]
) -> tuple[list[list[JointMeasure]], list[list[JointMeasure]]]:
    together = joint_measures_of_all(
        profiles, [rows for rows, _ in windows], [sums for _, sums in windows], methods
    )
    alone = [
        joint_measures_of_all([profile], [rows], [sums], methods)[0]
        for profile, (rows, sums) in zip(profiles, windows, strict=True)
    ]
    return together, alone


@pytest.mark.parametrize("seed", range(6))
def test_parts_measured_together_get_their_measures_alone_float_for_float(seed: int) -> None:
    """Mixed feature counts, calibrated and normal-theory parts, windows from 4 to 3,000
    rows, no drift to strong drift (p-values past the null's stored tail)."""
    rng = np.random.default_rng(seed)
    profiles, windows = [], []
    for d in (2, 3, 5, 3, 2, 5, 3):
        profile = _profile(rng, d, calibrate=bool(rng.random() < 0.6))
        n = int(rng.choice([4, 5, 40, 300, 3000]))
        shift = float(rng.choice([0.0, 0.3, 2.0]))
        profiles.append(profile)
        windows.append(_window(profile, _rows(rng, n, d, float(rng.uniform(-0.2, 0.9)), shift)))
    for methods in (MULTIVARIATE_METHODS, tuple(reversed(MULTIVARIATE_METHODS))):
        together, alone = _together_and_alone(profiles, windows, methods)
        assert [_bits(m) for m in together] == [_bits(m) for m in alone]
        assert all(len(m) == len(methods) for m in together)


def test_a_part_below_four_rows_gets_no_measures_and_leaves_the_others_theirs() -> None:
    rng = np.random.default_rng(30)
    profiles = [_profile(rng, 3, calibrate=True) for _ in range(3)]
    windows = [
        _window(p, _rows(rng, n, 3, 0.4)) for p, n in zip(profiles, (500, 3, 0), strict=True)
    ]
    together, alone = _together_and_alone(profiles, windows, MULTIVARIATE_METHODS)
    assert [len(m) for m in together] == [2, 0, 0]
    assert _bits(together[0]) == _bits(alone[0])


def test_a_feature_constant_in_the_window_correlates_with_none_among_other_parts() -> None:
    rng = np.random.default_rng(31)
    profiles = [_profile(rng, 2, calibrate=True), _profile(rng, 2, calibrate=True)]
    constant = _rows(rng, 200, 2, 0.5)
    constant[:, 1] = profiles[0].mean[1]  # centred to exactly 0: no variance at all
    windows = [_window(profiles[0], constant), _window(profiles[1], _rows(rng, 200, 2, 0.5))]
    together, alone = _together_and_alone(profiles, windows, ("correlation",))
    assert [_bits(m) for m in together] == [_bits(m) for m in alone]
    (pair,) = together[0][0].attribution
    assert pair.window == 0.0


def test_a_calibrated_part_and_a_normal_theory_part_each_get_their_own_p_values() -> None:
    rng = np.random.default_rng(32)
    calibrated = _profile(rng, 3, calibrate=True)
    analytic = JointProfile(
        calibrated.names,
        calibrated.mean,
        calibrated.std,
        calibrated.correlation,
        calibrated.rows,
        calibrated.bounds,
    )
    window = _window(calibrated, _rows(rng, 300, 3, 0.1, shift=0.2))
    together, alone = _together_and_alone(
        [calibrated, analytic, calibrated], [window] * 3, MULTIVARIATE_METHODS
    )
    assert [_bits(m) for m in together] == [_bits(m) for m in alone]
    assert together[0][0].p_value != together[1][0].p_value
    assert _bits(together[0]) == _bits(together[2])


def test_an_unknown_method_is_refused_once_a_part_has_rows_to_measure() -> None:
    rng = np.random.default_rng(33)
    profile = _profile(rng, 2, calibrate=False)
    rows, sums = _window(profile, _rows(rng, 3, 2, 0.0))
    assert joint_measures_of_all([profile], [rows], [sums], ["energy"]) == [[]]
    rows, sums = _window(profile, _rows(rng, 50, 2, 0.0))
    with pytest.raises(ValueError, match="energy"):
        joint_measures_of_all([profile], [rows], [sums], ["energy"])


def test_the_joint_results_of_a_segmented_window_are_each_parts_own_in_part_order() -> None:
    rng = np.random.default_rng(35)
    settings = DecisionSettings(
        NUMERIC_METHODS,
        CATEGORICAL_METHODS,
        QUALITY_METHODS,
        DEFAULT_THRESHOLDS,
        multivariate_methods=MULTIVARIATE_METHODS,
    )
    specs = [SignalSpec(f"f{i}", "numeric", "feature") for i in range(3)]
    parts = []
    for segment, shift in ((None, 0.0), ("region=eu", 0.5), ("region=us", 0.0)):
        reference = build_reference_profile(
            "fraud",
            specs,
            _columns(_rows(rng, 2000, 3, 0.5)),
            bins=20,
            max_categories=20,
            created_at=0.0,
            source="test",
        )
        layout = WindowLayout(reference)
        parts.append(
            WindowPart(
                layout, layout.accumulate(_columns(_rows(rng, 400, 3, -0.2, shift)), {}), segment
            )
        )
    results = [r for r in evaluate_parts(parts, settings) if r.role == "multivariate"]
    expected = []
    for part in parts:
        where = part.layout.joint
        assert where is not None
        (measures,) = joint_measures_of_all(
            [where.profile],
            [int(part.counts.ints[where.rows])],
            [part.counts.floats[where.sums]],
            MULTIVARIATE_METHODS,
        )
        expected.extend((part.segment, m) for m in measures)
    assert [
        (r.segment, r.method, r.score, r.p_value, r.statistic, r.attribution) for r in results
    ] == [
        (segment, m.method, m.score, m.p_value, m.statistic, m.attribution)
        for segment, m in expected
    ]
