"""Bad events in the log: each reason's first at once, then at most one line per interval.

A producer that starts sending malformed messages at 100k/s must not drown the
log in identical lines, yet the operator reading it should learn of each new
kind of problem at once, with an example to look up (its source offset). The
dead-letter topic and ``drift_monitor_bad_events_total`` hold every one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

BAD_EVENT_LOG_INTERVAL_SECONDS = 60.0


@dataclass(slots=True)
class _Reason:
    logged_at: float
    unlogged: int = 0


class BadEventLog:
    """Logs dead-lettered events, rate-limited per reason."""

    def __init__(
        self,
        logger: logging.Logger,
        interval_seconds: float = BAD_EVENT_LOG_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._interval = interval_seconds
        self._clock = clock
        self._reasons: dict[str, _Reason] = {}

    def record(self, reason: str, detail: str, source: str) -> None:
        """One dead-lettered event; ``source`` is its ``topic/partition/offset``."""
        now = self._clock()
        seen = self._reasons.get(reason)
        if seen is not None and now - seen.logged_at < self._interval:
            seen.unlogged += 1
            return
        self._log.warning(
            "bad event dead-lettered",
            extra={
                "reason": reason,
                "detail": detail,
                "source": source,
                "count": 1 + (seen.unlogged if seen is not None else 0),
                "next_within_seconds": self._interval,
            },
        )
        self._reasons[reason] = _Reason(logged_at=now)
