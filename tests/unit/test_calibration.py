"""Calibrated on the reference: no-drift traffic of non-normal data raises drift as rarely as
the significance says, a joint drift names what changed, and ``unseen_rate`` has a null.

Everything goes through the evaluation the daemon runs (``build_reference_profile``,
``WindowLayout.accumulate``, ``evaluate_window``) on seeded data shaped like production
tables: heavy tails, a feature constant in 95% of rows, zero-inflated counts, integers with
many ties, a categorical of 200 levels half of them rare, a feature missing in 1% of rows,
and scikit-learn's breast-cancer data.
"""

from __future__ import annotations

import functools
from collections import Counter
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import stats
from sklearn.datasets import load_breast_cancer

from detectors.evaluate import DecisionSettings, SignalResult, evaluate_window
from detectors.methods import (
    CATEGORICAL_METHODS,
    DEFAULT_THRESHOLDS,
    MULTIVARIATE_METHODS,
    NUMERIC_METHODS,
    QUALITY_METHODS,
)
from detectors.profile import (
    CategoricalProfile,
    ReferenceProfile,
    SignalSpec,
    build_reference_profile,
)
from detectors.stats import unseen_test
from detectors.window import WindowLayout

Columns = dict[str, NDArray[Any]]
ALPHA = 0.01
SETTINGS = DecisionSettings(
    NUMERIC_METHODS,
    CATEGORICAL_METHODS,
    QUALITY_METHODS,
    DEFAULT_THRESHOLDS,
    alpha=ALPHA,
    multivariate_methods=MULTIVARIATE_METHODS,
)
LEVELS = np.array([f"level_{i:03d}" for i in range(200)], dtype=object)
LEVEL_P = np.r_[np.full(100, 1.0), np.full(100, 0.01)] / 101.0
NUMERIC = (
    "t2", "t2_pair", "lognormal", "mostly_constant", "zero_inflated", "ties", "sometimes_missing"
)  # fmt: skip
SPECS = [SignalSpec(name, "numeric", "feature") for name in NUMERIC] + [
    SignalSpec("category", "categorical", "feature")
]
WINDOWS = {50: 1600, 500: 300, 5000: 50}
"""Window size: how many no-drift windows of it are judged."""


def _non_normal(rng: np.random.Generator, n: int) -> Columns:
    t2 = rng.standard_t(2, n)
    return {
        "t2": t2,
        "t2_pair": 0.6 * t2 + rng.standard_t(2, n),
        "lognormal": rng.lognormal(0.0, 1.5, n),
        "mostly_constant": np.where(rng.random(n) < 0.95, 0.0, rng.lognormal(3.0, 1.0, n)),
        "zero_inflated": np.where(rng.random(n) < 0.6, 0, rng.poisson(4.0, n)).astype(float),
        "ties": rng.binomial(4, 0.3, n).astype(float),
        "category": rng.choice(LEVELS, n, p=LEVEL_P),
        "sometimes_missing": np.where(rng.random(n) < 0.01, np.nan, rng.normal(size=n)),
    }


def _counts(layout: WindowLayout, columns: Columns) -> Any:
    columns = dict(columns)
    for name, where in layout.signals.items():
        if isinstance(where.profile, CategoricalProfile):
            columns[name] = where.profile.encode(list(columns[name]))
    return layout.accumulate(columns, {})


@pytest.fixture(scope="module")
def no_drift_results() -> dict[int, list[tuple[SignalResult, ...]]]:
    """Every result of every no-drift window, by window size."""
    rng = np.random.default_rng(20261206)
    profile = build_reference_profile(
        "tabular", SPECS, _non_normal(rng, 20_000), bins=50, max_categories=100,
        created_at=0.0, source="test",
    )  # fmt: skip
    layout = WindowLayout(profile)
    return {
        size: [
            evaluate_window(layout, _counts(layout, _non_normal(rng, size)), SETTINGS)
            for _ in range(windows)
        ]
        for size, windows in WINDOWS.items()
    }


