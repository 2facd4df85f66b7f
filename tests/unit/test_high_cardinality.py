"""A categorical feature with tens of thousands of values, and new ones arriving live.

The reference of ``merchant`` draws half its events from 100 popular merchants
(Zipf-like shares) and half uniformly from a million ids: about 50,000 distinct values,
almost all seen once, and a window of traffic just like it holds thousands of ids the
reference never saw. The window state stays bounded (top categories, ``other``,
``unseen``, a count-min sketch of the tail and a few names), traffic like the
reference's raises nothing, and one new value taking a fifth of a window is flagged and
named (``detectors.sketch``, ``detectors.tail``).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pytest
from rich.console import Console

from detectors.evaluate import DecisionSettings, SignalResult, evaluate_window
from detectors.methods import (
    CATEGORICAL_METHODS,
    DEFAULT_THRESHOLDS,
    QUALITY_METHODS,
)
from detectors.profile import (
    MAX_OTHER_CATEGORIES,
    CategoricalProfile,
    SignalSpec,
    build_reference_profile,
)
from detectors.sketch import (
    NAME_CHARS,
    SKETCH_DEPTH,
    SKETCH_WIDTH,
    WINDOW_NAMES,
    cut_name,
    error_bound,
    fingerprints,
    heaviest,
    merge_names,
    sketch_cells,
    sketch_counts,
    sketch_estimates,
)
from detectors.stats import chi_square_from_counts
from detectors.tail import tail_table
from detectors.window import CategoricalSlots, WindowCounts, WindowLayout
from monitor.check import CheckResult, print_result
from tests.unit.test_alert_state import Run, _model, _rule

SEED = 20261206
N_REF = 100_000
N_WIN = 5_000
POPULAR = 100
IDS = 1_000_000
BOT = "merchant-bot-7f3a"

SETTINGS = DecisionSettings(
    numeric_methods=(),
    categorical_methods=CATEGORICAL_METHODS,
    quality_methods=QUALITY_METHODS,
    thresholds=DEFAULT_THRESHOLDS,
)


def merchants(rng: np.random.Generator, n: int) -> list[str]:
    """Half popular merchants (shares ~ 1/rank), half uniform over a million ids."""
    weights = 1.0 / np.arange(1, POPULAR + 1)
    popular = rng.choice(POPULAR, n, p=weights / weights.sum())
    uniform = rng.integers(0, IDS, n)
    use_popular = rng.random(n) < 0.5
    return [
        f"pop-{p}" if chosen else f"id-{u}"
        for p, u, chosen in zip(
            popular.tolist(), uniform.tolist(), use_popular.tolist(), strict=True
        )
    ]


def build_layout(values: Sequence[str]) -> WindowLayout:
    profile = build_reference_profile(
        "shop",
        [SignalSpec("merchant", "categorical", "feature")],
        {"merchant": np.asarray(values, dtype=object)},
        bins=50,
        max_categories=100,
        created_at=0.0,
        source="test",
    )
    return WindowLayout(profile)


@pytest.fixture(scope="module")
def layout() -> WindowLayout:
    return build_layout(merchants(np.random.default_rng([SEED, 0]), N_REF))


def profile_of(layout: WindowLayout) -> CategoricalProfile:
    profile = layout.profile.signal("merchant")
    assert isinstance(profile, CategoricalProfile)
    return profile


def count(layout: WindowLayout, values: Sequence[str], batch: int = 1_000) -> WindowCounts:
    """A window counted batch by batch, as the daemon counts it, and summed."""
    profile, total = profile_of(layout), layout.empty()
    for start in range(0, len(values), batch):
        chunk = list(values[start : start + batch])
        codes = {"merchant": profile.encode(chunk)}
        total = total + layout.accumulate(codes, {}, slice(None), {"merchant": chunk})
    return total


def result(results: tuple[SignalResult, ...], method: str) -> SignalResult:
    (found,) = [r for r in results if r.method == method]
    return found


def with_bot(values: list[str], share: float, seed: int, value: str = BOT) -> list[str]:
    rng = np.random.default_rng([SEED, seed])
    rows = rng.random(len(values)) < share
    return [value if hit else v for v, hit in zip(values, rows.tolist(), strict=True)]


# ------------------------------------------------------------------ the count-min sketch


def test_the_sketch_of_batches_added_up_is_the_sketch_of_their_union() -> None:
    rng = np.random.default_rng([SEED, 1])
    values = [f"v{i}" for i in rng.zipf(1.3, 30_000).tolist()]
    batches = [values[i : i + 7_000] for i in range(0, len(values), 7_000)]
    summed = sum(
        (sketch_counts(fingerprints(b), SKETCH_WIDTH, SKETCH_DEPTH) for b in batches),
        np.zeros(SKETCH_WIDTH * SKETCH_DEPTH, np.int64),
    )
    whole = sketch_counts(fingerprints(values), SKETCH_WIDTH, SKETCH_DEPTH)
    assert np.array_equal(summed, whole)
    assert int(whole.sum()) == len(values) * SKETCH_DEPTH


def test_estimates_are_never_below_the_count_and_within_eps_n_with_probability_1_minus_delta() -> (
    None
):
    rng = np.random.default_rng([SEED, 2])
    values = [f"v{i}" for i in rng.zipf(1.2, 50_000).tolist()]
    truth = Counter(values)
    distinct = list(truth)
    sketch = sketch_counts(fingerprints(values), SKETCH_WIDTH, SKETCH_DEPTH)
    estimates = sketch_estimates(sketch, fingerprints(distinct), SKETCH_WIDTH, SKETCH_DEPTH)
    exact = np.array([truth[v] for v in distinct])
    eps, delta = error_bound(SKETCH_WIDTH, SKETCH_DEPTH)
    assert (eps, delta) == (pytest.approx(0.0106, abs=1e-4), pytest.approx(0.0183, abs=1e-4))
    assert (estimates >= exact).all()
    over = np.mean(estimates - exact > eps * len(values))
    assert over <= delta, f"{over:.4f} of {len(distinct)} values off by more than eps * N"


def test_rows_are_independent_so_no_value_shares_all_its_counters_with_a_heavy_one() -> None:
    """With double hashing one value in width**2 (65,536) would share every counter with
    the bot's and inherit its estimate; with independent rows, one in width**depth."""
    cells = sketch_cells(fingerprints([f"id-{i}" for i in range(300_000)]), 256, 4)
    bot = sketch_cells(fingerprints([BOT]), 256, 4)
    assert int(np.all(cells == bot, axis=0).sum()) == 0
    pairs = np.all(cells[:, :1000, None] == cells[:, None, :1000], axis=0).sum() - 1000
    assert pairs == 0


