"""kill -9 twice while a champion and its challenger stream on three partitions: the
comparison counts stay exact.

The challenger's events are counted on the champion's bins into the champion's window
(``monitor/challenger.py``), by the batch's one apply script with the partitions'
offsets, so a batch applied before a kill is never compared again and one not applied
is compared after the restart.
"""

from __future__ import annotations

import json
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
from tests.segment_traffic import FEATURES, RATE, segmented_events, write_events

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WINDOW_SECONDS = 10.0
WINDOWS = 8
EVENTS = int(WINDOWS * WINDOW_SECONDS * RATE) + 100  # and the first of a ninth, to close
CHAMPION = "fraud/version=3"


def _challenger(message: bytes) -> bytes:
    event = json.loads(message)
    event["model_version"] = "4"
    event["event_id"] += "-v4"
    return json.dumps(event).encode()


def test_kill_9_twice_leaves_every_window_comparing_each_challenger_event_once(
    fresh_kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topic, group = unique_name("predictions"), unique_name("crash")
    fresh_kafka_broker.create_topics([topic, f"{topic}.dlq"], partitions=3)
    reference = segmented_events({"r00": 1.0}, 5_000, seed=1, versions=((0, "3"),))
    files = {
        "3": str(write_events(tmp_path / "fraud-3.jsonl", reference)),
        "4": str(write_events(tmp_path / "fraud-4.jsonl", [_challenger(m) for m in reference])),
    }
    config_path = write_config_file(
        tmp_path / f"{group}.yaml",
        bootstrap=fresh_kafka_broker.bootstrap_servers,
        redis_url=redis_server.url,
        topic=topic,
        group=group,
        model=SyntheticModel(name="fraud"),
        window={"seconds": WINDOW_SECONDS},
        extra_model={
            "features": FEATURES,
            "reference": {"by_version": files},
            "compare_versions": ["3", "4"],
        },
        batch_size=1000,
        logging={"format": "text", "level": "WARNING"},
    )
    config = load_config(config_path)
    champion = segmented_events({"r00": 1.0}, EVENTS, seed=2, versions=((0, "3"),))
    for partition in range(3):  # each event and its shadow on the same partition, in turn
        produce_json(
            fresh_kafka_broker.bootstrap_servers,
            topic,
            [m for message in champion[partition::3] for m in (message, _challenger(message))],
            partition_key=None,
            partition=partition,
        )
    log = tmp_path / "daemon.log"
    for kill_after in (2_500, 5_500):
        kill_9_when(
            config_path,
            log,
            lambda kill_after=kill_after: model_status(config, CHAMPION)["events"] >= kill_after,
            120,
            f"{kill_after} champion events counted",
        )
        assert model_status(config, CHAMPION)["events"] < EVENTS, "killed too late to matter"

    daemon = start_daemon_process(config_path, log)
    try:
        wait_until(
            lambda: model_status(config, CHAMPION)["windows_closed"] == WINDOWS,
            120,
            "every full window of the champion to close after the restarts",
        )
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)

    windows = model_status(config, CHAMPION)["windows"]
    sent = Counter(
        int(json.loads(m)["ts"] // WINDOW_SECONDS)
        for m in champion[: int(WINDOWS * WINDOW_SECONDS * RATE)]
    )
    assert {w["window"]["id"]: w["window"]["events"] for w in windows} == dict(sent)
    compared = {w["window"]["id"]: w["segments"]["4 vs 3"]["events"] for w in windows}
    assert compared == dict(sent), log.read_text()[-3000:]
