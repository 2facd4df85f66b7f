"""kill -9 of the daemon process mid-stream, then a restart: nothing lost, nothing doubled."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.tooling.embedded import KafkaBroker, RedisServer
from monitor.tooling.synthetic import SyntheticModel, blocks
from tests.daemon_harness import (
    kill_9_when,
    model_status,
    start_daemon_process,
    wait_until,
    write_config_file,
    write_reference,
)
from tests.helpers import produce_json

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = SyntheticModel(name="fraud", numeric=5, categorical=1)
EVENTS = 200_000
WINDOW = 5_000


def test_kill_9_mid_stream_then_restart_counts_every_event_exactly_once(
    fresh_kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topic = unique_name("predictions")
    fresh_kafka_broker.create_topics([topic, f"{topic}.dlq"], partitions=3)
    reference = write_reference(tmp_path / "reference.jsonl", MODEL)
    group = unique_name("crash")
    config_path = write_config_file(
        tmp_path / f"{group}.yaml",
        bootstrap=fresh_kafka_broker.bootstrap_servers,
        redis_url=redis_server.url,
        topic=topic,
        group=group,
        model=MODEL,
        reference=reference,
        window={"events": WINDOW},
        batch_size=3000,
        logging={"format": "text", "level": "WARNING"},
    )
    from monitor.config import load_config

    config = load_config(config_path)
    for block in blocks(MODEL, EVENTS, block=20_000, seed=2):
        produce_json(fresh_kafka_broker.bootstrap_servers, topic, block, partition_key=None)

    log = tmp_path / "daemon.log"
    for kill_after in (40_000, 110_000):
        kill_9_when(
            config_path,
            log,
            lambda kill_after=kill_after: model_status(config, MODEL.name)["events"] >= kill_after,
            120,
            f"{kill_after} events counted",
        )
        assert model_status(config, MODEL.name)["events"] < EVENTS, "killed too late to matter"

    daemon = start_daemon_process(config_path, log)
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
