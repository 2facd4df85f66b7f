"""The daemon finds a correlation flip that no single feature shows, alerts on it, and names it.

Real broker, Redis and webhook receiver. The reference pairs ``num_0`` and ``num_1`` at
a correlation of 0.8; from the fourth window on the stream pairs them at -0.8, each
feature keeping its own distribution. Only the joint method can see it, and the alert
must say which pair moved: that one first, far ahead of the pairs that did not.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from monitor.alerts.records import AlertRecords
from monitor.config import parse_config
from monitor.keys import Keys
from monitor.redis_client import connect
from monitor.tooling.embedded import KafkaBroker, RedisServer
from monitor.tooling.synthetic import SyntheticModel
from tests.alert_receivers import receiver
from tests.daemon_harness import model_status, pipeline_config_dict, running_daemon, wait_until
from tests.helpers import produce_json

pytestmark = pytest.mark.integration

MODEL = SyntheticModel(name="fraud", numeric=3, categorical=0)
WINDOW = 2000
CALM_WINDOWS, FLIPPED_WINDOWS = 3, 3


def _events(rng: np.random.Generator, start: int, count: int, rho: float) -> list[dict[str, Any]]:
    pairs = rng.multivariate_normal([0.0, 0.0], [[1.0, rho], [rho, 1.0]], size=count)
    third = rng.normal(size=count)
    return [
        {
            "event_id": f"e{start + i}",
            "model": MODEL.name,
            "ts": 1_764_182_400.0 + (start + i) / 100.0,
            "features": {
                "num_0": float(pairs[i, 0]) * 50.0 + 200.0,
                "num_1": float(pairs[i, 1]),
                "num_2": float(third[i]),
            },
            "prediction": float(1.0 / (1.0 + np.exp(-pairs[i, 0]))),
        }
        for i in range(count)
    ]


def test_a_correlation_flip_is_the_only_drift_found_and_fires_a_multivariate_alert(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(5)
    reference = tmp_path / "reference.jsonl"
    reference.write_text("".join(json.dumps(e) + "\n" for e in _events(rng, 0, 20_000, 0.8)))
    topic = unique_name("joint")
    kafka_broker.create_topics([topic, f"{topic}.dlq"], partitions=1)
    group = unique_name("group")
    calm = _events(rng, 0, CALM_WINDOWS * WINDOW, 0.8)
    flipped = _events(rng, len(calm), FLIPPED_WINDOWS * WINDOW, -0.8)
    produce_json(kafka_broker.bootstrap_servers, topic, calm + flipped, partition_key=None)
    windows = CALM_WINDOWS + FLIPPED_WINDOWS
    with receiver() as team:
        config = parse_config(
            pipeline_config_dict(
                bootstrap=kafka_broker.bootstrap_servers,
                redis_url=redis_server.url,
                topic=topic,
                group=group,
                model=MODEL,
                reference=reference,
                window={"events": WINDOW},
                extra_model={"alerts": ["team"]},
            )
            | {"sinks": {"team": {"type": "webhook", "url": team.url}}},
            environ={},
        )
        with running_daemon(config) as daemon:
            wait_until(
                lambda: model_status(config, MODEL.name)["windows_closed"] == windows, 60, "windows"
            )
            gauge = daemon.metrics.drifted.labels(MODEL.name, "features", "correlation")
            flagged = gauge._value.get()
            wait_until(lambda: _firing(team.accepted()), 30, "the joint drift's webhook")
    history = {w["window"]["id"]: w["drifted"] for w in model_status(config, MODEL.name)["windows"]}
    assert [history[i] for i in range(windows)] == [[]] * CALM_WINDOWS + [
        ["features/correlation"]
    ] * FLIPPED_WINDOWS
    assert flagged == 1
    latest = model_status(config, MODEL.name)["signals"]["features/correlation"]
    assert (latest["kind"], latest["role"]) == ("multivariate_drift", "multivariate")
    states = AlertRecords(connect(redis_server.url), Keys(config.redis.key_prefix)).read(MODEL.name)
    assert states.states[f"{MODEL.name}/multivariate_drift/features"].status == "firing"
    alert = _firing(team.accepted())[0]
    first, *others = alert["attribution"]
    assert set(first["features"]) == {"num_0", "num_1"}, alert["attribution"]
    assert (round(first["reference"], 1), round(first["window"], 1)) == (0.8, -0.8)
    assert all(first["contribution"] > 10 * other["contribution"] for other in others)
    assert "num_0~num_1 +0.8" in alert["message"], alert["message"]


def _firing(requests: list[Any]) -> list[dict[str, Any]]:
    bodies = [request.json() for request in requests]
    return [
        body
        for body in bodies
        if body["status"] == "firing" and body["kind"] == "multivariate_drift"
    ]
