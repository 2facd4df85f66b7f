"""Delivery from the Redis outbox to real local HTTP receivers: retries, backoff, dead letters."""

from __future__ import annotations

import itertools
import json
import logging
import re
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from prometheus_client import CollectorRegistry

from monitor.keys import Keys
from monitor.tooling.embedded import RedisServer
from tests.alert_harness import enqueue, make_worker, message, metric, outbox, running, sink_config
from tests.alert_receivers import HANG, Receiver, receiver
from tests.daemon_harness import wait_until

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[2] / "README.md"


def _webhook(url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "webhook", "url": url, "timeout_seconds": 2, **extra}


def _dead(redis_client: redis.Redis) -> list[dict[str, Any]]:
    return [json.loads(x) for x in redis_client.lrange(Keys("alerts-test").outbox_dead, 0, -1)]


def test_accepted_message_is_delivered_once_with_its_key_and_leaves_the_outbox(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    registry = CollectorRegistry()
    with receiver() as team:
        config = sink_config(redis_server.url, {"team": _webhook(team.url)})
        enqueue(redis_client, config, [message("team", 1)])
        with running(make_worker(redis_client, config, registry=registry)):
            wait_until(
                lambda: metric(registry, "drift_monitor_sink_sent_total", "team") == 1, 10, ""
            )
            time.sleep(0.3)

    (request,) = team.requests
    assert request.headers["Idempotency-Key"] == "fraud/feature_drift/amount/1/firing"
    assert request.json() == message("team", 1).facts
    assert redis_client.xlen(Keys("alerts-test").outbox) == 0
    assert outbox(redis_client, config).depth() == {"team": 0}
    assert metric(registry, "drift_monitor_sink_delivery_seconds_count", "team") == 1


def test_server_errors_are_retried_with_growing_backoff_and_the_same_key(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    with receiver() as team:
        team.answers.extend([500, 503, 500])
        sink = _webhook(team.url, backoff_initial_seconds=0.4, backoff_max_seconds=10)
        config = sink_config(redis_server.url, {"team": sink})
        enqueue(redis_client, config, [message("team", 1)])
        with running(make_worker(redis_client, config)):
            wait_until(lambda: len(team.accepted()) == 1, 20, "delivery after three failures")

    times = [r.at for r in team.requests]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert [r.answered for r in team.requests] == [500, 503, 500, 200]
    # attempt n waits initial * 2**(n-1) scaled by a jitter factor in [0.5, 1]
    for n, gap in enumerate(gaps, start=1):
        full = 0.4 * 2 ** (n - 1)
        assert full * 0.5 - 0.05 <= gap <= full + 0.3, gaps
    assert {r.headers["Idempotency-Key"] for r in team.requests} == {
        "fraud/feature_drift/amount/1/firing"
    }


def test_429_retry_after_is_waited_for_even_when_backoff_is_shorter(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    with receiver() as team:
        team.answers.append((429, {"Retry-After": "2"}))
        config = sink_config(
            redis_server.url, {"team": _webhook(team.url, backoff_initial_seconds=0.05)}
        )
        enqueue(redis_client, config, [message("team", 1)])
        with running(make_worker(redis_client, config)):
            wait_until(lambda: len(team.accepted()) == 1, 15, "delivery after the 429")

    first, second = team.requests
    assert 2.0 <= second.at - first.at < 3.0


def test_receiver_that_hangs_times_out_and_the_message_is_retried(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    with receiver(hang_seconds=10) as team:
        team.answers.append(HANG)
        sink = _webhook(team.url, timeout_seconds=0.5, backoff_initial_seconds=0.1)
        config = sink_config(redis_server.url, {"team": sink})
        enqueue(redis_client, config, [message("team", 1)])
        with running(make_worker(redis_client, config)):
            wait_until(lambda: len(team.accepted()) == 1, 15, "delivery after the hang")

    first, second = team.requests
    assert first.answered is None
    assert 0.5 <= second.at - first.at < 2.0


def test_message_is_dead_lettered_after_its_last_attempt(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    registry = CollectorRegistry()
    with receiver(default=500) as team:
        sink = _webhook(team.url, max_attempts=3, backoff_initial_seconds=0.05)
        config = sink_config(redis_server.url, {"team": sink})
        enqueue(redis_client, config, [message("team", 1)])
        with running(make_worker(redis_client, config, registry=registry)):
            wait_until(lambda: len(_dead(redis_client)) == 1, 15, "a dead letter")

    (dead,) = _dead(redis_client)
    assert len(team.requests) == 3
    assert dead["key"] == "fraud/feature_drift/amount/1/firing"
    assert dead["attempts"] == 3
    assert dead["error"].startswith("HTTP 500")
    assert metric(registry, "drift_monitor_sink_failed_total", "team") == 1
    assert metric(registry, "drift_monitor_sink_retries_total", "team") == 2
    assert redis_client.xlen(Keys("alerts-test").outbox) == 0


def test_permanent_rejection_is_dead_lettered_at_once(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    with receiver(default=400) as team:
        config = sink_config(redis_server.url, {"team": _webhook(team.url)})
        enqueue(redis_client, config, [message("team", 1)])
        with running(make_worker(redis_client, config)):
            wait_until(lambda: len(_dead(redis_client)) == 1, 10, "a dead letter")

    assert len(team.requests) == 1
    assert _dead(redis_client)[0]["attempts"] == 1


def test_failing_sink_does_not_hold_back_another_sink(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    with receiver(default=500) as broken, receiver() as healthy:
        config = sink_config(
            redis_server.url,
            {"broken": _webhook(broken.url), "healthy": _webhook(healthy.url)},
        )
        enqueue(redis_client, config, [message("broken", 1), message("healthy", 1)])
        with running(make_worker(redis_client, config)):
            wait_until(lambda: len(healthy.accepted()) == 1, 10, "the healthy sink's delivery")


@pytest.mark.slow
def test_sink_down_for_30_seconds_then_up_gets_every_message_exactly_once(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    team = Receiver().start()
    team.stop()  # the port is known; nothing listens on it: connection refused
    sink = _webhook(team.url, backoff_initial_seconds=0.5, backoff_max_seconds=2, max_attempts=100)
    config = sink_config(redis_server.url, {"team": sink})
    keys = []
    with running(make_worker(redis_client, config)):
        for n in range(1, 6):
            enqueue(redis_client, config, [message("team", n), message("team", n, "resolved")])
            keys += [message("team", n).key, message("team", n, "resolved").key]
            time.sleep(1.0)
        time.sleep(25.0)
        assert outbox(redis_client, config).depth() == {"team": 10}
        team.start()
        try:
            wait_until(lambda: len(team.accepted()) >= 10, 15, "every message after the outage")
            time.sleep(1.0)
        finally:
            team.stop()

    assert team.accepted_keys() == dict.fromkeys(keys, 1)
    # stream order is kept: firing before resolved for each alert
    accepted = [str(r.headers["Idempotency-Key"]) for r in team.accepted()]
    assert accepted == keys


def test_entries_of_a_worker_that_died_are_delivered_by_another_after_claim_idle(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    with receiver() as team:
        config = sink_config(redis_server.url, {"team": _webhook(team.url)}, claim_idle_seconds=1.5)
        enqueue(redis_client, config, [message("team", 1)])
        dead_worker = outbox(redis_client, config)
        dead_worker.ensure_group()
        assert len(dead_worker.read_new("crashed-instance", 10)) == 1  # taken, never settled
        started = time.monotonic()
        with running(make_worker(redis_client, config, consumer="survivor")):
            wait_until(lambda: len(team.accepted()) == 1, 10, "the orphaned message")
        took = time.monotonic() - started

    assert 1.5 <= took < 4.0
    assert team.accepted_keys() == {"fraud/feature_drift/amount/1/firing": 1}


def _readme_recipe() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- hmac-recipe -->\s*```python\n(.*?)```", text, re.DOTALL)
    assert match, "README.md lost its HMAC verification recipe"
    return match.group(1)


def test_readme_hmac_recipe_verifies_a_delivered_request(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(_readme_recipe(), "README.md#hmac-recipe", "exec"), namespace)
    verify_request = namespace["verify_request"]
    secret = "whsec-0123456789"
    with receiver() as team:
        config = sink_config(
            redis_server.url, {"team": _webhook(team.url, secret_env="TEAM_SECRET")}
        )
        enqueue(redis_client, config, [message("team", 1)])
        worker = make_worker(redis_client, config, environ={"TEAM_SECRET": secret})
        with running(worker):
            wait_until(lambda: len(team.accepted()) == 1, 10, "the signed delivery")

    (request,) = team.requests
    assert verify_request(request.headers, request.body, secret.encode())
    assert not verify_request(request.headers, request.body + b" ", secret.encode())
    assert not verify_request(request.headers, request.body, b"another-secret")


def test_resolve_does_not_overtake_a_firing_held_by_a_worker_that_died(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    with receiver() as team:
        config = sink_config(redis_server.url, {"team": _webhook(team.url)}, claim_idle_seconds=1.5)
        enqueue(redis_client, config, [message("team", 1)])
        dead_worker = outbox(redis_client, config)
        dead_worker.ensure_group()
        assert len(dead_worker.read_new("crashed-instance", 10)) == 1
        enqueue(redis_client, config, [message("team", 1, "resolved")])
        with running(make_worker(redis_client, config, consumer="survivor")):
            wait_until(lambda: len(team.accepted()) == 2, 10, "both messages")

    assert [str(r.headers["Idempotency-Key"]) for r in team.accepted()] == [
        "fraud/feature_drift/amount/1/firing",
        "fraud/feature_drift/amount/1/resolved",
    ]


def test_a_redis_outage_is_logged_once_as_paused_and_once_as_resumed_even_when_redis_lost_all(
    redis_server: RedisServer, redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="monitor.alerts.worker")
    with receiver() as team:
        config = sink_config(redis_server.url, {"team": _webhook(team.url)})
        with running(make_worker(redis_client, config)):
            time.sleep(0.3)
            redis_server.stop()
            time.sleep(3)  # several retries (0.2 s, 0.4 s, 0.8 s, ...) of the outage
            redis_server.start()
            wait_until(
                lambda: "outbox reachable; delivery resumed" in caplog.messages, 20, "resumed"
            )
    lines = [m for m in caplog.messages if "delivery" in m]
    assert lines == ["outbox unreachable; delivery paused", "outbox reachable; delivery resumed"]
    assert "outbox consumer group missing; creating it again" in caplog.messages
