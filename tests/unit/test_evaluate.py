"""Judging windows against the reference: which signal drifts, how badly, and how often by chance.

Windows are built the way the daemon builds them (reference profile, then
``WindowLayout.accumulate`` on numpy columns) from seeded synthetic data: a 50k-event
reference and 5k-event windows, drawn from the reference distribution or from a copy with
one thing changed, so each test knows exactly which signal and method must be flagged.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from detectors import evaluate
from detectors.evaluate import (
    DecisionSettings,
    SignalResult,
    WindowPart,
    _significant,
    evaluate_parts,
    evaluate_window,
)
from detectors.methods import (
    CATEGORICAL_METHODS,
    DEFAULT_THRESHOLDS,
    MULTIVARIATE_METHODS,
    NUMERIC_METHODS,
    QUALITY_METHODS,
    Thresholds,
)
from detectors.profile import (
    CategoricalProfile,
    SignalSpec,
    build_reference_profile,
)
from detectors.stats import (
    chi_square_of_table,
    jensen_shannon_distance,
    ks_from_bins,
    pooled_table,
    population_stability_index,
    wasserstein_from_bins,
)
from detectors.window import NumericSlots, WindowCounts, WindowLayout

SEED = 20261127
N_REF = 50_000
N_WIN = 5_000
CATEGORIES = np.asarray(["DE", "FR", "US", "GB", "NL"], dtype=object)
CATEGORY_P = np.array([0.4, 0.25, 0.15, 0.12, 0.08])

Columns = dict[str, NDArray[Any]]
DEFAULTS = DecisionSettings(
    numeric_methods=NUMERIC_METHODS,
    categorical_methods=CATEGORICAL_METHODS,
    quality_methods=QUALITY_METHODS,
    thresholds=DEFAULT_THRESHOLDS,
    alpha=0.01,
    correction="bonferroni",
)
SPECS = [
    SignalSpec("amount", "numeric", "feature"),
    SignalSpec("age", "numeric", "feature"),
    SignalSpec("country", "categorical", "feature"),
    SignalSpec("prediction", "numeric", "prediction"),
]


def _draw(rng: np.random.Generator, n: int) -> Columns:
    """Events of the reference distribution; categorical columns hold category keys."""
    amount = rng.normal(50.0, 10.0, n)
    return {
        "amount": amount,
        "age": rng.normal(40.0, 12.0, n),
        "country": rng.choice(CATEGORIES, n, p=CATEGORY_P),
        "prediction": 1.0 / (1.0 + np.exp(-(amount - 50.0) / 10.0)),
    }


def _build_layout() -> WindowLayout:
    profile = build_reference_profile(
        "fraud",
        SPECS,
        _draw(np.random.default_rng([SEED, 0]), N_REF),
        bins=50,
        max_categories=100,
        created_at=0.0,
        source="test",
    )
    return WindowLayout(profile)


LAYOUT = _build_layout()


def _window(change: Callable[[Columns], None] | None = None, *, n: int = N_WIN) -> WindowCounts:
    columns = _draw(np.random.default_rng([SEED, 1]), n)
    if change is not None:
        change(columns)
    country = LAYOUT.profile.signal("country")
    assert isinstance(country, CategoricalProfile)
    encoded = dict(columns)
    encoded["country"] = country.encode(list(columns["country"]))
    return LAYOUT.accumulate(encoded, {})


def _drifted(results: tuple[SignalResult, ...]) -> set[tuple[str, str]]:
    return {(r.signal, r.method) for r in results if r.drifted}


def _result(results: tuple[SignalResult, ...], signal: str, method: str) -> SignalResult:
    (found,) = [r for r in results if r.signal == signal and r.method == method]
    return found


def _with(**changes: Any) -> DecisionSettings:
    fields: dict[str, Any] = {
        "numeric_methods": DEFAULTS.numeric_methods,
        "categorical_methods": DEFAULTS.categorical_methods,
        "quality_methods": DEFAULTS.quality_methods,
        "thresholds": DEFAULTS.thresholds,
        "alpha": DEFAULTS.alpha,
        "correction": DEFAULTS.correction,
        "min_events": DEFAULTS.min_events,
    }
    return DecisionSettings(**(fields | changes))


# --------------------------------------------------------------------------- which signal drifts


def test_window_from_the_reference_distribution_is_not_drifted() -> None:
    results = evaluate_window(LAYOUT, _window(), DEFAULTS)
    assert _drifted(results) == set()
    assert {r.severity for r in results} == {"ok"}


def test_every_signal_gets_every_applicable_method() -> None:
    results = evaluate_window(LAYOUT, _window(), DEFAULTS)
    expected = {
        (signal, method)
        for signal in ("amount", "age", "prediction")
        for method in NUMERIC_METHODS + QUALITY_METHODS
    } | {
        ("country", method)
        for method in CATEGORICAL_METHODS + QUALITY_METHODS
        if method != "dominant_value"  # only for a reference with more than max_categories
    }
    assert {(r.signal, r.method) for r in results} == expected


def test_mean_shift_of_one_sd_flags_that_feature_on_every_distribution_method() -> None:
    def shift(columns: Columns) -> None:
        columns["age"] += 12.0  # one reference standard deviation

    results = evaluate_window(LAYOUT, _window(shift), DEFAULTS)
    assert _drifted(results) == {
        ("age", "psi"),
        ("age", "ks"),
        ("age", "wasserstein"),
        ("age", "jensen_shannon"),
    }


def test_wasserstein_score_is_the_shift_in_reference_standard_deviations() -> None:
    def shift(columns: Columns) -> None:
        columns["age"] += 6.0

    result = _result(evaluate_window(LAYOUT, _window(shift), DEFAULTS), "age", "wasserstein")
    # Half a standard deviation; sampling noise of two finite samples and the binning error
    # (see test_stats.py) stay well inside 0.03.
    assert result.score == pytest.approx(0.5, abs=0.03)
    assert result.statistic == pytest.approx(6.0, abs=0.36)


def test_categorical_shift_flags_chi_square_on_that_feature() -> None:
    def skew(columns: Columns) -> None:
        rows = np.random.default_rng(7).random(N_WIN) < 0.4
        columns["country"][rows] = "NL"

    results = evaluate_window(LAYOUT, _window(skew), DEFAULTS)
    assert ("country", "chi2") in _drifted(results)
    assert {signal for signal, _ in _drifted(results)} == {"country"}


def test_missing_rate_rise_is_flagged_by_missing_rate() -> None:
    def blank(columns: Columns) -> None:
        columns["amount"][::5] = np.nan  # 20 % missing; the reference has none

    results = evaluate_window(LAYOUT, _window(blank), DEFAULTS)
    assert _drifted(results) == {("amount", "missing_rate")}
    assert _result(results, "amount", "missing_rate").score == pytest.approx(0.2)


def test_unseen_categories_are_flagged_by_unseen_rate() -> None:
    def unseen(columns: Columns) -> None:
        columns["country"][::10] = "XX"  # 10 % never seen in the reference

    results = evaluate_window(LAYOUT, _window(unseen), DEFAULTS)
    assert ("country", "unseen_rate") in _drifted(results)
    # The share less the chance of a new category in data like the reference's 50k values.
    assert _result(results, "country", "unseen_rate").score == pytest.approx(0.1, abs=1e-4)
    assert {signal for signal, _ in _drifted(results)} == {"country"}


def test_values_beyond_the_reference_range_are_flagged_by_unseen_rate() -> None:
    def out_of_range(columns: Columns) -> None:
        columns["age"][::10] = 1_000.0

    results = evaluate_window(LAYOUT, _window(out_of_range), DEFAULTS)
    assert ("age", "unseen_rate") in _drifted(results)
    assert _result(results, "age", "unseen_rate").score == pytest.approx(0.1 - 2 / 50_001)


def test_values_whose_sum_overflows_a_bin_are_judged_not_refused() -> None:
    # Two finite JSON numbers (1.7976931348623157e308) in one bin sum to inf; the daemon
    # then failed on the window at every restart.
    def largest_floats(columns: Columns) -> None:
        columns["age"][:2] = np.finfo(np.float64).max

    results = evaluate_window(LAYOUT, _window(largest_floats), DEFAULTS)
    wasserstein = _result(results, "age", "wasserstein")
    assert np.isfinite([r.score for r in results]).all()
    assert wasserstein.score > 1e300


FINITE = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [np.finfo(np.float64).max, -np.finfo(np.float64).max, np.nan]
)


@settings(max_examples=100, deadline=None)
@given(amounts=st.lists(FINITE, min_size=1, max_size=20), ages=st.lists(FINITE, max_size=20))
def test_any_finite_values_are_judged_with_finite_scores(
    amounts: list[float], ages: list[float]
) -> None:
    def extreme(columns: Columns) -> None:
        columns["amount"][: len(amounts)] = amounts
        columns["age"][: len(ages)] = ages

    results = evaluate_window(LAYOUT, _window(extreme), DEFAULTS)
    assert np.isfinite([r.score for r in results]).all()


# --------------------------------------------------------------------------- how badly


def test_window_below_min_events_is_insufficient_and_never_drifted() -> None:
    def shift(columns: Columns) -> None:
        columns["age"] += 36.0  # a shift no judged window could miss

    results = evaluate_window(LAYOUT, _window(shift, n=99), _with(min_events=100))
    assert {r.severity for r in results} == {"insufficient"}
    assert _drifted(results) == set()


def test_window_at_min_events_is_judged() -> None:
    def shift(columns: Columns) -> None:
        columns["age"] += 36.0

    results = evaluate_window(LAYOUT, _window(shift, n=100), _with(min_events=100))
    assert ("age", "psi") in _drifted(results)


def test_severity_is_warning_between_warn_and_critical() -> None:
    counts = _window(lambda c: c.__setitem__("age", c["age"] + 6.0))
    score = _result(evaluate_window(LAYOUT, counts, DEFAULTS), "age", "psi").score
    thresholds = dict(DEFAULT_THRESHOLDS) | {"psi": Thresholds(score / 2, score * 2)}
    result = _result(evaluate_window(LAYOUT, counts, _with(thresholds=thresholds)), "age", "psi")
    assert (result.drifted, result.severity) == (True, "warning")


def test_severity_is_critical_from_the_critical_threshold_on() -> None:
    counts = _window(lambda c: c.__setitem__("age", c["age"] + 6.0))
    score = _result(evaluate_window(LAYOUT, counts, DEFAULTS), "age", "psi").score
    thresholds = dict(DEFAULT_THRESHOLDS) | {"psi": Thresholds(score / 2, score)}
    result = _result(evaluate_window(LAYOUT, counts, _with(thresholds=thresholds)), "age", "psi")
    assert (result.drifted, result.severity) == (True, "critical")


def test_score_below_warn_is_ok() -> None:
    counts = _window(lambda c: c.__setitem__("age", c["age"] + 6.0))
    score = _result(evaluate_window(LAYOUT, counts, DEFAULTS), "age", "psi").score
    thresholds = dict(DEFAULT_THRESHOLDS) | {"psi": Thresholds(score * 1.01, score * 2)}
    result = _result(evaluate_window(LAYOUT, counts, _with(thresholds=thresholds)), "age", "psi")
    assert (result.drifted, result.severity) == (False, "ok")


def test_large_effect_without_significance_is_not_drifted() -> None:
    # 20 events shifted by half a standard deviation: KS D passes its threshold, but with so
    # few events the p-value is nowhere near significant (about 0.7 here).
    def shift(columns: Columns) -> None:
        columns["age"] += 6.0

    results = evaluate_window(LAYOUT, _window(shift, n=20), DEFAULTS)
    ks = _result(results, "age", "ks")
    assert ks.score >= DEFAULT_THRESHOLDS["ks"].warn
    assert not ks.drifted


def test_significant_but_trivial_shift_is_not_drifted() -> None:
    # 0.08 sd over 5k events against 50k: KS finds it (p about 1e-5, far below alpha over
    # the 8 p-valued tests of this window), yet every effect size stays below its threshold.
    results = evaluate_window(
        LAYOUT, _window(lambda c: c.__setitem__("age", c["age"] + 0.96)), DEFAULTS
    )
    ks = _result(results, "age", "ks")
    assert ks.p_value is not None
    assert ks.p_value < DEFAULTS.alpha / 8
    assert _drifted(results) == set()


# --------------------------------------------------------------------------- multiple testing

P_VALUES = [0.3, 0.02, 0.001, 0.013]


def test_bonferroni_compares_each_p_value_with_alpha_over_m() -> None:
    # alpha / m = 0.0125
    assert _significant(P_VALUES, 0.05, "bonferroni") == [False, False, True, False]


def test_holm_steps_up_the_level_as_p_values_are_rejected() -> None:
    # Sorted: 0.001 < 0.05/4, 0.013 < 0.05/3, 0.02 < 0.05/2, 0.3 >= 0.05/1.
    assert _significant(P_VALUES, 0.05, "holm") == [False, True, True, True]


def test_holm_stops_at_the_first_p_value_it_keeps() -> None:
    # 0.04 >= 0.05/2 stops the procedure, so 0.045 < 0.05/1 is not rejected either.
    assert _significant([0.045, 0.001, 0.04], 0.05, "holm") == [False, True, False]


def test_no_correction_compares_each_p_value_with_alpha() -> None:
    assert _significant(P_VALUES, 0.05, "none") == [False, True, True, True]


def test_no_p_values_reject_nothing() -> None:
    assert _significant([], 0.05, "holm") == []


def _holm(p_values: list[float], alpha: float) -> list[bool]:
    """Holm's step-down procedure, written out directly."""
    m = len(p_values)
    rejected = [False] * m
    for rank, index in enumerate(sorted(range(m), key=lambda i: (p_values[i], i))):
        if p_values[index] >= alpha / (m - rank):
            break
        rejected[index] = True
    return rejected


