"""``drift-monitor produce-synthetic`` on a real broker: its events, the drift a daemon finds."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import yaml

from monitor.config import parse_config
from monitor.tooling.embedded import KafkaBroker, RedisServer
from tests.daemon_harness import model_status, running_daemon, wait_until
from tests.helpers import consume_messages, message_json
from tests.stack_harness import MODEL, WINDOW, stack_config_data


def _produce(config_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "monitor", "produce-synthetic", "-c", str(config_path)]
    return subprocess.run(
        [*command, *arguments], capture_output=True, text=True, timeout=120, check=False
    )


def test_produce_synthetic_sends_the_requested_events_to_the_predictions_topic(
    kafka_broker: KafkaBroker, tmp_path: Path
) -> None:
    name = f"synthetic-{uuid.uuid4().hex[:10]}"
    kafka_broker.create_topics([name, f"{name}.dlq"], partitions=1)
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(stack_config_data(kafka_broker, "redis://x", name)))
    result = _produce(config_path, "--events", "1500", "--rate", "50000")
    assert result.returncode == 0, result.stderr
    events = [message_json(m) for m in consume_messages(kafka_broker.bootstrap_servers, name, 1500)]
    assert {e["model"] for e in events} == {MODEL.name}
    assert {frozenset(e["features"]) for e in events} == {frozenset(MODEL.features())}
    assert len({e["event_id"] for e in events}) == 1500


def test_the_daemon_flags_exactly_the_feature_produce_synthetic_shifts(
    kafka_broker: KafkaBroker, redis_server: RedisServer, tmp_path: Path
) -> None:
    """The compose stack's loop: reference from the stream, then drift where it was asked for."""
    name = f"synthetic-{uuid.uuid4().hex[:10]}"
    kafka_broker.create_topics([name, f"{name}.dlq"], partitions=1)
    data = stack_config_data(kafka_broker, redis_server.url, name)  # reference: first WINDOW
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(data))
    drift_after = 3 * WINDOW
    result = _produce(
        config_path,
        *("--events", str(5 * WINDOW), "--rate", "50000"),
        *("--drift-after", str(drift_after), "--shift", "num_5=1.0"),
    )
    assert result.returncode == 0, result.stderr
    config = parse_config(data)
    with running_daemon(config):
        wait_until(lambda: model_status(config, MODEL.name)["windows_closed"] == 4, 60, "windows")
    history = model_status(config, MODEL.name)["windows"]
    drifted = {
        entry["window"]["id"]: {signal.split("/")[0] for signal in entry["drifted"]}
        for entry in history
    }
    # The first WINDOW events build the reference; window 0 holds the next WINDOW, and so on.
    assert drifted == {0: set(), 1: set(), 2: {"num_5"}, 3: {"num_5"}}
