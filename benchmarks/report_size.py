"""The report's budget, and the plotting candidates it was chosen against (issue 14, item 3).

Run::

    .venv/bin/python benchmarks/report_size.py [--windows N] [--runs R] [--out DIR]
        [--vl-convert-python PATH]

The budget: a report of 25 signals by 200 windows is at most 3 MB and renders in under
2 s. The model has 21 numeric and 3 categorical features and a numeric prediction (25
signals; with joint drift on, a 26th timeline), 200 windows of 1,000 events kept in a
redis-server of the script's own as the evaluator keeps them
(``monitor.tooling.kept_windows``), ``num_2`` shifted by one standard deviation in the
second half. Every candidate draws the same charts from the same data
(``monitor.report.data.gather``): each signal's timeline over the 200 windows (score,
warn and critical thresholds, drifted windows marked) and the distribution of every
feature, reference beside the newest drifted window's (the worst case: every feature
asked for with ``--signal``):

``svg``
    drift-monitor's own page (``monitor.report.render``: inline SVG drawn in Python, no
    script), the whole page with its header and tables, built from Redis; also as
    ``report`` without ``--signal`` (what the default report draws: the drifted signal's
    distribution only).
``matplotlib``
    Each chart a Matplotlib figure saved as SVG (text as text) and inlined; the charts
    only. Skipped where Matplotlib is not installed (the project does not need it).
``plotly``
    Each chart a Plotly figure, ``to_html`` with plotly.js inlined once; the charts only.
    Skipped where Plotly is not installed.
``vega-lite``
    Each chart a Vega-Lite spec converted to SVG by vl-convert, in a subprocess of the
    Python given by ``--vl-convert-python`` (a virtualenv with ``vl-convert-python``; it
    is never a dependency of the project); skipped without it.

For each page: its size, the seconds to build it (for ``svg``, from Redis; for the
others, from the gathered data), and in headless Chromium (``monitor.tooling.chromium``,
one browser, the page loaded ``--runs`` times, median) the milliseconds from navigation
start to the load event and to the first frame painted after it (two
``requestAnimationFrame`` callbacks later), the requests the page sent beyond its own
file (``data:`` URLs, which fetch nothing, aside), and its console errors. Also the
Redis memory of the kept counts (``MEMORY USAGE``), the README's "memory per model". The
pages are left in ``--out``.

Last line::

    report_mb=<MB> report_build_s=<s> report_render_ms=<ms> kept_mb=<MB>
"""

from __future__ import annotations

import argparse
import functools
import html
import importlib.util
import io
import json
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from detectors.window import NumericSlots, WindowLayout
from monitor.config import Config, parse_config
from monitor.keys import Keys
from monitor.redis_client import connect
from monitor.reference import build_profile_from_file
from monitor.report import build
from monitor.report.data import ModelData, gather, shares
from monitor.store import StateStore
from monitor.tooling.chromium import Chromium
from monitor.tooling.embedded import RedisServer
from monitor.tooling.kept_windows import keep_windows
from monitor.tooling.synthetic import SyntheticModel, blocks

MODEL = SyntheticModel(name="budget", numeric=21, categorical=3)
SHIFTED = "num_2"
BUDGET_BYTES = 3_000_000
BUDGET_RENDER_MS = 2000.0

FIRST_FRAME = (
    "new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => "
    "done([performance.getEntriesByType('navigation')[0].loadEventEnd, performance.now()]))))"
)
"""Load event and first frame after it, in ms from navigation start (the page's own clock)."""


@dataclass(frozen=True, slots=True)
class Timeline:
    signal: str
    method: str
    windows: list[int]
    scores: list[float]
    warn: float
    critical: float
    drifted: list[int]


@dataclass(frozen=True, slots=True)
class Distribution:
    """Reference beside window: numeric as densities on edges, categorical as shares."""

    signal: str
    window: int
    labels: list[str]
    """Categories; empty for a numeric signal (then ``edges`` holds its bins)."""
    edges: list[float]
    reference: list[float]
    drawn: list[float]


