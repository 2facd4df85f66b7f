"""Detection on generated scenarios, through the evaluation the daemon runs.

Run::

    .venv/bin/python benchmarks/detection.py [--window 1000] [--seeds 3] [--checkpoints 8]

Each scenario is a seeded stream of one model (10 numeric features, among them a
correlated pair, a Student-t(3), a lognormal and a feature constant in 95% of rows;
a 10-level and a 200-level categorical, half of the latter's levels rare): a 20,000-event
reference, then 10 windows drawn like it, then 10 windows from the change on, which
starts half-way into a window. Windows are counted and judged exactly as the daemon
does (``build_reference_profile``, ``WindowLayout.accumulate``, ``evaluate_window``,
every method on, joint ones included, Bonferroni at ``alpha`` 0.01):

``abrupt``       ``f5`` shifted by one standard deviation
``gradual``      ``f6`` drifting from 0 to 1.5 standard deviations over 5 windows
``variance``     ``f7``'s spread doubled, its mean kept
``categorical``  ``cat0``'s two most frequent levels swapped with its two rarest
``missing``      ``f8`` missing in 20% of events
``correlation``  ``f0`` and ``f1`` correlated at -0.7 instead of 0.7, marginals kept
``control_*``    no change; the non-normal features are the point

A change is *detected* when a window judged at its end (a close; for sliding windows
and the CUSUM, every evaluation) from its start on has a drifted result, and
*attributed* when the first such window names the changed signal (for the correlation
flip: ``features/correlation`` with ``f0~f1`` as its top pair); *named* is the same of
the first alert. ``median_delay`` is events from the change to the end of that window.
``alert_delay`` is events from the change to the look that fires the alert, with the
default alert rule under a false-alarm budget (``for_windows`` 1: each drifted look
alerts). ``fa_per_100k`` counts windows with a drifted look before the change,
``control_fa_per_100k`` those of the controls, per 100,000 events. ``--change-at``
moves the change within its window (0.5, half-way, by default).

Ways to alert before a window closes (README, "Faster than a window"), each spending
``alpha`` a window, with ``K`` = ``--checkpoints`` (default 8); every one is printed in
a table, the daemon's first, and the last line is the daemon's:

- ``K looks at alpha/K``: the daemon's ``drift.checkpoints``, as ``monitor.evaluation``
  does it: the open window judged after every ``window / K`` events and at its close,
  each look at ``alpha / K`` (Bonferroni over the looks, a Pocock-like constant level).
- ``close only``: closed windows at ``alpha`` (``--checkpoints 1`` for the last line).
- ``K looks, OBF spending``: the same looks at O'Brien-Fleming-type levels
  (:func:`obf_levels`): strict early, looser at the close.
- ``sliding``: windows of ``window`` events ending every ``window / K`` events, each at
  ``alpha / K`` (a daemon would keep K overlapping windows' counts).
- ``CUSUM``: a CUSUM of each test's z-score over ``window / K``-event blocks
  (:func:`_cusum`).

Measured here (window 1000, ``alpha`` 0.01, K 8; ``evals`` per window, ``us/event``
evaluation time per event: evals x median evaluation cost / window; ``fa`` and
``ctl_fa`` per 100,000 events), 3 seeds::

    option                   evals us/event detected attrib named delay alert  fa ctl_fa
    8 looks at alpha/8 (daemon) 8.0    9.82   18/18   100%   94%   500   250 0.0   0.8
    close only                  1.0    1.14   18/18   100%  100%   500   500 0.5   0.0
    8 looks, OBF spending       8.0    9.68   18/18   100%   94%   500   250 0.5   0.0
    sliding, every 1/8          8.0    8.94   18/18    94%   94%   250   250 0.0   0.0
    CUSUM of 1/8-window blocks  8.0   14.21   18/18    83%   83%   125   125 0.5   0.8

10 seeds::

    8 looks at alpha/8 (daemon) 8.0   10.66   60/60   100%   95%   500   250 0.3   1.0
    close only                  1.0    1.27   60/60   100%  100%   500   500 0.3   0.0
    8 looks, OBF spending       8.0   10.46   60/60   100%   95%   500   250 0.3   0.5
    sliding, every 1/8          8.0    9.90   60/60    98%   98%   250   250 0.2   0.0
    CUSUM of 1/8-window blocks  8.0   15.40   60/60    92%   92%   125   125 0.5   0.2

Alert delay of the abrupt shift (median, 3 seeds) by where in its window the change
starts (``--change-at``), in events; the half-window goal is 500::

    change at                    0.0  0.25   0.5 0.875
    8 looks at alpha/8 (daemon)  125   125   250   250
    close only                  1000   750   500  1125
    8 looks, OBF spending        125   250   250   250
    sliding, every 1/8           250   250   250   250
    CUSUM of 1/8-window blocks   125   125   125   250

The daemon's last line, 3 seeds::

    detected=18/18 attributed=100% median_delay=500 alert_delay=250
    fa_per_100k=0.0 control_fa_per_100k=0.8

with the code before calibration (normal-theory joint tests, ``unseen_rate``
untested, chi-square unpooled; no attribution, so the correlation flip is never named),
at close only::

    detected=18/18 attributed=72% median_delay=500 alert_delay=500
    fa_per_100k=13.8 control_fa_per_100k=13.3

The false alarms left are what ``alpha`` 0.01 a window allows (at most one window in
a hundred, 1 per 100,000 events of 1,000-event windows): with the daemon's looks, a KS
test at p = 2e-5 on a normal feature in a 375-event look; the CUSUM's come from
``features/mahalanobis`` accumulating p-values of 0.04 to 0.09 on 125-event blocks. An
alert not *named* is a gradual or abrupt shift first flagged by ``features/mahalanobis``
(which names features, not the one signal counted here); on 125-event blocks the CUSUM
hears Mahalanobis first more often.

The daemon's evaluation cost per evaluation (a window with K looks costs K of them) and
reference-build time are printed before the last line (medians; this machine is shared,
so compare runs made together): 1.3 ms per window and 0.2 s per build here, against
1.9 ms and 0.02 s with the code before calibration (whose evaluation had not had
later speed-ups yet); README, "Joint drift", has the calibration's cost alone.
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import reduce
from operator import add
from statistics import NormalDist
from typing import Any

import numpy as np
from numpy.typing import NDArray

from detectors.evaluate import DecisionSettings, SignalResult, evaluate_window
from detectors.methods import (
    CATEGORICAL_METHODS,
    DEFAULT_THRESHOLDS,
    MULTIVARIATE_METHODS,
    NUMERIC_METHODS,
    P_VALUE_METHODS,
    QUALITY_METHODS,
)
from detectors.profile import CategoricalProfile, SignalSpec, build_reference_profile
from detectors.window import WindowCounts, WindowLayout

Columns = dict[str, NDArray[Any]]
Change = Callable[[Columns, NDArray[np.float64], np.random.Generator], None]
"""Changes a block of columns in place; the array is each row's windows since the change."""

