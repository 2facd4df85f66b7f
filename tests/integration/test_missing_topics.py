"""The daemon's topics on a real broker: missing at start-up, or created on request; and
what ``/readyz`` says while no broker answers at all.

A topic deleted under a running daemon kills its process on Tansu (a crash inside
librdkafka, see the README's "Your own Kafka and Redis"): here the restart that follows
is tested; what the daemon does with librdkafka's error, should it survive, is tested on
the error itself in ``tests/unit/test_kafka_topic_errors.py``.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient

from monitor.config import Config
from monitor.daemon import Daemon
from monitor.keys import Keys
from monitor.source import KafkaSource, consumer_settings
from monitor.store import StateStore
from monitor.tooling.embedded import KafkaBroker, RedisServer, free_port
from monitor.tooling.synthetic import generate
from tests.daemon_harness import (
    model_status,
    pipeline_config,
    running_daemon,
    start_daemon_process,
    wait_until,
    write_config_file,
    write_reference,
)
from tests.helpers import produce_json
from tests.stack_harness import http_get
from tests.unit.test_kafka_topic_errors import MODEL


def _options(
    broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
    **options: Any,
) -> dict[str, Any]:
    """Config options whose predictions topic (and its dead-letter topic) does not exist yet."""
    return {
        "bootstrap": broker.bootstrap_servers,
        "redis_url": redis_server.url,
        "topic": unique_name("predictions"),
        "group": unique_name("group"),
        "model": MODEL,
        "reference": write_reference(tmp_path / "reference.jsonl", MODEL, events=2000),
        "window": {"events": 100},
        **options,
    }


def _config(
    broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
    **options: Any,
) -> tuple[str, Config]:
    """The topic and a config of :func:`_options`."""
    chosen = _options(broker, redis_server, unique_name, tmp_path, **options)
    return chosen["topic"], pipeline_config(**chosen)


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def _readyz(daemon: Daemon) -> dict[str, Any]:
    assert daemon.http is not None
    status, body = http_get(f"http://127.0.0.1:{daemon.http.port}/readyz")
    answer: dict[str, Any] = json.loads(body)
    assert status == (200 if answer["ready"] else 503)
    return answer


def _partitions(broker: KafkaBroker, topic: str) -> int:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    return len(admin.list_topics(timeout=10).topics[topic].partitions)


@pytest.mark.integration
def test_a_daemon_started_before_its_topics_exist_names_them_and_consumes_once_they_do(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    topic, config = _config(kafka_broker, redis_server, unique_name, tmp_path)
    caplog.set_level(logging.INFO, logger="monitor")
    with running_daemon(config) as daemon:
        wait_until(lambda: bool(daemon.source.missing_topics), 30, "the missing topics")
        waiting = _readyz(daemon)
        (reason,) = [r for r in waiting["reasons"] if "topics missing" in r]
        assert f"{topic}, {topic}.dlq" in reason
        assert datetime.fromisoformat(waiting["since"]).tzinfo is not None
        assert any(
            f"--create --topic {topic} " in line and "kafka.create_topics: true" in line
            for line in _errors(caplog)
        )
        kafka_broker.create_topics([topic, f"{topic}.dlq"])
        produce_json(kafka_broker.bootstrap_servers, topic, generate(MODEL, 0, 200, seed=3))
        wait_until(lambda: model_status(config, MODEL.name)["events"] == 200, 60, "the events")
        wait_until(lambda: not daemon.not_ready_reasons(), 30, "readiness")


@pytest.mark.integration
def test_create_topics_makes_the_missing_topics_with_the_configured_partitions(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topic, config = _config(
        kafka_broker,
        redis_server,
        unique_name,
        tmp_path,
        kafka_extra={"create_topics": True, "topic_partitions": 3},
    )
    with running_daemon(config) as daemon:
        wait_until(lambda: daemon.source.assignment_received, 60, "partitions")
        assert _partitions(kafka_broker, topic) == 3
        assert _partitions(kafka_broker, f"{topic}.dlq") == 3
        produce_json(kafka_broker.bootstrap_servers, topic, generate(MODEL, 0, 200, seed=3))
        wait_until(lambda: model_status(config, MODEL.name)["events"] == 200, 60, "the events")


@pytest.mark.integration
def test_while_no_broker_answers_readyz_names_kafka_not_missing_topics_or_a_group_join(
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    nobody = f"127.0.0.1:{free_port()}"
    config = pipeline_config(
        bootstrap=nobody,
        redis_url=redis_server.url,
        topic=unique_name("predictions"),
        group=unique_name("group"),
        model=MODEL,
        reference=write_reference(tmp_path / "reference.jsonl", MODEL, events=2000),
    )
    caplog.set_level(logging.INFO, logger="monitor")
    with running_daemon(config) as daemon:
        (asking,) = _readyz(daemon)["reasons"]
        wait_until(lambda: "kafka unreachable" in str(_readyz(daemon)), 30, "no answer")
        (unreachable,) = _readyz(daemon)["reasons"]
    assert asking.startswith(f"asking Kafka at {nobody} for ")
    assert unreachable.startswith(f"kafka unreachable: Kafka at {nobody} did not answer")
    assert not any("missing" in line or "assignment" in line for line in _errors(caplog))


@pytest.mark.integration
def test_a_daemon_killed_by_its_topic_s_deletion_restarts_and_counts_the_new_topic_once(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    """A supervisor's restart: the first process dies of SIGSEGV inside librdkafka when its
    topic goes (README, "Your own Kafka and Redis"); the next one names the missing topic,
    waits, and counts every event of the recreated topic once, though Redis still holds
    the old topic's offsets and the new topic outgrows them."""
    options = _options(
        kafka_broker, redis_server, unique_name, tmp_path, logging={"format": "text"}
    )
    topic, config = options["topic"], pipeline_config(**options)
    config_path = write_config_file(tmp_path / "config.yaml", **options)
    kafka_broker.create_topics([topic, f"{topic}.dlq"])
    produce_json(kafka_broker.bootstrap_servers, topic, generate(MODEL, 0, 200, seed=3))
    log = tmp_path / "daemon.log"
    first = start_daemon_process(config_path, log)
    try:
        wait_until(lambda: model_status(config, MODEL.name)["events"] == 200, 60, "the events")
        _delete(kafka_broker, topic)
        returncode = first.wait(timeout=60)
    finally:
        first.kill()
        first.wait()
    assert returncode == -signal.SIGSEGV, (
        "librdkafka no longer crashes on a deleted topic: test the daemon staying up "
        "instead, and drop the README's paragraph on the crash"
    )
    second = start_daemon_process(config_path, log)
    try:
        missing = f"kafka topics missing on {kafka_broker.bootstrap_servers}: {topic};"
        wait_until(lambda: missing in log.read_text(), 30, "the missing topic named")
        kafka_broker.create_topics([topic])
        produce_json(kafka_broker.bootstrap_servers, topic, generate(MODEL, 200, 300, seed=4))
        wait_until(lambda: model_status(config, MODEL.name)["events"] == 500, 60, "new events")
    finally:
        second.terminate()
        second.wait(timeout=30)
    assert model_status(config, MODEL.name)["events"] == 500
    assert f"kafka topic {topic} was deleted and created again" in log.read_text()


@pytest.mark.integration
def test_an_assignment_marks_a_topic_that_was_gone_back_though_it_brings_no_message(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    """Where librdkafka survives a topic's deletion (not on Tansu), its unknown-topic error
    marks the topic missing; the recreated topic is back once its partitions are assigned,
    even empty, so /readyz does not wait for a first message."""
    topic, config = _config(kafka_broker, redis_server, unique_name, tmp_path)
    kafka_broker.create_topics([topic, f"{topic}.dlq"])
    store = StateStore(redis.Redis.from_url(redis_server.url), Keys(topic), history_size=10)
    source = KafkaSource(config, store, client_id="test", stop=threading.Event())
    source._usable(topic, KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART))
    assert source.missing_topics == [topic]
    consumer = Consumer(consumer_settings(config, client_id="test"))
    try:
        source._on_assign(consumer, [TopicPartition(topic, 0)])
    finally:
        consumer.close()
    assert source.missing_topics == []


def _delete(broker: KafkaBroker, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    for deleted in admin.delete_topics([topic]).values():
        deleted.result(timeout=10)