PROBABILITIES = st.lists(
    st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.0, 1e-6, 0.001, 0.01, 0.5, 1.0])),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(p_values=PROBABILITIES, alpha=st.floats(0.001, 0.2))
def test_holm_matches_a_direct_implementation(p_values: list[float], alpha: float) -> None:
    assert _significant(p_values, alpha, "holm") == _holm(p_values, alpha)


@settings(max_examples=200, deadline=None)
@given(p_values=PROBABILITIES, alpha=st.floats(0.001, 0.2))
def test_bonferroni_matches_a_direct_implementation(p_values: list[float], alpha: float) -> None:
    m = len(p_values)
    assert _significant(p_values, alpha, "bonferroni") == [p < alpha / m for p in p_values]


@settings(max_examples=200, deadline=None)
@given(p_values=PROBABILITIES, alpha=st.floats(0.001, 0.2))
def test_holm_rejects_everything_bonferroni_rejects(p_values: list[float], alpha: float) -> None:
    holm = _significant(p_values, alpha, "holm")
    bonferroni = _significant(p_values, alpha, "bonferroni")
    assert all(h for h, b in zip(holm, bonferroni, strict=True) if b)


# --------------------------------------------------------------------------- stacked = per signal

MIXED_SPECS = [
    SignalSpec("amount", "numeric", "feature"),
    SignalSpec("visits", "numeric", "feature"),  # integer-valued: ties leave fewer bins
    SignalSpec("flag", "numeric", "feature"),  # constant: two bins
    SignalSpec("blank", "numeric", "feature"),  # never present in the reference: one bin
    SignalSpec("country", "categorical", "feature"),
    SignalSpec("score", "numeric", "prediction"),
    SignalSpec("age", "numeric", "feature"),
]


