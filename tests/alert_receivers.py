"""Real local HTTP receivers for the sink tests: they answer as told and remember every request.

A :class:`Receiver` is a ``ThreadingHTTPServer`` on a free port. Its behaviour is a
queue of answers (``200``, ``500``, ``(429, {"Retry-After": "2"})``, ``HANG``)
consumed one per request, then a default; it can also be stopped (connection
refused, a sink that is *down*) and started again on the same port.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HANG = "hang"
Answer = int | tuple[int, dict[str, str]] | str


@dataclass(frozen=True)
class Received:
    path: str
    headers: Message  # case-insensitive, as a web framework would give them
    body: bytes
    at: float
    answered: int | None

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    def __init__(self, default: Answer = 200, hang_seconds: float = 30.0) -> None:
        self.default = default
        self.hang_seconds = hang_seconds
        self.answers: deque[Answer] = deque()
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._port = 0
        self._release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver._lock:
                    answer = receiver.answers.popleft() if receiver.answers else receiver.default
                status: int | None = None
                headers: dict[str, str] = {}
                if answer == HANG:
                    receiver._record(self, body, None)
                    receiver._release.wait(receiver.hang_seconds)
                    return
                if isinstance(answer, tuple):
                    status, headers = answer
                elif isinstance(answer, int):
                    status = answer
                receiver._record(self, body, status)
                reply = b'{"status":"success"}' if status and status < 300 else b"{}"
                self.send_response(status or 200)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

        self._release.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        self._server.daemon_threads = True
        self._port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Close the listener: further requests are refused, as by a sink that is down."""
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _record(self, handler: BaseHTTPRequestHandler, body: bytes, status: int | None) -> None:
        with self._lock:
            self.requests.append(Received(handler.path, handler.headers, body, time.time(), status))

    def accepted(self) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.answered is not None and r.answered < 300]

    def accepted_keys(self, header: str = "Idempotency-Key") -> Counter[str]:
        return Counter(str(r.headers.get(header, "")) for r in self.accepted())


@contextmanager
def receiver(default: Answer = 200, hang_seconds: float = 30.0) -> Iterator[Receiver]:
    server = Receiver(default, hang_seconds).start()
    try:
        yield server
    finally:
        server.stop()
