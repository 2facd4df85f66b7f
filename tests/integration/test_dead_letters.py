"""Bad messages on a real broker: each dead-lettered with its reason; good ones around it count."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from monitor.config import Config
from monitor.report import build
from monitor.source import (
    DEAD_LETTER_KEPT_BYTES,
    DETAIL_HEADER,
    REASON_HEADER,
    TRUNCATED_HEADER,
)
from monitor.tooling.embedded import KafkaBroker, RedisServer
from monitor.tooling.synthetic import SyntheticModel, generate
from tests.daemon_harness import (
    model_status,
    new_pipeline,
    running_daemon,
    wait_until,
    write_reference,
)
from tests.helpers import consume_messages, kcat_produce, produce_json

pytestmark = pytest.mark.integration

MODEL = SyntheticModel(name="fraud", numeric=3, categorical=1)
MAX_BYTES = 4096


def _event(**overrides: object) -> dict[str, object]:
    event = json.loads(generate(MODEL, 0, 1)[0])
    event.update(overrides)
    return event


def _pipeline(
    broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
    **options: Any,
) -> tuple[str, Config]:
    """A topic and config of the test's own: windows of 100 events, a 2,000-event reference."""
    return new_pipeline(
        broker,
        redis_server.url,
        unique_name,
        MODEL,
        reference=write_reference(tmp_path / "reference.jsonl", MODEL, events=2000),
        window={"events": 100},
        **options,
    )


BAD_MESSAGES: list[tuple[str, bytes]] = [
    ("invalid_json", b'{"model": "fraud", "features": '),
    ("not_an_object", b"[1, 2, 3]"),
    ("missing_model", json.dumps({"features": {"num_0": 1.0}}).encode()),
    ("unknown_model", json.dumps(_event(model="churn")).encode()),
    ("missing_field", json.dumps({"model": "fraud", "prediction": 0.5}).encode()),
    ("wrong_type", json.dumps(_event(prediction="high")).encode()),
    ("invalid_timestamp", json.dumps(_event(ts="yesterday")).encode()),
    ("oversize", json.dumps(_event(padding="x" * MAX_BYTES)).encode()),
]


