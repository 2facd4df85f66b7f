"""kill -9 during a segmented, versioned stream on three partitions: every count exact.

A segment's counts are fields of its model's window hash, and a version's stream is a
model to Redis, both written by the batch's one apply script with the partitions'
offsets (``monitor/segmenting.py``, ``monitor/versions.py``): a batch applied before a
kill is never applied again, one not applied is consumed again.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.tooling.embedded import KafkaBroker, RedisServer
from monitor.tooling.synthetic import SyntheticModel
from tests.daemon_harness import (
    kill_9_when,
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
ROLLOUT = 30_000  # version 3 before this event, version 4 from it
SHARES = {region: 1.0 + i for i, region in enumerate(regions(5))}  # 1/15 .. 5/15
STREAMS = ("fraud/version=3", "fraud/version=4")


def test_kill_9_twice_counts_each_version_and_segment_exactly_once(
    fresh_kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topic, group = unique_name("predictions"), unique_name("crash")
    fresh_kafka_broker.create_topics([topic, f"{topic}.dlq"], partitions=3)
    references = {
        version: str(
            write_events(
                tmp_path / f"ref-{version}.jsonl",
                segmented_events(SHARES, 5_000, seed=1, versions=((0, version),)),
            )
        )
        for version in ("3", "4")
    }
    config_path = write_config_file(
        tmp_path / f"{group}.yaml",
        bootstrap=fresh_kafka_broker.bootstrap_servers,
        redis_url=redis_server.url,
        topic=topic,
        group=group,
        model=SyntheticModel(name="fraud"),
        window={"events": WINDOW},
        extra_model={
            "features": FEATURES,
            "reference": {"by_version": references},
            "segments": ["tags.region"],
        },
        batch_size=1000,
        logging={"format": "text", "level": "WARNING"},
    )
    config = load_config(config_path)
    events = segmented_events(SHARES, EVENTS, seed=2, versions=((0, "3"), (ROLLOUT, "4")))
    produce_json(fresh_kafka_broker.bootstrap_servers, topic, events, partition_key=None)

    def counted() -> int:
        return sum(model_status(config, stream)["events"] for stream in STREAMS)

    log = tmp_path / "daemon.log"
    for kill_after in (15_000, 35_000):
        kill_9_when(
            config_path,
            log,
            lambda kill_after=kill_after: counted() >= kill_after,
            120,
            f"{kill_after} events counted",
        )
        assert counted() < EVENTS, "killed too late to matter"

    daemon = start_daemon_process(config_path, log)
    try:
        wait_until(
            lambda: all(
                model_status(config, s)["windows_closed"] == ROLLOUT // WINDOW for s in STREAMS
            ),
            120,
            "every window of both versions to close after the restarts",
        )
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)

    status = subprocess.run(
        [sys.executable, "-m", "monitor", "status", "-c", str(config_path), "--json"],
        capture_output=True,
        check=True,
    )
    report = json.loads(status.stdout)
    for version, stream in zip(("3", "4"), STREAMS, strict=True):
        assert report[stream]["events"] == ROLLOUT, log.read_text()[-3000:]
        per_segment: Counter[str] = Counter()
        for entry in report[stream]["windows"]:
            segments = entry["segments"]
            assert sum(s["events"] for s in segments.values()) == WINDOW
            per_segment.update({name: s["events"] for name, s in segments.items()})
        sent = Counter(
            f"region={e['tags']['region']}"
            for e in map(json.loads, events)
            if e["model_version"] == version
        )
        assert +per_segment == sent  # every segment's count exact; __other__ had none
    assert report["fraud"]["unknown_version_events"] == 0
