"""The daemon end to end on a real broker and a real Redis: drift caught where it happened."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from monitor.tooling.embedded import KafkaBroker, RedisClusterNodes, RedisServer
from monitor.tooling.synthetic import Shift, SyntheticModel, blocks
from tests.daemon_harness import (
    model_status,
    pipeline_config,
    running_daemon,
    wait_until,
    write_reference,
)
from tests.helpers import produce_json

pytestmark = pytest.mark.integration

MODEL = SyntheticModel(name="fraud", numeric=20, categorical=3)
EVENTS = 20_000
WINDOW = 5_000
SHIFTED = "num_7"


def _drifted_signals_by_window(status: dict[str, Any]) -> dict[int, set[str]]:
    return {
        entry["window"]["id"]: {name.split("/")[0] for name in entry["drifted"]}
        for entry in status["windows"]
    }


def _run_stream(
    broker: KafkaBroker,
    redis_url: str,
    unique_name: Callable[[str], str],
    reference: Path,
    shift: Shift | None,
    *,
    cluster: bool = False,
) -> dict[str, Any]:
    topic = unique_name("predictions")
    broker.create_topics([topic, f"{topic}.dlq"], partitions=1)
    config = pipeline_config(
        bootstrap=broker.bootstrap_servers,
        redis_url=redis_url,
        topic=topic,
        group=unique_name("group"),
        model=MODEL,
        reference=reference,
    )
    for block in blocks(MODEL, EVENTS, seed=2, shift=shift):
        produce_json(broker.bootstrap_servers, topic, block, partition_key=None)
    with running_daemon(config, cluster=cluster):
        wait_until(
            lambda: (
                model_status(config, MODEL.name, cluster=cluster)["windows_closed"]
                == EVENTS // WINDOW
            ),
            120,
            "every window to close",
        )
    return model_status(config, MODEL.name, cluster=cluster)


@pytest.fixture(scope="module")
def reference_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_reference(tmp_path_factory.mktemp("ref") / "reference.jsonl", MODEL)


def test_shifted_feature_alone_is_flagged_from_the_first_window_after_the_shift(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    reference_file: Path,
) -> None:
    status = _run_stream(
        kafka_broker, redis_server.url, unique_name, reference_file, Shift(10_000, {SHIFTED: 1.0})
    )
    drifted = _drifted_signals_by_window(status)
    assert status["events"] == EVENTS
    assert drifted[0] == set()
    assert drifted[1] == set()
    assert drifted[2] == {SHIFTED}
    assert drifted[3] == {SHIFTED}


def test_stream_without_a_shift_flags_nothing(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    reference_file: Path,
) -> None:
    status = _run_stream(kafka_broker, redis_server.url, unique_name, reference_file, None)
    assert status["events"] == EVENTS
    assert _drifted_signals_by_window(status) == {w: set() for w in range(EVENTS // WINDOW)}


def test_shift_is_caught_the_same_way_on_a_three_node_redis_cluster(
    kafka_broker: KafkaBroker,
    unique_name: Callable[[str], str],
    reference_file: Path,
) -> None:
    with RedisClusterNodes(3) as cluster:
        status = _run_stream(
            kafka_broker,
            cluster.url,
            unique_name,
            reference_file,
            Shift(10_000, {SHIFTED: 1.0}),
            cluster=True,
        )
    drifted = _drifted_signals_by_window(status)
    assert status["events"] == EVENTS
    assert drifted == {0: set(), 1: set(), 2: {SHIFTED}, 3: {SHIFTED}}
