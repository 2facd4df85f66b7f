"""kill -9 of the daemon process mid-stream, then a restart: nothing lost, nothing doubled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.embedded import KafkaBroker, RedisServer
from monitor.synthetic import SyntheticModel, blocks
from tests.daemon_harness import model_status, wait_until, write_reference
from tests.helpers import KAFKA_TEST_SETTINGS, produce_json

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = SyntheticModel(name="fraud", numeric=5, categorical=1)
EVENTS = 200_000
WINDOW = 5_000


def _write_config(
    path: Path, broker: KafkaBroker, redis_url: str, topic: str, reference: Path
) -> Path:
    config: dict[str, Any] = {
        "kafka": {
            "bootstrap_servers": broker.bootstrap_servers,
            "group_id": path.stem,
            "predictions_topic": topic,
            "dead_letter_topic": f"{topic}.dlq",
            "batch_size": 3000,
            "consumer": dict(KAFKA_TEST_SETTINGS),
        },
        "redis": {"url": redis_url, "key_prefix": path.stem},
        "http": {"host": "127.0.0.1", "port": 0},
        "logging": {"format": "text", "level": "WARNING"},
        "models": {
            MODEL.name: {
                "reference": {"path": str(reference)},
                "window": {"events": WINDOW},
                "features": MODEL.features(),
                "prediction": "numeric",
            }
        },
    }
    path.write_text(yaml.safe_dump(config))
    return path


def _start_daemon(config_path: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "-c", str(config_path)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def test_kill_9_mid_stream_then_restart_counts_every_event_exactly_once(
    fresh_kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topic = unique_name("predictions")
    fresh_kafka_broker.create_topics([topic, f"{topic}.dlq"], partitions=3)
    reference = write_reference(tmp_path / "reference.jsonl", MODEL)
    config_path = _write_config(
        tmp_path / f"{unique_name('crash')}.yaml",
        fresh_kafka_broker,
        redis_server.url,
        topic,
        reference,
    )
    from monitor.config import load_config

    config = load_config(config_path)
    for block in blocks(MODEL, EVENTS, block=20_000, seed=2):
        produce_json(fresh_kafka_broker.bootstrap_servers, topic, block, partition_key=None)

    log = tmp_path / "daemon.log"
    for kill_after in (40_000, 110_000):
        daemon = _start_daemon(config_path, log)
        try:
            wait_until(
                lambda kill_after=kill_after: (
                    model_status(config, MODEL.name)["events"] >= kill_after
                ),
                120,
                f"{kill_after} events counted",
            )
        finally:
            os.kill(daemon.pid, signal.SIGKILL)
            daemon.wait()
        assert model_status(config, MODEL.name)["events"] < EVENTS, "killed too late to matter"

    daemon = _start_daemon(config_path, log)
    try:
        wait_until(
            lambda: model_status(config, MODEL.name)["windows_closed"] == EVENTS // WINDOW,
            180,
            "every window to close after the restarts",
        )
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)

    status = subprocess.run(
        [sys.executable, "-m", "monitor", "status", "-c", str(config_path), "--json"],
        capture_output=True,
        check=True,
    )
    report = json.loads(status.stdout)[MODEL.name]
    assert report["events"] == EVENTS, log.read_text()[-3000:]
    assert sorted(w["window"]["id"] for w in report["windows"]) == list(range(EVENTS // WINDOW))
    assert {w["window"]["events"] for w in report["windows"]} == {WINDOW}
