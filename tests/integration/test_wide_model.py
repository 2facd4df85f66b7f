"""Wide models end to end: a thousand features and more, through the real broker and Redis.

A model this wide once crashed the daemon on its first closed window (Lua's ``unpack``
refuses more than ~8,000 values, and 1,000 features have 12,000 latest-result values).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from monitor.tooling.embedded import KafkaBroker, RedisServer
from monitor.tooling.synthetic import Shift, SyntheticModel, blocks
from tests.daemon_harness import (
    model_status,
    new_pipeline,
    running_daemon,
    wait_until,
    write_reference,
)
from tests.helpers import produce_json

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _run(
    broker: KafkaBroker,
    redis_url: str,
    unique_name: Callable[[str], str],
    tmp_path: Path,
    model: SyntheticModel,
    *,
    reference_events: int,
    window: int,
    windows: int,
    shift: Shift | None,
) -> dict[str, Any]:
    reference = write_reference(tmp_path / "reference.jsonl", model, events=reference_events)
    topic, config = new_pipeline(
        broker, redis_url, unique_name, model, reference=reference, window={"events": window}
    )
    for block in blocks(model, window * windows, seed=2, shift=shift, block=1000):
        produce_json(broker.bootstrap_servers, topic, block, partition_key=None)
    with running_daemon(config):
        wait_until(
            lambda: model_status(config, model.name)["windows_closed"] == windows,
            180,
            "every window to close",
        )
    return model_status(config, model.name)


def _drifted_features(status: dict[str, Any]) -> dict[int, set[str]]:
    return {
        entry["window"]["id"]: {name.split("/")[0] for name in entry["drifted"]}
        for entry in status["windows"]
    }


def test_a_thousand_feature_model_flags_exactly_its_three_shifted_features(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    model = SyntheticModel(name="wide", numeric=900, categorical=100)
    shifted = {"num_1": 1.0, "num_500": 1.0, "num_899": 1.0}
    status = _run(
        kafka_broker,
        redis_server.url,
        unique_name,
        tmp_path,
        model,
        reference_events=4000,
        window=2000,
        windows=3,
        shift=Shift(2000, shifted),
    )
    assert status["events"] == 6000
    assert _drifted_features(status) == {0: set(), 1: set(shifted), 2: set(shifted)}


def test_a_five_thousand_feature_model_closes_its_windows_without_reaching_a_redis_limit(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    model = SyntheticModel(name="widest", numeric=4500, categorical=500)
    status = _run(
        kafka_broker,
        redis_server.url,
        unique_name,
        tmp_path,
        model,
        reference_events=1000,
        window=500,
        windows=2,
        shift=None,
    )
    assert status["events"] == 1000
    assert status["windows_closed"] == 2
