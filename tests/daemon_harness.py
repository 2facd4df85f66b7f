"""Running the real daemon inside a test: config for the test services, a thread, waiting.

The daemon here is the production class with real Kafka (Tansu) and a real
redis-server; only its HTTP listener uses a free port.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from monitor.config import Config, parse_config
from monitor.daemon import Daemon
from monitor.redis_client import connect
from monitor.tooling.embedded import KafkaBroker
from monitor.tooling.synthetic import SyntheticModel, blocks
from tests.helpers import KAFKA_TEST_SETTINGS


def write_reference(path: Path, model: SyntheticModel, events: int = 20_000, seed: int = 1) -> Path:
    """A JSONL reference file of synthetic events (a seed of its own, so not the stream's)."""
    with path.open("wb") as handle:
        for block in blocks(model, events, seed=seed):
            handle.write(b"\n".join(block) + b"\n")
    return path


def pipeline_config_dict(
    *,
    bootstrap: str,
    redis_url: str,
    topic: str,
    group: str,
    model: SyntheticModel,
    reference: Path | None = None,
    window: Mapping[str, Any] | None = None,
    extra_model: Mapping[str, Any] | None = None,
    batch_size: int = 2000,
    kafka_extra: Mapping[str, Any] | None = None,
    logging: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A config (as YAML would give it) pointing at the test's broker and Redis, with a key
    prefix of its own (the group id)."""
    model_section: dict[str, Any] = {
        "reference": {"path": str(reference)} if reference else {"from_stream": 10_000},
        "window": dict(window or {"events": 5000}),
        "features": model.features(),
        "prediction": "numeric",
        **(extra_model or {}),
    }
    return {
        "kafka": {
            "bootstrap_servers": bootstrap,
            "group_id": group,
            "predictions_topic": topic,
            "dead_letter_topic": f"{topic}.dlq",
            "batch_size": batch_size,
            "consumer": dict(KAFKA_TEST_SETTINGS),
            **(kafka_extra or {}),
        },
        "redis": {"url": redis_url, "key_prefix": group},
        "http": {"host": "127.0.0.1", "port": 0},
        "logging": dict(logging or {"format": "json", "level": "INFO"}),
        "models": {model.name: model_section},
    }


def new_pipeline(
    broker: KafkaBroker,
    redis_url: str,
    unique_name: Callable[[str], str],
    model: SyntheticModel,
    *,
    partitions: int = 1,
    **options: Any,
) -> tuple[str, Config]:
    """A predictions topic (and its dead-letter topic) of the test's own, and a config for it."""
    topic = unique_name("predictions")
    broker.create_topics([topic, f"{topic}.dlq"], partitions=partitions)
    config = pipeline_config(
        bootstrap=broker.bootstrap_servers,
        redis_url=redis_url,
        topic=topic,
        group=unique_name("group"),
        model=model,
        **options,
    )
    return topic, config


def pipeline_config(**options: Any) -> Config:
    """:func:`pipeline_config_dict`, parsed: for a daemon run inside the test."""
    return parse_config(pipeline_config_dict(**options))


def write_config_file(path: Path, **options: Any) -> Path:
    """:func:`pipeline_config_dict` as a YAML file: for a daemon run as a process."""
    path.write_text(yaml.safe_dump(pipeline_config_dict(**options)))
    return path


def start_daemon_process(config_path: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:
    """``python -m monitor run`` on a config file, output appended to ``log``."""
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "-c", str(config_path), *args],
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def kill_9_when(
    config_path: Path, log: Path, condition: Callable[[], bool], timeout: float, what: str
) -> None:
    """Run ``drift-monitor run`` as its own process until ``condition`` holds, then kill -9
    it: no shutdown, no last checkpoint, as a crash would leave things."""
    daemon = start_daemon_process(config_path, log)
    try:
        wait_until(condition, timeout, what)
    finally:
        os.kill(daemon.pid, signal.SIGKILL)
        daemon.wait()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


@contextmanager
def running_daemon(config: Config, *, cluster: bool = False) -> Iterator[Daemon]:
    """The daemon in a thread; stopped (finishing its batch) and joined on exit."""
    daemon = Daemon(config, connect(config.redis.url, cluster=cluster))
    failure: list[BaseException] = []

    def run() -> None:
        try:
            daemon.run()
        except BaseException as error:  # surfaced in the test below, not lost in the thread
            failure.append(error)

    thread = threading.Thread(target=run, name="daemon-under-test")
    thread.start()
    try:
        # The HTTP listener starts before state loads, so both are up once this holds.
        wait_until(lambda: daemon.status.state_loaded or bool(failure), 60, "the daemon to start")
        yield daemon
    finally:
        daemon.stop()
        thread.join(timeout=60)
    if failure:
        raise failure[0]


def model_status(config: Config, model: str, *, cluster: bool = False) -> dict[str, Any]:
    from monitor.keys import Keys
    from monitor.reconciliation import estimation_status
    from monitor.store import StateStore

    client = connect(config.redis.url, cluster=cluster)
    try:
        store = StateStore(client, Keys(config.redis.key_prefix), history_size=1000)
        status = store.model_status(model)
        status["estimation"] = estimation_status(client, config, model, status)
        return status
    finally:
        client.close()
