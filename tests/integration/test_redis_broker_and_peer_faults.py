"""Faults around the daemon: Redis down or full, the broker restarted, a peer fenced or killed,
a burst."""

from __future__ import annotations

import logging
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from monitor.config import Config
from monitor.keys import Keys
from monitor.tooling.embedded import KafkaBroker, RedisServer
from monitor.tooling.synthetic import SyntheticModel, blocks
from tests.daemon_harness import (
    model_status,
    new_pipeline,
    running_daemon,
    start_daemon_process,
    wait_until,
    write_config_file,
    write_reference,
)
from tests.helpers import produce_json

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = SyntheticModel(name="fraud", numeric=5, categorical=1)
WINDOW = 2000


def _produce(broker: KafkaBroker, topic: str, events: int, start: int = 0) -> None:
    for block in blocks(MODEL, events, start=start, seed=2):
        produce_json(broker.bootstrap_servers, topic, block, partition_key=None)


def _pipeline(
    broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
    **options: Any,
) -> tuple[str, Config]:
    """A topic and config of the test's own: windows of WINDOW events, a 5,000-event reference."""
    return new_pipeline(
        broker,
        redis_server.url,
        unique_name,
        MODEL,
        reference=write_reference(tmp_path / "reference.jsonl", MODEL, events=5000),
        window={"events": WINDOW},
        **options,
    )


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except urllib.error.HTTPError:
        return False


