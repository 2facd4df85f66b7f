"""What ``drift-monitor alerts`` reads and what ``drift-monitor test-sink`` does.

Kept out of ``cli.py`` so the CLI stays a thin shell: these functions read
Redis (or send one message) and return plain data; ``monitor.alerts_view`` renders them.
"""

from __future__ import annotations

import time
from typing import Any

import redis

from monitor.alerts.facts import sample_facts
from monitor.alerts.outbox import Outbox
from monitor.alerts.plan import OutboxMessage
from monitor.alerts.records import AlertRecords
from monitor.alerts.sinks.base import DeliveryResult
from monitor.alerts.sinks.registry import build_sink
from monitor.config import Config
from monitor.keys import Keys

ACTIVE = ("pending", "firing")


def alerts_report(config: Config, client: redis.Redis, *, limit: int = 20) -> dict[str, Any]:
    """Active alerts per model, the newest transitions, outbox depth and dead letters."""
    keys = Keys(config.redis.key_prefix)
    records = AlertRecords(client, keys)
    outbox = Outbox(client, keys, dead_letter_size=config.alerting.dead_letter_size)
    active: list[dict[str, Any]] = []
    for model in config.models:
        for key, state in sorted(records.read(model).states.items()):
            if state.status in ACTIVE:
                active.append(
                    {
                        "model": model,
                        "dedup_key": key,
                        "status": state.status,
                        "severity": state.severity,
                        "episode": state.episode,
                        "method": state.method,
                        "since_ts": state.since_ts,
                        "fired_at": state.fired_at,
                        "last_window": state.last_window,
                    }
                )
    transitions = [
        {"id": entry.id, **{k: v for k, v in entry.fields.items() if k != "evidence"}}
        for entry in records.audit(limit)
    ]
    return {
        "active": active,
        "transitions": transitions,
        "outbox_depth": outbox.depth(),
        "dead_letters": len(outbox.dead_letters(config.alerting.dead_letter_size)),
    }


def send_test(config: Config, name: str) -> tuple[DeliveryResult, float]:
    """Send one test notification straight to a sink (not through the outbox); time it."""
    sink = build_sink(config, config.sinks[name])
    now = time.time()
    key = f"drift-monitor/test/{name}/{int(now)}"
    message = OutboxMessage(name, key, "test", sample_facts(name, now))
    started = time.perf_counter()
    try:
        result = sink.deliver(message)
    finally:
        sink.close()
    return result, time.perf_counter() - started