@dataclass(frozen=True, slots=True)
class Page:
    name: str
    html: str
    build_s: float


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--windows", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5, help="loads of each page (median)")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "report-size")
    parser.add_argument("--vl-convert-python", type=Path, help="a Python with vl-convert-python")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    with RedisServer() as redis_server:
        config, store = _kept_history(redis_server.url, args.out, args.windows)
        kept = _kept_bytes(store)
        print(f"{args.windows} windows kept in Redis: {kept / 1e6:.2f} MB (MEMORY USAGE)")
        features = list(config.models[MODEL.name].features)
        pages = [
            _timed("report", lambda: build(config, store, windows=args.windows)),
            _timed("svg", lambda: build(config, store, windows=args.windows, signals=features)),
        ]
        data = gather(config, store, MODEL.name, windows=args.windows)
        timelines, distributions = _charts(data, features)
        print(f"charts: {len(timelines)} timelines, {len(distributions)} distributions")
        for name, draw in (("matplotlib", matplotlib_page), ("plotly", plotly_page)):
            if importlib.util.find_spec(name) is None:  # not a dependency of the project
                print(f"{name}: n/a (not installed)")
                continue
            pages.append(_timed(name, functools.partial(draw, timelines, distributions)))
        if args.vl_convert_python is not None:
            python = args.vl_convert_python
            pages.append(
                _timed("vega-lite", lambda: vega_lite_page(timelines, distributions, python))
            )
        else:
            print("vega-lite: n/a (no --vl-convert-python)")
    rendered = _render(pages, args.out, args.runs)
    report = rendered["report"]
    print(
        f"report_mb={len(pages[0].html.encode()) / 1e6:.2f} report_build_s={pages[0].build_s:.2f} "
        f"report_render_ms={report:.0f} kept_mb={kept / 1e6:.2f}"
    )
    return 0


def _kept_history(redis_url: str, folder: Path, windows: int) -> tuple[Config, StateStore]:
    reference = folder / "reference.jsonl"
    with reference.open("wb") as handle:
        for block in blocks(MODEL, 5000, seed=1):
            handle.write(b"\n".join(block) + b"\n")
    config = parse_config(
        {
            "kafka": {"bootstrap_servers": "127.0.0.1:9", "group_id": "report-size"},
            "redis": {"url": redis_url, "key_prefix": "report-size"},
            "http": {"port": 0},
            "models": {
                MODEL.name: {
                    "reference": {"path": str(reference)},
                    "window": {"events": 1000},
                    "features": MODEL.features(),
                    "prediction": "numeric",
                }
            },
        }
    )
    model = config.models[MODEL.name]
    layout = WindowLayout(build_profile_from_file(config, model, reference))
    store = StateStore(connect(redis_url), Keys(config.redis.key_prefix), history_size=windows)
    store.store_reference(layout.profile)
    started = time.perf_counter()
    keep_windows(store, config, layout, windows, SHIFTED)
    took = time.perf_counter() - started
    print(f"{len(layout.profile.signals)} signals; {windows} windows kept in {took:.1f} s")
    return config, store


def _kept_bytes(store: StateStore) -> int:
    keys = (store.keys.count_history(MODEL.name), store.keys.count_history_ids(MODEL.name))
    return sum(int(store.client.memory_usage(key) or 0) for key in keys)


def _timed(name: str, make: Callable[[], str]) -> Page:
    started = time.perf_counter()
    page = make()
    return Page(name, page, time.perf_counter() - started)


def _charts(data: ModelData, asked: Sequence[str]) -> tuple[list[Timeline], list[Distribution]]:
    """The data every candidate draws: what the report's own page draws, as plain lists."""
    assert data.layout is not None
    timelines = [
        Timeline(
            s.signal,
            s.method,
            [p.window_id for p in s.points],
            [p.score for p in s.points],
            max(p.warn for p in s.points),
            max(p.critical for p in s.points),
            s.drifted_windows,
        )
        for s in data.series
    ]
    distributions = []
    for s in data.series:
        if s.signal not in data.layout.signals or not (s.drifted_windows or s.signal in asked):
            continue
        window = (s.drifted_windows or data.window_ids)[-1]
        where = data.layout.signals[s.signal]
        ints = data.window(window).counts.ints
        if isinstance(where, NumericSlots):
            counts = ints[where.bins]
            profile = where.profile
            edges = np.maximum.accumulate(
                np.concatenate(([profile.minimum], profile.edges, [profile.maximum]))
            )
            widths = np.maximum(np.diff(edges), 1e-12)
            distributions.append(
                Distribution(
                    s.signal,
                    window,
                    [],
                    edges.tolist(),
                    (shares(profile.counts) / widths).tolist(),
                    (shares(counts) / widths).tolist(),
                )
            )
        else:
            labels = [*where.profile.categories, "(other)", "(unseen)"]
            distributions.append(
                Distribution(
                    s.signal,
                    window,
                    labels,
                    [],
                    shares(where.profile.counts).tolist(),
                    shares(ints[where.slots]).tolist(),
                )
            )
    return timelines, distributions