def _mixed(rng: np.random.Generator, n: int, *, reference: bool = False) -> Columns:
    amount = rng.normal(50.0, 10.0, n)
    age = rng.normal(40.0, 12.0, n)
    if reference:
        age[: n // 10] = np.nan  # signals of one group differ in their reference totals
    return {
        "amount": amount,
        "visits": rng.poisson(3.0, n).astype(np.float64),
        "flag": np.full(n, 1.0),
        "blank": np.full(n, np.nan) if reference else rng.normal(0.0, 1.0, n),
        "country": rng.choice(CATEGORIES, n, p=CATEGORY_P),
        # Rounded: ties at its edges put its coarse bins elsewhere than amount's and age's.
        "score": np.round(1.0 / (1.0 + np.exp(-(amount - 50.0) / 10.0)), 3),
        "age": age,
    }


MIXED_LAYOUT = WindowLayout(
    build_reference_profile(
        "mixed",
        MIXED_SPECS,
        _mixed(np.random.default_rng([SEED, 7]), N_REF, reference=True),
        bins=50,
        max_categories=100,
        created_at=0.0,
        source="test",
    )
)


def _mixed_window(n: int, change: Callable[[Columns], None]) -> WindowCounts:
    columns = _mixed(np.random.default_rng([SEED, 8, n]), n)
    change(columns)
    country = MIXED_LAYOUT.profile.signal("country")
    assert isinstance(country, CategoricalProfile)
    columns["country"] = country.encode(list(columns["country"]))
    return MIXED_LAYOUT.accumulate(columns, {})


def _unchanged(columns: Columns) -> None:
    pass


def _shift_and_drop_amount(columns: Columns) -> None:
    columns["age"] += 6.0
    columns["visits"] += 1.0
    columns["amount"][:] = np.nan  # one row of a stacked group has no values


def _bin_means(sums: NDArray[np.float64], counts: NDArray[np.int64]) -> NDArray[np.float64]:
    return np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)


