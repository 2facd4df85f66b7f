"""kill -9 during a segmented stream on three partitions: every segment's count exact.

A segment's counts are fields of its model's window hash, written by the batch's one
apply script with the partitions' offsets (``monitor/segmenting.py``): a batch applied
before a kill is never applied again, one not applied is consumed again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from monitor.config import load_config
from monitor.keys import Keys
from monitor.reference import build_profile_from_file
from monitor.store import StateStore
from monitor.tooling.embedded import KafkaBroker, RedisServer
from monitor.tooling.synthetic import SyntheticModel
from tests.daemon_harness import (
    model_status,
    start_daemon_process,
    wait_until,
    write_config_file,
)
from tests.helpers import produce_json
from tests.segment_traffic import FEATURES, regions, segmented_events, write_events

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EVENTS = 60_000
WINDOW = 3_000
SHARES = {region: 1.0 + i for i, region in enumerate(regions(5))}  # 1/15 .. 5/15


def test_kill_9_twice_during_a_segmented_stream_counts_each_segment_exactly_once(
    fresh_kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topic, group = unique_name("predictions"), unique_name("crash")
    fresh_kafka_broker.create_topics([topic, f"{topic}.dlq"], partitions=3)
    reference = write_events(tmp_path / "ref.jsonl", segmented_events(SHARES, 5_000, seed=1))
    config_path = write_config_file(
        tmp_path / f"{group}.yaml",
        bootstrap=fresh_kafka_broker.bootstrap_servers,
        redis_url=redis_server.url,
        topic=topic,
        group=group,
        model=SyntheticModel(name="fraud"),
        reference=reference,
        window={"events": WINDOW},
        extra_model={"features": FEATURES, "segments": ["tags.region"]},
        batch_size=1000,
        logging={"format": "text", "level": "WARNING"},
    )
    config = load_config(config_path)
    client = redis.Redis.from_url(redis_server.url)
    profile = build_profile_from_file(config, config.models["fraud"], reference)
    StateStore(client, Keys(group), history_size=100).store_reference(profile)
    client.close()
    events = segmented_events(SHARES, EVENTS, seed=2)
    produce_json(fresh_kafka_broker.bootstrap_servers, topic, events, partition_key=None)

    log = tmp_path / "daemon.log"
    for kill_after in (15_000, 35_000):
        daemon = start_daemon_process(config_path, log)
        try:
            wait_until(
                lambda kill_after=kill_after: model_status(config, "fraud")["events"] >= kill_after,
                120,
                f"{kill_after} events counted",
            )
        finally:
            os.kill(daemon.pid, signal.SIGKILL)
            daemon.wait()
        assert model_status(config, "fraud")["events"] < EVENTS, "killed too late to matter"

    daemon = start_daemon_process(config_path, log)
    try:
        wait_until(
            lambda: model_status(config, "fraud")["windows_closed"] == EVENTS // WINDOW,
            120,
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
    report = json.loads(status.stdout)["fraud"]
    assert report["events"] == EVENTS, log.read_text()[-3000:]
    counted: Counter[str] = Counter()
    for entry in report["windows"]:
        segments = entry["segments"]
        assert sum(s["events"] for s in segments.values()) == WINDOW
        counted.update({name: s["events"] for name, s in segments.items()})
    sent = Counter(f"region={json.loads(e)['tags']['region']}" for e in events)
    assert +counted == sent  # every segment's count exact; __other__ had none to count
