"""The local Tansu broker and redis-server other tests stand on: started, stopped, restarted."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient

from monitor.tooling import embedded
from monitor.tooling.embedded import KafkaBroker, LocalServiceError, RedisServer
from monitor.topics import ensure_topics
from tests.helpers import consume_messages, kcat_produce, message_json, produce_json


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 held by a listening socket for the whole test."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _partition_counts(bootstrap: str) -> dict[str, int]:
    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    return {name: len(topic.partitions) for name, topic in metadata.topics.items()}


# -- Kafka ----------------------------------------------------------------------------------


@pytest.mark.integration
def test_broker_round_trip_with_assign(
    kafka_broker: KafkaBroker, unique_name: Callable[..., str]
) -> None:
    topic = unique_name("predictions")
    kafka_broker.create_topics([topic])
    events = [{"event_id": str(i), "model": "fraud", "prediction": i / 10} for i in range(3)]

    assert produce_json(kafka_broker.bootstrap_servers, topic, events) == 3

    messages = consume_messages(kafka_broker.bootstrap_servers, topic, 3)
    assert [message_json(m) for m in messages] == events
    assert {m.key() for m in messages} == {b"fraud"}


@pytest.mark.integration
def test_create_topics_with_partitions_and_ensure_topics_is_idempotent(
    kafka_broker: KafkaBroker, unique_name: Callable[..., str]
) -> None:
    three, one = unique_name("three"), unique_name("one")
    kafka_broker.create_topics([three], partitions=3)
    assert _partition_counts(kafka_broker.bootstrap_servers)[three] == 3

    bootstrap = kafka_broker.bootstrap_servers
    assert ensure_topics(bootstrap, {three: 3, one: 1}) == [one]
    assert ensure_topics(bootstrap, {three: 3, one: 1}) == []
    counts = _partition_counts(bootstrap)
    assert (counts[three], counts[one]) == (3, 1)


@pytest.mark.integration
def test_broker_restart_keeps_port_and_loses_topics(
    fresh_kafka_broker: KafkaBroker, unique_name: Callable[..., str]
) -> None:
    topic = unique_name()
    fresh_kafka_broker.create_topics([topic])
    bootstrap, old_pid = fresh_kafka_broker.bootstrap_servers, fresh_kafka_broker.pid
    assert old_pid is not None

    fresh_kafka_broker.restart()

    assert fresh_kafka_broker.bootstrap_servers == bootstrap
    assert fresh_kafka_broker.pid != old_pid
    assert _process_gone(old_pid)
    assert topic not in _partition_counts(bootstrap)  # storage is in memory (docs/architecture.md)


@pytest.mark.integration
def test_broker_stop_is_idempotent_and_leaves_nothing_behind() -> None:
    broker = KafkaBroker().start()
    pid = broker.pid
    assert pid is not None
    assert broker.startup_seconds is not None
    assert broker.startup_seconds < 10
    broker.stop()
    broker.stop()
    assert not broker.running
    assert _process_gone(pid)
    workdir = broker.workdir
    broker.close()
    assert not workdir.exists()


@pytest.mark.integration
def test_subscribe_joins_quickly_with_test_settings(
    kafka_broker: KafkaBroker,
    unique_name: Callable[..., str],
    kafka_test_settings: dict[str, Any],
) -> None:
    """The fixture's settings keep a group join to a few seconds (docs/architecture.md)."""
    topic = unique_name()
    kafka_broker.create_topics([topic])
    produce_json(kafka_broker.bootstrap_servers, topic, [{"model": "m", "n": 1}])
    consumer = Consumer(
        {
            **kafka_test_settings,
            "bootstrap.servers": kafka_broker.bootstrap_servers,
            "group.id": unique_name("group"),
            "auto.offset.reset": "earliest",
        }
    )
    try:
        started = time.monotonic()
        consumer.subscribe([topic])
        msg = None
        while msg is None and time.monotonic() - started < 20:
            msg = consumer.poll(0.2)
        assert msg is not None
        assert msg.error() is None
        assert message_json(msg) == {"model": "m", "n": 1}
        assert time.monotonic() - started < 10
    finally:
        consumer.close()