def _per_signal(
    layout: WindowLayout, counts: WindowCounts
) -> dict[tuple[str, str], tuple[float, float | None, float | None]]:
    """(score, p-value, statistic) of every distribution method, one public call per result."""
    expected: dict[tuple[str, str], tuple[float, float | None, float | None]] = {}
    for name, where in layout.signals.items():
        profile = where.profile
        if isinstance(where, NumericSlots):
            window = counts.ints[where.bins]
            if window.sum() == 0 or profile.present == 0:
                continue
            ks = ks_from_bins(profile.counts, window)
            coarse_ref = np.add.reduceat(profile.counts, profile.coarse_starts)
            coarse_win = np.add.reduceat(window, profile.coarse_starts)
            distance = wasserstein_from_bins(
                _bin_means(profile.sums, profile.counts),
                profile.counts,
                _bin_means(counts.floats[where.sums], window),
                window,
            )
            scale = profile.std if profile.std > 0 else 1.0
            expected[name, "ks"] = (ks.statistic, ks.p_value, ks.statistic)
            expected[name, "psi"] = (population_stability_index(coarse_ref, coarse_win), None, None)
            expected[name, "jensen_shannon"] = (
                jensen_shannon_distance(coarse_ref, coarse_win),
                None,
                None,
            )
            expected[name, "wasserstein"] = (distance / scale, None, distance)
        else:
            window = counts.ints[where.slots]
            if window.sum() == 0 or profile.present == 0:
                continue
            seen = np.arange(profile.slots) != profile.unseen_slot
            chi = chi_square_of_table(pooled_table(profile.counts[seen], window[seen]))
            expected[name, "chi2"] = (chi.cramers_v, chi.p_value, chi.statistic)
            expected[name, "psi"] = (population_stability_index(profile.counts, window), None, None)
            expected[name, "jensen_shannon"] = (
                jensen_shannon_distance(profile.counts, window),
                None,
                None,
            )
    return expected


