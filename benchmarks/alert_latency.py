"""Alert latency: from the produce of a drifted window's last event to the webhook's receipt.

Run::

    .venv/bin/python benchmarks/alert_latency.py [--cycles N] [--window W] [--rate R]

Everything is real and local: a Tansu broker and a redis-server
(``monitor.tooling.embedded``), the daemon as its own process (``python -m monitor run``
with a config written for the run), and an HTTP receiver
(``tests/alert_receivers.py``) behind a ``webhook`` sink. The daemon keeps the
default batch settings (``kafka.batch_size`` 5000, ``batch_timeout_ms`` 200) and
delivery settings; its consumer gets the settings every test and benchmark gives
Tansu (``fetch.wait.max.ms`` 50: Tansu answers a fetch only when that wait runs
out, where Kafka answers as soon as data arrives).

The model is the throughput benchmark's (20 numeric and 3 categorical features,
a numeric prediction), counted in windows of ``--window`` events (default
2,000). One alert rule on ``num_1``'s PSI fires on the first breaching window
and resolves on the first clear one, without cooldown, so every drifted window
fires once. This process produces, paced at ``--rate`` events/s (default 5,000,
in 10 ms steps), two clean windows, then ``--cycles`` (default 60) pairs of a
window whose ``num_1`` is shifted by one standard deviation and a clean one.

For each drifted window it notes the wall time just before producing the
window's last event; the receiver notes when the webhook's request arrives.
Latency is the difference (one clock, one machine). Also printed, to say where
the time goes, per firing alert: produce → the window's evaluation (the
``evaluated_at`` in the daemon's history: Kafka delivery, the consumer's wait
for its batch, decoding, the Redis apply, evaluation), and evaluation → receipt
(the finalize script, waking the delivery thread, reading the outbox, the HTTP
request). The resolves' latencies (the clean windows' last events) are printed
beside them.

The machine may be shared: figures vary from run to run. Last line::

    alert_p50_ms=<median> alert_p99_ms=<99th percentile>
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import redis
import yaml
from confluent_kafka import Producer

if __package__ in (None, ""):  # run as a script: the repository root is not on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.throughput import (
    KAFKA_CONSUMER,
    MODEL,
    STREAM_SEED,
    load_average,
    write_reference,
)
from monitor.config import parse_config
from monitor.keys import Keys
from monitor.logs import configure_logging
from monitor.source import producer_settings
from monitor.tooling.embedded import KafkaBroker, RedisServer
from monitor.tooling.synthetic import Shift, generate
from tests.alert_receivers import Receiver

BASE_TS = 1_764_182_400.0  # monitor.tooling.synthetic's first event time
EVENTS_PER_SECOND = 100.0  # of event time, as monitor.tooling.synthetic spaces events
SHIFT = {"num_1": 1.0}
WARM_WINDOWS = 2
TICK = 0.01


@dataclass(slots=True)
class AlertLatency:
    """Latencies in seconds, one per drifted (firing) or clean (resolving) window."""

    firing: list[float] = field(default_factory=list)
    resolved: list[float] = field(default_factory=list)
    to_evaluation: list[float] = field(default_factory=list)
    evaluation_to_receipt: list[float] = field(default_factory=list)
    missing: int = 0

    def percentile(self, q: float, values: list[float] | None = None) -> float:
        data = self.firing if values is None else values
        return float(np.percentile(data, q)) * 1000 if data else float("nan")


def daemon_config(
    broker: KafkaBroker,
    redis_url: str,
    topic: str,
    reference: Path,
    receiver: str,
    window: int,
    kafka: dict[str, Any],
) -> dict[str, Any]:
    run = f"bench-alert-{uuid.uuid4().hex[:8]}"
    return {
        "kafka": kafka
        | {
            "bootstrap_servers": broker.bootstrap_servers,
            "group_id": run,
            "predictions_topic": topic,
            "dead_letter_topic": f"{topic}.dlq",
            "consumer": {
                k: v for k, v in KAFKA_CONSUMER.items() if k.startswith(("session", "heartbeat"))
            }
            | {"fetch.wait.max.ms": 50},
        },
        "redis": {"url": redis_url, "key_prefix": run},
        "http": {"host": "127.0.0.1", "port": 0},
        "logging": {"format": "text", "level": "WARNING"},
        "models": {
            MODEL.name: {
                "reference": {"path": str(reference)},
                "window": {"events": window},
                "features": MODEL.features(),
                "prediction": "numeric",
                "alerts": ["receiver"],
                "alert_rules": {
                    "drift": {
                        "signals": ["num_1"],
                        "methods": ["psi"],
                        "for_windows": 1,
                        "resolve_windows": 1,
                        "cooldown_seconds": 0,
                    }
                },
            }
        },
        "sinks": {"receiver": {"type": "webhook", "url": receiver}},
    }


def window_events(index: int, window: int, shifted: bool) -> list[bytes]:
    shift = Shift(0, SHIFT) if shifted else None
    return generate(MODEL, index * window, window, seed=STREAM_SEED, shift=shift)


def produce_paced(
    producer: Producer, topic: str, windows: list[list[bytes]], rate: float
) -> list[float]:
    """Produce every window's events at ``rate``; returns when each window's last was produced."""
    last_produced: list[float] = []
    started = time.monotonic()
    sent = 0
    for events in windows:
        for i, value in enumerate(events):
            due = started + sent / rate
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(max(wait, TICK))
            if i == len(events) - 1:
                last_produced.append(time.time())
            while True:
                try:
                    producer.produce(topic, value=value)
                    break
                except BufferError:
                    producer.poll(0.01)
            producer.poll(0)
            sent += 1
    producer.flush(30)
    return last_produced


def window_index(facts: dict[str, Any], window: int) -> int:
    start = float(facts["window"]["start_ts"])
    return round((start - BASE_TS) * EVENTS_PER_SECOND / window)


def wait_for(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()  # type: ignore[no-any-return]


def measure_alert_latency(
    cycles: int = 60,
    window: int = 2_000,
    rate: float = 5_000.0,
    *,
    kafka: dict[str, Any] | None = None,
    broker: KafkaBroker | None = None,
    redis_server: RedisServer | None = None,
    say: Any = print,
) -> AlertLatency:
    """Run the daemon on drifting traffic and time each alert; starts what it is not given.

    ``kafka``: settings of the daemon's ``kafka`` section to change (none: the defaults).
    """
    with contextlib.ExitStack() as stack:
        if broker is None:
            broker = stack.enter_context(KafkaBroker())
        if redis_server is None:
            redis_server = stack.enter_context(RedisServer())
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dm-alerts-")))
        receiver = Receiver().start()
        stack.callback(receiver.stop)
        topic = f"bench-alerts-{uuid.uuid4().hex[:8]}"
        broker.create_topics([topic, f"{topic}.dlq"], partitions=1)
        data = daemon_config(
            broker,
            redis_server.url,
            topic,
            write_reference(workdir),
            receiver.url,
            window,
            kafka or {},
        )
        config = parse_config(data, environ={})
        config_path = workdir / "config.yaml"
        config_path.write_text(yaml.safe_dump(data))
        log_path = workdir / "daemon.log"
        log_file = stack.enter_context(log_path.open("wb"))
        daemon = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "-c", str(config_path)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        )

        def stop_daemon() -> None:
            daemon.terminate()
            try:
                daemon.wait(30)
            except subprocess.TimeoutExpired:
                daemon.kill()

        stack.callback(stop_daemon)
        client = stack.enter_context(contextlib.closing(redis.Redis.from_url(redis_server.url)))
        keys = Keys(config.redis.key_prefix)
        producer = Producer(producer_settings(config))

        def counted() -> int:
            return int(client.hget(keys.meta(MODEL.name), "events") or 0)

        warm = [window_events(i, window, False) for i in range(WARM_WINDOWS)]
        produce_paced(producer, topic, warm, rate)
        if not wait_for(lambda: counted() >= WARM_WINDOWS * window, 120):
            raise RuntimeError(f"the daemon did not start; its log: {log_path.read_text()[-2000:]}")
        say(f"daemon running (pid {daemon.pid}); {cycles} cycles, {load_average()}")
        windows, shifted = [], []
        for cycle in range(cycles):
            for offset, drifted in ((0, True), (1, False)):
                index = WARM_WINDOWS + 2 * cycle + offset
                windows.append(window_events(index, window, drifted))
                shifted.append(drifted)
        produced = produce_paced(producer, topic, windows, rate)
        wait_for(lambda: len(receiver.accepted()) >= len(windows), 60)
        time.sleep(0.5)
        history = {
            round((json.loads(e)["window"]["start_ts"] - BASE_TS) * EVENTS_PER_SECOND / window): (
                json.loads(e)["evaluated_at"]
            )
            for e in client.lrange(keys.history(MODEL.name), 0, -1)
        }
        return latencies(receiver, produced, shifted, history, window)


def latencies(
    receiver: Receiver,
    produced: list[float],
    shifted: list[bool],
    evaluated: dict[int, float],
    window: int,
) -> AlertLatency:
    result = AlertLatency()
    arrived: dict[tuple[int, str], float] = {}
    for request in receiver.accepted():
        facts = request.json()
        status = "firing" if "/firing/" in str(request.headers["Idempotency-Key"]) else "resolved"
        arrived.setdefault((window_index(facts, window), status), request.at)
    for i, (at, drifted) in enumerate(zip(produced, shifted, strict=True)):
        index = WARM_WINDOWS + i
        got = arrived.get((index, "firing" if drifted else "resolved"))
        if got is None:
            result.missing += 1
            continue
        (result.firing if drifted else result.resolved).append(got - at)
        if drifted and index in evaluated:
            result.to_evaluation.append(evaluated[index] - at)
            result.evaluation_to_receipt.append(got - evaluated[index])
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=60, help="drifted + clean window pairs")
    parser.add_argument("--window", type=int, default=2_000, help="events per window")
    parser.add_argument("--rate", type=float, default=5_000.0, help="events produced per second")
    parser.add_argument(
        "--batch-timeout-ms", type=int, help="kafka.batch_timeout_ms (default: the daemon's)"
    )
    args = parser.parse_args(argv)
    configure_logging("text", "WARNING")
    logging.getLogger("monitor.tooling.embedded").setLevel(logging.ERROR)
    kafka = {} if args.batch_timeout_ms is None else {"batch_timeout_ms": args.batch_timeout_ms}
    result = measure_alert_latency(args.cycles, args.window, args.rate, kafka=kafka)

    def spread(name: str, values: list[float]) -> str:
        return (
            f"{name}: p50 {result.percentile(50, values):.0f} ms, "
            f"p99 {result.percentile(99, values):.0f} ms, max "
            f"{result.percentile(100, values):.0f} ms ({len(values)})"
        )

    print(spread("firing (produce -> webhook)", result.firing))
    print("  " + spread("produce -> evaluated", result.to_evaluation))
    print("  " + spread("evaluated -> webhook", result.evaluation_to_receipt))
    print(spread("resolved (produce -> webhook)", result.resolved))
    if result.missing:
        print(f"windows without their webhook: {result.missing}")
    print(f"{load_average()}; the machine may be shared: figures vary from run to run")
    print(
        f"alert_p50_ms={result.percentile(50):.0f} alert_p99_ms={result.percentile(99):.0f}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
