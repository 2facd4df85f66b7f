"""Faster than a window: checkpoint looks at the open window alert before it closes.

The real daemon on a real broker and Redis, alerts to a real webhook receiver. Twenty
models (twenty seeds) share one stream; in each, ``num_1`` shifts by one standard
deviation at a random event of its second window and stays shifted. With
``drift.checkpoints: 8`` and a budget of one false alarm a week, the median delay from
the change to the event whose look fired the alert must be at most half a window.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis

from monitor.config import parse_config
from monitor.keys import Keys
from monitor.tooling.embedded import KafkaBroker, RedisServer
from monitor.tooling.synthetic import Shift, SyntheticModel, generate
from tests.alert_receivers import receiver
from tests.daemon_harness import model_status, running_daemon, wait_until, write_reference
from tests.helpers import KAFKA_TEST_SETTINGS, produce_json

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SEEDS = 20
WINDOW = 2000
LOOKS = 8
RATE = 100.0  # events per second of event time, as generate() spaces them
BASE_TS = 1_764_182_400.0


def _stream(models: list[SyntheticModel], changes: list[int], windows: int) -> list[bytes]:
    """Every model's events, each from its own seed, interleaved in blocks of 100 (as
    concurrent producers would)."""
    per_model = [
        generate(m, 0, windows * WINDOW, seed=seed, shift=Shift(c, {"num_1": 1.0}))
        for seed, (m, c) in enumerate(zip(models, changes, strict=True))
    ]
    events: list[bytes] = []
    for start in range(0, windows * WINDOW, 100):
        for stream in per_model:
            events += stream[start : start + 100]
    return events


def _model_section(reference: Path, model: SyntheticModel) -> dict[str, Any]:
    return {
        "reference": {"path": str(reference)},
        "window": {"events": WINDOW},
        "features": model.features(),
        "prediction": "numeric",
        "alerts": ["team"],
        "drift": {"false_alarms_per_week": 1, "checkpoints": LOOKS},
    }


def test_checkpoint_looks_alert_within_half_a_window_at_the_median_as_one_episode(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    redis_client: redis.Redis,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    models = [SyntheticModel(name=f"s{seed}", numeric=3, categorical=1) for seed in range(SEEDS)]
    rng = np.random.default_rng(11)
    changes = [WINDOW + int(x) for x in rng.integers(0, WINDOW, size=SEEDS)]
    references = {m.name: write_reference(tmp_path / f"{m.name}.jsonl", m) for m in models}
    topic, group = unique_name("predictions"), unique_name("g")
    kafka_broker.create_topics([topic, f"{topic}.dlq"])
    with receiver() as team:
        config = parse_config(
            {
                "kafka": {
                    "bootstrap_servers": kafka_broker.bootstrap_servers,
                    "group_id": group,
                    "predictions_topic": topic,
                    "dead_letter_topic": f"{topic}.dlq",
                    "batch_size": 1000,
                    "consumer": dict(KAFKA_TEST_SETTINGS),
                },
                "redis": {"url": redis_server.url, "key_prefix": group},
                "http": {"host": "127.0.0.1", "port": 0},
                "logging": {"format": "text", "level": "WARNING"},
                "models": {m.name: _model_section(references[m.name], m) for m in models},
                "sinks": {"team": {"type": "webhook", "url": team.url}},
            },
            environ={},
        )
        produce_json(kafka_broker.bootstrap_servers, topic, _stream(models, changes, 3), None)
        with running_daemon(config):
            for m in models:
                wait_until(
                    lambda m=m: model_status(config, m.name)["windows_closed"] >= 3, 120, m.name
                )
            outbox = Keys(group).outbox
            wait_until(lambda: redis_client.xlen(outbox) == 0, 60, "the last deliveries")

    firing: dict[str, list[dict[str, Any]]] = {}
    change_of = {m.name: change for m, change in zip(models, changes, strict=True)}
    for request in team.accepted():
        body = request.json()
        last_event = round((body["window"]["end_ts"] - BASE_TS) * RATE)
        assert last_event >= change_of[body["model"]], body  # nothing fires before the change
        if body["status"] == "firing" and body["dedup_key"].endswith("/feature_drift/num_1"):
            body["idempotency_key"] = request.headers["Idempotency-Key"]
            firing.setdefault(body["model"], []).append(body)
    assert sorted(firing) == sorted(m.name for m in models)  # every change alerted
    delays = []
    for m, change in zip(models, changes, strict=True):
        episodes = {str(b["idempotency_key"]).split("/")[3] for b in firing[m.name]}
        assert episodes == {"1"}, m.name  # one episode (an escalation may follow)
        first = firing[m.name][0]
        alerted_at = round((first["window"]["end_ts"] - BASE_TS) * RATE)  # its last event
        assert alerted_at >= change, m.name  # never before the change: no false alarm
        delays.append(alerted_at - change + 1)
    print(f"delays (events): {sorted(delays)}; median {statistics.median(delays)}")
    assert statistics.median(delays) <= WINDOW / 2