def test_the_sketches_of_other_processes_merge_since_hashes_do_not_depend_on_the_process() -> None:
    """Python's own str hash is salted per process; fingerprints are a function of the
    value alone: here, against a plain-Python rendering of their definition."""
    long = "Mozilla/5.0 " * 10  # past the vectorised length: BLAKE2b
    values = ["DE", "", "Zürich", "ünïcode-✓", BOT, long]
    assert fingerprints(values).tolist() == [_reference_print(v) for v in values]


def _reference_print(value: str) -> int:
    if len(value) > 64:
        digest = hashlib.blake2b(value.encode(), digest_size=8, key=b"drift-monitor/sketch/v1")
        return int.from_bytes(digest.digest(), "little")
    mask = (1 << 64) - 1
    h = 0xCBF29CE484222325 ^ len(value)
    for char in value:
        h = ((h ^ ord(char)) * 0x100000001B3) & mask
    h ^= h >> 30
    h = (h * 0xBF58476D1CE4E5B9) & mask
    h ^= h >> 27
    h = (h * 0x94D049BB133111EB) & mask
    return h ^ (h >> 31)


def test_named_values_are_summed_and_trimmed_to_the_window_bound() -> None:
    first = {f"v{i}": 10 - i for i in range(10)}
    second = {f"v{i}": i for i in range(5, 20)}
    merged = merge_names(first, second, WINDOW_NAMES)
    assert len(merged) == WINDOW_NAMES
    assert merged["v5"] == 5 + 5
    assert next(iter(merged)) == "v19"  # heaviest first


def test_long_values_are_sketched_whole_and_named_cut() -> None:
    long = "x" * 10_000
    names = heaviest([long, long, "short"])
    assert names == {cut_name(long): 2, "short": 1}
    assert len(next(iter(names))) == NAME_CHARS + 1


