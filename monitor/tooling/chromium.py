"""A headless Chromium driven over its DevTools pipe, for the report's tests and benchmark.

The report must open offline, with no console error, render within the issue's budget, and
the live page must reload itself when a window closes (README, "Seeing the drift"). Those
are things only a browser observes: this module starts Debian's ``chromium`` with
``--remote-debugging-pipe`` (DevTools commands as JSON on its fd 3, answers and events on
its fd 4, each message ended by a NUL byte) and keeps what the page did: every request it
sent (the Network domain sees the page's own requests, not the browser's update checks),
every console error and uncaught exception, and each load. Only the standard library is
needed, so nothing joins the dependencies for it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from monitor.tooling.embedded import _kill_process_group, _pdeathsig_prefix

OPTIONS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
)


AT_FDS_3_AND_4 = (
    "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
    "os.execvp(sys.argv[3], sys.argv[3:])"
)
"""Puts the two pipe ends at the fds Chromium reads and writes, then becomes Chromium (a shell
cannot: dash takes no fd above 9, and the pipes' may be)."""


class ChromiumError(RuntimeError):
    """Chromium is missing, died, answered a command with an error, or took too long."""


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass(slots=True)
class PageLog:
    """What one tab did since it was opened."""

    requests: list[str] = field(default_factory=list)
    """The URL of every request the page sent, its own document's included."""
    errors: list[str] = field(default_factory=list)
    """Console errors, uncaught exceptions, and what the browser logged as an error."""
    dialogs: list[str] = field(default_factory=list)
    """Messages of the dialogs a script opened (``alert(1)``...), each dismissed at once."""
    loads: int = 0
    """Load events of the top frame (a reload adds one)."""


class Chromium:
    """One headless browser with one tab, in a fresh profile; a context manager."""

    def __init__(self, executable: str | None = None, *, width: int = 1320, height: int = 2000):
        path = executable or find_chromium()
        if path is None:
            raise ChromiumError("chromium is not installed (apt-get install chromium)")
        self._argv = [path, *OPTIONS, f"--window-size={width},{height}"]
        self._size = (width, height)
        self._proc: subprocess.Popen[bytes] | None = None
        self._profile: tempfile.TemporaryDirectory[str] | None = None
        self._to_browser = self._from_browser = -1
        self._buffer = b""
        self._next_id = 0
        self._session = ""
        self._answers: dict[int, Any] = {}
        self.log = PageLog()

    def __enter__(self) -> Chromium:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start the browser and attach to a blank tab, the DevTools domains that report what
        it does enabled."""
        self._profile = tempfile.TemporaryDirectory(prefix="drift-monitor-chromium-")
        commands_read, commands_write = os.pipe()
        events_read, events_write = os.pipe()
        self._proc = subprocess.Popen(
            [
                *_pdeathsig_prefix(),
                sys.executable,
                "-c",
                AT_FDS_3_AND_4,
                str(commands_read),
                str(events_write),
                *self._argv,
                f"--user-data-dir={self._profile.name}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(commands_read, events_write),
            start_new_session=True,
        )
        os.close(commands_read)
        os.close(events_write)
        self._to_browser, self._from_browser = commands_write, events_read
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})
        self._session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.call(f"{domain}.enable")
        width, height = self._size
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    def stop(self) -> None:
        for fd in (self._to_browser, self._from_browser):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._to_browser = self._from_browser = -1
        if self._proc is not None:
            _kill_process_group(self._proc)
            self._proc = None
        if self._profile is not None:
            self._profile.cleanup()
            self._profile = None

    def open(self, url: str, timeout: float = 30.0) -> float:
        """Navigate the tab to ``url`` and wait for its load event: the seconds that took."""
        loads = self.log.loads
        started = time.perf_counter()
        self.call("Page.navigate", {"url": url})
        self.wait(lambda: self.log.loads > loads, timeout, f"{url} to load")
        return time.perf_counter() - started

    def evaluate(self, expression: str, timeout: float = 30.0) -> Any:
        """The value of a JavaScript expression in the page (a promise is awaited)."""
        answer = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            timeout,
        )
        if "exceptionDetails" in answer:
            raise ChromiumError(f"{expression!r} threw: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def text(self) -> str:
        """The page's visible text."""
        return str(self.evaluate("document.body ? document.body.innerText : ''"))

    def html(self) -> str:
        """The page's DOM as markup, as the browser built it."""
        return str(self.evaluate("document.documentElement.outerHTML"))

    def screenshot(self, path: Path) -> Path:
        """The whole page as a PNG."""
        answer = self.call(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
        )
        path.write_bytes(base64.b64decode(answer["data"]))
        return path

    def wait(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        """Read the browser's events until ``done()`` holds (asked again at least every
        quarter of a second, so it may look at the page itself)."""
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise ChromiumError(f"timed out after {timeout:g} s waiting for {what}")
            self._receive(min(deadline, time.monotonic() + 0.25))

    def call(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30.0) -> Any:
        """Send one DevTools command (to the tab once attached) and return its result."""
        number = self._send(method, params)
        self.wait(lambda: number in self._answers, timeout, method)
        answer = self._answers.pop(number)
        if "error" in answer:
            raise ChromiumError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def _send(self, method: str, params: dict[str, Any] | None = None) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if self._session:
            message["sessionId"] = self._session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        return self._next_id

    def _receive(self, deadline: float) -> None:
        """Read and handle one message, or wait for one until the deadline."""
        while b"\0" not in self._buffer:
            if self._proc is None or self._proc.poll() is not None:
                raise ChromiumError("chromium exited")
            ready, _, _ = select.select(
                [self._from_browser], [], [], max(deadline - time.monotonic(), 0)
            )
            if not ready:
                return
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise ChromiumError("chromium closed its DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message = json.loads(raw)
        if "id" in message:
            self._answers[message["id"]] = message
        else:
            self._on_event(message["method"], message.get("params", {}))

    def _on_event(self, method: str, params: dict[str, Any]) -> None:
        log = self.log
        if method == "Network.requestWillBeSent":
            log.requests.append(str(params["request"]["url"]))
        elif method == "Page.loadEventFired":
            log.loads += 1
        elif method == "Page.javascriptDialogOpening":
            log.dialogs.append(str(params.get("message")))
            self._send("Page.handleJavaScriptDialog", {"accept": False})  # its answer unread
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            log.errors.append(str(details.get("exception", {}).get("description", details)))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            log.errors.append(
                " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
            )
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            entry = params["entry"]
            where = f" ({entry['url']})" if entry.get("url") else ""
            log.errors.append(f"{entry.get('text')}{where}")
