"""Saying, in the log, why the daemon is not ready: at once-ish, then every 30 s, then "ready".

``/readyz`` answers whoever asks; a person starting the daemon reads the log. A
daemon that sat 80 s on "no partition assignment yet" with no log line at all
looked hung. So a wait longer than a few seconds is logged with its reasons and
when it began, repeated while it lasts, and closed by a "ready" line (state
changes are logged in pairs). ``/readyz`` gives the same reasons and the same
start: both observe through one :class:`ReadinessLog`.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

FIRST_AFTER_SECONDS = 5.0
"""A start-up's group join takes a few seconds on a healthy cluster: no line for that."""
EVERY_SECONDS = 30.0


class ReadinessLog:
    """Feed it the current not-ready reasons (every loop turn, every probe); it decides
    when to speak. A daemon is not ready from its start, so the first wait counts from
    this object's creation."""

    def __init__(
        self,
        log: logging.Logger,
        *,
        first_after: float = FIRST_AFTER_SECONDS,
        every: float = EVERY_SECONDS,
    ) -> None:
        self._log = log
        self._first_after = first_after
        self._every = every
        self._since: float | None = time.monotonic()
        self._since_wall: float = time.time()
        self._said_at: float | None = None
        self._lock = threading.Lock()  # the run loop and /readyz's threads observe

    def observe(self, reasons: list[str]) -> dict[str, str | float] | None:
        """When the current wait began (ISO 8601, UTC) and how long it has lasted, or None
        when ready."""
        with self._lock:
            return self._observe(reasons)

    def _observe(self, reasons: list[str]) -> dict[str, str | float] | None:
        now = time.monotonic()
        if not reasons:
            if self._said_at is not None:
                self._log.info(
                    "ready", extra={"not_ready_seconds": round(now - (self._since or now), 1)}
                )
            self._since = self._said_at = None
            return None
        if self._since is None:
            self._since, self._since_wall = now, time.time()
        waited = now - self._since
        wait: dict[str, str | float] = {
            "since": datetime.fromtimestamp(self._since_wall, UTC).isoformat(),
            "waited_seconds": round(waited, 1),
        }
        due = self._said_at is None or now - self._said_at >= self._every
        if waited >= self._first_after and due:
            message = "not ready: " + "; ".join(reasons)
            self._log.warning(message, extra={"reasons": reasons, **wait})
            self._said_at = now
        return wait
