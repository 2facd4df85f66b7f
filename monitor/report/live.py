"""The live page on ``http.port``: ``/`` and ``/ui`` (the report, computed per request, read
only) and ``/ui/version`` (changes when a window closes; the page polls it and reloads)."""

from __future__ import annotations

from collections.abc import Callable

from monitor.config import Config
from monitor.store import StateStore

POLL_MS = 2000

Page = Callable[[], tuple[str, bytes]]


def live_pages(config: Callable[[], Config], store: StateStore) -> dict[str, Page]:
    """The routes for :class:`monitor.http.HealthServer`; ``config`` is read per request, so
    a reloaded config's thresholds show at once."""
    from monitor.report import LIVE_WINDOWS, build, version

    def page() -> tuple[str, bytes]:
        # The version first: a window closing while the page is read makes it reload once
        # more, never miss that window.
        drawn_at = version(config(), store)
        html = build(
            config(),
            store,
            windows=LIVE_WINDOWS,
            live_poll_ms=POLL_MS,
            live_version=drawn_at,
        )
        return "text/html; charset=utf-8", html.encode()

    def current() -> tuple[str, bytes]:
        return "text/plain; charset=utf-8", version(config(), store).encode()

    return {"/": page, "/ui": page, "/ui/version": current}
