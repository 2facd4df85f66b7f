"""Sequential detectors inside the daemon: exact detection points, across a restart."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from river import drift

from monitor.config import Config, parse_config
from monitor.tooling.embedded import KafkaBroker, RedisServer
from monitor.tooling.synthetic import Shift, SyntheticModel, generate
from tests.daemon_harness import model_status, running_daemon, wait_until, write_reference
from tests.helpers import KAFKA_TEST_SETTINGS, produce_json

pytestmark = pytest.mark.integration

MODEL = SyntheticModel(name="fraud", numeric=3, categorical=1)
EVENTS = 12_000


def _events() -> list[bytes]:
    # num_1 moves by 2 sd at 4,000, back at 8,000: two changes for ADWIN to find.
    first = generate(MODEL, 0, 8_000, seed=2, shift=Shift(4_000, {"num_1": 2.0}))
    return [*first, *generate(MODEL, 8_000, 4_000, seed=2)]


def _config(broker: KafkaBroker, redis_url: str, name: str, reference: Path) -> Config:
    raw: dict[str, Any] = {
        "kafka": {
            "bootstrap_servers": broker.bootstrap_servers,
            "group_id": name,
            "predictions_topic": name,
            "dead_letter_topic": f"{name}.dlq",
            "batch_size": 700,
            "consumer": dict(KAFKA_TEST_SETTINGS),
        },
        "redis": {"url": redis_url, "key_prefix": name},
        "http": {"host": "127.0.0.1", "port": 0},
        "models": {
            MODEL.name: {
                "reference": {"path": str(reference)},
                "window": {"events": 2000},
                "features": MODEL.features(),
                "prediction": "numeric",
                "sequential": {"num1-adwin": {"signal": "num_1", "detector": "adwin"}},
            }
        },
    }
    return parse_config(raw)


def _river_detections(events: list[bytes]) -> list[int]:
    detector = drift.ADWIN()
    found = []
    for offset, raw in enumerate(events):
        detector.update(json.loads(raw)["features"]["num_1"])
        if detector.drift_detected:
            found.append(offset)
    return found


def _run(
    broker: KafkaBroker, redis_url: str, name: str, reference: Path, pieces: list[list[bytes]]
) -> list[int]:
    broker.create_topics([name, f"{name}.dlq"], partitions=1)
    config = _config(broker, redis_url, name, reference)
    produced = 0
    for piece in pieces:  # one daemon run per piece: stop (SIGTERM-like) and start again
        produce_json(broker.bootstrap_servers, name, piece, partition_key=None)
        produced += len(piece)
        with running_daemon(config):
            wait_until(
                lambda produced=produced: model_status(config, MODEL.name)["events"] == produced,
                60,
                f"{produced} events",
            )
    detections = model_status(config, MODEL.name)["sequential"]["detections"]
    return sorted(d["offset"] for d in detections)


def test_detections_are_river_adwins_and_survive_a_restart_mid_stream(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    events = _events()
    reference = write_reference(tmp_path / "reference.jsonl", MODEL, events=3000)
    expected = _river_detections(events)
    assert len(expected) >= 2, "the stream must hold changes for the comparison to mean much"
    whole = _run(kafka_broker, redis_server.url, unique_name("whole"), reference, [events])
    split = _run(
        kafka_broker,
        redis_server.url,
        unique_name("split"),
        reference,
        [events[:5_100], events[5_100:]],
    )
    assert whole == expected
    assert split == expected
    assert np.all(np.diff(expected) > 0)
