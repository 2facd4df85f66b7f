"""Offsets of a deleted and recreated topic, in Redis: forgotten when the topic id changes.

Offsets count messages of one incarnation of a topic; ``StateStore.forget_recreated``
drops them when the topic's Kafka id is not the one recorded with them.
"""

from __future__ import annotations

import redis

from monitor.keys import Keys
from monitor.store import StateStore


def _store(client: redis.Redis, offsets: dict[str, int]) -> StateStore:
    keys = Keys("recreated")
    if offsets:
        client.hset(keys.offsets, mapping=offsets)
    return StateStore(client, keys, history_size=10)


def test_a_topic_seen_for_the_first_time_keeps_its_offsets(redis_client: redis.Redis) -> None:
    store = _store(redis_client, {"orders/0": 200, "orders/1": 50})
    assert store.forget_recreated({"orders": "id-1"}) == []
    assert store.offsets([("orders", 0), ("orders", 1)]) == {("orders", 0): 200, ("orders", 1): 50}


def test_the_same_topic_id_again_keeps_the_offsets(redis_client: redis.Redis) -> None:
    store = _store(redis_client, {"orders/0": 200})
    store.forget_recreated({"orders": "id-1"})
    assert store.forget_recreated({"orders": "id-1"}) == []
    assert store.offsets([("orders", 0)]) == {("orders", 0): 200}


def test_a_new_topic_id_forgets_that_topic_s_offsets_and_no_other_s(
    redis_client: redis.Redis,
) -> None:
    store = _store(
        redis_client, {"orders/0": 200, "orders/1": 50, "orders.dlq/0": 7, "orders2/0": 9}
    )
    store.forget_recreated({"orders": "id-1", "orders.dlq": "id-2", "orders2": "id-3"})
    assert store.forget_recreated({"orders": "id-9", "orders2": "id-3"}) == ["orders"]
    assert store.offsets([("orders", 0), ("orders", 1), ("orders.dlq", 0), ("orders2", 0)]) == {
        ("orders.dlq", 0): 7,
        ("orders2", 0): 9,
    }
    assert store.forget_recreated({"orders": "id-9"}) == []