def _bound(windows: int, alpha: float) -> int:
    """The most rejections ``windows`` valid tests at ``alpha`` give, but once in 10,000."""
    return int(stats.binom.isf(1e-4, windows, alpha))


def test_no_drift_windows_of_non_normal_data_flag_each_method_within_alpha(
    no_drift_results: dict[int, list[tuple[SignalResult, ...]]],
) -> None:
    over = {}
    for size, windows in no_drift_results.items():
        flagged = Counter(
            m for results in windows for m in {r.method for r in results if r.drifted}
        )
        over.update({(size, m): n for m, n in flagged.items() if n > _bound(len(windows), ALPHA)})
    assert over == {}


def test_every_p_value_on_no_drift_windows_of_non_normal_data_is_valid(
    no_drift_results: dict[int, list[tuple[SignalResult, ...]]],
) -> None:
    """Before any correction, each test rejects at most its share of windows at 1% and 5%:
    the joint tests (bootstrap nulls), KS on ties, chi-square on rare levels, unseen_rate,
    missing_rate on a rare missing share."""
    over = {}
    for size, windows in no_drift_results.items():
        for alpha in (0.01, 0.05):
            rejected = Counter(
                (r.signal, r.method)
                for results in windows
                for r in results
                if r.p_value is not None and r.p_value < alpha
            )
            limit = _bound(len(windows), alpha)
            over.update({(size, alpha, *k): n for k, n in rejected.items() if n > limit})
    assert over == {}


def test_joint_scores_of_no_drift_windows_read_about_zero_at_any_size(
    no_drift_results: dict[int, list[tuple[SignalResult, ...]]],
) -> None:
    """Effect sizes beyond no-drift noise (its 95th percentile): 0 in about 95% of windows."""
    for windows in no_drift_results.values():
        for method in MULTIVARIATE_METHODS:
            scores = np.array(
                [r.score for results in windows for r in results if r.method == method]
            )
            assert np.mean(scores == 0.0) > 0.85
            assert np.mean(scores >= DEFAULT_THRESHOLDS[method].warn) < 0.08


def _twenty(rng: np.random.Generator, n: int, rho: float) -> Columns:
    """20 features sharing one factor; f03 and f07 correlate at ``rho``, each N(0, 1)."""
    factor = rng.normal(size=n)
    columns = {f"f{i:02d}": 0.5 * factor + np.sqrt(0.75) * rng.normal(size=n) for i in range(20)}
    columns["f03"] = rng.normal(size=n)
    columns["f07"] = rho * columns["f03"] + np.sqrt(1 - rho**2) * rng.normal(size=n)
    return columns


def _twenty_layout(rng: np.random.Generator, rho: float) -> WindowLayout:
    """The layout of a 20,000-row reference of :func:`_twenty`."""
    specs = [SignalSpec(f"f{i:02d}", "numeric", "feature") for i in range(20)]
    profile = build_reference_profile(
        "wide", specs, _twenty(rng, 20_000, rho), bins=50, max_categories=10,
        created_at=0.0, source="test",
    )  # fmt: skip
    return WindowLayout(profile)


def test_a_correlation_flip_between_two_of_20_features_is_found_and_named() -> None:
    rng = np.random.default_rng(7)
    layout = _twenty_layout(rng, 0.6)
    results = evaluate_window(layout, layout.accumulate(_twenty(rng, 1000, -0.6), {}), SETTINGS)
    assert {(r.signal, r.method) for r in results if r.drifted} == {("features", "correlation")}
    joint = next(r for r in results if r.method == "correlation")
    top = joint.attribution[0]
    assert top.features == ("f03", "f07")
    assert top.reference == pytest.approx(0.6, abs=0.03)
    assert top.window == pytest.approx(-0.6, abs=0.06)
    assert joint.score == pytest.approx(1.2, abs=0.15)
    assert joint.to_dict()["attribution"][0]["features"] == ["f03", "f07"]
    assert joint.describe_attribution().startswith("f03~f07 +0.59->-0.60, ")


