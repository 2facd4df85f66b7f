"""Timestamps as a person reads them: a local date and how long ago (or how soon) it is.

Epoch seconds are what Redis and the audit trail keep; nobody can tell at a glance
whether ``1796552901.9`` is past or future, so everything shown to people goes
through here.
"""

from __future__ import annotations

import re
from datetime import datetime

# An epoch in seconds with nine or ten integer digits: 1973 to 2286, the only dates a
# stream carries; shorter numbers (window ids, counts) are never taken for one.
_EPOCH = re.compile(r"(?<![\d.])\d{9,10}(?:\.\d+)?(?![\d.])")


def local_time(ts: float) -> str:
    """The local date and time to the second, ISO 8601 order (the offset is the machine's)."""
    return datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def relative(ts: float, now: float) -> str:
    """``3 min ago`` or ``in 2 h``, in the largest whole unit: a glance, not a measurement."""
    seconds = abs(now - ts)
    if seconds < 1:
        return "now"
    amount = _amount(seconds)
    return f"in {amount}" if ts > now else f"{amount} ago"


def _amount(seconds: float) -> str:
    if seconds >= 86_400:
        days = int(seconds // 86_400)
        return f"{days} day" if days == 1 else f"{days} days"
    if seconds >= 3_600:
        return f"{int(seconds // 3_600)} h"
    if seconds >= 60:
        return f"{int(seconds // 60)} min"
    return f"{int(seconds)} s"


def when(ts: float, now: float) -> str:
    """``2026-12-06 12:31:05 (3 min ago)``: the date first, so a cut keeps what matters."""
    return f"{local_time(ts)} ({relative(ts, now)})"


def when_cells(ts: float | None, now: float) -> tuple[str, str]:
    """The date and ``(3 min ago)`` as two table cells, so a narrow table can drop the second."""
    if ts is None:
        return "", ""
    return local_time(ts), f"({relative(ts, now)})"


def humanise_epochs(text: str, now: float) -> str:
    """Every epoch in a free-text reason (``until event time 1796552901.9``) as :func:`when`.

    Reasons are written by the alert state machine for the audit trail, which keeps
    numbers; this is where they become dates for a reader.
    """
    return _EPOCH.sub(lambda match: when(float(match.group()), now), text)
