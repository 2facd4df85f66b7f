"""What ``drift-monitor status`` shows: which results a query selects, and how they read.

A model of 30 features has 186 latest results (31 signals by 6 methods); a person
asked "what drifted?", so the text view leads with one summary line per model and
then lists only drifted results unless asked for more. The same selection applies
to ``--json``, whose keys stay those of :meth:`StateStore.model_status`.
"""

from __future__ import annotations

import difflib
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rich.text import Text

from detectors.multivariate import Contributor
from monitor import tables
from monitor.tables import Column
from monitor.when import when_cells

Report = Mapping[str, Mapping[str, Any]]  # model -> StateStore.model_status(model)

SEVERITY_STYLE = {"critical": "red", "warning": "yellow", "ok": "green"}

SUMMARY_COLUMNS = (
    Column("model"),
    Column("events", align="right"),
    Column("windows", align="right"),
    Column("drifted"),
    Column("open alerts", align="right"),
    Column("last window"),
    Column("", shrink="drop"),  # how long ago: the first to go, the date says it too
)

# Names never shrink; of the numbers, the window id (shared by most rows), then the
# p-value, then the thresholds, then the no-drift level give way, in that order.
MEASURE_COLUMNS = (
    Column("signal"),
    Column("method"),
    Column("score", align="right"),
    Column("no drift", align="right", shrink="drop", rank=3),
    Column("warn/crit", align="right", shrink="drop", rank=2),
    Column("p-value", align="right", shrink="drop", rank=1),
)
"""What a result measured: ``status`` adds its severity and window, ``check`` a verdict."""
RESULT_COLUMNS = (
    *MEASURE_COLUMNS,
    Column("severity"),
    Column("window", align="right", shrink="drop", rank=0),
)


@dataclass(frozen=True, slots=True)
class StatusQuery:
    """Which results to show. Empty tuples mean every signal or method."""

    signals: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    everything: bool = False

    def selects(self, result: Mapping[str, Any]) -> bool:
        return (not self.signals or result["signal"] in self.signals) and (
            not self.methods or result["method"] in self.methods
        )

    @property
    def drifted_only(self) -> bool:
        """Naming a signal asks about it, drifted or not; otherwise only drift is news."""
        return not (self.everything or self.signals)

    def problems(self, report: Report) -> list[str]:
        """A sentence per signal or method that no shown model has a result for."""
        results = [r for status in report.values() for r in status["signals"].values()]
        if not results:
            return []
        found: list[str] = []
        for what, asked in (("signal", self.signals), ("method", self.methods)):
            known = sorted({r[what] for r in results})
            for name in asked:
                if name not in known:
                    close = difflib.get_close_matches(name, known, n=1)
                    hint = f"; did you mean {close[0]!r}?" if close else f" ({', '.join(known)})"
                    found.append(f"no {what} {name!r} in the latest results{hint}")
        return found


def select(report: Report, query: StatusQuery) -> dict[str, dict[str, Any]]:
    """The report with only the results the query's signals and methods name."""
    return {
        model: {
            **status,
            "signals": {k: r for k, r in status["signals"].items() if query.selects(r)},
        }
        for model, status in report.items()
    }


def render(
    report: Report,
    open_alerts: Mapping[str, int],
    query: StatusQuery,
    *,
    width: int,
    now: float,
) -> list[Text]:
    """The summary table, then per model its (drifted) results and label and detector news."""
    summary = [
        _summary_row(model, status, open_alerts[model], now) for model, status in report.items()
    ]
    lines = tables.render(SUMMARY_COLUMNS, summary, width)
    for model, status in report.items():
        lines.append(Text())
        lines.extend(_model_section(model, status, query, width))
    return lines


def _summary_row(model: str, status: Mapping[str, Any], alerts: int, now: float) -> list[str]:
    results = list(status["signals"].values())
    signals = {r["signal"] for r in results}
    drifted = {r["signal"] for r in results if r["drifted"]}
    windows = status["windows"]
    end = windows[0]["window"]["end_ts"] if windows else None
    return [
        model,
        f"{status['events']:,}",
        f"{status['windows_closed']:,}",
        f"{len(drifted)} of {len(signals)}",
        str(alerts),
        *(("none yet", "") if end is None else when_cells(end, now)),
    ]


