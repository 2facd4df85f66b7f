"""The report file and the live page, drawn from a real pipeline and opened in Chromium.

Real broker, Redis and daemon; the page is loaded by Debian's headless ``chromium``
through a proxy that records every request, so "opens offline" is observed, not assumed.
The stream is calm for three windows, then ``num_1`` moves by one standard deviation
and ``cat_0`` skews towards a category named like an XSS payload, which must show as text.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest

from monitor.cli import main
from monitor.config import load_config
from monitor.tooling.chromium import Chromium, ChromiumError
from monitor.tooling.demo import (
    DRIFTED_FEATURE,
    REPORT_FILE,
    SKEWED_FEATURE,
    WINDOW_EVENTS,
    run_demo,
)
from monitor.tooling.embedded import KafkaBroker, RedisServer
from monitor.tooling.synthetic import SyntheticModel
from tests.daemon_harness import model_status, running_daemon, wait_until, write_config_file
from tests.helpers import in_ci, produce_json

pytestmark = pytest.mark.integration

MODEL = SyntheticModel(name="shop", numeric=3, categorical=1)
HOSTILE = "<img src=x onerror=alert(1)>"
CATEGORIES = ("DE", "FR", "US", HOSTILE)
WINDOW = 1000
CALM, SHIFTED = 3, 3


def _events(rng: np.random.Generator, start: int, count: int, shifted: bool) -> list[Any]:
    numeric = rng.normal(size=(count, 3))
    if shifted:
        numeric[:, 1] += 1.0
    shares = [0.1, 0.1, 0.1, 0.7] if shifted else [0.4, 0.3, 0.2, 0.1]
    cats = rng.choice(len(CATEGORIES), p=shares, size=count)
    return [
        {
            "event_id": f"e{start + i}",
            "model": MODEL.name,
            "model_version": "v<2>",
            "ts": 1_764_182_400.0 + (start + i) / 100.0,
            "features": {
                "num_0": float(numeric[i, 0]),
                "num_1": float(numeric[i, 1]) * 3.0 + 10.0,
                "num_2": float(numeric[i, 2]),
                "cat_0": CATEGORIES[int(cats[i])],
            },
            "prediction": float(1.0 / (1.0 + np.exp(-numeric[i, 0]))),
        }
        for i in range(count)
    ]


@pytest.fixture
def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if in_ci():
            pytest.fail("chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


@contextmanager
def recording_proxy() -> Iterator[tuple[int, list[str]]]:
    """A listener Chromium is told to use as its proxy for everything: each request it
    would have sent to the network is recorded (and refused)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    seen: list[str] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(1)
                try:
                    seen.append(connection.recv(512).split(b"\r\n", 1)[0].decode(errors="replace"))
                except OSError:
                    seen.append("(connection)")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], seen
    finally:
        stop.set()
        thread.join()
        server.close()


