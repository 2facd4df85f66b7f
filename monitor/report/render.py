"""The report as one HTML page: inline CSS and SVG drawn here, no script but the live page's
reload check, nothing fetched.

Every string that can come from events or the config (model names, signal and category
names, versions, dedup keys) goes through :func:`esc` (``html.escape``), in text and in
attributes alike.
"""

from __future__ import annotations

import html
import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from detectors.profile import CategoricalProfile, NumericProfile
from detectors.window import NumericSlots
from monitor.report.data import Episode, ModelData, Series, correlation, shares
from monitor.report.history import JOINT_KEPT_FEATURES, joint_kept

REFERENCE_COLOUR = "#9aa5b1"
WINDOW_COLOUR = "#2f6fde"
WARN_COLOUR = "#d99a00"
CRITICAL_COLOUR = "#c8322d"
EPISODE_COLOUR = "#f6d5d3"
MAX_CATEGORIES_DRAWN = 20
MAX_MATRIX_FEATURES = 24
MAX_TIMELINES = 60
MAX_QUALITY_ROWS = 60
PAIRS_LISTED = 10

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2933;
background:#f5f7fa}
main{max-width:1320px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px;margin:8px 0 4px}h2{font-size:19px;margin:28px 0 8px;
border-bottom:2px solid #d9e2ec;padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}
.meta{color:#52606d;font-size:13px}.card{background:#fff;border:1px solid #d9e2ec;
border-radius:6px;padding:10px 14px;margin:8px 0}
.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:6px 18px}
.facts div b{display:block;font-size:12px;color:#52606d;font-weight:500}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:10px}
.pair{display:grid;grid-template-columns:minmax(0,3fr) minmax(220px,2fr);gap:14px;
align-items:start}
table{border-collapse:collapse;font-size:13px}td,th{padding:3px 8px;text-align:left;
border-bottom:1px solid #e4e7eb}th{color:#52606d;font-weight:600}td.n{text-align:right;
font-variant-numeric:tabular-nums}
.drift{color:#c8322d;font-weight:600}.ok{color:#2f8132}.warn{color:#b07a00}
.empty{color:#52606d;font-style:italic}svg{display:block;max-width:100%;height:auto}
.legend span{display:inline-block;margin-right:14px}.sw{display:inline-block;width:11px;
height:11px;margin-right:4px;vertical-align:-1px;border-radius:2px}
nav a{margin-right:14px}
"""

LIVE_SCRIPT = """
(function(){var seen=%s;function check(){fetch('/ui/version',{cache:'no-store'})
.then(function(r){if(r.ok){return r.text()}throw r}).then(function(v){if(v!==seen)
{location.reload()}}).catch(function(){})}setInterval(check,%d)})();
"""
"""The live page's one script: it reloads once ``/ui/version`` differs from the version the
page was drawn at (written into it, so a window that closes before the first check still
counts)."""


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def render_page(
    models: Sequence[ModelData],
    *,
    title: str = "drift-monitor report",
    signals: Sequence[str] = (),
    live_poll_ms: int = 0,
    live_version: str = "",
) -> str:
    """The whole page; ``live_poll_ms`` > 0 adds the live page's reload-on-new-window check,
    against ``live_version`` (:func:`monitor.report.version` when the data was read)."""
    now = time.time()
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        # An empty icon: else the browser asks the live page's server for /favicon.ico,
        # and its 404 is a console error.
        "<link rel='icon' href='data:,'>",
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body><main>",
        f"<h1>{esc(title)}</h1><p class='meta'>generated {esc(_when(now))}"
        + (" · live: reloads when a window closes" if live_poll_ms else "")
        + "</p>",
    ]
    if len(models) > 1:
        parts.append(
            "<nav>"
            + "".join(f"<a href='#m-{i}'>{esc(m.name)}</a>" for i, m in enumerate(models))
            + "</nav>"
        )
    if not models:
        parts.append("<p class='empty'>No model in the config.</p>")
    for index, model in enumerate(models):
        parts.append(render_model(model, f"m-{index}", signals))
    if live_poll_ms:
        parts.append(f"<script>{LIVE_SCRIPT % (json.dumps(live_version), live_poll_ms)}</script>")
    parts.append("</main></body></html>")
    return "".join(parts)


def render_model(model: ModelData, anchor: str, signals: Sequence[str] = ()) -> str:
    out = [f"<section id='{anchor}'><h2>model {esc(model.name)}</h2>", _header(model)]
    if model.reference is None:
        out.append(
            "<p class='empty'>No reference profile in Redis yet: nothing to compare with. "
            "Build one with <code>drift-monitor reference build</code>, or let the daemon "
            "collect it from the stream.</p></section>"
        )
        return "".join(out)
    if not model.windows:
        closed = model.status.get("windows_closed", 0)
        out.append(
            "<p class='empty'>No closed window with kept counts yet"
            + (
                f" ({closed} closed before counts were kept, or against another reference)"
                if closed
                else f"; the first closes after {esc(_window_size(model))}"
            )
            + ".</p>"
        )
    else:
        out.append(_timelines(model, signals))
        out.append(_distributions(model, signals))
        out.append(_joint(model))
    out.append(_estimated(model))
    out.append(_quality(model))
    out.append("</section>")
    return "".join(out)


# -- header ------------------------------------------------------------------------------


def _header(model: ModelData) -> str:
    status, reference = model.status, model.reference
    facts: list[tuple[str, str]] = []
    if reference is not None:
        facts.append(("reference", reference.id))
        facts.append(("reference built", _when(reference.created_at)))
        facts.append(("reference events", f"{reference.events:,}"))
    facts += [
        ("events", f"{status.get('events', 0):,}"),
        ("windows closed", f"{status.get('windows_closed', 0):,}"),
        ("windows open / closing", f"{status['windows_open']} / {status['windows_closing']}"),
        ("windows drawn", f"{len(model.windows)}"),
        ("model versions seen", ", ".join(model.versions) or "none named"),
        ("late events", f"{status.get('late_events', 0):,}"),
    ]
    labels = status.get("labels") or {}
    if model.config.task is not None:
        coverage = labels.get("coverage")
        facts.append(("labels joined", f"{labels.get('joined', 0):,}"))
        facts.append(("label coverage", "—" if coverage is None else f"{coverage:.1%}"))
    cells = "".join(f"<div><b>{esc(k)}</b>{esc(v)}</div>" for k, v in facts)
    alerts = _open_alerts(model)
    return f"<div class='card'><div class='facts'>{cells}</div>{alerts}</div>"


def _open_alerts(model: ModelData) -> str:
    if not model.open_alerts:
        return "<p class='meta'>open alert episodes: none</p>"
    rows = "".join(
        f"<tr><td>{esc(a['key'])}</td><td class='{_severity_class(a['severity'])}'>"
        f"{esc(a['status'])}</td><td>{esc(a['severity'] or '')}</td><td class='n'>"
        f"{esc(a['episode'])}</td><td>{esc(a['method'] or '')}</td><td>"
        f"{esc(_when(a['since_ts']) if a['since_ts'] else '')}</td><td class='n'>"
        f"{esc('' if a['last_window'] is None else a['last_window'])}</td></tr>"
        for a in model.open_alerts
    )
    return (
        f"<h3>open alert episodes ({len(model.open_alerts)})</h3><table><tr><th>dedup key</th>"
        "<th>status</th><th>severity</th><th>episode</th><th>method</th><th>since</th>"
        f"<th>last window</th></tr>{rows}</table>"
    )


# -- timelines ---------------------------------------------------------------------------


def _timelines(model: ModelData, asked: Sequence[str]) -> str:
    ids = model.window_ids
    first_drift = {s.signal: s.drifted_windows[0] for s in model.series if s.drifted_windows}
    summary = (
        "drifted: "
        + ", ".join(
            f"<span class='drift'>{esc(signal)}</span> from window {w}"
            for signal, w in sorted(first_drift.items(), key=lambda item: item[1])
        )
        if first_drift
        else "<span class='ok'>no signal drifted in these windows</span>"
    )
    legend = (
        "<p class='legend meta'>"
        f"<span><i class='sw' style='background:{WINDOW_COLOUR}'></i>score</span>"
        f"<span><i class='sw' style='background:{WARN_COLOUR}'></i>warn</span>"
        f"<span><i class='sw' style='background:{CRITICAL_COLOUR}'></i>critical; ● drifted "
        f"window</span><span><i class='sw' style='background:{EPISODE_COLOUR}'></i>alert "
        "episode</span></p>"
    )
    drawn = _timelines_drawn(model.series, asked)
    charts = "".join(
        f"<div class='card'>{timeline_svg(series, ids, _episodes_of(model.episodes, series))}</div>"
        for series in drawn
    )
    left_out = len(model.series) - len(drawn)
    note = (
        f"<p class='meta'>{left_out} more signals did not drift in these windows and are not "
        f"drawn (at most {MAX_TIMELINES} timelines: the drifted, the asked-for, then the "
        "closest to their warn threshold).</p>"
        if left_out
        else ""
    )
    return (
        f"<h3>timelines: windows {ids[0]} to {ids[-1]}</h3><p>{summary}</p>{legend}"
        f"<div class='grid'>{charts}</div>{note}"
    )


def _timelines_drawn(series: Sequence[Series], asked: Sequence[str]) -> list[Series]:
    """Every series of a narrow model; of a wide one, the drifted and asked-for ones and
    then those closest to their warn threshold, up to ``MAX_TIMELINES``, in their order."""
    if len(series) <= MAX_TIMELINES:
        return list(series)
    must = {id(s) for s in series if s.drifted_windows or s.signal in asked}

    def reach(line: Series) -> float:
        return max((p.score / p.warn for p in line.points if p.warn > 0), default=0.0)

    rest = sorted((s for s in series if id(s) not in must), key=reach, reverse=True)
    room = max(MAX_TIMELINES - len(must), 0)
    chosen = must | {id(s) for s in rest[:room]}
    return [s for s in series if id(s) in chosen]


def _episodes_of(episodes: Iterable[Episode], series: Series) -> list[Episode]:
    return [e for e in episodes if e.signal == series.signal]


def timeline_svg(series: Series, ids: Sequence[int], episodes: Sequence[Episode]) -> str:
    """Score per window against the warn and critical thresholds; drifted windows marked,
    alert episodes shaded."""
    width, height, left, right, top, bottom = 600, 150, 46, 10, 26, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    all_ids = sorted({*ids, *(p.window_id for p in series.points)})
    lo, hi = all_ids[0], all_ids[-1]
    span = max(hi - lo, 1)
    scores = [p.score for p in series.points if math.isfinite(p.score)]
    critical = max((p.critical for p in series.points), default=1.0)
    warn = max((p.warn for p in series.points), default=0.0)
    top_value = max([critical * 1.25, *scores, 1e-9])

    def x(window_id: float) -> float:
        return left + (window_id - lo) / span * plot_w

    def y(value: float) -> float:
        return top + plot_h - min(max(value, 0.0), top_value) / top_value * plot_h

    drifted = series.drifted_windows
    head = f"{series.signal} · {series.method}"
    note = f"drifted from window {drifted[0]}" if drifted else "no drift"
    out = [
        f"<svg viewBox='0 0 {width} {height}' role='img' aria-label='{esc(head)}' "
        f"data-signal='{esc(series.signal)}' data-method='{esc(series.method)}' "
        f"data-drifted='{' '.join(map(str, drifted))}'>",
        f"<text x='{left}' y='15' font-size='13' font-weight='600'>{esc(head)}</text>",
        f"<text x='{width - right}' y='15' font-size='12' text-anchor='end' "
        f"fill='{CRITICAL_COLOUR if drifted else '#52606d'}'>{esc(note)}</text>",
    ]
    step = plot_w / span
    for episode in episodes:
        end = hi if episode.last_window is None else episode.last_window
        x0, x1 = x(episode.first_window) - step / 2, x(end) + step / 2
        out.append(
            f"<rect class='episode' x='{max(x0, left):.1f}' y='{top}' "
            f"width='{max(min(x1, left + plot_w) - max(x0, left), 1):.1f}' height='{plot_h}' "
            f"fill='{EPISODE_COLOUR}'><title>{esc(episode.key)} episode {esc(episode.episode)}"
            "</title></rect>"
        )
    out.append(
        f"<rect x='{left}' y='{top}' width='{plot_w}' height='{plot_h}' fill='none' "
        "stroke='#cbd2d9'/>"
    )
    for value, colour in ((warn, WARN_COLOUR), (critical, CRITICAL_COLOUR)):
        if value > 0:
            out.append(
                f"<line x1='{left}' x2='{left + plot_w}' y1='{y(value):.1f}' y2='{y(value):.1f}' "
                f"stroke='{colour}' stroke-dasharray='5 3'/>"
            )
    line = " ".join(
        f"{x(p.window_id):.1f},{y(p.score):.1f}" for p in series.points if math.isfinite(p.score)
    )
    out.append(
        f"<polyline points='{line}' fill='none' stroke='{WINDOW_COLOUR}' stroke-width='1.6'/>"
    )
    radius = 3.2 if len(series.points) <= 60 else 2.2
    for p in series.points:
        if p.drifted and math.isfinite(p.score):
            out.append(
                f"<circle class='drifted' data-window='{p.window_id}' cx='{x(p.window_id):.1f}' "
                f"cy='{y(p.score):.1f}' r='{radius}' fill='{CRITICAL_COLOUR}'><title>window "
                f"{p.window_id}: {p.score:.3g} (warn {p.warn:g})</title></circle>"
            )
    axis = top + plot_h + 15
    out += [
        f"<text x='{left - 4}' y='{top + 9}' font-size='10' text-anchor='end'>"
        f"{top_value:.2g}</text>",
        f"<text x='{left - 4}' y='{top + plot_h}' font-size='10' text-anchor='end'>0</text>",
        f"<text x='{left}' y='{axis}' font-size='10'>window {lo}</text>",
        f"<text x='{left + plot_w}' y='{axis}' font-size='10' text-anchor='end'>{hi}</text>",
        "</svg>",
    ]
    return "".join(out)


# -- distributions -----------------------------------------------------------------------


def _distributions(model: ModelData, asked: Sequence[str]) -> str:
    """Reference beside the window, for each drifted signal and each asked-for one: the
    newest window it drifted in, else the newest window."""
    layout = model.layout
    assert layout is not None
    drawn = []
    for series in model.series:
        if series.signal not in layout.signals:
            continue
        if series.drifted_windows or series.signal in asked:
            window_id = (series.drifted_windows or model.window_ids)[-1]
            drawn.append((series.signal, window_id))
    if not drawn:
        return (
            "<h3>distributions</h3><p class='empty'>No signal drifted in these windows; "
            "pass <code>--signal NAME</code> to draw one anyway.</p>"
        )
    out = ["<h3>distributions: reference beside the window</h3>"]
    for signal, window_id in drawn:
        window = model.window(window_id)
        where = layout.signals[signal]
        if isinstance(where, NumericSlots):
            picture = numeric_histogram_svg(
                where.profile, window.counts.ints[where.bins], signal, window_id
            )
        else:
            picture = categorical_bars_svg(
                where.profile, window.counts.ints[where.slots], signal, window_id
            )
        scores = _scores_table(model, signal, window_id)
        out.append(
            f"<div class='card'><div class='pair'><div>{picture}</div><div>{scores}</div></div>"
            "</div>"
        )
    return "".join(out)


def _scores_table(model: ModelData, signal: str, window_id: int) -> str:
    rows = "".join(
        f"<tr><td>{esc(r.method)}</td><td class='n'>{r.score:.4g}</td><td class='n'>"
        f"{'—' if r.p_value is None else f'{r.p_value:.2g}'}</td><td class='n'>{r.warn:g} / "
        f"{r.critical:g}</td><td class='{_severity_class(r.severity)}'>{esc(r.severity)}</td></tr>"
        for r in model.results.get(window_id, ())
        if r.signal == signal
    )
    window = model.window(window_id)
    return (
        f"<p><b>{esc(signal)}</b>, window {window_id} ({window.counts.events:,} events)</p>"
        "<table><tr><th>method</th><th>score</th><th>p</th><th>warn / crit</th><th></th></tr>"
        f"{rows}</table>"
    )


def numeric_histogram_svg(
    profile: NumericProfile, counts: NDArray[np.int64], signal: str, window_id: int
) -> str:
    """Density on the reference's bins (outer bins drawn to the reference's min and max),
    reference as grey bars, the window as blue outlined bars over them."""
    width, height, left, right, top, bottom = 560, 236, 40, 12, 44, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    edges = np.concatenate(([profile.minimum], profile.edges, [profile.maximum]))
    edges = np.maximum.accumulate(edges)
    widths = np.maximum(np.diff(edges), 1e-12 * max(1.0, abs(float(edges[-1]))))
    ref = shares(profile.counts) / widths
    win = shares(counts) / widths
    top_density = float(max(ref.max(initial=0.0), win.max(initial=0.0))) or 1.0
    lo, hi = float(edges[0]), float(edges[-1])
    span = (hi - lo) or 1.0

    def x(value: float) -> float:
        return left + (value - lo) / span * plot_w

    def bars(density: NDArray[np.float64], cls: str, style: str) -> str:
        return "".join(
            f"<rect class='{cls}' x='{x(a):.1f}' y='{top + plot_h - d / top_density * plot_h:.1f}' "
            f"width='{max(x(b) - x(a), 0.5):.1f}' height='{d / top_density * plot_h:.1f}' {style}/>"
            for a, b, d in zip(edges[:-1], edges[1:], density, strict=True)
            if d > 0
        )

    return (
        f"<svg viewBox='0 0 {width} {height}' role='img' class='histogram' "
        f"data-signal='{esc(signal)}' data-window='{window_id}' "
        ">"
        f"<text x='{left}' y='16' font-size='13' font-weight='600'>{esc(signal)}: share per "
        "unit, on the reference's bins</text>"
        + bars(ref, "reference", f"fill='{REFERENCE_COLOUR}' fill-opacity='0.75'")
        + bars(
            win,
            "window",
            f"fill='{WINDOW_COLOUR}' fill-opacity='0.25' stroke='{WINDOW_COLOUR}' stroke-width='1'",
        )
        + f"<line x1='{left}' x2='{left + plot_w}' y1='{top + plot_h}' y2='{top + plot_h}' "
        "stroke='#7b8794'/>"
        f"<text x='{left}' y='{height - 10}' font-size='10'>{lo:.4g}</text>"
        f"<text x='{left + plot_w}' y='{height - 10}' font-size='10' text-anchor='end'>{hi:.4g}"
        "</text>" + _legend_svg(left, 34, window_id) + "</svg>"
    )


def categorical_bars_svg(
    profile: CategoricalProfile, counts: NDArray[np.int64], signal: str, window_id: int
) -> str:
    """Category shares, reference and window side by side; past the largest
    ``MAX_CATEGORIES_DRAWN`` the rest are summed in one row; unseen ones are one slot."""
    names = [*profile.categories, "(other reference categories)", "(unseen categories)"]
    ref, win = shares(profile.counts), shares(counts)
    order = sorted(range(len(names)), key=lambda i: -max(ref[i], win[i]))
    rows = [(names[i], float(ref[i]), float(win[i])) for i in order if ref[i] or win[i]]
    if len(rows) > MAX_CATEGORIES_DRAWN:
        rest = rows[MAX_CATEGORIES_DRAWN - 1 :]
        more = (f"({len(rest)} more)", sum(r[1] for r in rest), sum(r[2] for r in rest))
        rows = [*rows[: MAX_CATEGORIES_DRAWN - 1], more]
    row_h, left, top, width = 24, 170, 44, 560
    height = top + row_h * len(rows) + 10
    scale = max([0.0, *(max(r[1], r[2]) for r in rows)]) or 1.0
    plot_w = width - left - 110
    out = [
        f"<svg viewBox='0 0 {width} {height}' role='img' class='categories' "
        f"data-signal='{esc(signal)}' data-window='{window_id}' "
        ">",
        f"<text x='4' y='16' font-size='13' font-weight='600'>{esc(signal)}: share of events"
        "</text>",
        _legend_svg(left, 34, window_id),
    ]
    for i, (name, r, w) in enumerate(rows):
        y0 = top + i * row_h
        label = name if len(name) <= 24 else name[:23] + "…"
        out.append(
            f"<text class='category' x='{left - 6}' y='{y0 + 15}' font-size='11' "
            f"text-anchor='end'>{esc(label)}<title>{esc(name)}</title></text>"
            f"<rect class='reference' x='{left}' y='{y0 + 2}' width='{r / scale * plot_w:.1f}' "
            f"height='9' fill='{REFERENCE_COLOUR}'/>"
            f"<rect class='window' x='{left}' y='{y0 + 11}' width='{w / scale * plot_w:.1f}' "
            f"height='9' fill='{WINDOW_COLOUR}'/>"
            f"<text x='{left + max(r, w) / scale * plot_w + 4:.1f}' y='{y0 + 15}' "
            f"font-size='10' fill='#52606d'>{r:.1%} → {w:.1%}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def _legend_svg(x: float, y: float, window_id: int) -> str:
    return (
        f"<rect x='{x:.0f}' y='{y - 9}' width='10' height='10' fill='{REFERENCE_COLOUR}'/>"
        f"<text x='{x + 14:.0f}' y='{y}' font-size='11'>reference</text>"
        f"<rect x='{x + 90:.0f}' y='{y - 9}' width='10' height='10' fill='{WINDOW_COLOUR}'/>"
        f"<text x='{x + 104:.0f}' y='{y}' font-size='11'>window {window_id}</text>"
    )


# -- joint drift -------------------------------------------------------------------------


def _joint(model: ModelData) -> str:
    layout = model.layout
    if layout is None or layout.joint is None:
        return ""
    joint = layout.joint
    if not joint_kept(layout):
        return (
            f"<h3>joint drift</h3><p class='meta'>The joint sums of {joint.profile.size} numeric "
            f"features are not kept per window (over {JOINT_KEPT_FEATURES}: they grow with the "
            "square): no matrix; its timeline comes from the recorded results.</p>"
        )
    series = next((s for s in model.series if s.role == "multivariate"), None)
    if series is None or not series.points:
        return ""
    window_id = (series.drifted_windows or model.window_ids)[-1]
    counts = model.window(window_id).counts
    names = joint.profile.names
    window = correlation(counts.floats[joint.sums], int(counts.ints[joint.rows]), len(names))
    out = [f"<h3>joint drift: correlations, reference beside window {window_id}</h3>"]
    if window is None:
        return out[0] + "<p class='empty'>Too few complete rows in that window.</p>"
    reference = joint.profile.correlation
    if len(names) <= MAX_MATRIX_FEATURES:
        out.append(
            "<div class='card grid'>"
            + heatmap_svg(reference, names, "reference")
            + heatmap_svg(window, names, f"window {window_id}")
            + "</div>"
        )
    upper = np.triu_indices(len(names), 1)
    change = window[upper] - reference[upper]
    order = np.argsort(-np.abs(change))[:PAIRS_LISTED]
    rows = "".join(
        f"<tr><td>{esc(names[upper[0][k]])} &#215; {esc(names[upper[1][k]])}</td><td class='n'>"
        f"{reference[upper][k]:+.2f}</td><td class='n'>{window[upper][k]:+.2f}</td>"
        f"<td class='n'>{change[k]:+.2f}</td></tr>"
        for k in order
    )
    out.append(
        "<div class='card'><table><tr><th>pair (largest changes first)</th><th>reference</th>"
        f"<th>window</th><th>change</th></tr>{rows}</table></div>"
    )
    return "".join(out)


def heatmap_svg(matrix: NDArray[np.float64], names: Sequence[str], caption: str) -> str:
    d = len(names)
    cell = max(8, min(22, 440 // max(d, 1)))
    left, top = 90, 24
    size = left + cell * d + 10
    out = [
        f"<svg viewBox='0 0 {size} {top + cell * d + 8}' role='img' class='heatmap' "
        f"style='max-width:{size}px'>",
        f"<text x='{left}' y='15' font-size='12' font-weight='600'>{esc(caption)}</text>",
    ]
    for i in range(d):
        label = names[i] if len(names[i]) <= 12 else names[i][:11] + "…"
        out.append(
            f"<text x='{left - 4}' y='{top + i * cell + cell * 0.7:.1f}' font-size='9' "
            f"text-anchor='end'>{esc(label)}</text>"
        )
        for j in range(d):
            v = float(matrix[i, j])
            out.append(
                f"<rect x='{left + j * cell}' y='{top + i * cell}' width='{cell}' "
                f"height='{cell}' fill='{_diverging(v)}'><title>{esc(names[i])} &#215; "
                f"{esc(names[j])}: {v:+.2f}</title></rect>"
            )
    out.append("</svg>")
    return "".join(out)


def _diverging(value: float) -> str:
    """Blue for negative, red for positive correlation, white at 0."""
    v = max(-1.0, min(1.0, value))
    if v >= 0:
        r, g, b = 255, int(255 - 150 * v), int(255 - 170 * v)
    else:
        r, g, b = int(255 + 200 * v), int(255 + 120 * v), 255
    return f"#{r:02x}{g:02x}{b:02x}"


# -- data quality ------------------------------------------------------------------------


ESTIMATED_ROWS = 20
"""Windows the estimated-performance table lists, newest first."""


def _estimated(model: ModelData) -> str:
    """Estimated performance per window beside what its labels realized, once they came."""
    if model.estimator is None:
        return ""
    out = ["<h3>estimated performance</h3>"]
    if model.estimator.stale:
        out.append(
            "<p class='drift'>The estimator is stale: in the last "
            f"{esc(model.config.estimation.stale_windows if model.config.estimation else '')} "
            "windows whose labels came, the realized metric left the estimate's band. The "
            "scores no longer mean what they meant on the reference (concept drift): retrain, "
            "then rebuild the reference.</p>"
        )
    realized = {(r.window, r.metric): r for r in model.estimator.reconciled}
    rows = []
    for window_id in sorted(model.estimates, reverse=True)[:ESTIMATED_ROWS]:
        for metric, e in sorted(model.estimates[window_id].items()):
            r = realized.get((window_id, metric))
            flag = " class='drift'" if r is not None and r.missed else ""
            rows.append(
                f"<tr{flag}><td class='n'>{window_id}</td><td>{esc(metric)}</td>"
                f"<td class='n'>{e['value']:.4f}</td>"
                f"<td class='n'>{e['lower']:.4f} to {e['upper']:.4f}</td>"
                f"<td class='n'>{e['baseline']:.4f}</td>"
                + (
                    f"<td class='n'>{r.realized:.4f}</td><td class='n'>{r.error:+.4f}</td>"
                    f"<td class='n'>{r.labels}</td>"
                    if r is not None
                    else "<td colspan='3' class='meta'>labels not in yet</td>"
                )
                + "</tr>"
            )
    if not rows:
        out.append("<p class='meta'>No window has been estimated yet.</p>")
        return "".join(out)
    out.append(
        "<div class='card'><table><tr><th>window</th><th>metric</th><th>estimated</th>"
        "<th>band</th><th>reference</th><th>realized</th><th>error</th><th>labels</th></tr>"
        f"{''.join(rows)}</table><p class='meta'>Estimated from the predictions alone (CBPE); "
        "realized from the window's labels once at least "
        f"{model.config.labels.min_labels} came.</p></div>"
    )
    return "".join(out)


def _quality(model: ModelData) -> str:
    out = ["<h3>data quality</h3>"]
    layout = model.layout
    if layout is not None and model.windows:
        total = sum(w.counts.events for w in model.windows) or 1
        newest = model.windows[-1]
        rows = []
        for name, where in layout.signals.items():
            reference = where.profile
            ref_total = reference.present + reference.missing
            ref_missing = reference.missing / ref_total if ref_total else 0.0
            miss = sum(int(w.counts.ints[where.missing]) for w in model.windows) / total
            mism = sum(int(w.counts.ints[where.mismatch]) for w in model.windows) / total
            last_n = newest.counts.events or 1
            last_miss = int(newest.counts.ints[where.missing]) / last_n
            last_mism = int(newest.counts.ints[where.mismatch]) / last_n
            flag = " class='drift'" if last_miss > ref_missing + 0.05 or last_mism > 0 else ""
            if len(layout.signals) > MAX_QUALITY_ROWS and not (miss > ref_missing or mism > 0):
                continue  # a wide model: only the signals with more missing or any mismatch
            rows.append(
                f"<tr{flag}><td>{esc(name)}</td><td class='n'>{ref_missing:.2%}</td>"
                f"<td class='n'>{miss:.2%}</td><td class='n'>{last_miss:.2%}</td>"
                f"<td class='n'>{mism:.2%}</td><td class='n'>{last_mism:.2%}</td></tr>"
            )
        out.append(
            "<div class='card'><table><tr><th>signal</th><th>missing, reference</th>"
            f"<th>missing, windows drawn</th><th>missing, window {newest.window_id}</th>"
            "<th>type mismatch, windows drawn</th>"
            f"<th>type mismatch, window {newest.window_id}</th></tr>{''.join(rows)}</table>"
            + _quality_rows_note(len(layout.signals), len(rows))
            + "</div>"
        )
    out.append(_labels_note(model))
    out.append(_dead_letters(model.dead_letters))
    return "".join(out)


def _quality_rows_note(signals: int, shown: int) -> str:
    if shown == signals:
        return ""
    return (
        f"<p class='meta'>{signals - shown} of {signals} signals have no more missing values "
        "than the reference and no type mismatch: not listed.</p>"
    )


def _labels_note(model: ModelData) -> str:
    if model.config.task is None:
        return "<p class='meta'>Quality from labels: the model has no <code>task</code>.</p>"
    if not any(s.role == "performance" for s in model.series):
        return (
            "<p class='meta'>Quality from labels: no window has enough joined labels yet "
            f"(a window needs {model.config.labels.min_labels}), or the reference has none.</p>"
        )
    return ""


def _dead_letters(counts: Mapping[str, int]) -> str:
    if not counts:
        return "<p class='meta'>Dead letters so far: none.</p>"
    rows = "".join(
        f"<tr><td>{esc(reason)}</td><td class='n'>{int(n):,}</td></tr>"
        for reason, n in sorted(counts.items())
    )
    return (
        "<div class='card'><p>Dead letters so far, all models and instances</p><table>"
        f"<tr><th>reason</th><th>messages</th></tr>{rows}</table></div>"
    )


# -- helpers -----------------------------------------------------------------------------


def _severity_class(severity: str | None) -> str:
    return {"critical": "drift", "warning": "warn", "firing": "drift"}.get(severity or "", "")


def _when(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


def _window_size(model: ModelData) -> str:
    window = model.config.window
    if window.seconds is not None:
        return f"{window.seconds:g} s of event time"
    return f"{window.events:,} events"
