"""``drift-monitor alerts`` and ``drift-monitor test-sink`` against real Redis and receivers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from monitor.alerts.plan import AlertPlan
from monitor.alerts.state import AlertState
from monitor.cli import main
from monitor.keys import Keys
from monitor.store import StateStore
from monitor.tooling.embedded import RedisServer
from tests.alert_receivers import receiver

pytestmark = pytest.mark.integration


def _config_file(tmp_path: Path, redis_url: str, sinks: dict[str, Any]) -> Path:
    path = tmp_path / "config.yaml"
    data = {
        "redis": {"url": redis_url, "key_prefix": "cli"},
        "models": {
            "fraud": {
                "reference": {"path": "ref.jsonl"},
                "window": {"events": 500},
                "features": {"amount": "numeric"},
            }
        },
        "sinks": sinks,
    }
    path.write_text(yaml.safe_dump(data))
    return path


def test_test_sink_delivers_a_test_notification_and_exits_0(
    tmp_path: Path, redis_server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    with receiver() as team:
        path = _config_file(
            tmp_path, redis_server.url, {"team": {"type": "webhook", "url": team.url}}
        )

        code = main(["test-sink", "-c", str(path), "team"])

    assert code == 0
    assert capsys.readouterr().out.startswith("team: delivered in ")
    (request,) = team.requests
    assert request.json()["dedup_key"] == "drift-monitor/test/team"


def test_test_sink_reports_a_failing_sink_and_exits_1(
    tmp_path: Path, redis_server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    with receiver(default=503) as team:
        path = _config_file(
            tmp_path, redis_server.url, {"team": {"type": "webhook", "url": team.url}}
        )

        code = main(["test-sink", "-c", str(path), "team"])

    assert code == 1
    assert "FAILED" in capsys.readouterr().out


def test_alerts_lists_active_alerts_and_recent_transitions(
    tmp_path: Path,
    redis_server: RedisServer,
    redis_client: redis.Redis,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = _config_file(tmp_path, redis_server.url, {})
    keys = Keys("cli")
    redis_client.zadd(keys.closing_windows("fraud"), {"0": 0})
    firing = AlertState(status="firing", episode=1, severity="critical", method="psi")
    plan = AlertPlan(
        "",
        "0",
        {"fraud/feature_drift/amount": firing.to_json()},
        [{"key": "fraud/feature_drift/amount", "from": "pending", "to": "firing", "at": "1.0"}],
        [],
        [],
    )
    StateStore(redis_client, keys, history_size=10).finalize(
        "fraud", 0, "t", {}, {}, plan.to_json(100)
    )

    assert main(["alerts", "-c", str(path), "--json"]) == 0

    report = json.loads(capsys.readouterr().out)
    (active,) = report["active"]
    assert active["dedup_key"] == "fraud/feature_drift/amount"
    assert active["severity"] == "critical"
    assert [t["to"] for t in report["transitions"]] == ["firing"]