@pytest.mark.parametrize("change", [_unchanged, _shift_and_drop_amount])
@pytest.mark.parametrize("n", [3, 100, 5_000])
def test_stacked_signals_get_the_bits_of_the_per_signal_statistics(
    n: int, change: Callable[[Columns], None]
) -> None:
    """Numeric signals are compared stacked, grouped by bin counts; the public stats
    functions compare one signal at a time. Every score, p-value and statistic agrees
    exactly, whatever the group, and whichever signals have no values in the window."""
    counts = _mixed_window(n, change)
    results = evaluate_window(MIXED_LAYOUT, counts, DEFAULTS)
    actual = {
        (r.signal, r.method): (r.score, r.p_value, r.statistic)
        for r in results
        if r.method not in QUALITY_METHODS
    }
    assert actual == _per_signal(MIXED_LAYOUT, counts)


def test_the_reference_side_is_built_once_per_layout_and_dropped_with_it() -> None:
    layout = WindowLayout(LAYOUT.profile)
    first = evaluate_window(layout, _window(), DEFAULTS)
    reference = evaluate._REFERENCES[layout]
    assert evaluate_window(layout, _window(), DEFAULTS) == first
    assert evaluate._REFERENCES[layout] is reference
    del layout
    gc.collect()
    assert all(kept is not reference for kept in evaluate._REFERENCES.values())