def test_a_mean_shift_of_many_features_is_attributed_to_the_shifted_ones() -> None:
    rng = np.random.default_rng(8)
    layout = _twenty_layout(rng, 0.0)
    window = _twenty(rng, 5000, 0.0)
    for name in ("f01", "f02", "f05"):
        window[name] = window[name] + 0.09
    results = evaluate_window(layout, layout.accumulate(window, {}), SETTINGS)
    joint = next(r for r in results if r.method == "mahalanobis")
    assert joint.drifted
    assert {c.features[0] for c in joint.attribution} == {"f01", "f02", "f05"}


@functools.cache
def _cancer() -> tuple[ReferenceProfile, Columns, Columns]:
    """scikit-learn's breast-cancer data (569 rows, 30 features): the profile of a reference
    of 400 rows, those rows, and the other 169 rows as the live traffic."""
    data = load_breast_cancer()
    order = np.random.default_rng(3).permutation(len(data.data))
    names = [name.replace(" ", "_") for name in data.feature_names]
    specs = [SignalSpec(name, "numeric", "feature") for name in names]
    rows = data.data[order]
    reference = {name: np.ascontiguousarray(rows[:400, i]) for i, name in enumerate(names)}
    live = {name: np.ascontiguousarray(rows[400:, i]) for i, name in enumerate(names)}
    profile = build_reference_profile(
        "cancer", specs, reference, bins=10, max_categories=10, created_at=0.0, source="test"
    )
    return profile, reference, live


def test_50_event_windows_like_the_reference_raise_no_data_quality_flag() -> None:
    profile, _, live = _cancer()
    layout = WindowLayout(profile)
    rng = np.random.default_rng(4)
    flagged, outside = [], 0
    for _ in range(30):
        picks = rng.integers(0, 169, 50)
        counts = layout.accumulate({name: column[picks] for name, column in live.items()}, {})
        results = evaluate_window(layout, counts, SETTINGS)
        flagged += [r for r in results if r.drifted and r.method in QUALITY_METHODS]
        outside += sum(r.score > 0 for r in results if r.method == "unseen_rate")
    assert flagged == []
    assert outside > 30  # values outside the reference range do arrive: they are not enough


def test_a_real_share_of_out_of_range_values_is_flagged_by_unseen_rate() -> None:
    profile, reference, live = _cancer()
    layout = WindowLayout(profile)
    window = {name: column[:50].copy() for name, column in live.items()}
    window["mean_radius"][:5] = reference["mean_radius"].max() * 1.5  # 10% out of range
    results = evaluate_window(layout, layout.accumulate(window, {}), SETTINGS)
    drifted = {(r.signal, r.method) for r in results if r.drifted and r.method == "unseen_rate"}
    assert drifted == {("mean_radius", "unseen_rate")}


@pytest.mark.parametrize(
    ("hits", "total", "chance"), [(1, 50, 0.005), (3, 50, 0.005), (40, 5000, 0.004), (0, 50, 0.1)]
)
def test_unseen_test_is_scipys_one_sided_binomial_test(
    hits: int, total: int, chance: float
) -> None:
    result = unseen_test(hits, total, chance)
    expected = stats.binomtest(hits, total, chance, alternative="greater").pvalue
    assert result.p_value == pytest.approx(expected, rel=1e-9)
    assert result.difference == pytest.approx(max(0.0, hits / total - chance))


def test_the_chance_of_an_unseen_category_is_good_turings_from_the_reference() -> None:
    profile = build_reference_profile(
        "m", [SignalSpec("c", "categorical", "feature")],
        {"c": np.array(["a"] * 50 + ["b"] * 10 + ["c", "d", "e", "f", "f"], dtype=object)},
        bins=10, max_categories=2, created_at=0.0, source="test",
    )  # fmt: skip
    signal = profile.signal("c")
    assert isinstance(signal, CategoricalProfile)
    assert (signal.singletons, signal.doubletons) == (3, 1)
    assert signal.unseen_chance == pytest.approx((3 + 1 + 2.33 * np.sqrt(3 + 2)) / (65 + 1))