@pytest.mark.parametrize("redis_server", [{"appendonly": True}], indirect=True)
def test_redis_down_for_30_seconds_mid_stream_pauses_then_counts_every_event_once(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="monitor.daemon")
    events = 40_000
    topic, config = _pipeline(
        kafka_broker, redis_server, unique_name, tmp_path, partitions=2, batch_size=500
    )
    _produce(kafka_broker, topic, events)
    with running_daemon(config) as daemon:
        assert daemon.http is not None
        port = daemon.http.port
        wait_until(lambda: model_status(config, "fraud")["events"] >= 5000, 60, "5000 events")
        redis_server.stop(kill=True)
        wait_until(lambda: not _ready(port), 30, "/readyz to turn false")
        time.sleep(30)
        assert not _ready(port)
        redis_server.restart()
        wait_until(lambda: _ready(port), 30, "/readyz to turn true")
        wait_until(
            lambda: model_status(config, "fraud")["windows_closed"] == events // WINDOW,
            120,
            "every window after the outage",
        )
    status = model_status(config, "fraud")
    assert status["events"] == events
    assert sorted(w["window"]["id"] for w in status["windows"]) == list(range(events // WINDOW))
    assert {w["window"]["events"] for w in status["windows"]} == {WINDOW}
    pair = ("service unavailable; pausing", "redis reachable again; resuming")
    assert [m for m in caplog.messages if m in pair] == list(pair)


def test_redis_out_of_memory_pauses_consumption_until_it_has_room_and_loses_nothing(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    """OOM (maxmemory with noeviction) is a ResponseError, not a lost connection: still a pause."""
    events = 12_000
    topic, config = _pipeline(kafka_broker, redis_server, unique_name, tmp_path, batch_size=500)
    admin = redis.Redis.from_url(redis_server.url)
    _produce(kafka_broker, topic, 4000)
    with running_daemon(config) as daemon:
        wait_until(lambda: model_status(config, "fraud")["events"] == 4000, 60, "4000 events")
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", 1)
        _produce(kafka_broker, topic, events - 4000, start=4000)
        wait_until(lambda: daemon.metrics.redis_up._value.get() == 0, 30, "the pause")
        counted = daemon.metrics.events.labels("fraud")
        paused_at = counted._value.get()
        time.sleep(2)
        assert counted._value.get() == paused_at
        admin.config_set("maxmemory", 0)
        wait_until(
            lambda: model_status(config, "fraud")["windows_closed"] == events // WINDOW,
            120,
            "every window once Redis has room",
        )
    status = model_status(config, "fraud")
    assert status["events"] == events
    assert {w["window"]["events"] for w in status["windows"]} == {WINDOW}


def test_a_batch_another_instance_already_applied_is_refused_and_skipped_not_counted_twice(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    """Redis's offsets fence a zombie: what they say was applied elsewhere is not applied here."""
    topic, config = _pipeline(kafka_broker, redis_server, unique_name, tmp_path, batch_size=500)
    _produce(kafka_broker, topic, 2000)
    with running_daemon(config) as daemon:
        wait_until(lambda: model_status(config, "fraud")["events"] == 2000, 60, "2000 events")
        # Another instance took the partition, applied offsets 2000..2999 and gave it back.
        offsets = Keys(config.redis.key_prefix).offsets
        redis.Redis.from_url(redis_server.url).hset(offsets, f"{topic}/0", 3000)
        _produce(kafka_broker, topic, 2000, start=2000)
        wait_until(lambda: model_status(config, "fraud")["events"] == 3000, 60, "3000 events")
        refused = daemon.metrics.state_conflicts.labels("stale")._value.get()
    assert refused >= 1
    assert model_status(config, "fraud")["events"] == 3000


def test_broker_restart_is_survived_and_new_events_are_counted(
    fresh_kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topic, config = _pipeline(fresh_kafka_broker, redis_server, unique_name, tmp_path)
    _produce(fresh_kafka_broker, topic, 4000)
    with running_daemon(config):
        wait_until(lambda: model_status(config, "fraud")["events"] == 4000, 60, "4000 events")
        fresh_kafka_broker.restart()
        # Tansu keeps nothing across a restart: the topic comes back as a new topic (a new
        # topic id), which the daemon reads from its beginning. Real Kafka keeps topics,
        # their ids and offsets, and the daemon resumes where it was.
        fresh_kafka_broker.create_topics([topic, f"{topic}.dlq"], partitions=1)
        _produce(fresh_kafka_broker, topic, 10_000, start=4000)
        wait_until(
            lambda: model_status(config, "fraud")["events"] == 14_000, 120, "events after restart"
        )
    assert model_status(config, "fraud")["windows_closed"] == 14_000 // WINDOW


def _config_file(
    tmp_path: Path, group: str, broker: KafkaBroker, redis_server: RedisServer, topic: str
) -> Path:
    return write_config_file(
        tmp_path / f"{group}.yaml",
        bootstrap=broker.bootstrap_servers,
        redis_url=redis_server.url,
        topic=topic,
        group=group,
        model=MODEL,
        reference=write_reference(tmp_path / "reference.jsonl", MODEL, events=5000),
        window={"events": WINDOW},
        batch_size=1000,
    )


def test_three_instances_one_killed_mid_stream_count_every_event_and_window_once(
    fresh_kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    events = 120_000
    topic = unique_name("predictions")
    fresh_kafka_broker.create_topics([topic, f"{topic}.dlq"], partitions=6)
    path = _config_file(tmp_path, unique_name("group"), fresh_kafka_broker, redis_server, topic)
    from monitor.config import load_config

    config = load_config(path)
    logs = [tmp_path / f"instance-{i}.log" for i in range(3)]
    instances = [start_daemon_process(path, log) for log in logs]
    try:
        # Every member must hold partitions before any leaves (docs/architecture.md).
        wait_until(
            lambda: all("partitions assigned" in log.read_text() for log in logs),
            60,
            "all three instances to be assigned partitions",
        )
        _produce(fresh_kafka_broker, topic, events)
        wait_until(lambda: model_status(config, "fraud")["events"] >= 30_000, 120, "30k events")
        os.kill(instances[0].pid, signal.SIGKILL)
        instances[0].wait()
        wait_until(
            lambda: model_status(config, "fraud")["windows_closed"] == events // WINDOW,
            180,
            "every window after the kill",
        )
    finally:
        for process in instances[1:]:
            process.send_signal(signal.SIGTERM)
        for process in instances[1:]:
            process.wait(timeout=60)
    status = model_status(config, "fraud")
    assert status["events"] == events
    window_ids = [w["window"]["id"] for w in status["windows"]]
    assert sorted(window_ids) == list(range(events // WINDOW))  # each recorded exactly once
    assert {w["window"]["events"] for w in status["windows"]} == {WINDOW}


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def test_burst_of_ten_times_the_steady_rate_keeps_memory_bounded_and_is_worked_off(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topic = unique_name("predictions")
    kafka_broker.create_topics([topic, f"{topic}.dlq"], partitions=2)
    path = _config_file(tmp_path, unique_name("group"), kafka_broker, redis_server, topic)
    from monitor.config import load_config

    config = load_config(path)
    log = tmp_path / "daemon.log"
    daemon = start_daemon_process(path, log)
    try:
        wait_until(lambda: "partitions assigned" in log.read_text(), 60, "assignment")
        steady = 20_000  # a steady stream of 2,000 events a second for 10 s
        for second in range(10):
            _produce(kafka_broker, topic, 2_000, start=second * 2_000)
            time.sleep(1)
        wait_until(lambda: model_status(config, "fraud")["events"] == steady, 60, "steady")
        baseline = _rss_mb(daemon.pid)
        burst = 200_000  # ten times the steady rate's 20k events, all at once
        peak = baseline
        _produce(kafka_broker, topic, burst, start=steady)
        deadline = time.monotonic() + 180
        while model_status(config, "fraud")["events"] < steady + burst:
            assert time.monotonic() < deadline, "the burst was not worked off in 180 s"
            peak = max(peak, _rss_mb(daemon.pid))
            time.sleep(0.2)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
    status = model_status(config, "fraud")
    assert status["events"] == steady + burst
    assert status["windows_closed"] == (steady + burst) // WINDOW
    # Bounded by the consumer's fetch queue and one batch, not by the backlog (~150 MB of
    # messages): the daemon holds at most one batch of decoded events at a time.
    assert peak - baseline < 100, f"RSS grew from {baseline:.0f} MB to {peak:.0f} MB"