# --------------------------------------------------------------------------- false alarms at scale


def _synthetic_events(
    rng: np.random.Generator, n: int, slot_of: NDArray[np.int64] | None
) -> Columns:
    """The synthetic generator's distribution (monitor.tooling.synthetic), drawn as numpy columns.

    20 numeric features ``num_i ~ N(50 i / 19, 1 + 9 i / 19)``, 3 categorical features over
    8 values, and a score that is a logistic function of ``num_0``. Categorical columns hold
    value indices, or slot codes once ``slot_of`` (index -> slot) is known.
    """
    means = np.linspace(0.0, 50.0, 20)
    scales = np.linspace(1.0, 10.0, 20)
    numeric = rng.normal(means, scales, size=(n, 20))
    p = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.08, 0.05, 0.02])
    categorical = rng.choice(p.size, p=p, size=(n, 3))
    columns: Columns = {f"num_{i}": np.ascontiguousarray(numeric[:, i]) for i in range(20)}
    for j in range(3):
        codes = categorical[:, j]
        columns[f"cat_{j}"] = codes if slot_of is None else slot_of[codes]
    columns["prediction"] = 1.0 / (1.0 + np.exp(-(numeric[:, 0] - means[0]) / scales[0]))
    return columns


@pytest.mark.slow  # about 7 s, nearly all of it in evaluate_window and accumulate
def test_a_million_events_without_drift_raise_no_drifted_result() -> None:
    """The issue's requirement: default settings stay silent on a stable stream.

    200 windows of 5k events, each from the 50k-event reference's distribution, 24 signals
    (20 numeric features, 3 categorical, the prediction), every method (the joint ones too,
    over the 20 numeric features), Bonferroni at alpha 0.01. A false alarm needs both a
    significant p-value after correction and an effect size past its threshold, so the
    expected number is far below one.
    """
    values = np.asarray(["DE", "FR", "US", "GB", "NL", "ES", "IT", "PL"], dtype=object)
    specs = [SignalSpec(f"num_{i}", "numeric", "feature") for i in range(20)]
    specs += [SignalSpec(f"cat_{j}", "categorical", "feature") for j in range(3)]
    specs.append(SignalSpec("prediction", "numeric", "prediction"))
    rng = np.random.default_rng([SEED, 1_000_000])
    reference = _synthetic_events(rng, N_REF, None)
    for j in range(3):
        reference[f"cat_{j}"] = values[reference[f"cat_{j}"]]
    profile = build_reference_profile(
        "fraud", specs, reference, bins=50, max_categories=100, created_at=0.0, source="test"
    )
    layout = WindowLayout(profile)
    # Every window uses the same 8 values, so encode the vocabulary once (value index -> slot)
    # instead of every event; the codes are exactly what CategoricalProfile.encode gives.
    slots: Mapping[str, NDArray[np.int64]] = {}
    for j in range(3):
        signal = profile.signal(f"cat_{j}")
        assert isinstance(signal, CategoricalProfile)
        slots = {**slots, f"cat_{j}": signal.encode(list(values))}
    assert all((slot_of == slots["cat_0"]).all() for slot_of in slots.values())

    every_method = _with(multivariate_methods=MULTIVARIATE_METHODS)
    drifted: list[tuple[int, str, str, float]] = []
    windows = 0
    for window in range(200):
        columns = _synthetic_events(rng, N_WIN, slots["cat_0"])
        results = evaluate_window(layout, layout.accumulate(columns, {}), every_method)
        drifted += [(window, r.signal, r.method, r.score) for r in results if r.drifted]
        windows += 1
    assert windows * N_WIN == 1_000_000
    assert drifted == []


