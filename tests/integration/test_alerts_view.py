"""``drift-monitor alerts`` as read by a person: whole dedup keys, dates instead of epochs."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
import yaml

from monitor.alerts.plan import AlertPlan
from monitor.alerts.state import AlertState
from monitor.cli import main
from monitor.keys import Keys
from monitor.store import StateStore
from monitor.tooling.embedded import RedisServer
from monitor.when import local_time

COOLDOWN_END = 1_796_552_901.9
KEYS = ("cancer/feature_drift/worst_concave_points", "cancer/feature_drift/worst_concavity")


@pytest.fixture
def config_path(tmp_path: Path, redis_server: RedisServer, redis_client: redis.Redis) -> Path:
    """Two pending alerts, stored by the finalize script as the daemon stores them, each
    breaching during its cooldown."""
    path = tmp_path / "config.yaml"
    model = {
        "reference": {"path": "ref.jsonl"},
        "window": {"events": 500},
        "features": {"amount": "numeric"},
    }
    data = {"redis": {"url": redis_server.url, "key_prefix": "view"}, "models": {"cancer": model}}
    path.write_text(yaml.safe_dump(data))
    keys = Keys("view")
    redis_client.zadd(keys.closing_windows("cancer"), {"0": 0})
    pending = AlertState(status="pending", breach_streak=1, since_ts=COOLDOWN_END - 600)
    reason = f"breaching, but cooling down until event time {COOLDOWN_END}"
    plan = AlertPlan(
        "",
        "0",
        dict.fromkeys(KEYS, pending.to_json()),
        [
            {"key": key, "from": "resolved", "to": "pending", "at": "1.0", "reason": reason}
            for key in KEYS
        ],
        [],
        [],
    )
    store = StateStore(redis_client, keys, history_size=10)
    store.finalize("cancer", 0, "t", {}, {}, plan.to_json(10))
    return path


def _alerts(
    path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, width: int
) -> str:
    monkeypatch.setenv("COLUMNS", str(width))
    assert main(["alerts", "-c", str(path)]) == 0
    return capsys.readouterr().out


@pytest.mark.integration
def test_a_cooldown_in_a_transition_reads_as_a_local_date_not_an_epoch(
    config_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    output = _alerts(config_path, capsys, monkeypatch, 200)
    assert f"cooling down until event time {local_time(COOLDOWN_END)} (" in output
    assert str(COOLDOWN_END) not in output


@pytest.mark.integration
def test_keys_that_differ_only_at_their_end_are_never_cut_however_narrow(
    config_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = _alerts(config_path, capsys, monkeypatch, 30).splitlines()
    assert "active alerts (dedup keys after cancer/feature_drift/)" in lines
    shown = {line.split()[0] for line in lines if line.startswith("worst_conc")}
    assert shown == {"worst_concave_points", "worst_concavity"}