SETTINGS = DecisionSettings(
    NUMERIC_METHODS,
    CATEGORICAL_METHODS,
    QUALITY_METHODS,
    DEFAULT_THRESHOLDS,
    alpha=0.01,
    multivariate_methods=MULTIVARIATE_METHODS,
)
ALPHA = SETTINGS.alpha
"""A window's significance, the budget every option spends."""
CAT0 = np.array([f"c{i}" for i in range(10)], dtype=object)
CAT0_P = np.array([0.3, 0.2, 0.12, 0.1, 0.08, 0.07, 0.05, 0.04, 0.03, 0.01])
CAT1 = np.array([f"level_{i:03d}" for i in range(200)], dtype=object)
CAT1_P = np.r_[np.full(100, 1.0), np.full(100, 0.01)] / 101.0
SPECS = [SignalSpec(f"f{i}", "numeric", "feature") for i in range(10)] + [
    SignalSpec("cat0", "categorical", "feature"),
    SignalSpec("cat1", "categorical", "feature"),
]
CALM_WINDOWS = 10
CHANGED_WINDOWS = 10


def draw(rng: np.random.Generator, n: int, rho: float = 0.7, cat0_p: Any = CAT0_P) -> Columns:
    pair = rng.multivariate_normal([0.0, 0.0], [[1.0, rho], [rho, 1.0]], size=n)
    columns: Columns = {"f0": pair[:, 0] * 50.0 + 200.0, "f1": pair[:, 1]}
    columns["f2"] = rng.standard_t(3, n)
    columns["f3"] = rng.lognormal(0.0, 1.0, n)
    columns["f4"] = np.where(rng.random(n) < 0.95, 0.0, rng.lognormal(2.0, 1.0, n))
    for i in range(5, 10):
        columns[f"f{i}"] = rng.normal(10.0 * i, float(i), n)
    columns["cat0"] = rng.choice(CAT0, n, p=cat0_p)
    columns["cat1"] = rng.choice(CAT1, n, p=CAT1_P)
    return columns