def test_small_windows_from_the_reference_distribution_rarely_raise_a_drifted_result() -> None:
    """Sampling noise in 100-event windows must not trip PSI or Jensen-Shannon.

    Those scores have no test of their own and are noisy in small windows (PSI alone passes
    0.1 in most 100-event windows of an unchanged stream); they are gated on the signal's
    KS or chi-square test, so the family-wise error rate per window stays at about alpha
    (0.01): at most a few of 300 windows (P[Binomial(300, 0.01) > 8] < 0.5%).
    """
    rng = np.random.default_rng([SEED, 100])
    country = LAYOUT.profile.signal("country")
    assert isinstance(country, CategoricalProfile)
    flagged = 0
    for _ in range(300):
        columns = _draw(rng, 100)
        columns["country"] = country.encode(list(columns["country"]))
        results = evaluate_window(LAYOUT, LAYOUT.accumulate(columns, {}), DEFAULTS)
        flagged += any(r.drifted for r in results)
    assert flagged <= 8


def test_parts_judged_together_get_each_parts_own_scores_and_p_values() -> None:
    """A window's parts share one KS p-value call; each part's numbers are still its own
    (up to the rounding of the stacked exact p-values), whatever its size."""
    windows = [_window(n=n) for n in (30, 150, 700, 5_000)]
    together = evaluate_parts(
        [WindowPart(LAYOUT, w, f"s={i}") for i, w in enumerate(windows)], DEFAULTS
    )
    alone = [r for w in windows for r in evaluate_window(LAYOUT, w, DEFAULTS)]
    assert [(r.signal, r.method) for r in together] == [(r.signal, r.method) for r in alone]
    assert [r.score for r in together] == pytest.approx([r.score for r in alone], rel=1e-12)
    p_together = [r.p_value for r in together if r.p_value is not None]
    p_alone = [r.p_value for r in alone if r.p_value is not None]
    assert p_together == pytest.approx(p_alone, rel=1e-9)


def test_a_layout_prepared_before_its_first_window_judges_it_as_an_unprepared_one() -> None:
    prepared, unprepared = WindowLayout(LAYOUT.profile), WindowLayout(LAYOUT.profile)
    evaluate.prepare(prepared)
    counts = _window(lambda c: c["amount"].__iadd__(30.0))

    judged = evaluate_window(prepared, counts, DEFAULTS)

    assert ("amount", "ks") in _drifted(judged)
    assert [r.to_dict() for r in judged] == [
        r.to_dict() for r in evaluate_window(unprepared, counts, DEFAULTS)
    ]
