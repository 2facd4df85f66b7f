"""``drift-monitor report`` and the live page: drift drawn, from Redis.

:mod:`.history` keeps each closed window's binned counts (bounded), :mod:`.data`
reads what a model's report shows, :mod:`.render` draws it as one self-contained
HTML page (inline CSS and SVG, nothing fetched).
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.config import Config
from monitor.redis_client import redis_errors
from monitor.store import StateStore

LIVE_WINDOWS = 50
"""Windows the live page draws (the file report's ``--windows`` defaults to 200)."""


def build(
    config: Config,
    store: StateStore,
    *,
    models: Sequence[str] | None = None,
    windows: int = 200,
    signals: Sequence[str] = (),
    live_poll_ms: int = 0,
    live_version: str = "",
) -> str:
    """The report page of these models (default: every configured one); with
    ``live_poll_ms``, the live page drawn at ``live_version``."""
    from monitor.report.data import gather
    from monitor.report.render import render_page

    names = list(models) if models else list(config.models)
    gathered = [gather(config, store, name, windows=windows) for name in names]
    title = "drift-monitor" + (f": {names[0]}" if len(names) == 1 else "")
    return render_page(
        gathered,
        title=title,
        signals=signals,
        live_poll_ms=live_poll_ms,
        live_version=live_version,
    )


def version(config: Config, store: StateStore) -> str:
    """Changes whenever a window of any model closes: what the live page polls."""
    with redis_errors():
        pipe = store.client.pipeline(transaction=False)
        for name in config.models:
            pipe.hget(store.keys.meta(name), "windows_closed")
        closed = pipe.execute()
    return ",".join("0" if value is None else str(int(value)) for value in closed)