def _model_section(
    model: str, status: Mapping[str, Any], query: StatusQuery, width: int
) -> list[Text]:
    results = list(status["signals"].values())
    shown = [r for r in results if r["drifted"]] if query.drifted_only else results
    reference = f"reference {status['reference_id']}"
    if not results:
        lines = [Text(f"{model}: no results yet ({reference})")]
    elif not shown:
        lines = [
            Text(f"{model}: no drifted result of {len(results)} ({reference}); --all shows them")
        ]
    else:
        count = (
            f"{len(shown)} drifted results of {len(results)}"
            if query.drifted_only
            else f"{len(shown)} results"
        )
        lines = [Text(f"{model}: {count} ({reference})")]
        lines.extend(tables.render(RESULT_COLUMNS, [_result_row(r) for r in shown], width))
        notes = [*_attribution_lines(shown), *named_value_lines(shown)]
        lines.extend(Text(part) for line in notes for part in wrapped(line, width))
    segments = [part for line in _segment_lines(status) for part in wrapped(line, width)]
    if status.get("unknown_version_events"):
        segments.append(
            f"  {status['unknown_version_events']:,} events of model versions without a "
            "reference, skipped"
        )
    return lines + [Text(line) for line in (*segments, *_labels_and_detectors(status))]


SKIPPED_SHOWN = 5
"""Skipped segments named under a model's table; ``--json`` has them all."""


def _segment_lines(status: Mapping[str, Any]) -> Iterable[str]:
    """The latest window's segments: those drifted, and those skipped with why."""
    windows = status["windows"]
    segments: Mapping[str, Mapping[str, Any]] = windows[0].get("segments", {}) if windows else {}
    if not segments:
        return
    skipped = [
        f"  segment {n} skipped: {s['skipped']}" for n, s in segments.items() if "skipped" in s
    ]
    drifted = [f"{n} ({', '.join(s['drifted'])})" for n, s in segments.items() if s["drifted"]]
    judged = len(segments) - len(skipped)
    yield (
        f"  segments: {judged} of {len(segments)} judged in window {windows[0]['window']['id']}"
        + (f"; drifted: {'; '.join(drifted)}" if drifted else "; none drifted")
    )
    yield from skipped[:SKIPPED_SHOWN]
    if len(skipped) > SKIPPED_SHOWN:
        yield f"  ... and {len(skipped) - SKIPPED_SHOWN} more skipped (--json lists them)"


def wrapped(line: str, width: int) -> list[str]:
    """A note under a table (or ``check``'s headline), folded to the terminal's width
    between words: the names it carries (``a~b``, category values) are never cut."""
    return textwrap.wrap(
        line,
        width,
        initial_indent="",
        subsequent_indent="    ",
        break_long_words=False,
        break_on_hyphens=False,
        drop_whitespace=True,
    ) or [line]


def _attribution_lines(results: Iterable[Mapping[str, Any]]) -> Iterable[str]:
    """What each shown joint result names: ``features/correlation moved most: a~b ...``."""
    for result in results:
        if result.get("attribution"):
            named = ", ".join(
                Contributor(
                    tuple(c["features"]), c["reference"], c["window"], c["contribution"]
                ).describe()
                for c in result["attribution"]
            )
            yield f"  {result['signal']}/{result['method']} moved most: {named}"


def named_value_lines(results: Iterable[Mapping[str, Any]]) -> list[str]:
    """The values categorical results name (a new value taking over), once each
    (``status`` and ``check`` print them under their tables)."""
    lines: dict[tuple[str, str], str] = {}
    for result in results:
        for named in result.get("values") or ():
            what = "never in the reference" if named["unseen"] else "rare in the reference"
            lines.setdefault(
                (result["signal"], named["value"]),
                f"  {result['signal']}: {named['value']!r} is {named['share']:.1%} of the "
                f"window ({what})",
            )
    return list(lines.values())


