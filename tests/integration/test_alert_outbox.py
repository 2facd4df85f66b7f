"""The finalize script records a window, its alert state and its outbox entries once, atomically."""

from __future__ import annotations

import pytest
import redis

from monitor.alerts.plan import AlertPlan
from monitor.alerts.records import AlertRecords
from monitor.alerts.state import AlertState
from monitor.keys import Keys
from monitor.store import StateStore
from monitor.tooling.embedded import RedisServer
from tests.alert_harness import MODEL, enqueue, message, sink_config

pytestmark = pytest.mark.integration


def _setup(redis_client: redis.Redis) -> tuple[Keys, StateStore, AlertRecords]:
    keys = Keys("alerts-test")
    return keys, StateStore(redis_client, keys, history_size=10), AlertRecords(redis_client, keys)


def _plan(expected: str, window: int) -> AlertPlan:
    state = AlertState(status="firing", episode=1)
    return AlertPlan(
        expected,
        str(window),
        {"fraud/feature_drift/amount": state.to_json()},
        [{"key": "fraud/feature_drift/amount", "from": "pending", "to": "firing"}],
        [message("team", 1)],
        [],
    )


def test_two_evaluators_recording_one_window_notify_once(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    keys, store, records = _setup(redis_client)
    redis_client.zadd(keys.closing_windows(MODEL), {"7": 7})

    outcomes = [
        store.finalize(MODEL, 7, owner, {}, {}, _plan("", 7).to_json(100))
        for owner in ("instance-a", "instance-b")
    ]

    assert outcomes == ["recorded", "duplicate"]
    assert redis_client.xlen(keys.outbox) == 1
    assert redis_client.xlen(keys.alert_audit) == 1
    assert records.read(MODEL).states["fraud/feature_drift/amount"].status == "firing"


def test_plan_made_from_a_stale_state_version_is_refused_and_writes_nothing(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    keys, store, records = _setup(redis_client)
    redis_client.zadd(keys.closing_windows(MODEL), {"1": 1, "2": 2})
    assert store.finalize(MODEL, 1, "a", {}, {}, _plan("", 1).to_json(100)) == "recorded"

    outcome = store.finalize(MODEL, 2, "b", {}, {}, _plan("", 2).to_json(100))

    assert outcome == "conflict"
    assert redis_client.zrange(keys.closing_windows(MODEL), 0, -1) == [b"2"]
    assert redis_client.xlen(keys.outbox) == 1
    assert records.read(MODEL).version == "1"


def test_newer_window_waits_until_the_older_one_is_recorded(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    keys, store, _ = _setup(redis_client)
    redis_client.zadd(keys.closing_windows(MODEL), {"3": 3, "4": 4})

    assert store.finalize(MODEL, 4, "a", {}, {}, _plan("", 4).to_json(100)) == "later"
    assert store.finalize(MODEL, 3, "a", {}, {}, _plan("", 3).to_json(100)) == "recorded"
    assert store.finalize(MODEL, 4, "a", {}, {}, _plan("3", 4).to_json(100)) == "recorded"


def test_audit_stream_is_trimmed_to_its_configured_size(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    keys, store, _ = _setup(redis_client)
    for window in range(300):
        redis_client.zadd(keys.closing_windows(MODEL), {str(window): window})
        expected = "" if window == 0 else str(window - 1)
        plan = AlertPlan(expected, str(window), {}, [{"n": str(window)}] * 2, [], [])
        assert store.finalize(MODEL, window, "a", {}, {}, plan.to_json(100)) == "recorded"

    # MAXLEN ~ trims whole radix-tree nodes: about the size, never unbounded.
    assert 100 <= redis_client.xlen(keys.alert_audit) < 250


def test_outbox_depth_counts_messages_per_sink(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    config = sink_config(
        redis_server.url,
        {
            "a": {"type": "webhook", "url": "http://x/"},
            "b": {"type": "webhook", "url": "http://x/"},
        },
    )

    enqueue(redis_client, config, [message("a", 1), message("b", 1), message("a", 2)])

    depth = redis_client.hgetall(Keys("alerts-test").outbox_depth)
    assert depth == {b"a": b"2", b"b": b"1"}
