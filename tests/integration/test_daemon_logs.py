"""A running daemon logs its state changes, not its events, as JSON lines or as plain text."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from monitor.config import parse_config
from monitor.tooling.embedded import KafkaBroker, RedisServer
from monitor.tooling.synthetic import Shift, blocks
from tests.daemon_harness import model_status, wait_until, write_reference
from tests.helpers import produce_json
from tests.stack_harness import EVENTS, MODEL, SHIFT_AT, SHIFTED, WINDOW, stack_config_data


@pytest.fixture(scope="module")
def daemon_log(kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """stderr of ``drift-monitor run`` over a drifting stream, from start to SIGTERM."""
    workdir = tmp_path_factory.mktemp("logs")
    name = f"logs-{uuid.uuid4().hex[:10]}"
    kafka_broker.create_topics([name, f"{name}.dlq"], partitions=1)
    reference = write_reference(workdir / "reference.jsonl", MODEL, events=10_000)
    for block in blocks(MODEL, EVENTS, seed=2, shift=Shift(SHIFT_AT, {SHIFTED: 1.0})):
        produce_json(kafka_broker.bootstrap_servers, name, block, partition_key=None)
    with RedisServer() as redis_server:
        data = stack_config_data(kafka_broker, redis_server.url, name, reference=reference)
        data["logging"] = {"format": "json", "level": "INFO"}
        config_path = workdir / "config.yaml"
        config_path.write_text(yaml.safe_dump(data))
        stderr = workdir / "stderr.log"
        with stderr.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "monitor", "run", "-c", str(config_path)],
                stdout=subprocess.DEVNULL,
                stderr=output,
            )
        try:
            config = parse_config(data)
            wait_until(
                lambda: model_status(config, MODEL.name)["windows_closed"] == EVENTS // WINDOW,
                120,
                "every window to be evaluated",
            )
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    return stderr.read_text().splitlines()


def test_daemon_writes_every_log_line_as_one_json_object(daemon_log: list[str]) -> None:
    entries = [json.loads(line) for line in daemon_log]
    assert entries
    assert all({"ts", "level", "logger", "message"} <= entry.keys() for entry in entries)


def test_daemon_logs_its_state_changes(daemon_log: list[str]) -> None:
    messages = [json.loads(line)["message"] for line in daemon_log]
    for change in ("state loaded", "partitions assigned", "window closed with drift", "stopped"):
        assert change in messages


def test_daemon_logs_state_changes_not_events(daemon_log: list[str]) -> None:
    """Ten thousand events in four windows: a few dozen lines, not thousands."""
    assert len(daemon_log) < 50, "\n".join(daemon_log)


def test_daemon_log_is_plain_text_with_the_log_format_flag(
    kafka_broker: KafkaBroker, redis_server: RedisServer, tmp_path: Path
) -> None:
    name = f"logs-{uuid.uuid4().hex[:10]}"
    kafka_broker.create_topics([name, f"{name}.dlq"], partitions=1)
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(stack_config_data(kafka_broker, redis_server.url, name)))
    command = [sys.executable, "-m", "monitor", "run", "-c", str(config_path)]
    process = subprocess.Popen(
        [*command, "--log-format", "text"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        assert process.stderr is not None
        first = process.stderr.readline().decode()
    finally:
        process.kill()
        process.communicate()
    assert " INFO    " in first
    with pytest.raises(json.JSONDecodeError):
        json.loads(first)