def test_each_bad_message_is_dead_lettered_with_its_reason_and_good_ones_are_counted(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topic, config = _pipeline(
        kafka_broker,
        redis_server,
        unique_name,
        tmp_path,
        kafka_extra={"max_message_bytes": MAX_BYTES},
    )
    good = generate(MODEL, 0, 10 * (len(BAD_MESSAGES) + 2), seed=3)
    lines: list[bytes] = []
    for i, (_, bad) in enumerate(BAD_MESSAGES):
        lines += [*good[i * 10 : i * 10 + 10], bad]
    lines += good[len(BAD_MESSAGES) * 10 :]
    # kcat, a third-party client, produces the stream; an empty message needs the Python client.
    kcat_produce(kafka_broker.bootstrap_servers, topic, lines)
    produce_json(kafka_broker.bootstrap_servers, topic, [b""], partition_key=None)
    with running_daemon(config):
        wait_until(
            lambda: model_status(config, MODEL.name)["events"] == len(good), 60, "good events"
        )
        dead = consume_messages(
            kafka_broker.bootstrap_servers, f"{topic}.dlq", len(BAD_MESSAGES) + 1
        )

    reasons = [dict(m.headers() or [])[REASON_HEADER].decode() for m in dead]
    assert reasons == [reason for reason, _ in BAD_MESSAGES] + ["empty"]
    assert [m.value() for m in dead[:-1]] == [bad for _, bad in BAD_MESSAGES]
    assert all(dict(m.headers() or [])[DETAIL_HEADER] for m in dead)
    assert model_status(config, MODEL.name)["events"] == len(good)


def test_the_first_bad_message_of_each_reason_is_logged_with_its_source(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    topic, config = _pipeline(kafka_broker, redis_server, unique_name, tmp_path)
    invalid, no_model = BAD_MESSAGES[0][1], BAD_MESSAGES[2][1]
    stream = [*generate(MODEL, 0, 10, seed=3), invalid, invalid, no_model, invalid, no_model]
    produce_json(kafka_broker.bootstrap_servers, topic, stream, partition_key=None)
    caplog.set_level(logging.WARNING, logger="monitor.daemon")
    with running_daemon(config) as daemon:
        bad = daemon.metrics.bad_events
        wait_until(
            lambda: (
                bad.labels("invalid_json")._value.get() == 3
                and bad.labels("missing_model")._value.get() == 2
            ),
            60,
            "the bad messages",
        )
    logged = [
        (r.__dict__["reason"], r.__dict__["source"])
        for r in caplog.records
        if r.getMessage() == "bad event dead-lettered"
    ]
    assert logged == [("invalid_json", f"{topic}/0/10"), ("missing_model", f"{topic}/0/12")]


def test_a_message_too_large_for_the_dead_letter_topic_is_dead_lettered_truncated(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    """librdkafka refuses to produce more than 1,000,000 bytes by default; the letter still goes."""
    topic, config = _pipeline(kafka_broker, redis_server, unique_name, tmp_path)
    huge = json.dumps(_event(padding="x" * 1_200_000)).encode()
    good = generate(MODEL, 0, 20, seed=3)
    produce_json(
        kafka_broker.bootstrap_servers,
        topic,
        [*good[:10], huge, *good[10:]],
        partition_key=None,
        config={"message.max.bytes": 2_000_000},
    )
    with running_daemon(config):
        wait_until(lambda: model_status(config, MODEL.name)["events"] == 20, 60, "good events")
        (dead,) = consume_messages(kafka_broker.bootstrap_servers, f"{topic}.dlq", 1)

    headers = dict(dead.headers() or [])
    assert headers[REASON_HEADER] == b"oversize"
    assert headers[TRUNCATED_HEADER] == str(len(huge)).encode()
    assert dead.value() == huge[:DEAD_LETTER_KEPT_BYTES]


def test_wrong_typed_feature_is_counted_as_a_mismatch_not_dead_lettered(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topic, config = _pipeline(kafka_broker, redis_server, unique_name, tmp_path)
    events = [json.loads(raw) for raw in generate(MODEL, 0, 100, seed=3)]
    for event in events[:30]:
        event["features"]["num_1"] = "n/a"
    produce_json(kafka_broker.bootstrap_servers, topic, events, partition_key=None)
    with running_daemon(config) as daemon:
        wait_until(lambda: model_status(config, MODEL.name)["windows_closed"] == 1, 60, "window")
        mismatches = daemon.metrics.type_mismatches.labels(MODEL.name, "num_1")._value.get()
    status = model_status(config, MODEL.name)
    assert status["events"] == 100
    assert mismatches == 30
    missing = status["signals"]["num_1/missing_rate"]
    assert missing["drifted"] is True
    assert missing["score"] == pytest.approx(0.30, abs=0.01)


def test_a_message_nested_100000_deep_is_dead_lettered_and_good_ones_count_once_across_restarts(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topic, config = _pipeline(kafka_broker, redis_server, unique_name, tmp_path)
    deep = b'{"model": "fraud", "features": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    good = generate(MODEL, 0, 300, seed=3)
    kcat_produce(kafka_broker.bootstrap_servers, topic, [*good[:150], deep, *good[150:]])
    with running_daemon(config):
        wait_until(lambda: model_status(config, MODEL.name)["events"] == 300, 60, "good events")
    with running_daemon(config) as restarted:
        wait_until(lambda: restarted.source.assignment_received, 60, "the restart's partitions")
        (dead,) = consume_messages(kafka_broker.bootstrap_servers, f"{topic}.dlq", 1)
        status = model_status(config, MODEL.name)
        dead_letters = restarted.store.dead_letter_counts()

    headers = dict(dead.headers() or [])
    assert dead_letters == {"undecodable": 1}
    assert headers[REASON_HEADER] == b"undecodable"
    assert headers[DETAIL_HEADER].startswith(b"RecursionError: ")
    assert dead.value() == deep
    assert status["events"] == 300
    assert status["windows_closed"] == 3


def test_values_at_the_float_limit_are_kept_and_their_window_judged_across_restarts(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    # Valid JSON, finite, but two of them in one window sum to inf; that window stopped
    # the daemon at every restart. One per batch, so Redis adds the second to the first.
    topic, config = _pipeline(kafka_broker, redis_server, unique_name, tmp_path)
    events = [json.loads(raw) for raw in generate(MODEL, 0, 300, seed=3)]
    for event in events[40], events[60]:
        event["features"]["num_0"] = 1.7976931348623157e308
    with running_daemon(config):
        produce_json(kafka_broker.bootstrap_servers, topic, events[:50], partition_key=None)
        wait_until(lambda: model_status(config, MODEL.name)["events"] == 50, 60, "one batch")
        produce_json(kafka_broker.bootstrap_servers, topic, events[50:], partition_key=None)
        wait_until(lambda: model_status(config, MODEL.name)["windows_closed"] == 3, 60, "windows")
    with running_daemon(config) as restarted:
        wait_until(lambda: restarted.source.assignment_received, 60, "the restart's partitions")
        status = model_status(config, MODEL.name)
    assert status["events"] == 300
    assert status["windows_closed"] == 3
    first = next(w for w in status["windows"] if w["window"]["id"] == 0)
    assert first["window"]["events"] == 100
    assert first["evaluated_at"] is not None  # judged: two outliers in 100 are no drift


def test_dead_letters_are_counted_by_reason_in_redis_and_shown_by_the_report(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topic, config = _pipeline(kafka_broker, redis_server, unique_name, tmp_path)
    invalid, no_model = BAD_MESSAGES[0][1], BAD_MESSAGES[2][1]
    stream = [*generate(MODEL, 0, 100, seed=3), invalid, no_model, invalid]
    produce_json(kafka_broker.bootstrap_servers, topic, stream, partition_key=None)
    with running_daemon(config):
        wait_until(lambda: model_status(config, MODEL.name)["windows_closed"] == 1, 60, "window")
    with running_daemon(config) as restarted:  # a restart reads nothing again: counted once
        wait_until(lambda: restarted.source.assignment_received, 60, "the restart's partitions")
        store = restarted.store
        counts = store.dead_letter_counts()
        page = build(config, store)
    assert counts == {"invalid_json": 2, "missing_model": 1}
    assert "<td>invalid_json</td><td class='n'>2</td>" in page