def test_rows_picked_by_a_mask_name_and_sketch_only_their_own_values(
    layout: WindowLayout,
) -> None:
    """Event-time windows pick their rows of a batch with a mask: names and sketch follow."""
    values = ["a-new", "b-new", "pop-0", None, "b-new", 7, "b-new", "a-new"]
    mask = np.array([True, False, True, True, True, True, False, True])
    codes = {"merchant": profile_of(layout).encode(values)}
    counts = layout.accumulate(codes, {}, mask, {"merchant": values})
    assert counts.names == {"merchant": {"a-new": 2, "7": 1, "b-new": 1}}
    where = layout.signals["merchant"]
    assert isinstance(where, CategoricalSlots)
    assert where.sketch is not None
    assert int(counts.ints[where.sketch].sum()) == 4 * SKETCH_DEPTH


# ------------------------------------------------------------------ bounded state


def test_state_stays_under_its_bound_as_distinct_values_grow_to_a_million(
    layout: WindowLayout,
) -> None:
    """A million distinct values, none in the reference, in batches of 20,000: the window
    is its fixed vector of counters plus at most WINDOW_NAMES names, whatever comes."""
    where = layout.signals["merchant"]
    assert isinstance(where, CategoricalSlots)
    assert where.sketch is not None
    profile = profile_of(layout)
    bound_counters = len(profile.categories) + 4 + SKETCH_WIDTH * SKETCH_DEPTH
    assert layout.int_size == bound_counters == 1_128  # 9 KiB of int64 per window
    total = layout.empty()
    for start in range(0, 1_000_000, 20_000):
        chunk = [f"new-{i}" for i in range(start, start + 20_000)]
        total = total + layout.accumulate(
            {"merchant": profile.encode(chunk)}, {}, slice(None), {"merchant": chunk}
        )
        assert total.ints.size == bound_counters
        assert len(total.names["merchant"]) <= WINDOW_NAMES
    assert total.ints[where.slots.start + profile.unseen_slot] == 1_000_000
    assert int(total.ints[where.sketch].sum()) == 1_000_000 * SKETCH_DEPTH
    names_bytes = len(json.dumps(total.names))
    assert total.ints.nbytes + names_bytes < 10 * 1024, "window state bound: 10 KiB"


def test_a_reference_of_a_million_distinct_values_keeps_a_bounded_profile() -> None:
    values = [f"id-{i}" for i in range(1_000_000)] + ["pop-0"] * 1_000
    layout = build_layout(values)
    profile = profile_of(layout)
    assert len(profile.categories) == 100
    assert len(profile.other_categories) == MAX_OTHER_CATEGORIES
    assert profile.sketched
    # Every id seen once, none twice: no Good-Turing adjustment, the 100 + 10,000
    # remembered categories are all that is expected to be seen again.
    assert profile.unseen_share == pytest.approx(1 - (1_000 + 99 + 10_000) / 1_001_000)
    state = json.dumps(profile.to_state())
    assert len(state) < 200_000, "profile bound: 10,100 names"


# ------------------------------------------------------------------ tests and naming


def test_traffic_like_the_reference_raises_nothing_in_many_windows(layout: WindowLayout) -> None:
    """Half of each window is ids the reference never saw, as in the reference itself:
    no distribution test, unseen rate or dominant value is flagged in 20 windows."""
    rng = np.random.default_rng([SEED, 3])
    flagged: list[tuple[int, str, float]] = []
    for window in range(20):
        results = evaluate_window(layout, count(layout, merchants(rng, N_WIN)), SETTINGS)
        flagged += [(window, r.method, r.score) for r in results if r.drifted]
        unseen = result(results, "unseen_rate")
        assert unseen.score < 0.03
        assert unseen.values == ()
    assert flagged == []


def test_a_new_dominant_value_is_caught_and_named(layout: WindowLayout) -> None:
    rng = np.random.default_rng([SEED, 4])
    values = with_bot(merchants(rng, N_WIN), 0.2, seed=5)
    results = evaluate_window(layout, count(layout, values), SETTINGS)
    dominant = result(results, "dominant_value")
    assert dominant.drifted
    assert dominant.p_value is not None
    assert dominant.p_value < 1e-100
    assert dominant.score == pytest.approx(0.2, abs=0.02)
    (named,) = dominant.values
    assert named.value == BOT
    assert named.unseen
    truth = values.count(BOT)
    eps, _ = error_bound(SKETCH_WIDTH, SKETCH_DEPTH)
    assert named.at_least <= truth <= named.count <= truth + eps * N_WIN
    assert result(results, "unseen_rate").drifted
    assert result(results, "unseen_rate").values == dominant.values
    assert dominant.to_dict()["values"][0]["value"] == BOT


