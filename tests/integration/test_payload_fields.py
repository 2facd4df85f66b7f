"""Events whose fields have other names: `payload` maps them, on a real broker and Redis.

The producer's events say ``model_name``, ``inputs``, ``score``, ``timestamp`` and
``request_id``; its labels ``request_id`` and ``outcome``. With the mapping in the
config, the reference file, the stream and the labels are read as if they followed
the contract.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from monitor.config import parse_config
from monitor.tooling.embedded import KafkaBroker, RedisServer
from monitor.tooling.synthetic import SyntheticModel, generate
from tests.daemon_harness import model_status, pipeline_config_dict, running_daemon, wait_until
from tests.helpers import consume_messages, produce_json

pytestmark = pytest.mark.integration

MODEL = SyntheticModel(name="fraud", numeric=3, categorical=1)
PREDICTION_FIELDS = {
    "model": "model_name",
    "features": "inputs",
    "prediction": "score",
    "ts": "timestamp",
    "event_id": "request_id",
}
LABEL_FIELDS = {"event_id": "request_id", "label": "outcome"}
EVENTS = 3000


def _renamed(raw: bytes, names: dict[str, str]) -> dict[str, Any]:
    return {names.get(key, key): value for key, value in json.loads(raw).items()}


def _events(start: int, count: int, seed: int) -> list[dict[str, Any]]:
    return [_renamed(raw, PREDICTION_FIELDS) for raw in generate(MODEL, start, count, seed=seed)]


def _config(
    broker: KafkaBroker, redis_url: str, unique_name: Callable[[str], str], tmp_path: Path
) -> tuple[str, Any]:
    topic = unique_name("renamed")
    broker.create_topics([topic, f"{topic}.labels", f"{topic}.dlq"], partitions=1)
    reference = tmp_path / "reference.jsonl"
    reference.write_text("".join(json.dumps(e) + "\n" for e in _events(0, 2000, seed=1)))
    data = pipeline_config_dict(
        bootstrap=broker.bootstrap_servers,
        redis_url=redis_url,
        topic=topic,
        group=unique_name("group"),
        model=MODEL,
        reference=reference,
        window={"events": 1000},
        extra_model={"task": "binary", "labels": {"min_labels": 100}},
        kafka_extra={"labels_topic": f"{topic}.labels"},
    )
    data["payload"] = {"prediction_fields": PREDICTION_FIELDS, "label_fields": LABEL_FIELDS}
    return topic, parse_config(data)


def test_renamed_events_and_labels_are_counted_windowed_and_joined(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topic, config = _config(kafka_broker, redis_server.url, unique_name, tmp_path)
    events = _events(0, EVENTS, seed=2)
    labels = [
        {"request_id": e["request_id"], "model": MODEL.name, "outcome": int(e["score"] > 0.5)}
        for e in events
    ]
    produce_json(kafka_broker.bootstrap_servers, topic, events, partition_key=None)
    produce_json(kafka_broker.bootstrap_servers, f"{topic}.labels", labels, partition_key=None)
    with running_daemon(config):
        wait_until(
            lambda: model_status(config, MODEL.name)["labels"]["joined"] == EVENTS,
            60,
            "every label joined",
        )
    status = model_status(config, MODEL.name)
    assert status["events"] == EVENTS
    assert status["windows_closed"] == EVENTS // 1000
    assert status["late_events"] == 0
    assert status["signals"]["num_0/ks"]["window"]["events"] == 1000


def test_an_event_under_the_contracts_names_is_dead_lettered_naming_the_mapped_field(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topic, config = _config(kafka_broker, redis_server.url, unique_name, tmp_path)
    unmapped = generate(MODEL, 0, 1, seed=3)[0]
    produce_json(
        kafka_broker.bootstrap_servers, topic, [unmapped, *_events(1, 5, 3)], partition_key=None
    )
    with running_daemon(config):
        wait_until(lambda: model_status(config, MODEL.name)["events"] == 5, 60, "the good events")
        (dead,) = consume_messages(kafka_broker.bootstrap_servers, f"{topic}.dlq", 1)
    headers = dict(dead.headers() or [])
    assert headers["x-drift-monitor-reason"] == b"missing_model"
    assert headers["x-drift-monitor-detail"] == b"no `model_name` field"