def _abrupt(columns: Columns, since: NDArray[np.float64], _: np.random.Generator) -> None:
    columns["f5"] = columns["f5"] + 5.0


def _gradual(columns: Columns, since: NDArray[np.float64], _: np.random.Generator) -> None:
    columns["f6"] = columns["f6"] + 6.0 * 1.5 * np.minimum(since / 5.0, 1.0)


def _variance(columns: Columns, since: NDArray[np.float64], _: np.random.Generator) -> None:
    columns["f7"] = 70.0 + 2.0 * (columns["f7"] - 70.0)


def _missing(columns: Columns, since: NDArray[np.float64], rng: np.random.Generator) -> None:
    columns["f8"] = np.where(rng.random(since.size) < 0.2, np.nan, columns["f8"])


SWAPPED = CAT0_P[[9, 8, 2, 3, 4, 5, 6, 7, 1, 0]]
SCENARIOS: dict[str, tuple[str, Change | None, dict[str, Any]]] = {
    "abrupt": ("f5", _abrupt, {}),
    "gradual": ("f6", _gradual, {}),
    "variance": ("f7", _variance, {}),
    "categorical": ("cat0", None, {"cat0_p": SWAPPED}),
    "missing": ("f8", _missing, {}),
    "correlation": ("features", None, {"rho": -0.7}),
    "control_a": ("", None, {}),
    "control_b": ("", None, {}),
}


def _encode(layout: WindowLayout, columns: Columns) -> Columns:
    out = dict(columns)
    for name, where in layout.signals.items():
        if isinstance(where.profile, CategoricalProfile):
            out[name] = where.profile.encode(list(columns[name]))
    return out


def _stream(
    rng: np.random.Generator, scenario: str, window: int, change_at: float = 0.5
) -> tuple[list[Columns], int | None]:
    """The scenario's windows and the event the change starts at (None: a control),
    ``change_at`` of the way into its window."""
    _, change, drawn_as = SCENARIOS[scenario]
    total = (CALM_WINDOWS + CHANGED_WINDOWS) * window
    start = CALM_WINDOWS * window + int(window * change_at)
    calm = draw(rng, total)
    if scenario.startswith("control"):
        return _cut(calm, window), None
    changed = draw(rng, total, **drawn_as) if drawn_as else {k: v.copy() for k, v in calm.items()}
    since = (np.arange(total) - start) / window
    if change is not None:
        change(changed, since, rng)
    after = since >= 0
    return _cut({k: np.where(after, changed[k], calm[k]) for k in calm}, window), start


def _cut(columns: Columns, window: int) -> list[Columns]:
    """Consecutive windows of ``window`` events."""
    count = len(columns["f0"]) // window
    return [{k: v[w * window : (w + 1) * window] for k, v in columns.items()} for w in range(count)]


def _names_the_change(results: tuple[SignalResult, ...], target: str) -> bool:
    drifted = [r for r in results if r.drifted]
    if target != "features":
        return any(r.signal == target for r in drifted)
    joint = [r for r in drifted if r.method == "correlation"]
    named = joint[0].attribution if joint else ()
    return bool(named) and named[0].features == ("f0", "f1")