def test_a_rare_reference_category_turned_dominant_is_named_as_not_unseen(
    layout: WindowLayout,
) -> None:
    """Pooled, the tail moves by a tenth only; the dominant-value test sees the one value."""
    known = sorted(profile_of(layout).other_categories)[0]
    rng = np.random.default_rng([SEED, 6])
    values = with_bot(merchants(rng, N_WIN), 0.1, seed=7, value=known)
    results = evaluate_window(layout, count(layout, values), SETTINGS)
    dominant = result(results, "dominant_value")
    assert dominant.drifted
    assert [(v.value, v.unseen) for v in dominant.values] == [(known, False)]
    assert not result(results, "unseen_rate").drifted


def test_other_and_unseen_are_one_cell_and_rare_cells_are_pooled() -> None:
    ref = np.array([1000, 500, 40, 3, 0, 200, 0])  # 5 categories, other, unseen
    win = np.array([100, 50, 4, 0, 1, 10, 12])
    # At the reference's shares the window expects 4.1, 0.3 and 0 of the middle three:
    # pooled (4.4 together, still under 5), then into the least expected other cell, the
    # tail (200 + 0 and 10 + 12).
    assert tail_table(ref.astype(float), win).tolist() == [[1000, 500, 243], [100, 50, 27]]
    big = np.array([1000, 500, 400, 300, 200, 200, 0])
    assert tail_table(big.astype(float), win).tolist() == [
        [1000, 500, 400, 300, 200, 200],
        [100, 50, 4, 0, 1, 22],
    ]


def test_the_tail_test_pools_sparse_cells_so_chi_square_holds(layout: WindowLayout) -> None:
    """p-values of traffic like the reference's are spread as they should be (not all ~0)."""
    rng = np.random.default_rng([SEED, 8])
    p_values = [
        result(evaluate_window(layout, count(layout, merchants(rng, 2_000)), SETTINGS), "chi2")
        for _ in range(30)
    ]
    small = sum(1 for r in p_values if r.p_value is not None and r.p_value < 0.01)
    assert small <= 3
    assert max(r.statistic or 0.0 for r in p_values) < 200
    # Unpooled, every slot its own cell, the same traffic is "drift" every time: unseen
    # values are a third of the window and none of the reference.
    profile = profile_of(layout)
    window = count(layout, merchants(rng, 2_000)).ints[layout.signals["merchant"].slots]
    assert chi_square_from_counts(profile.counts, window).p_value < 1e-100


# ------------------------------------------------------------------ alerts


def test_the_alert_on_a_new_dominant_value_names_it(layout: WindowLayout) -> None:
    rng = np.random.default_rng([SEED, 13])
    values = with_bot(merchants(rng, N_WIN), 0.2, seed=14)
    results = evaluate_window(layout, count(layout, values), SETTINGS)
    run = Run(_model(**_rule(methods=["dominant_value"], for_windows=1)))

    (message,) = run.feed(*[replace(r, signal="country") for r in results]).outbox

    assert message.facts["method"] == "dominant_value"
    assert message.facts["values"][0]["value"] == BOT
    assert f"; {BOT!r} is 20.5% of the window" in message.facts["message"]


def test_check_prints_the_value_under_its_table(layout: WindowLayout) -> None:
    rng = np.random.default_rng([SEED, 15])
    values = with_bot(merchants(rng, N_WIN), 0.2, seed=16)
    results = evaluate_window(layout, count(layout, values), SETTINGS)
    checked = CheckResult("shop", "today.jsonl", N_WIN, layout.profile.id, N_REF, "test", results)
    console = Console(record=True, width=100)
    print_result(checked, console)
    share = result(results, "dominant_value").values[0].share
    assert f"  merchant: {BOT!r} is {share:.1%} of the window (never in the reference)" in (
        console.export_text().splitlines()
    )
