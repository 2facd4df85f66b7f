"""The daemon process under SIGTERM and SIGHUP, as Kubernetes and operators send them."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.config import load_config
from monitor.tooling.embedded import KafkaBroker, RedisServer
from monitor.tooling.synthetic import Shift, SyntheticModel, blocks
from tests.daemon_harness import (
    model_status,
    start_daemon_process,
    wait_until,
    write_reference,
)
from tests.helpers import KAFKA_TEST_SETTINGS, produce_json

pytestmark = pytest.mark.integration

MODEL = SyntheticModel(name="fraud", numeric=4, categorical=1)
WINDOW = 2000


def _config(path: Path, broker: KafkaBroker, redis_url: str, topic: str, psi_warn: float) -> Path:
    config: dict[str, Any] = {
        "kafka": {
            "bootstrap_servers": broker.bootstrap_servers,
            "group_id": path.stem,
            "predictions_topic": topic,
            "dead_letter_topic": f"{topic}.dlq",
            "batch_size": 500,
            "consumer": dict(KAFKA_TEST_SETTINGS),
        },
        "redis": {"url": redis_url, "key_prefix": path.stem},
        "http": {"host": "127.0.0.1", "port": 0},
        "logging": {"format": "json", "level": "INFO"},
        "models": {
            MODEL.name: {
                "reference": {"path": str(path.parent / "reference.jsonl")},
                "window": {"events": WINDOW},
                "features": MODEL.features(),
                "prediction": "numeric",
                "drift": {
                    "numeric_methods": ["psi"],
                    "thresholds": {"psi": {"warn": psi_warn, "critical": max(psi_warn, 0.25)}},
                },
            }
        },
    }
    path.write_text(yaml.safe_dump(config))
    return path


def _start(path: Path, log: Path) -> subprocess.Popen[bytes]:
    return start_daemon_process(path, log, "--shutdown-timeout", "10")


def _log_lines(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def test_sigterm_mid_stream_exits_within_the_bound_and_a_restart_loses_nothing(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    events = 60_000
    topic = unique_name("predictions")
    kafka_broker.create_topics([topic, f"{topic}.dlq"], partitions=2)
    write_reference(tmp_path / "reference.jsonl", MODEL, events=5000)
    path = _config(
        tmp_path / f"{unique_name('g')}.yaml", kafka_broker, redis_server.url, topic, 0.1
    )
    config = load_config(path)
    for block in blocks(MODEL, events, seed=2):
        produce_json(kafka_broker.bootstrap_servers, topic, block, partition_key=None)
    log = tmp_path / "daemon.log"
    daemon = _start(path, log)
    wait_until(lambda: model_status(config, "fraud")["events"] >= 10_000, 60, "10k events")
    stopping = time.monotonic()
    daemon.send_signal(signal.SIGTERM)
    code = daemon.wait(timeout=30)
    took = time.monotonic() - stopping
    assert code == 0
    assert took < 10, f"exit took {took:.1f} s, over the 10 s bound"
    assert any(
        line["message"] == "exited cleanly after the last checkpoint" for line in _log_lines(log)
    )
    assert model_status(config, "fraud")["events"] < events, "stopped too late to matter"
    daemon = _start(path, log)
    try:
        wait_until(
            lambda: model_status(config, "fraud")["windows_closed"] == events // WINDOW,
            120,
            "every window after the restart",
        )
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
    status = model_status(config, "fraud")
    assert status["events"] == events
    assert {w["window"]["events"] for w in status["windows"]} == {WINDOW}


def test_sighup_with_a_changed_threshold_changes_the_next_windows_decision(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topic = unique_name("predictions")
    kafka_broker.create_topics([topic, f"{topic}.dlq"], partitions=1)
    write_reference(tmp_path / "reference.jsonl", MODEL, events=5000)
    # A 0.5 sd shift gives a PSI of about 0.25: drifted at warn 0.1, not at warn 5.
    path = _config(
        tmp_path / f"{unique_name('g')}.yaml", kafka_broker, redis_server.url, topic, 5.0
    )
    config = load_config(path)
    shift = Shift(0, {"num_1": 0.5})
    log = tmp_path / "daemon.log"
    daemon = _start(path, log)
    try:
        wait_until(lambda: "partitions assigned" in log.read_text(), 60, "assignment")
        produce_json(
            kafka_broker.bootstrap_servers,
            topic,
            next(blocks(MODEL, WINDOW, block=WINDOW, seed=2, shift=shift)),
            partition_key=None,
        )
        wait_until(lambda: model_status(config, "fraud")["windows_closed"] == 1, 60, "window 0")
        _config(path, kafka_broker, redis_server.url, topic, 0.1)
        daemon.send_signal(signal.SIGHUP)
        wait_until(
            lambda: any(line["message"].startswith("config reloaded") for line in _log_lines(log)),
            30,
            "the reload",
        )
        produce_json(
            kafka_broker.bootstrap_servers,
            topic,
            next(blocks(MODEL, WINDOW, block=WINDOW, start=WINDOW, seed=2, shift=shift)),
            partition_key=None,
        )
        wait_until(lambda: model_status(config, "fraud")["windows_closed"] == 2, 60, "window 1")
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
    drifted = {w["window"]["id"]: w["drifted"] for w in model_status(config, "fraud")["windows"]}
    assert drifted[0] == []
    assert drifted[1] == ["num_1/psi"]
    reload_line = next(
        line for line in _log_lines(log) if line["message"].startswith("config reloaded")
    )
    assert reload_line["not_reloaded_needs_restart"] == []


def test_sighup_with_a_sink_whose_secret_is_unset_is_refused_and_the_daemon_goes_on(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topic = unique_name("predictions")
    kafka_broker.create_topics([topic, f"{topic}.dlq"], partitions=1)
    write_reference(tmp_path / "reference.jsonl", MODEL, events=5000)
    path = _config(
        tmp_path / f"{unique_name('g')}.yaml", kafka_broker, redis_server.url, topic, 0.1
    )
    config = load_config(path)
    log = tmp_path / "daemon.log"
    daemon = _start(path, log)
    try:
        wait_until(lambda: "partitions assigned" in log.read_text(), 60, "assignment")
        data = yaml.safe_load(path.read_text())
        data["sinks"] = {
            "signed": {
                "type": "webhook",
                "url": "http://127.0.0.1:9/hook",
                "secret_env": "DRIFT_MONITOR_TEST_SECRET_NOBODY_SET",
            }
        }
        path.write_text(yaml.safe_dump(data))
        daemon.send_signal(signal.SIGHUP)
        wait_until(
            lambda: any(line["message"].startswith("reload refused") for line in _log_lines(log)),
            30,
            "the refusal",
        )
        produce_json(
            kafka_broker.bootstrap_servers,
            topic,
            next(blocks(MODEL, WINDOW, block=WINDOW, seed=2)),
            partition_key=None,
        )
        wait_until(lambda: model_status(config, "fraud")["windows_closed"] == 1, 60, "window 0")
        assert daemon.poll() is None
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
    refusal = next(line for line in _log_lines(log) if line["message"].startswith("reload refused"))
    assert "DRIFT_MONITOR_TEST_SECRET_NOBODY_SET" in refusal["error"]
