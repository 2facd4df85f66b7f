"""A model server's logged requests and responses, end to end on a real broker and Redis.

The messages are built byte for byte as KServe's payload logger, through a Knative Kafka
sink, writes them (tests/kserve_messages.py: CloudEvents 1.0.2, Kafka Protocol Binding for
CloudEvents 1.0.2 in binary mode, KServe V1 bodies, Open Inference Protocol REST tensors),
and produced with kcat and with confluent-kafka: requests and responses in both orders,
on different partitions. Every row is counted once, a drift in one input is found and
named, a batched V2 request is one event per row, and kill -9 during a stream of
unanswered requests neither loses nor doubles a pair.
"""

from __future__ import annotations

import csv
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from confluent_kafka import Producer

from monitor.config import Config, load_config, parse_config
from monitor.keys import Keys
from monitor.redis_client import connect
from monitor.store import StateStore
from monitor.tooling.embedded import KafkaBroker, RedisServer
from tests.daemon_harness import (
    kill_9_when,
    model_status,
    running_daemon,
    start_daemon_process,
    wait_until,
)
from tests.helpers import KAFKA_TEST_SETTINGS, consume_messages, kcat_produce
from tests.kserve_messages import (
    ce_headers,
    tensor,
    v1_request,
    v1_response,
    v2_request,
    v2_response,
)

pytestmark = pytest.mark.integration

MODEL = "iris"
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
MEANS = np.array([5.8, 3.0, 3.8, 1.2])
SDS = np.array([0.8, 0.4, 1.8, 0.8])
CLASSES = ["setosa", "versicolor", "virginica"]
SHIFTED = "petal_length"
Message = tuple[list[tuple[str, bytes]], bytes, int]
"""Headers, value and partition of one message to produce."""


def _rows(start: int, count: int, *, shift_from: int | None = None) -> np.ndarray:
    """Rows ``start..start+count-1`` of the stream; petal_length moves 1.5 sd from shift_from."""
    rng = np.random.default_rng([7, start])
    rows = rng.normal(MEANS, SDS, size=(count, len(FEATURES)))
    if shift_from is not None:
        index = np.arange(start, start + count)
        rows[index >= shift_from, FEATURES.index(SHIFTED)] += 1.5 * SDS[FEATURES.index(SHIFTED)]
    return rows.round(4)


def _classes(start: int, count: int) -> list[str]:
    rng = np.random.default_rng([8, start])
    return [CLASSES[i] for i in rng.integers(0, len(CLASSES), size=count)]


def _reference(path: Path) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*FEATURES, "prediction"])
        rng = np.random.default_rng(1)
        rows = rng.normal(MEANS, SDS, size=(3000, len(FEATURES))).round(4)
        for row, label in zip(rows.tolist(), rng.integers(0, 3, size=3000), strict=True):
            writer.writerow([*row, CLASSES[label]])
    return path


def _pipeline(
    broker: KafkaBroker,
    redis_url: str,
    unique_name: Callable[[str], str],
    tmp_path: Path,
    payload: dict[str, Any],
    mapping: dict[str, Any],
    window: int,
    batch_size: int = 500,
) -> tuple[str, dict[str, Any]]:
    """A two-partition topic of the test's own, and a config (as YAML gives it) for it."""
    name = unique_name("served")
    broker.create_topics([name, f"{name}.dlq"], partitions=2)
    return name, {
        "kafka": {
            "bootstrap_servers": broker.bootstrap_servers,
            "group_id": name,
            "predictions_topic": name,
            "dead_letter_topic": f"{name}.dlq",
            "batch_size": batch_size,
            # Tansu holds a group join for half the session timeout: a restart joins sooner.
            "consumer": {**KAFKA_TEST_SETTINGS, "session.timeout.ms": 3000},
        },
        "redis": {"url": redis_url, "key_prefix": name},
        "http": {"host": "127.0.0.1", "port": 0},
        "logging": {"format": "text", "level": "WARNING"},
        "payload": payload,
        "models": {
            MODEL: {
                "reference": {"path": str(_reference(tmp_path / "iris.csv"))},
                "window": {"events": window},
                "features": dict.fromkeys(FEATURES, "numeric"),
                "prediction": "categorical",
                "payload": mapping,
            }
        },
    }


