"""Champion against challenger: a window judged against another window's counts.

The two windows are counted on one reference's bins, as the daemon counts them; the
values sit at bin midpoints and the categories are common, so the binned tests are the
exact two-sample tests, and scipy's must agree with them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import stats as sps

from detectors.evaluate import DecisionSettings, SignalResult
from detectors.methods import DEFAULT_THRESHOLDS, NUMERIC_METHODS, QUALITY_METHODS
from detectors.profile import (
    CategoricalProfile,
    NumericProfile,
    SignalSpec,
    build_reference_profile,
)
from detectors.versus import (
    compare_versions,
    comparison_name,
    is_comparison,
    window_as_reference,
)
from detectors.window import WindowCounts, WindowLayout

SETTINGS = DecisionSettings(
    numeric_methods=NUMERIC_METHODS,
    categorical_methods=("chi2", "psi", "jensen_shannon", "dominant_value"),
    quality_methods=QUALITY_METHODS,
    thresholds=DEFAULT_THRESHOLDS,
    alpha=0.01,
    min_events=100,
)
COUNTRIES = np.asarray(["DE", "FR", "US", "GB"], dtype=object)


def _layout() -> WindowLayout:
    rng = np.random.default_rng(7)
    columns: dict[str, NDArray[Any]] = {
        "amount": rng.uniform(0.0, 100.0, 20_000),
        "country": rng.choice(COUNTRIES, 20_000, p=[0.4, 0.3, 0.2, 0.1]),
    }
    specs = [
        SignalSpec("amount", "numeric", "feature"),
        SignalSpec("country", "categorical", "feature"),
    ]
    profile = build_reference_profile(
        "m", specs, columns, bins=20, max_categories=10, created_at=0.0, source="test"
    )
    return WindowLayout(profile)


def _midpoints(
    layout: WindowLayout, rng: np.random.Generator, n: int, p: NDArray[Any]
) -> NDArray[Any]:
    """``n`` values inside the reference's bins (one value per bin), drawn with weights ``p``;
    ``edges`` are the inner edges, so the first and last bins are open."""
    amount = layout.profile.signal("amount")
    assert isinstance(amount, NumericProfile)
    edges = amount.edges
    middles = np.concatenate(([edges[0] - 1.0], (edges[:-1] + edges[1:]) / 2, [edges[-1] + 1.0]))
    return rng.choice(middles, n, p=p / p.sum())


def _counts(layout: WindowLayout, amount: NDArray[Any], country: NDArray[Any]) -> WindowCounts:
    country_profile = layout.profile.signal("country")
    assert isinstance(country_profile, CategoricalProfile)
    encoded = {"amount": amount, "country": country_profile.encode(list(country))}
    return layout.accumulate(encoded, {}, slice(None), {"country": list(country)})


def _result(results: tuple[SignalResult, ...], signal: str, method: str) -> SignalResult:
    return next(r for r in results if r.signal == signal and r.method == method)


@pytest.fixture(scope="module")
def layout() -> WindowLayout:
    return _layout()


def test_ks_and_chi_square_agree_with_scipy_on_the_same_two_windows(layout: WindowLayout) -> None:
    rng = np.random.default_rng(11)
    bins = layout.profile.signal("amount").counts.size
    flat, tilted = np.ones(bins), np.linspace(1.0, 2.0, bins)
    champion_amount = _midpoints(layout, rng, 900, flat)
    challenger_amount = _midpoints(layout, rng, 700, tilted)
    champion_country = rng.choice(COUNTRIES, 900, p=[0.4, 0.3, 0.2, 0.1])
    challenger_country = rng.choice(COUNTRIES, 700, p=[0.3, 0.3, 0.25, 0.15])
    champion = _counts(layout, champion_amount, champion_country)
    challenger = _counts(layout, challenger_amount, challenger_country)

    results = compare_versions(layout, champion, challenger, "4 vs 3", SETTINGS)

    ks = sps.ks_2samp(challenger_amount, champion_amount, method="asymp")
    assert _result(results, "amount", "ks").score == pytest.approx(ks.statistic, abs=1e-12)
    assert _result(results, "amount", "ks").p_value == pytest.approx(ks.pvalue, rel=1e-9)
    table = np.array(
        [[np.sum(side == c) for c in COUNTRIES] for side in (champion_country, challenger_country)]
    )
    chi2 = sps.chi2_contingency(table, correction=False)
    assert _result(results, "country", "chi2").statistic == pytest.approx(chi2.statistic, rel=1e-9)
    assert _result(results, "country", "chi2").p_value == pytest.approx(chi2.pvalue, rel=1e-9)
    assert {r.segment for r in results} == {"4 vs 3"}


def test_the_same_traffic_is_no_difference_and_a_shift_is_flagged(layout: WindowLayout) -> None:
    rng = np.random.default_rng(3)
    amount = rng.uniform(0.0, 100.0, 2_000)
    country = rng.choice(COUNTRIES, 2_000, p=[0.4, 0.3, 0.2, 0.1])
    champion = _counts(layout, amount, country)
    same = compare_versions(layout, champion, _counts(layout, amount, country), "4 vs 3", SETTINGS)
    shifted = compare_versions(
        layout, champion, _counts(layout, amount * 0.5, country), "4 vs 3", SETTINGS
    )
    assert not any(r.drifted for r in same)
    assert {r.signal for r in shifted if r.drifted} == {"amount"}


def test_methods_that_need_a_reference_are_left_out(layout: WindowLayout) -> None:
    rng = np.random.default_rng(5)
    counts = _counts(layout, rng.uniform(0, 100, 500), rng.choice(COUNTRIES, 500))
    methods = {r.method for r in compare_versions(layout, counts, counts, "4 vs 3", SETTINGS)}
    assert "unseen_rate" not in methods
    assert "dominant_value" not in methods
    assert {"ks", "chi2", "missing_rate"} <= methods


def test_a_champion_window_below_min_events_judges_nothing(layout: WindowLayout) -> None:
    rng = np.random.default_rng(9)
    small = _counts(layout, rng.uniform(0, 50, 50), rng.choice(COUNTRIES, 50))
    large = _counts(layout, rng.uniform(50, 100, 5_000), rng.choice(COUNTRIES, 5_000))
    results = compare_versions(layout, small, large, "4 vs 3", SETTINGS)
    assert results
    assert all(r.severity == "insufficient" for r in results)


def test_the_window_as_reference_keeps_the_reference_layout(layout: WindowLayout) -> None:
    counts = _counts(layout, np.array([10.0, 20.0]), np.array(["DE", None], dtype=object))
    window = window_as_reference(layout, counts)
    assert window.int_size == layout.int_size
    assert {n: w.missing for n, w in window.signals.items()} == {
        n: w.missing for n, w in layout.signals.items()
    }
    assert window.profile.signal("country").missing == 1


def test_a_comparison_is_never_taken_for_a_segment() -> None:
    assert is_comparison(comparison_name("4", "3"))
    assert not is_comparison("region=eu")
    assert not is_comparison(None)
