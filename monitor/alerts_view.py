"""What ``drift-monitor alerts`` shows: active alerts and recent transitions, readable.

Dedup keys are how a person names an alert to a sink or a colleague, so they are never
cut into something ambiguous: they are shown whole, and when a table cannot fit them
the prefix every key shares is said once above it and left out of the rows. Times
are local dates with how long ago; the audit trail's epochs are translated too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.text import Text

from monitor import tables
from monitor.tables import Column
from monitor.when import humanise_epochs, when_cells

SEVERITY_STYLE = {"critical": "red", "warning": "yellow"}

ACTIVE_COLUMNS = (
    Column("dedup key"),
    Column("status"),
    Column("severity"),
    Column("episode", align="right", shrink="drop", rank=1),
    Column("method", shrink="drop", rank=2),
    Column("since", shrink="drop", rank=3),
    Column("", shrink="drop", rank=0),  # how long ago
    Column("window", align="right", shrink="drop", rank=0),
)

TRANSITION_COLUMNS = (
    Column("at"),
    Column("", shrink="drop", rank=0),  # how long ago
    Column("dedup key"),
    Column("change"),
    Column("window", align="right", shrink="drop", rank=1),
    Column("reason", shrink="below", rank=2),
)


def render(report: Mapping[str, Any], *, width: int, now: float) -> list[Text]:
    """Both tables (titled, keys whole or under a stated shared prefix) and the outbox line."""
    active = [_active_row(alert, now) for alert in report["active"]]
    transitions = [_transition_row(entry, now) for entry in report["transitions"]]
    lines = _titled("active alerts", ACTIVE_COLUMNS, active, 0, width)
    lines.append(Text())
    lines += _titled("recent transitions, newest first", TRANSITION_COLUMNS, transitions, 2, width)
    lines.append(Text())
    depth = ", ".join(f"{s}={n}" for s, n in sorted(report["outbox_depth"].items())) or "empty"
    lines.append(Text(f"outbox: {depth}; dead letters: {report['dead_letters']}"))
    return lines


def shared_prefix(keys: Sequence[str]) -> str:
    """The leading ``/``-separated parts every key has, leaving each key at least one part."""
    prefix = ""
    for parts in zip(*(key.split("/")[:-1] for key in keys), strict=False):
        if len(set(parts)) > 1:
            break
        prefix += f"{parts[0]}/"
    return prefix


def _titled(
    title: str,
    columns: Sequence[Column],
    rows: list[list[tables.Cell]],
    key_column: int,
    width: int,
) -> list[Text]:
    if not rows:
        return [Text(f"{title}: none")]
    prefix = shared_prefix([str(row[key_column]) for row in rows])
    if prefix and tables.natural_width(columns, rows) > width:
        rows = [_without_prefix(row, key_column, prefix) for row in rows]
        title = f"{title} (dedup keys after {prefix})"
    return [Text(title, style="bold"), *tables.render(columns, rows, width)]


def _without_prefix(row: list[tables.Cell], index: int, prefix: str) -> list[tables.Cell]:
    return [*row[:index], str(row[index]).removeprefix(prefix), *row[index + 1 :]]


def _active_row(alert: Mapping[str, Any], now: float) -> list[tables.Cell]:
    severity = alert["severity"] or ""
    return [
        alert["dedup_key"],
        alert["status"],
        Text(severity, style=SEVERITY_STYLE.get(severity, "")),
        str(alert["episode"]),
        alert["method"] or "",
        *when_cells(alert["since_ts"], now),
        "" if alert["last_window"] is None else str(alert["last_window"]),
    ]


def _transition_row(entry: Mapping[str, str], now: float) -> list[tables.Cell]:
    at = float(entry["at"]) if entry.get("at") else None
    return [
        *when_cells(at, now),
        entry.get("key", ""),
        f"{entry.get('from', '')} → {entry.get('to', '')}",
        entry.get("window", ""),
        humanise_epochs(entry.get("reason", ""), now),
    ]