def _produce(bootstrap: str, topic: str, messages: Sequence[Message]) -> None:
    """With confluent-kafka, in order, no key (a Knative sink keys only by partitionkey)."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    failures: list[Any] = []
    for headers, value, partition in messages:
        producer.produce(
            topic,
            value=value,
            headers=headers,
            partition=partition,
            on_delivery=lambda error, _: failures.append(error) if error else None,
        )
        producer.poll(0)
    assert producer.flush(30) == 0
    assert failures == []


def _kcat(bootstrap: str, topic: str, message: Message) -> None:
    """With kcat: one invocation per message, as its headers are its own."""
    headers, value, partition = message
    args = [arg for name, v in headers for arg in ("-H", f"{name}={v.decode()}")]
    kcat_produce(bootstrap, topic, [value], partition=partition, extra_args=args)


def _v1_pair(event_id: str, rows: np.ndarray, labels: list[str]) -> tuple[Message, Message]:
    request = (ce_headers(event_id, "request", model=MODEL), v1_request(rows.tolist()), 0)
    response = (ce_headers(event_id, "response", model=MODEL), v1_response(labels), 0)
    return request, response


def _v2_pair(
    event_id: str, rows: np.ndarray, labels: list[str], time: str = "2026-03-02T10:15:30Z"
) -> tuple[Message, Message]:
    """The request names its tensor's columns in its parameters; the response has the
    class and the class probabilities, the prediction being the output named ``predict``."""
    n = len(rows)
    inputs = {**tensor("input-0", [n, len(FEATURES)], "FP32", rows.ravel().tolist())}
    inputs["parameters"] = {"columns": ",".join(FEATURES)}
    outputs = [
        tensor("predict", [n], "BYTES", labels),
        tensor("proba", [n, 3], "FP32", [1 / 3] * (3 * n)),
    ]
    body = v2_response(event_id, outputs, model=MODEL, version="v3")
    request = (ce_headers(event_id, "request", model=MODEL, time=time), v2_request([inputs]), 0)
    response = (ce_headers(event_id, "response", model=MODEL, time=time), body, 0)
    return request, response


def _in_every_order(pairs: Sequence[tuple[Message, Message]]) -> Iterator[Message]:
    """Pair by pair, the halves on different partitions and in both orders, or on one
    partition with the response first."""
    for i, (request, response) in enumerate(pairs):
        (rh, rv, _), (sh, sv, _) = request, response
        if i % 4 == 0:
            yield from ((rh, rv, 0), (sh, sv, 1))
        elif i % 4 == 1:
            yield from ((sh, sv, 0), (rh, rv, 1))
        elif i % 4 == 2:
            yield from ((rh, rv, 1), (sh, sv, 1))
        else:
            yield from ((sh, sv, 0), (rh, rv, 0))


def _store(config: Config) -> StateStore:
    return StateStore(connect(config.redis.url), Keys(config.redis.key_prefix), history_size=1000)


def _drifted_features(status: dict[str, Any]) -> dict[int, set[str]]:
    return {
        entry["window"]["id"]: {name.split("/")[0] for name in entry["drifted"]} - {"prediction"}
        for entry in status["windows"]
    }


def _after_the_calm_half(config: Config, rows: int) -> None:
    """Wait for the calm half's rows: pairs complete as both partitions are read, and one
    may be read far ahead of the other, so shifted rows sent now could otherwise be
    counted into the calm windows."""
    wait_until(lambda: model_status(config, MODEL)["events"] == rows, 60, "the calm half")


def _assert_shift_named(status: dict[str, Any], windows: int) -> None:
    drifted = _drifted_features(status)
    assert sorted(drifted) == list(range(windows))
    half = windows // 2
    assert [w for w in range(windows) if SHIFTED in drifted[w]] == list(range(half, windows)), (
        drifted
    )


def test_kserve_v1_pairs_in_both_orders_from_kcat_and_confluent_count_every_row_once(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topic, raw = _pipeline(
        kafka_broker,
        redis_server.url,
        unique_name,
        tmp_path,
        {"format": "kserve-cloudevents"},
        {"columns": FEATURES},
        window=500,
    )
    config = parse_config(raw)
    rows_per_pair, pairs_count = 5, 600
    total = rows_per_pair * pairs_count
    pairs = [
        _v1_pair(
            f"req-{i}",
            _rows(i * rows_per_pair, rows_per_pair, shift_from=total // 2),
            _classes(i * rows_per_pair, rows_per_pair),
        )
        for i in range(pairs_count)
    ]
    messages = list(_in_every_order(pairs))
    calm = len(messages) // 2
    bootstrap = kafka_broker.bootstrap_servers
    for message in messages[:4]:  # two pairs through kcat: request first, and response first
        _kcat(bootstrap, topic, message)
    _produce(bootstrap, topic, messages[4:calm])

    with running_daemon(config):
        _after_the_calm_half(config, total // 2)
        _produce(bootstrap, topic, messages[calm:])
        wait_until(
            lambda: model_status(config, MODEL)["windows_closed"] == total // 500,
            90,
            "every window closed",
        )
        wait_until(lambda: _store(config).pairing_status()["paired"] == pairs_count, 10, "pairs")

    status = model_status(config, MODEL)
    assert status["events"] == total
    assert _store(config).pairing_status() == {
        "requests": pairs_count,
        "responses": pairs_count,
        "paired": pairs_count,
        "skipped": 0,
        "waiting": 0,
    }
    assert _store(config).dead_letter_counts() == {}
    _assert_shift_named(status, total // 500)


def test_open_inference_batches_are_one_event_per_row_and_a_drifted_input_is_named(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topic, raw = _pipeline(
        kafka_broker,
        redis_server.url,
        unique_name,
        tmp_path,
        {"format": "open-inference"},
        {"output": "predict"},
        window=512,
    )
    config = parse_config(raw)
    batch, requests = 64, 48
    total = batch * requests
    pairs = [
        _v2_pair(
            f"v2-{i}", _rows(i * batch, batch, shift_from=total // 2), _classes(i * batch, batch)
        )
        for i in range(requests)
    ]
    messages = list(_in_every_order(pairs))
    bootstrap = kafka_broker.bootstrap_servers

    with running_daemon(config):
        _produce(bootstrap, topic, messages[:2])  # one batched request of 64 rows, alone
        wait_until(lambda: model_status(config, MODEL)["events"] == batch, 30, "64 events")
        assert _store(config).pairing_status()["paired"] == 1
        window = _store(config).keys.window(MODEL, 0)
        assert connect(config.redis.url).hget(window, "model_version") == b"v3"
        calm = len(messages) // 2
        _produce(bootstrap, topic, messages[2:calm])
        _after_the_calm_half(config, total // 2)
        _produce(bootstrap, topic, messages[calm:])
        wait_until(
            lambda: model_status(config, MODEL)["windows_closed"] == total // 512,
            90,
            "every window closed",
        )

    status = model_status(config, MODEL)
    assert status["events"] == total
    assert _store(config).pairing_status()["waiting"] == 0
    _assert_shift_named(status, total // 512)


@pytest.mark.slow
def test_kill_9_during_unanswered_requests_then_their_responses_pair_each_exactly_once(
    fresh_kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topic, raw = _pipeline(
        fresh_kafka_broker,
        redis_server.url,
        unique_name,
        tmp_path,
        {"format": "kserve-cloudevents"},
        {"columns": FEATURES},
        window=1000,
        batch_size=100,
    )
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    config = load_config(path)
    count, rows = 12_000, 1
    pairs = [
        _v1_pair(f"k-{i}", _rows(i * rows, rows), _classes(i * rows, rows)) for i in range(count)
    ]
    bootstrap = fresh_kafka_broker.bootstrap_servers
    _produce(bootstrap, topic, [(h, v, i % 2) for i, ((h, v, _), _) in enumerate(pairs)])
    log = tmp_path / "daemon.log"

    kill_9_when(
        path, log, lambda: _store(config).pairing_status()["requests"] >= 1500, 60, "requests"
    )
    waiting = _store(config).pairing_status()
    assert 0 < waiting["waiting"] == waiting["requests"] < count, "killed too late to matter"

    daemon = start_daemon_process(path, log)
    try:
        wait_until(lambda: _store(config).pairing_status()["requests"] == count, 60, "requests")
        _produce(bootstrap, topic, [(h, v, i % 2) for i, (_, (h, v, _)) in enumerate(pairs)])
        wait_until(lambda: _store(config).pairing_status()["paired"] >= count, 60, "every pair")
        wait_until(lambda: model_status(config, MODEL)["events"] >= count * rows, 30, "events")
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)

    assert _store(config).pairing_status() == {
        "requests": count,
        "responses": count,
        "paired": count,
        "skipped": 0,
        "waiting": 0,
    }, log.read_text()[-3000:]
    assert model_status(config, MODEL)["events"] == count * rows
    assert model_status(config, MODEL)["windows_closed"] == count * rows // 1000


def test_bad_and_unanswered_payloads_are_dead_lettered_as_they_came_with_a_reason(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topic, raw = _pipeline(
        kafka_broker,
        redis_server.url,
        unique_name,
        tmp_path,
        {"format": "open-inference", "pairing": {"ttl_seconds": 1}},
        {"tensors": {"input-0": FEATURES}, "output": "predict"},
        window=1000,
    )
    config = parse_config(raw)
    later = "2026-03-02T10:15:32Z"  # 2 s after the others: past the lonely request's TTL
    good_request, good_response = _v2_pair("good", _rows(0, 2), _classes(0, 2), later)
    lonely, _ = _v2_pair("lonely", _rows(2, 1), _classes(2, 1))
    slow_request, slow_response = _v2_pair("slow", _rows(3, 1), _classes(3, 1))
    other, _ = _v2_pair("other", _rows(4, 1), _classes(4, 1))
    fp8 = v2_request([tensor("input-0", [1, 4], "FP8", [1.0, 2.0, 3.0, 4.0])])
    short = v2_request([tensor("input-0", [2, 4], "FP32", [1.0] * 7)])
    deep = b'{"inputs": [], "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    ping = [
        (n, b"dev.knative.sources.ping" if n == "ce_type" else v)
        for n, v in ce_headers("p", "request")
    ]
    bootstrap = kafka_broker.bootstrap_servers
    _produce(
        bootstrap,
        topic,
        [
            lonely,
            slow_request,
            (ce_headers("fp8", "request", model=MODEL), fp8, 0),
            (ce_headers("short", "request", model=MODEL), short, 1),
            (ce_headers("deep", "request", model=MODEL), deep, 0),
            ([], b'{"model": "iris", "features": {}}', 0),
            (ping, b"{}", 1),
        ],
    )

    with running_daemon(config):
        wait_until(lambda: _store(config).pairing_status()["waiting"] == 2, 30, "two waiting")
        wait_until(lambda: len(_store(config).dead_letter_counts()) == 4, 10, "dead letters")
        # The TTL runs in event time: past it by the clock, but not by the events' own
        # times, a batch (of another request) forgets nothing, and the slow response still
        # pairs, as a backlog after an outage does.
        time.sleep(1.5)
        _produce(bootstrap, topic, [other])
        wait_until(lambda: _store(config).pairing_status()["waiting"] == 3, 30, "three waiting")
        _produce(bootstrap, topic, [slow_response])
        wait_until(lambda: model_status(config, MODEL)["events"] == 1, 30, "the slow pair")
        # Halves 2 s later in event time than the waiting ones: those are past the TTL.
        _produce(bootstrap, topic, [good_request, good_response])
        wait_until(lambda: model_status(config, MODEL)["events"] == 3, 30, "the good pair")

    assert _store(config).dead_letter_counts() == {
        "unknown_datatype": 1,
        "shape_mismatch": 1,
        "not_a_cloudevent": 1,
        "undecodable": 1,
        "unanswered": 2,
    }
    assert _store(config).pairing_status()["skipped"] == 1
    letters = consume_messages(bootstrap, f"{topic}.dlq", 6)
    by_reason = {dict(m.headers())["x-drift-monitor-reason"].decode(): m for m in letters}
    unanswered = next(m for m in letters if dict(m.headers()).get("ce_id") == b"lonely")
    assert dict(unanswered.headers())["x-drift-monitor-reason"] == b"unanswered"
    assert unanswered.value() == lonely[1]
    assert dict(unanswered.headers())["ce_id"] == b"lonely"
    assert dict(unanswered.headers())["x-drift-monitor-source"].startswith(f"{topic}/0/".encode())
    assert b"'FP8'" in dict(by_reason["unknown_datatype"].headers())["x-drift-monitor-detail"]
    undecodable = dict(by_reason["undecodable"].headers())
    assert undecodable["x-drift-monitor-detail"].startswith(b"RecursionError: ")
    assert by_reason["undecodable"].value() == deep
