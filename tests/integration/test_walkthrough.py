"""README's "Your own Kafka and Redis" walk-through, run command for command on real services.

The commands are read from the README itself, so the section cannot drift from what works.
The test supplies what a user brings: the reference table, a file of events (the last
two thirds shifted in one feature), a broker, a Redis and a webhook receiver.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from monitor.tooling.embedded import KafkaBroker, RedisServer, free_port
from tests.alert_receivers import receiver
from tests.daemon_harness import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

README = Path(__file__).resolve().parents[2] / "README.md"
NUMERIC = ("mean_radius", "mean_texture", "mean_smoothness", "worst_concavity")
CLINICS = ("north", "south", "east", "west")


def _section() -> str:
    text = README.read_text()
    start = text.index("## Your own Kafka and Redis")
    return text[start : text.index("\n## ", start + 1)]


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", _section(), flags=re.DOTALL)


def _commands() -> list[str]:
    lines = "".join(_blocks("sh")).splitlines()
    return [line.split("  #")[0].strip() for line in lines if line.strip()]


def _rows(rng: np.random.Generator, count: int, shift: float) -> Iterator[dict[str, object]]:
    values = rng.normal([14.0, 19.0, 0.1, 0.27], [3.5, 4.3, 0.014, 0.2], size=(count, 4))
    values[:, 3] += shift * 0.2
    clinics = rng.choice(len(CLINICS), p=[0.4, 0.3, 0.2, 0.1], size=count)
    for row, clinic in zip(values.tolist(), clinics.tolist(), strict=True):
        yield {
            **dict(zip(NUMERIC, row, strict=True)),
            "clinic": CLINICS[clinic],
            "prediction": 1 / (1 + np.exp(-(row[0] - 14.0) / 3.5)),
        }


def _write_data(folder: Path) -> int:
    """reference.csv (2,000 rows) and events.jsonl (3,000 events, shifted after 1,000)."""
    rng = np.random.default_rng(7)
    header = [*NUMERIC, "clinic", "prediction"]
    with (folder / "reference.csv").open("w") as table:
        table.write(",".join(header) + "\n")
        for row in _rows(rng, 2000, 0.0):
            table.write(",".join(str(row[name]) for name in header) + "\n")
    events = [*_rows(rng, 1000, 0.0), *_rows(rng, 2000, 1.5)]
    with (folder / "events.jsonl").open("w") as lines:
        for i, row in enumerate(events):
            prediction = row.pop("prediction")
            event = {"event_id": f"e{i}", "model": "cancer", "ts": 1_790_000_000 + i / 10}
            lines.write(json.dumps({**event, "features": row, "prediction": prediction}) + "\n")
    return len(events)


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
            return bool(json.load(answer)["ready"])
    except OSError:
        return False


def _run(command: str, env: dict[str, str], folder: Path) -> str:
    done = subprocess.run(
        ["bash", "-c", command], cwd=folder, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{command!r} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_walkthrough_takes_a_new_user_from_nothing_to_a_first_alert(
    kafka_broker: KafkaBroker, redis_server: RedisServer, tmp_path: Path
) -> None:
    (config,) = _blocks("yaml")
    (tmp_path / "cancer.yaml").write_text(config)
    events = _write_data(tmp_path)
    port = free_port()
    with receiver() as team:
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers,
            "REDIS_URL": redis_server.url,
            "DRIFT_MONITOR_HTTP_PORT": str(port),
            "ALERT_WEBHOOK_URL": team.url,
        }
        outputs: dict[str, str] = {}
        daemon: subprocess.Popen[bytes] | None = None
        try:
            for command in _commands():
                if command.startswith("export "):
                    name, value = command.removeprefix("export ").split("=", 1)
                    env[name] = value
                elif command.endswith("&"):
                    with (tmp_path / "daemon.log").open("ab") as log:
                        daemon = subprocess.Popen(
                            shlex.split(command.rstrip("& ")),
                            cwd=tmp_path,
                            env=env,
                            stdout=log,
                            stderr=subprocess.STDOUT,
                        )
                    wait_until(lambda: _ready(port), 60, "the daemon to be ready")
                else:
                    if command.startswith("drift-monitor status"):
                        wait_until(lambda: len(team.requests) > 0, 90, "the first alert")
                    outputs[command] = _run(command, env, tmp_path)
        finally:
            if daemon is not None:
                daemon.terminate()
                daemon.wait(30)
        (firing, *_) = team.requests

    replayed = json.loads(outputs["drift-monitor replay events.jsonl"].splitlines()[-1])
    assert replayed["delivered"] == events
    assert json.loads(outputs["curl -s localhost:${DRIFT_MONITOR_HTTP_PORT:-9108}/readyz"])["ready"]
    assert "worst_concavity" in outputs["drift-monitor status"]
    assert "worst_concavity" in outputs["drift-monitor alerts"]
    assert "worst_concavity" in firing.json()["dedup_key"]
