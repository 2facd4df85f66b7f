"""The daemon's /metrics endpoint: what a scrape of a running daemon sees after drift."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

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

MODEL = SyntheticModel(name="fraud", numeric=3, categorical=1)


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_scrape_shows_scores_thresholds_drift_counts_and_lag_per_partition(
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
        partitions=2,
        reference=write_reference(tmp_path / "reference.jsonl", MODEL, events=5000),
        window={"events": 1000},
    )
    events = generate(MODEL, 0, 2000, seed=2, shift=Shift(0, {"num_2": 1.5}))
    for partition, part in enumerate((events[:1000], [*events[1000:], b"{oops"])):
        produce_json(
            kafka_broker.bootstrap_servers, topic, part, partition_key=None, partition=partition
        )
    with running_daemon(config) as daemon:
        wait_until(lambda: model_status(config, "fraud")["windows_closed"] == 2, 60, "2 windows")
        assert daemon.http is not None
        port = daemon.http.port
        bad = ("drift_monitor_bad_events_total", (("reason", "invalid_json"),))
        wait_until(lambda: bad in _scrape(port), 30, "the bad message to be counted")
        metrics = _scrape(port)

    def value(name: str, **labels: str) -> float:
        return metrics[(name, tuple(sorted(labels.items())))]

    drifted = {"model": "fraud", "signal": "num_2", "method": "psi"}
    steady = {"model": "fraud", "signal": "num_0", "method": "psi"}
    assert value("drift_monitor_drifted", **drifted) == 1
    assert value("drift_monitor_drifted", **steady) == 0
    assert value("drift_monitor_drift_score", **drifted) > 0.25
    assert value("drift_monitor_drift_threshold", **drifted, level="warn") == 0.1
    assert value("drift_monitor_drift_threshold", **drifted, level="critical") == 0.25
    assert value("drift_monitor_drift_p_value", model="fraud", signal="num_2", method="ks") < 1e-6
    assert value("drift_monitor_drifted_signals", model="fraud") == 1
    assert value("drift_monitor_events_total", model="fraud") == 2000
    assert value("drift_monitor_bad_events_total", reason="invalid_json") == 1
    assert value("drift_monitor_windows_closed_total", model="fraud") == 2
    assert value("drift_monitor_batch_seconds_count") >= 1
    assert {value("drift_monitor_consumer_lag", topic=topic, partition=p) for p in "01"} == {0}


def test_an_assigned_partition_that_holds_no_messages_reads_zero_lag(
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
        partitions=2,
        reference=write_reference(tmp_path / "reference.jsonl", MODEL, events=5000),
        window={"events": 1000},
    )
    events = generate(MODEL, 0, 1000, seed=2)
    produce_json(kafka_broker.bootstrap_servers, topic, events, partition_key=None, partition=0)
    with running_daemon(config) as daemon:
        wait_until(lambda: model_status(config, "fraud")["events"] == 1000, 60, "the events")
        assert daemon.http is not None
        port = daemon.http.port
        empty = ("drift_monitor_consumer_lag", (("partition", "1"), ("topic", topic)))
        wait_until(lambda: _scrape(port).get(empty) == 0, 30, "partition 1's lag to read 0")