@dataclass(frozen=True)
class Look:
    """One evaluation of a stream: the event it ends at (from the stream's start), its
    results, and whether it judged a window at that window's end (what ``median_delay``
    counts; a checkpoint look inside an open window does not)."""

    end: int
    results: tuple[SignalResult, ...]
    close: bool

    @property
    def drifted(self) -> bool:
        return any(r.drifted for r in self.results)


@dataclass
class Stream:
    """A scenario's events as ``looks`` blocks a window (``window / looks`` events each),
    counted once each and added up as the daemon adds up batches."""

    layout: WindowLayout
    blocks: list[WindowCounts]
    ends: list[int]
    looks: int
    costs: list[float] = field(default_factory=list)

    def judge(self, counts: WindowCounts, alpha: float) -> tuple[SignalResult, ...]:
        """``evaluate_window`` at ``alpha``, its cost kept."""
        began = time.perf_counter()
        results = evaluate_window(self.layout, counts, replace(SETTINGS, alpha=alpha))
        self.costs.append(time.perf_counter() - began)
        return results


Option = Callable[[Stream], list[Look]]


def _spending(levels: list[float]) -> Option:
    """Looks at the open window after each of its blocks, look ``j`` at ``levels[j]``
    (skipped at 0); the last look is the close. The levels sum to ``alpha``, so the
    window's family-wise error stays at most ``alpha`` (Bonferroni over the looks)."""

    def option(stream: Stream) -> list[Look]:
        looks, out = stream.looks, []
        for w in range(len(stream.blocks) // looks):
            head = stream.blocks[w * looks : (w + 1) * looks]
            for j, level in enumerate(levels):
                if level > 0:
                    counts = reduce(add, head[: j + 1])
                    end = stream.ends[w * looks + j]
                    out.append(Look(end, stream.judge(counts, level), j == looks - 1))
        return out

    return option


def obf_levels(alpha: float, looks: int) -> list[float]:
    """Lan-DeMets O'Brien-Fleming-type spending, ``alpha(t) = 2 - 2 Phi(z_{alpha/2} /
    sqrt(t))`` at ``t = j / looks``: each look's level is its increment. Testing each look
    at its increment alone ignores that the looks are correlated (one window's counts
    growing), so it is conservative: exact group-sequential boundaries spend the same
    ``alpha`` with a looser level at each look."""
    normal = NormalDist()
    z = normal.inv_cdf(1.0 - alpha / 2.0)
    spent = [0.0] + [2.0 - 2.0 * normal.cdf(z / math.sqrt(j / looks)) for j in range(1, looks + 1)]
    return [b - a for a, b in itertools.pairwise(spent)]


def _sliding(stream: Stream) -> list[Look]:
    """Windows of ``window`` events ending at every block, each at ``alpha / looks``: the
    ``looks`` windows a window's worth of events ends spend ``alpha`` between them."""
    k = stream.looks
    return [
        Look(
            stream.ends[i],
            stream.judge(reduce(add, stream.blocks[i - k + 1 : i + 1]), ALPHA / k),
            True,
        )
        for i in range(k - 1, len(stream.blocks))
    ]


CUSUM_K = 0.5
"""The CUSUM's reference value, in z units: half the shift per block it is tuned to."""


def cusum_threshold(rate: float, k: float = CUSUM_K) -> float:
    """The decision interval ``h`` of a one-sided CUSUM of N(0, 1) increments whose
    false alarms come once in ``1 / rate`` steps: Siegmund's approximation of the
    in-control run length, ``(exp(2kb) - 2kb - 1) / 2k^2`` with ``b = h + 1.166``."""
    target, low, high = 1.0 / rate, 0.0, 100.0
    for _ in range(100):
        b = (low + high) / 2.0 + 1.166
        run = (math.exp(2.0 * k * b) - 2.0 * k * b - 1.0) / (2.0 * k * k)
        low, high = ((low + high) / 2.0, high) if run < target else (low, (low + high) / 2.0)
    return high


def _cusum(stream: Stream) -> list[Look]:
    """Each block judged alone; every p-value a block's tests give (``P_VALUE_METHODS``)
    turned into ``z = Phi^-1(1 - p)``, N(0, 1) with no drift, and summed by its own
    CUSUM, ``S = max(0, S + z - k)``, which alarms (and restarts) above ``h``. ``h`` puts
    each CUSUM's false alarms at ``alpha / (looks * tests)`` a block, so ``alpha`` a
    window over all of them. No effect-size gate: a CUSUM alarms on significance alone."""
    normal, sums, out = NormalDist(), dict[str, float](), []
    for block, end in zip(stream.blocks, stream.ends, strict=True):
        results = stream.judge(block, ALPHA)
        tested = [r for r in results if r.method in P_VALUE_METHODS and r.p_value is not None]
        h = cusum_threshold(ALPHA / (stream.looks * len(tested)))
        alarms = set()
        for r in tested:
            z = -normal.inv_cdf(min(max(r.p_value or 0.0, 1e-300), 1.0 - 1e-16))
            s = max(0.0, sums.get(r.key, 0.0) + z - CUSUM_K)
            if s > h:
                alarms.add(r.key)
                s = 0.0
            sums[r.key] = s
        out.append(Look(end, tuple(replace(r, drifted=r.key in alarms) for r in results), True))
    return out


@dataclass
class Tally:
    """One option's findings over every scenario and seed."""

    changes: int = 0
    detected: int = 0
    attributed: int = 0
    alert_named: int = 0
    delays: list[int] = field(default_factory=list)
    alert_delays: list[int] = field(default_factory=list)
    by_scenario: dict[str, list[int]] = field(default_factory=dict)
    """Alert delays per scenario (its name without the seed)."""
    false_windows: int = 0
    calm_events: int = 0
    control_windows: int = 0
    control_events: int = 0
    evaluations: int = 0
    windows: int = 0
    costs: list[float] = field(default_factory=list)

    def add(
        self, looks: list[Look], start: int | None, events: int, window: int, scenario: str
    ) -> tuple[Look | None, Look | None]:
        """Count one stream's looks; its detection (first drifted close after the
        change) and its alert (first drifted look after it)."""
        self.evaluations += sum(look.end > window for look in looks)  # past the first window:
        self.windows += events // window - 1  # a sliding window needs one before it
        flagged = [look.end for look in looks if look.drifted]
        if start is None:
            self.control_windows += len({(end - 1) // window for end in flagged})
            self.control_events += events
            return None, None
        self.changes += 1
        self.false_windows += len({(end - 1) // window for end in flagged if end <= start})
        self.calm_events += start
        after = [look for look in looks if look.end > start and look.drifted]
        hit = next((look for look in after if look.close), None)
        alert = next(iter(after), None)
        target = SCENARIOS[scenario][0]
        if alert is not None:
            self.alert_delays.append(alert.end - start)
            self.by_scenario.setdefault(scenario, []).append(alert.end - start)
            self.alert_named += _names_the_change(alert.results, target)
        if hit is not None:
            self.detected += 1
            self.delays.append(hit.end - start)
            self.attributed += _names_the_change(hit.results, target)
        return hit, alert

    def row(self, name: str, window: int) -> str:
        per_window = self.evaluations / max(self.windows, 1)
        cost = statistics.median(self.costs) if self.costs else float("nan")
        return (
            f"{name:<34} {per_window:>5.1f} {1e6 * per_window * cost / window:>8.2f} "
            f"{self.detected:>4}/{self.changes:<3} "
            f"{100 * self.attributed / max(self.detected, 1):>5.0f}% "
            f"{100 * self.alert_named / max(len(self.alert_delays), 1):>5.0f}% "
            f"{_median(self.delays):>6.0f} {_median(self.alert_delays):>6.0f} "
            f"{self.fa_per_100k:>6.1f} {self.control_fa_per_100k:>6.1f}"
        )

    @property
    def fa_per_100k(self) -> float:
        return 1e5 * self.false_windows / max(self.calm_events, 1)

    @property
    def control_fa_per_100k(self) -> float:
        return 1e5 * self.control_windows / max(self.control_events, 1)


HEADER = (
    f"{'option':<34} {'evals':>5} {'us/event':>8} {'detected':>8} {'attrib':>6} "
    f"{'named':>6} {'delay':>6} {'alert':>6} {'fa':>6} {'ctl_fa':>6}"
)


def _median(values: list[int]) -> float:
    return statistics.median(values) if values else float("nan")


def _options(looks: int) -> dict[str, Option]:
    """The ways to look at a stream compared, the daemon's (``drift.checkpoints``) first."""
    return {
        f"{looks} looks at alpha/{looks} (daemon)": _spending([ALPHA / looks] * looks),
        "close only": _spending([0.0] * (looks - 1) + [ALPHA]),
        f"{looks} looks, OBF spending": _spending(obf_levels(ALPHA, looks)),
        f"sliding, every 1/{looks}, alpha/{looks}": _sliding,
        f"CUSUM of 1/{looks}-window blocks": _cusum,
    }


def _blocks(layout: WindowLayout, windows: list[Columns], looks: int) -> Stream:
    """Each window cut into ``looks`` blocks at ``size * j / looks`` events."""
    blocks, ends, passed = [], [], 0
    for columns in windows:
        size = len(columns["f0"])
        cuts = [size * j // looks for j in range(looks + 1)]
        for a, b in itertools.pairwise(cuts):
            block = {name: column[a:b] for name, column in columns.items()}
            blocks.append(layout.accumulate(_encode(layout, block), {}))
            ends.append(passed + b)
        passed += size
    return Stream(layout, blocks, ends, looks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--window", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--checkpoints", type=int, default=8)
    parser.add_argument("--change-at", type=float, default=0.5, help="share of a window")
    args = parser.parse_args()
    window = args.window
    options = _options(args.checkpoints)
    tallies = {name: Tally() for name in options}
    chosen = next(iter(options))
    builds: list[float] = []
    for seed in range(args.seeds):
        for index, (scenario, (target, _, _)) in enumerate(SCENARIOS.items()):
            rng = np.random.default_rng([seed, index])
            began = time.perf_counter()
            profile = build_reference_profile(
                "bench", SPECS, draw(rng, 20_000), bins=50, max_categories=100,
                created_at=0.0, source="benchmark",
            )  # fmt: skip
            builds.append(time.perf_counter() - began)
            windows, start = _stream(rng, scenario, window, args.change_at)
            stream = _blocks(WindowLayout(profile), windows, args.checkpoints)
            for name, option in options.items():
                stream.costs = tallies[name].costs
                events = len(windows) * window
                hit, alert = tallies[name].add(option(stream), start, events, window, scenario)
                if name != chosen or start is None:
                    continue
                if hit is None:
                    print(f"{scenario} seed {seed}: not detected")
                    continue
                named = _names_the_change(hit.results, target)
                drifted = sorted({f"{r.signal}/{r.method}" for r in hit.results if r.drifted})
                print(
                    f"{scenario} seed {seed}: window {(hit.end - 1) // window}, delay "
                    f"{hit.end - start} events, alert "
                    f"{'never' if alert is None else alert.end - start}, "
                    f"{'named' if named else 'NOT named'}: {', '.join(drifted)}"
                )
    print(HEADER)
    for name, tally in tallies.items():
        print(tally.row(name, window))
    changes = [s for s in SCENARIOS if not s.startswith("control")]
    print(f"{'alert delay, median':<34} " + " ".join(f"{s:>11}" for s in changes))
    for name, tally in tallies.items():
        delays = (_median(tally.by_scenario.get(s, [])) for s in changes)
        print(f"{name:<34} " + " ".join(f"{d:>11.0f}" for d in delays))
    best = tallies[chosen]
    print(
        f"evaluation {statistics.median(best.costs) * 1e3:.2f} ms per window (median), "
        f"reference build {statistics.median(builds):.2f} s (median), "
        f"{args.checkpoints} looks a window"
    )
    print(
        f"detected={best.detected}/{best.changes} "
        f"attributed={100 * best.attributed / max(best.detected, 1):.0f}% "
        f"median_delay={_median(best.delays):.0f} "
        f"alert_delay={_median(best.alert_delays):.0f} "
        f"fa_per_100k={best.fa_per_100k:.1f} "
        f"control_fa_per_100k={best.control_fa_per_100k:.1f}"
    )


if __name__ == "__main__":
    main()