@pytest.mark.integration
def test_kcat_produces_what_confluent_kafka_consumes(
    kafka_broker: KafkaBroker, unique_name: Callable[..., str]
) -> None:
    topic = unique_name("kcat")
    kafka_broker.create_topics([topic])
    lines = [f'fraud:{{"event_id":"{i}","model":"fraud"}}' for i in range(2)]

    assert kcat_produce(kafka_broker.bootstrap_servers, topic, lines, key_delimiter=":") == 2

    messages = consume_messages(kafka_broker.bootstrap_servers, topic, 2)
    assert [m.key() for m in messages] == [b"fraud", b"fraud"]
    assert [message_json(m)["event_id"] for m in messages] == ["0", "1"]


@pytest.mark.integration
def test_broker_on_a_taken_port_raises_clearly(taken_port: int) -> None:
    broker = KafkaBroker(port=taken_port, startup_timeout=10)
    try:
        with pytest.raises(LocalServiceError, match=f"port {taken_port} is in use"):
            broker.start()
        assert not broker.running
    finally:
        broker.close()


@pytest.mark.integration
def test_broker_on_another_brokers_port_is_not_fooled(kafka_broker: KafkaBroker) -> None:
    """The other broker answers Metadata, but with its own cluster id, so start() refuses."""
    intruder = KafkaBroker(port=kafka_broker.port, startup_timeout=10)
    try:
        with pytest.raises(LocalServiceError, match="is in use"):
            intruder.start()
    finally:
        intruder.close()
    assert kafka_broker.running
    assert kafka_broker.cluster_id != intruder.cluster_id


@pytest.mark.integration
def test_broker_picks_another_port_when_the_free_one_is_taken(
    taken_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race between free_port() and Tansu's bind(): start() moves on to another port."""
    ports = iter([taken_port])
    real_free_port = embedded.free_port
    monkeypatch.setattr(embedded, "free_port", lambda: next(ports, None) or real_free_port())
    with KafkaBroker() as broker:
        assert broker.port != taken_port
        assert broker.running
        assert "AddrInUse" in broker.log_path.read_text()  # the first attempt's panic


# -- Redis ----------------------------------------------------------------------------------


@pytest.mark.integration
def test_redis_kill_and_restart_on_the_same_port(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    assert redis_client.ping()
    redis_client.set(b"k", b"v")
    port, pid = redis_server.port, redis_server.pid
    assert pid is not None
    assert redis_server.url == f"redis://127.0.0.1:{port}/0"

    redis_server.stop(kill=True)
    assert _process_gone(pid)
    with pytest.raises(redis.ConnectionError):
        redis_client.ping()
    redis_server.stop(kill=True)  # idempotent

    redis_server.restart()
    assert redis_server.port == port
    assert redis_client.ping()  # the same client reconnects
    assert redis_client.get(b"k") is None  # no persistence by default


@pytest.mark.integration
@pytest.mark.parametrize("redis_server", [{"appendonly": True}], indirect=True)
def test_redis_appendonly_survives_kill_9(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    redis_client.set(b"k", b"v")
    redis_server.stop(kill=True)
    redis_server.start()
    assert redis_client.get(b"k") == b"v"
    redis_server.stop()  # graceful
    redis_server.restart()
    assert redis_client.get(b"k") == b"v"


@pytest.mark.integration
def test_redis_on_a_taken_port_raises_clearly(taken_port: int) -> None:
    server = RedisServer(port=taken_port)
    try:
        with pytest.raises(LocalServiceError, match=f"port {taken_port} is in use"):
            server.start()
        assert not server.running
    finally:
        server.close()
