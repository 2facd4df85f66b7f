"""The metrics and health endpoints: ``/metrics``, ``/healthz``, ``/readyz``.

Served from a daemon thread so a slow scrape never stalls the consume loop.
``/readyz`` asks a callback that returns the reasons the daemon is not ready
(an empty list means ready) and since when, so the endpoint can say what is wrong.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


class HealthServer:
    """HTTP server for metrics and probes, started and stopped by the daemon."""

    def __init__(
        self,
        host: str,
        port: int,
        registry: CollectorRegistry,
        readiness: Callable[[], tuple[list[str], Mapping[str, object] | None]],
        pages: Mapping[str, Callable[[], tuple[str, bytes]]] | None = None,
    ) -> None:
        self._address = (host, port)
        self._pages = dict(pages or {})  # path -> (content type, body), computed per request
        self._registry = registry
        self._readiness = readiness
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the health server is not started")
        return int(self._server.server_address[1])

    def start(self) -> None:
        registry, readiness, pages = self._registry, self._readiness, self._pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._reply(200, CONTENT_TYPE_LATEST, generate_latest(registry))
                elif path == "/healthz":
                    self._reply(200, "text/plain; charset=utf-8", b"ok\n")
                elif path == "/readyz":
                    problems, wait = readiness()
                    answer = {"ready": not problems, "reasons": problems, **(wait or {})}
                    body = json.dumps(answer).encode()
                    self._reply(503 if problems else 200, "application/json", body)
                elif path in pages:
                    self._page(pages[path])
                else:
                    self._reply(404, "text/plain; charset=utf-8", b"not found\n")

            def _page(self, page: Callable[[], tuple[str, bytes]]) -> None:
                try:
                    content_type, body = page()
                except Exception as error:  # Redis down, say: the page says so, the server lives
                    message = f"unavailable: {type(error).__name__}: {error}\n"
                    self._reply(503, "text/plain; charset=utf-8", message.encode())
                    return
                self._reply(200, content_type, body)

            def _reply(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Scrapes are not worth a log line each."""

        self._server = ThreadingHTTPServer(self._address, Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="drift-monitor-http", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
