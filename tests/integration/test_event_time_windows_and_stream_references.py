"""Event-time windows and stream-built references, end to end on a real broker and Redis."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.tooling.embedded import KafkaBroker, RedisServer
from monitor.tooling.synthetic import Shift, SyntheticModel, generate
from tests.daemon_harness import (
    model_status,
    new_pipeline,
    running_daemon,
    wait_until,
    write_reference,
)
from tests.helpers import produce_json

pytestmark = pytest.mark.integration

MODEL = SyntheticModel(name="fraud", numeric=4, categorical=1)
EVENTS_PER_SECOND = 100.0  # monitor.tooling.synthetic spaces event times 10 ms apart


def test_event_time_windows_close_on_the_watermark_and_count_late_events(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topic, config = new_pipeline(
        kafka_broker,
        redis_server.url,
        unique_name,
        MODEL,
        reference=write_reference(tmp_path / "reference.jsonl", MODEL, events=5000),
        window={"seconds": 10, "allowed_lateness_seconds": 2, "min_events": 100},
    )
    # 4,000 events at 100 per second of event time: 40 s, so windows [0,10) .. [30,40) of the
    # synthetic clock; the watermark (38 s after lateness) closes the first three.
    events = generate(MODEL, 0, 4000, seed=2)
    late = json.loads(generate(MODEL, 100, 1, seed=9)[0])  # event time 1 s: window 0, closed
    produce_json(kafka_broker.bootstrap_servers, topic, events, partition_key=None)
    with running_daemon(config) as daemon:
        wait_until(lambda: model_status(config, "fraud")["windows_closed"] == 3, 60, "3 windows")
        produce_json(kafka_broker.bootstrap_servers, topic, [late], partition_key=None)
        wait_until(lambda: model_status(config, "fraud")["events"] == 4001, 60, "the late event")
        late_counter = daemon.metrics.late_events.labels("fraud")
        wait_until(lambda: late_counter._value.get() == 1, 10, "the late-events counter")
    status = model_status(config, "fraud")
    windows = sorted(status["windows"], key=lambda w: w["window"]["id"])
    assert [w["window"]["events"] for w in windows] == [1000, 1000, 1000]
    assert [w["window"]["end_ts"] - w["window"]["start_ts"] for w in windows] == [10.0] * 3
    assert status["late_events"] == 1
    assert status["windows_open"] == 1


def test_reference_from_the_stream_is_built_from_the_first_events_then_windows_follow(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
) -> None:
    topic, config = new_pipeline(
        kafka_broker,
        redis_server.url,
        unique_name,
        MODEL,
        reference=None,  # from_stream: 10_000
        window={"events": 2000},
    )
    shift = Shift(14_000, {"num_1": 1.0})
    produce_json(
        kafka_broker.bootstrap_servers,
        topic,
        generate(MODEL, 0, 18_000, seed=2, shift=shift),
        partition_key=None,
    )
    with running_daemon(config):
        wait_until(lambda: model_status(config, "fraud")["windows_closed"] == 4, 60, "4 windows")
    status = model_status(config, "fraud")
    assert status["events"] == 18_000
    assert status["reference_collected"] == 10_000
    assert status["reference_id"].startswith("fraud@")
    drifted = {
        w["window"]["id"]: {name.split("/")[0] for name in w["drifted"]} for w in status["windows"]
    }
    assert drifted == {0: set(), 1: set(), 2: {"num_1"}, 3: {"num_1"}}


def test_a_partition_consumed_behind_the_other_finds_its_windows_still_open(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    """Partition 0 runs 60 s of event time ahead before partition 1's events arrive: with a
    watermark over both, none of partition 1's events is late and every window is whole."""
    topic, config = new_pipeline(
        kafka_broker,
        redis_server.url,
        unique_name,
        MODEL,
        partitions=2,
        reference=write_reference(tmp_path / "reference.jsonl", MODEL, events=5000),
        window={"seconds": 10, "min_events": 100},
    )

    def produce(partition: int, start: int, count: int) -> None:
        events = generate(MODEL, start, count, seed=partition)
        produce_json(
            kafka_broker.bootstrap_servers, topic, events, partition_key=None, partition=partition
        )

    def counted(events: int) -> Callable[[], bool]:
        return lambda: model_status(config, "fraud")["events"] == events

    produce(0, 0, 2000)  # event times [0, 20) s on both partitions
    produce(1, 0, 2000)
    with running_daemon(config):
        wait_until(counted(4000), 60, "the first 20 s of both partitions")
        produce(0, 2000, 6000)  # partition 0 alone runs on to 80 s
        wait_until(counted(10_000), 60, "partition 0 to 80 s")
        produce(1, 2000, 6000)  # then partition 1 catches up
        wait_until(counted(16_000), 60, "partition 1 to 80 s")
        produce(0, 8000, 2000)  # both on to 100 s: windows up to 90 s close
        produce(1, 8000, 2000)
        wait_until(lambda: model_status(config, "fraud")["windows_closed"] == 9, 60, "nine windows")
    status = model_status(config, "fraud")
    assert status["late_events"] == 0
    windows = sorted(status["windows"], key=lambda w: w["window"]["id"])
    assert [w["window"]["events"] for w in windows] == [2000] * 9