def result_cells(result: Mapping[str, Any]) -> list[tables.Cell]:
    """A result's cells under :data:`MEASURE_COLUMNS`, which ``status`` and ``check`` share.
    A score is given in four decimals, or in four digits where those would print hundreds
    (a distance to values near the float limit)."""
    score, p_value, segment = result["score"], result["p_value"], result.get("segment")
    level = result.get("no_drift")
    return [
        result["signal"] if segment is None else f"{result['signal']}@{segment}",
        result["method"],
        "" if score is None else f"{score:.4f}" if abs(score) < 1e6 else f"{score:.4g}",
        "" if level is None else f"{level:.4f}",
        f"{result['threshold']:g}/{result['critical_threshold']:g}",
        "" if p_value is None else f"{p_value:.2e}",
    ]


def _result_row(result: Mapping[str, Any]) -> list[tables.Cell]:
    severity = result["severity"]
    return [
        *result_cells(result),
        Text(severity, style=SEVERITY_STYLE.get(severity, "dim")),
        str(result["window"]["id"]),
    ]


def budget_line(budget: Mapping[str, Any]) -> str:
    """The false-alarm budget and the rate it implies at the latest window's rate."""
    if budget["false_alarms_per_week"] is not None:
        stated = f"{budget['false_alarms_per_week']:g} false alarm(s) a week"
        implied, per = budget["implied_false_alarms_per_week"], "a week"
    else:
        stated = f"{budget['false_alarms_per_million_events']:g} false alarm(s) per million events"
        implied, per = budget["implied_false_alarms_per_million_events"], "per million events"
    line = f"budget: {stated}; latest window judged at alpha {budget['alpha_per_window']:.3g}"
    if budget["source"] == "fallback":
        return line + " (drift.alpha: the window's rate was not observable)"
    if budget["windows_per_week"] is not None:
        line += f" ({budget['windows_per_week']:,.0f} windows a week)"
    if implied is not None:
        line += f", implying at most {implied:.3g} false alarm(s) {per}"
    return line + (" (capped)" if budget["source"] == "capped" else "")


def estimation_lines(estimation: Mapping[str, Any] | None) -> Iterable[str]:
    """Estimated performance of the latest window, then estimated beside realized for the
    newest window whose labels came, and whether the estimator went stale."""
    if not estimation:
        return
    for metric, e in sorted(estimation["estimates"].items()):
        yield (
            f"estimated {metric} of window {e['window']}: {e['value']:.4g} "
            f"(band {e['lower']:.4g} to {e['upper']:.4g}; reference {e['baseline']:.4g})"
            + (f": {e['severity']}" if e["drifted"] else "")
        )
    reconciled = estimation["reconciled"]
    if reconciled:
        newest = reconciled[0]["window"]
        for r in (r for r in reconciled if r["window"] == newest):
            yield (
                f"{r['metric']} of window {newest} ({r['labels']} labels): estimated "
                f"{r['estimated']:.4g}, realized {r['realized']:.4g} (error {r['error']:+.4g}"
                + (f", outside the band ±{r['band']:.3g})" if r["missed"] else ")")
            )
    if estimation["stale"]:
        yield (
            "estimator stale: the realized metrics left the estimates' band in the last "
            "windows in a row (concept drift?); retrain, then rebuild the reference"
        )


def _labels_and_detectors(status: Mapping[str, Any]) -> Iterable[str]:
    if status.get("budget"):
        yield budget_line(status["budget"])
    labels = status["labels"]
    if labels["received"] or labels["predictions_with_id"]:
        coverage = labels["coverage"]
        yield (
            f"labels: {labels['joined']} joined of {labels['predictions_with_id']} predictions"
            + (f" ({coverage:.1%})" if coverage is not None else "")
            + f", {labels['labels_waiting']} waiting, "
            f"{labels['labels_never_matched']} never matched"
        )
    quality = status["quality"]
    if quality:
        shown = ", ".join(f"{k} {v:.4g}" for k, v in sorted(quality["metrics"].items()))
        yield f"quality of window {quality['window']} ({quality['labels']} labels): {shown}"
    yield from estimation_lines(status.get("estimation"))
    sequential = status["sequential"]
    for stream, detector in sequential["detectors"].items():
        yield (
            f"detector {stream}: {detector['kind']}, {detector['n_seen']} seen, "
            f"{detector['n_detections']} detections"
        )
    for found in sequential["detections"][:5]:
        yield (
            f"  change: {found['detector']} on {found['signal']} at "
            f"{found['topic']}/{found['partition']} offset {found['offset']}"
        )