def _page(title: str, charts: Sequence[str], head: str = "") -> str:
    body = "".join(f"<div class='chart'>{c}</div>" for c in charts)
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>.chart{{display:inline-block;vertical-align:top}}</style>{head}</head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


# -- Matplotlib ---------------------------------------------------------------------------


def matplotlib_page(timelines: Sequence[Timeline], distributions: Sequence[Distribution]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.fonttype"] = "none"  # text as text: smaller than glyph paths
    charts = []

    def svg(figure: Any) -> str:
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg")
        plt.close(figure)
        text = buffer.getvalue()
        return text[text.index("<svg") :]

    for t in timelines:
        figure, axes = plt.subplots(figsize=(6, 1.5))
        axes.plot(t.windows, t.scores, color="#2f6fde", linewidth=1)
        axes.axhline(t.warn, color="#d99a00", linestyle="--", linewidth=0.8)
        axes.axhline(t.critical, color="#c8322d", linestyle="--", linewidth=0.8)
        drifted = set(t.drifted)
        marked = [(w, s) for w, s in zip(t.windows, t.scores, strict=True) if w in drifted]
        if marked:
            windows, scores = zip(*marked, strict=True)
            axes.scatter(windows, scores, color="#c8322d", s=6)
        axes.set_title(f"{t.signal} · {t.method}", fontsize=9, loc="left")
        charts.append(svg(figure))
    for d in distributions:
        figure, axes = plt.subplots(figsize=(5.6, 2.4))
        if d.labels:
            at = np.arange(len(d.labels))
            axes.barh(at - 0.2, d.reference, height=0.4, color="#9aa5b1", label="reference")
            axes.barh(at + 0.2, d.drawn, height=0.4, color="#2f6fde", label=f"window {d.window}")
            axes.set_yticks(at, d.labels, fontsize=7)
        else:
            edges = np.asarray(d.edges)
            axes.stairs(d.reference, edges, fill=True, color="#9aa5b1", label="reference")
            axes.stairs(d.drawn, edges, color="#2f6fde", label=f"window {d.window}")
        axes.set_title(d.signal, fontsize=9, loc="left")
        axes.legend(fontsize=7)
        charts.append(svg(figure))
    return _page("matplotlib", charts)


# -- Plotly -------------------------------------------------------------------------------


def plotly_page(timelines: Sequence[Timeline], distributions: Sequence[Distribution]) -> str:
    import plotly.graph_objects as go

    figures = []
    for t in timelines:
        drifted = set(t.drifted)
        marked = [(w, s) for w, s in zip(t.windows, t.scores, strict=True) if w in drifted]
        figure = go.Figure(go.Scatter(x=t.windows, y=t.scores, mode="lines", name="score"))
        if marked:
            x, y = zip(*marked, strict=True)
            figure.add_trace(go.Scatter(x=x, y=y, mode="markers", name="drifted"))
        figure.add_hline(y=t.warn, line_dash="dash", line_color="#d99a00")
        figure.add_hline(y=t.critical, line_dash="dash", line_color="#c8322d")
        figure.update_layout(title=f"{t.signal} · {t.method}", width=600, height=180)
        figures.append(figure)
    for d in distributions:
        if d.labels:
            figure = go.Figure(
                [
                    go.Bar(y=d.labels, x=d.reference, orientation="h", name="reference"),
                    go.Bar(y=d.labels, x=d.drawn, orientation="h", name=f"window {d.window}"),
                ]
            )
        else:
            middle = [(a + b) / 2 for a, b in zip(d.edges[:-1], d.edges[1:], strict=True)]
            width = [b - a for a, b in zip(d.edges[:-1], d.edges[1:], strict=True)]
            figure = go.Figure(
                [
                    go.Bar(x=middle, y=d.reference, width=width, name="reference"),
                    go.Bar(x=middle, y=d.drawn, width=width, name=f"window {d.window}"),
                ]
            )
            figure.update_layout(barmode="overlay")
        figure.update_layout(title=d.signal, width=560, height=240)
        figures.append(figure)
    charts = [
        f.to_html(full_html=False, include_plotlyjs=i == 0, config={"displayModeBar": False})
        for i, f in enumerate(figures)
    ]
    return _page("plotly", charts)


# -- Vega-Lite ----------------------------------------------------------------------------

VL_CONVERT = """
import json, sys
import vl_convert
print(json.dumps([vl_convert.vegalite_to_svg(vl_spec=s) for s in json.load(sys.stdin)]))
"""


def vega_lite_page(
    timelines: Sequence[Timeline], distributions: Sequence[Distribution], python: Path
) -> str:
    specs: list[dict[str, Any]] = []
    rows: list[dict[str, Any]]
    for t in timelines:
        drifted = set(t.drifted)
        rows = [
            {"window": w, "score": s, "drifted": w in drifted}
            for w, s in zip(t.windows, t.scores, strict=True)
        ]
        specs.append(
            {
                "title": f"{t.signal} · {t.method}",
                "width": 520,
                "height": 100,
                "layer": [
                    {
                        "data": {"values": rows},
                        "mark": "line",
                        "encoding": {
                            "x": {"field": "window", "type": "quantitative"},
                            "y": {"field": "score", "type": "quantitative"},
                        },
                    },
                    {
                        "data": {"values": [r for r in rows if r["drifted"]]},
                        "mark": {"type": "point", "color": "#c8322d"},
                        "encoding": {
                            "x": {"field": "window", "type": "quantitative"},
                            "y": {"field": "score", "type": "quantitative"},
                        },
                    },
                    {
                        "data": {"values": [{"y": t.warn}, {"y": t.critical}]},
                        "mark": {"type": "rule", "strokeDash": [5, 3]},
                        "encoding": {"y": {"field": "y", "type": "quantitative"}},
                    },
                ],
            }
        )
    for d in distributions:
        if d.labels:
            rows = [
                {"category": c, "source": source, "share": v}
                for source, values in (("reference", d.reference), ("window", d.drawn))
                for c, v in zip(d.labels, values, strict=True)
            ]
            encoding = {
                "y": {"field": "category", "type": "nominal"},
                "yOffset": {"field": "source"},
                "x": {"field": "share", "type": "quantitative"},
                "color": {"field": "source"},
            }
            mark: dict[str, Any] = {"type": "bar"}
        else:
            rows = [
                {"from": a, "to": b, "source": source, "density": v}
                for source, values in (("reference", d.reference), ("window", d.drawn))
                for a, b, v in zip(d.edges[:-1], d.edges[1:], values, strict=True)
            ]
            encoding = {
                "x": {"field": "from", "type": "quantitative"},
                "x2": {"field": "to"},
                "y": {"field": "density", "type": "quantitative"},
                "color": {"field": "source"},
            }
            mark = {"type": "rect", "opacity": 0.6}
        specs.append(
            {
                "title": d.signal,
                "width": 480,
                "height": 160,
                "data": {"values": rows},
                "mark": mark,
                "encoding": encoding,
            }
        )
    converted = subprocess.run(
        [str(python), "-c", VL_CONVERT],
        input=json.dumps(specs).encode(),
        capture_output=True,
        check=True,
    )
    return _page("vega-lite", json.loads(converted.stdout))


# -- Chromium -----------------------------------------------------------------------------


def _render(pages: Sequence[Page], folder: Path, runs: int) -> dict[str, float]:
    """Each page loaded ``runs`` times in one headless Chromium: the median ms to its first
    frame after the load event; a table of everything measured, printed."""
    medians = {}
    print(
        f"{'page':<11} {'MB':>6} {'build s':>8} {'load ms':>8} {'frame ms':>9} "
        f"{'first ms':>9}  requests, console errors"
    )
    with Chromium() as browser:
        for page in pages:
            path = folder / f"{page.name}.html"
            path.write_text(page.html, encoding="utf-8")
            before = len(browser.log.requests), len(browser.log.errors)
            timings = []
            for _ in range(runs):
                browser.open(path.as_uri(), timeout=120)
                timings.append(browser.evaluate(FIRST_FRAME, timeout=120))
            asked = [
                u
                for u in browser.log.requests[before[0] :]
                if u != path.as_uri() and not u.startswith("data:")  # data: is no request out
            ]
            errors = browser.log.errors[before[1] :]
            load = statistics.median(t[0] for t in timings)
            frame = statistics.median(t[1] for t in timings)
            medians[page.name] = frame
            size = len(page.html.encode())
            verdict = "" if size <= BUDGET_BYTES and frame <= BUDGET_RENDER_MS else "  over budget"
            print(
                f"{page.name:<11} {size / 1e6:>6.2f} {page.build_s:>8.2f} {load:>8.0f} "
                f"{frame:>9.0f} {timings[0][1]:>9.0f}  {len(asked)}, {len(errors)}{verdict}"
            )
            for line in sorted({u[:100] for u in asked} | {e[:100] for e in errors}):
                print(f"    {line}")
    return medians


if __name__ == "__main__":
    raise SystemExit(main())
