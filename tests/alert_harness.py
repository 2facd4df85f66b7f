"""Helpers for alert tests on a real Redis: enqueue through the real finalize script, run a worker.

Outbox entries are written the only way production writes them: by
``finalize_window.lua`` recording a closing window together with an alert plan.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import redis
from prometheus_client import CollectorRegistry

from monitor.alerts.outbox import Outbox
from monitor.alerts.plan import AlertPlan, OutboxMessage
from monitor.alerts.records import AlertRecords
from monitor.alerts.sinks.registry import build_sinks
from monitor.alerts.worker import DeliveryWorker
from monitor.config import Config, parse_config
from monitor.keys import Keys
from monitor.metrics import Metrics
from monitor.store import FinalizeOutcome, StateStore

MODEL = "fraud"
_windows = itertools.count()


def sink_config(redis_url: str, sinks: Mapping[str, Mapping[str, Any]], **alerting: Any) -> Config:
    return parse_config(
        {
            "redis": {"url": redis_url, "key_prefix": "alerts-test"},
            "models": {
                MODEL: {
                    "reference": {"path": "ref.jsonl"},
                    "window": {"events": 500},
                    "features": {"amount": "numeric"},
                }
            },
            "sinks": {name: dict(sink) for name, sink in sinks.items()},
            "alerting": alerting,
        },
        environ={},
    )


def enqueue(
    client: redis.Redis,
    config: Config,
    messages: Sequence[OutboxMessage],
    states: Mapping[str, str] | None = None,
) -> FinalizeOutcome:
    """Record a fresh closing window whose plan carries ``messages`` (and alert ``states``)."""
    keys = Keys(config.redis.key_prefix)
    window_id = next(_windows)
    client.zadd(keys.closing_windows(MODEL), {str(window_id): window_id})
    store = StateStore(client, keys, history_size=10)
    version = AlertRecords(client, keys).read(MODEL).version
    plan = AlertPlan(version, str(window_id), dict(states or {}), [], list(messages), [])
    return store.finalize(MODEL, window_id, "test", {}, {}, plan.to_json(100))


def message(sink: str, n: int, status: str = "firing") -> OutboxMessage:
    key = f"{MODEL}/feature_drift/amount/{n}/{status}"
    facts = {"dedup_key": f"{MODEL}/feature_drift/amount", "status": status, "n": n}
    return OutboxMessage(sink, key, "alert", facts)


def outbox(client: redis.Redis, config: Config) -> Outbox:
    return Outbox(
        client, Keys(config.redis.key_prefix), dead_letter_size=config.alerting.dead_letter_size
    )


def make_worker(
    client: redis.Redis,
    config: Config,
    *,
    consumer: str = "worker-1",
    environ: Mapping[str, str] | None = None,
    registry: CollectorRegistry | None = None,
) -> DeliveryWorker:
    return DeliveryWorker(
        outbox(client, config),
        build_sinks(config, environ or {}),
        config.sinks,
        Metrics(registry or CollectorRegistry()),
        consumer=consumer,
        claim_idle_seconds=config.alerting.claim_idle_seconds,
        poll_seconds=0.05,
    )


@contextmanager
def running(worker: DeliveryWorker) -> Iterator[DeliveryWorker]:
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


def metric(registry: CollectorRegistry, name: str, sink: str) -> float:
    value = registry.get_sample_value(name, {"sink": sink})
    return 0.0 if value is None else value