def run_chromium(chromium: str, url: str, *args: str, proxy: int | None = None) -> str:
    """Chromium headless on ``url``: its stdout (the DOM with ``--dump-dom``) and its console
    messages on stderr, joined."""
    options = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=3000",
    ]
    if proxy is not None:
        options += [f"--proxy-server=http://127.0.0.1:{proxy}", "--proxy-bypass-list=<-loopback>"]
    result = subprocess.run(
        [chromium, *options, *args, url], capture_output=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    return result.stdout.decode() + "\n--stderr--\n" + result.stderr.decode()


BROWSER_OWN_HOSTS = frozenset(
    {"clients2.google.com", "update.googleapis.com", "accounts.google.com"}
)
"""What Chromium itself calls home to (clock, component updates, sign-in), not the page."""


def _page_requests(requests: list[str]) -> list[str]:
    """The recorded requests whose host is not one Chromium calls by itself."""
    hosts = [re.sub(r":\d+$", "", urlsplit_host(line)) for line in requests]
    return [
        line for line, host in zip(requests, hosts, strict=True) if host not in BROWSER_OWN_HOSTS
    ]


def urlsplit_host(request_line: str) -> str:
    """The host of ``GET http://host/...`` or ``CONNECT host:443``."""
    parts = request_line.split(" ")
    target = parts[1] if len(parts) > 1 else ""
    return (urlsplit(target).netloc if "://" in target else target) or request_line


def test_the_recording_proxy_sees_a_page_that_fetches(tmp_path: Path, chromium: str) -> None:
    """The control: a page's remote image and its script error are caught, so an empty record
    means offline and no error."""
    page = tmp_path / "fetching.html"
    page.write_text(
        "<!DOCTYPE html><img src='http://cdn.example.invalid/x.png'><script>nope()</script>"
    )
    with recording_proxy() as (port, requests):
        output = run_chromium(chromium, page.as_uri(), "--dump-dom", proxy=port)
    assert any("cdn.example.invalid" in line for line in _page_requests(requests))
    assert any("nope is not defined" in line for line in _console_errors(output))


def _console_errors(output: str) -> list[str]:
    stderr = output.split("\n--stderr--\n", 1)[1]
    return [line for line in stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]


def open_offline(chromium: str, page: Path, shot: Path, *, height: int) -> str:
    """The page's DOM as Chromium built it, and a screenshot (an ``artifact``, for CI to keep),
    having checked that the page asked the network for nothing and logged no console error."""
    with recording_proxy() as (port, requests):
        dom = run_chromium(chromium, page.as_uri(), "--dump-dom", proxy=port)
        run_chromium(
            chromium,
            page.as_uri(),
            f"--screenshot={shot}",
            f"--window-size=1320,{height}",
            proxy=port,
        )
    assert _page_requests(requests) == []
    assert _console_errors(dom) == []
    assert shot.stat().st_size > 10_000
    return dom


def _pipeline(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> tuple[Path, str, np.random.Generator]:
    rng = np.random.default_rng(3)
    reference = tmp_path / "reference.jsonl"
    reference.write_text("".join(json.dumps(e) + "\n" for e in _events(rng, 0, 10_000, False)))
    topic = unique_name("report")
    kafka_broker.create_topics([topic, f"{topic}.dlq"], partitions=1)
    config = write_config_file(
        tmp_path / "config.yaml",
        bootstrap=kafka_broker.bootstrap_servers,
        redis_url=redis_server.url,
        topic=topic,
        group=unique_name("group"),
        model=MODEL,
        reference=reference,
        window={"events": WINDOW},
        batch_size=1000,
    )
    return config, topic, rng


def test_the_report_file_opens_offline_and_shows_where_the_drift_started(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
    chromium: str,
    artifact: Callable[[str], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config_path, topic, rng = _pipeline(kafka_broker, redis_server, unique_name, tmp_path)
    config = load_config(config_path)
    events = _events(rng, 0, CALM * WINDOW, False)
    events += _events(rng, len(events), SHIFTED * WINDOW, True)
    produce_json(kafka_broker.bootstrap_servers, topic, events, partition_key=None)
    with running_daemon(config):
        wait_until(
            lambda: model_status(config, MODEL.name)["windows_closed"] == CALM + SHIFTED,
            30,
            "the windows to close",
        )
    out = tmp_path / "report.html"
    assert main(["report", "-c", str(config_path), "--out", str(out), "--signal", "num_0"]) == 0
    assert "report written" in capsys.readouterr().out
    page = out.read_text()
    assert not re.search(r"""(src|href)\s*=\s*['"]?(https?:)?//""", page)
    assert "http://" not in page
    assert "https://" not in page
    assert HOSTILE not in page  # escaped wherever it appears

    dom = open_offline(chromium, out, artifact("report.png"), height=2600)

    # num_1's timeline: drifted from the first shifted window on, with its thresholds.
    timeline = re.search(r"<svg[^>]*data-signal=\"num_1\"[^>]*data-drifted=\"([^\"]*)\"", dom)
    assert timeline is not None
    first = CALM  # window ids count from 0
    assert [int(w) for w in timeline.group(1).split()] == list(range(first, CALM + SHIFTED))
    quiet = re.search(r"<svg[^>]*data-signal=\"num_2\"[^>]*data-drifted=\"([^\"]*)\"", dom)
    assert quiet is not None
    assert quiet.group(1) == ""
    # num_1's histogram beside the reference's, on the newest drifted window; num_0 asked for.
    histogram = re.search(r"<svg[^>]*class=\"histogram\"[^>]*data-signal=\"num_1\"(.*?)</svg>", dom)
    assert histogram is not None
    assert 'class="reference"' in histogram.group(1)
    assert 'class="window"' in histogram.group(1)
    assert 'class="histogram" data-signal="num_0"' in dom
    # the hostile category is text in the categorical chart, no element made of it
    assert "&lt;img src=x onerror=alert(1)&gt;" in dom
    assert "<img" not in dom
    assert "v&lt;2&gt;" in dom  # the model version, escaped
    # the header: the reference and when it was built, and the episodes still open
    assert "reference built" in dom
    assert "open alert episodes (2)" in dom
    # num_1's alert episode (fired in window 4, after two breaching windows) shaded on its
    # timeline, none on the quiet one
    num_1 = re.search(r"<svg[^>]*data-signal=\"num_1\"[^>]*data-drifted.*?</svg>", dom)
    num_2 = re.search(r"<svg[^>]*data-signal=\"num_2\"[^>]*data-drifted.*?</svg>", dom)
    assert num_1 is not None
    assert num_2 is not None
    assert 'class="episode"' in num_1.group(0)
    assert 'class="episode"' not in num_2.group(0)
    # joint drift: the reference's correlation matrix beside the window's, and the pairs
    assert dom.count('class="heatmap"') == 2
    assert "pair (largest changes first)" in dom
    assert "data quality" in dom
    assert "Dead letters so far: none." in dom


def test_the_browser_driver_sees_a_page_that_fetches_errs_and_opens_a_dialog(
    tmp_path: Path, chromium: str
) -> None:
    """The control of the live page's test: what it asserts is absent would be caught."""
    page = tmp_path / "misbehaving.html"
    page.write_text(
        "<!DOCTYPE html><img src='http://cdn.example.invalid/x.png'>"
        "<img src=x onerror=alert(1)><script>nope()</script>"
    )
    with Chromium(chromium) as browser:
        browser.open(page.as_uri())
        assert browser.evaluate("document.querySelectorAll('img').length") == 2
    assert "http://cdn.example.invalid/x.png" in browser.log.requests
    assert any("nope is not defined" in error for error in browser.log.errors)
    assert browser.log.dialogs == ["1"]


def test_the_open_live_page_reloads_itself_when_a_window_closes(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
    chromium: str,
    artifact: Callable[[str], Path],
) -> None:
    """One page left open in the browser, as a user would: it shows each window that closes,
    by itself, and the hostile category stays text (no element made of it, no dialog)."""
    config_path, topic, rng = _pipeline(kafka_broker, redis_server, unique_name, tmp_path)
    config = load_config(config_path)
    bootstrap = kafka_broker.bootstrap_servers
    with running_daemon(config) as daemon, Chromium(chromium) as browser:
        assert daemon.http is not None
        origin = f"http://127.0.0.1:{daemon.http.port}"
        browser.open(f"{origin}/")
        assert "No closed window" in browser.text()

        def stream(start: int, count: int, closed: int) -> None:
            """Shifted events from ``start`` on, until ``closed`` windows have closed and
            the open page, having reloaded, shows the last of them."""
            loads = browser.log.loads
            produce_json(bootstrap, topic, _events(rng, start, count, True), partition_key=None)
            wait_until(
                lambda: model_status(config, MODEL.name)["windows_closed"] == closed,
                30,
                f"{closed} windows",
            )
            shown = f"timelines: windows 0 to {closed - 1}"
            browser.wait(lambda: browser.log.loads > loads and _shows(browser, shown), 15, shown)

        stream(0, 2 * WINDOW, closed=2)
        stream(2 * WINDOW, WINDOW, closed=3)
        assert HOSTILE in browser.evaluate("document.body.textContent")  # shown as text
        assert browser.evaluate("document.querySelectorAll('img').length") == 0
        browser.screenshot(artifact("live.png"))
        browser.open(f"{origin}/ui")  # the same page, at its other address
        assert "timelines: windows 0 to 2" in browser.text()
    assert browser.log.dialogs == []
    assert browser.log.errors == []
    assert browser.log.requests
    assert all(url.startswith(f"{origin}/") for url in browser.log.requests)


def _shows(browser: Chromium, text: str) -> bool:
    """Whether the page shows ``text`` now (not while it is being reloaded)."""
    try:
        return text in browser.text()
    except ChromiumError:
        return False


def test_the_demo_ends_with_a_report_showing_where_its_drift_began(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    tmp_path: Path,
    chromium: str,
    artifact: Callable[[str], Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    code = run_demo(
        events=6 * WINDOW_EVENTS,
        rate=50_000,
        drift_at=3 * WINDOW_EVENTS,
        bootstrap_servers=kafka_broker.bootstrap_servers,
        redis_url=redis_server.url,
    )
    assert code == 0
    page = tmp_path / REPORT_FILE
    dom = open_offline(chromium, page, artifact("demo-report.png"), height=3400)
    for signal in (DRIFTED_FEATURE, SKEWED_FEATURE):
        found = re.search(rf"<svg[^>]*data-signal=\"{signal}\"[^>]*data-drifted=\"([^\"]*)\"", dom)
        assert found is not None
        assert [int(w) for w in found.group(1).split()] == [3, 4, 5]
    assert f'class="histogram" data-signal="{DRIFTED_FEATURE}"' in dom
