"""Alerts end to end: the real daemon on a real broker and Redis, real receivers, real Alertmanager.

The stream is built window by window (500 events each, 5 s of event time): clean
windows, then windows where ``num_1`` is shifted by one standard deviation (PSI
far above critical), so each test knows which window must fire or resolve.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.alerts.plan import OutboxMessage
from monitor.alerts.sinks.alertmanager import FIRING_HOLD_SECONDS, alertmanager_render
from monitor.config import Config, parse_config
from monitor.keys import Keys
from monitor.redis_client import connect
from monitor.tooling.embedded import KafkaBroker, RedisServer, free_port
from monitor.tooling.synthetic import Shift, SyntheticModel, generate
from tests.alert_receivers import HANG, receiver
from tests.daemon_harness import model_status, running_daemon, wait_until, write_reference
from tests.helpers import KAFKA_TEST_SETTINGS, produce_json

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = SyntheticModel(name="fraud", numeric=3, categorical=1)
WINDOW = 500
KEY = "fraud/feature_drift/num_1"
SHIFT = Shift(0, {"num_1": 1.0})


def _windows(pattern: str, first_window: int = 0) -> list[bytes]:
    """Events for windows given as letters: ``c`` clean, ``s`` shifted."""
    events: list[bytes] = []
    for i, kind in enumerate(pattern):
        start = (first_window + i) * WINDOW
        events += generate(MODEL, start, WINDOW, seed=2, shift=SHIFT if kind == "s" else None)
    return events


def _config_dict(
    broker: KafkaBroker,
    redis_url: str,
    topic: str,
    group: str,
    reference: Path,
    sinks: dict[str, Any],
    **rule: Any,
) -> dict[str, Any]:
    return {
        "kafka": {
            "bootstrap_servers": broker.bootstrap_servers,
            "group_id": group,
            "predictions_topic": topic,
            "dead_letter_topic": f"{topic}.dlq",
            "batch_size": 1000,
            "consumer": dict(KAFKA_TEST_SETTINGS),
        },
        "redis": {"url": redis_url, "key_prefix": group},
        "http": {"host": "127.0.0.1", "port": 0},
        "logging": {"format": "text", "level": "WARNING"},
        "alerting": {"claim_idle_seconds": 2},
        "models": {
            MODEL.name: {
                "reference": {"path": str(reference)},
                "window": {"events": WINDOW},
                "features": MODEL.features(),
                "prediction": "numeric",
                "alerts": list(sinks),
                "alert_rules": {
                    "drift": {
                        "signals": ["num_1"],
                        "methods": ["psi"],
                        "for_windows": 1,
                        "resolve_windows": 1,
                        **rule,
                    }
                },
            }
        },
        "sinks": sinks,
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_reference(tmp_path_factory.mktemp("ref") / "reference.jsonl", MODEL)


@pytest.fixture
def setup(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    reference: Path,
) -> Callable[..., tuple[Config, str]]:
    def make(sinks: dict[str, Any], partitions: int = 1, **rule: Any) -> tuple[Config, str]:
        topic = unique_name("predictions")
        kafka_broker.create_topics([topic, f"{topic}.dlq"], partitions=partitions)
        data = _config_dict(
            kafka_broker, redis_server.url, topic, unique_name("g"), reference, sinks, **rule
        )
        return parse_config(data, environ={}), topic

    return make


def _webhook(url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "webhook", "url": url, "backoff_initial_seconds": 0.2, **extra}


def _audit(config: Config) -> list[dict[str, str]]:
    client = connect(config.redis.url)
    entries = client.xrange(Keys(config.redis.key_prefix).alert_audit)
    return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in entries]


def test_a_drift_that_resolves_and_recurs_within_the_old_default_cooldown_is_two_episodes(
    kafka_broker: KafkaBroker, setup: Callable[..., tuple[Config, str]]
) -> None:
    # Episode 1 resolves with window 4 (ends at 25 s of event time); the drift is back in
    # window 6 (35 s), well within the 1,800 s the default cooldown used to hide it for.
    with receiver() as team:
        config, topic = setup({"team": _webhook(team.url)})
        produce_json(kafka_broker.bootstrap_servers, topic, _windows("ccssccssc"), None)
        with running_daemon(config):
            wait_until(lambda: len(team.accepted()) >= 4, 60, "two episodes")
            time.sleep(0.5)

    keys = [str(r.headers["Idempotency-Key"]) for r in team.accepted()]
    assert keys == [
        f"{KEY}/1/firing/critical",
        f"{KEY}/1/resolved",
        f"{KEY}/2/firing/critical",
        f"{KEY}/2/resolved",
    ]
    bodies = [r.json() for r in team.accepted()]
    assert [b["status"] for b in bodies] == ["firing", "resolved", "firing", "resolved"]
    assert bodies[0]["window"]["events"] == WINDOW
    assert bodies[0]["model_version"] == "1"  # the synthetic events' model_version
    fired = [a["window"] for a in _audit(config) if a["to"] == "firing"]
    assert fired == ["2", "6"]


def test_with_a_budget_the_default_rule_fires_on_the_first_drifted_window(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    reference: Path,
) -> None:
    topic, group = unique_name("predictions"), unique_name("g")
    kafka_broker.create_topics([topic, f"{topic}.dlq"])
    with receiver() as team:
        data = _config_dict(
            kafka_broker, redis_server.url, topic, group, reference, {"team": _webhook(team.url)}
        )
        model = data["models"][MODEL.name]
        model["alert_rules"] = {"drift": {"signals": ["num_1"]}}  # every default but signals
        model["drift"] = {"false_alarms_per_week": 1}
        config = parse_config(data, environ={})
        produce_json(kafka_broker.bootstrap_servers, topic, _windows("cccss"), None)
        with running_daemon(config) as daemon:
            wait_until(lambda: len(team.accepted()) >= 1, 60, "the alert")
            wait_until(lambda: model_status(config, MODEL.name)["windows_closed"] >= 4, 30, "w4")
            registry = daemon.metrics.registry

    assert [str(r.headers["Idempotency-Key"]) for r in team.accepted()] == [
        f"{KEY}/1/firing/critical"
    ]
    transitions = [(a["window"], a["from"], a["to"]) for a in _audit(config)]
    assert transitions == [("3", "inactive", "firing")]  # window 3 is the first shifted one
    # 500 events at 100/s: 5 s windows, 120,960 a week, each judged at 1 / 120,960.
    budget = model_status(config, MODEL.name)["budget"]
    assert budget["false_alarms_per_week"] == 1
    assert budget["windows_per_week"] == pytest.approx(604800 / 5)
    assert budget["alpha_per_window"] == pytest.approx(5 / 604800)
    assert budget["implied_false_alarms_per_week"] == pytest.approx(1)
    labels = {"model": MODEL.name, "per": "week"}
    assert registry.get_sample_value("drift_monitor_false_alarm_budget", labels) == 1
    implied = registry.get_sample_value("drift_monitor_implied_false_alarms", labels)
    assert implied == pytest.approx(1)
    alpha = registry.get_sample_value("drift_monitor_window_alpha", {"model": MODEL.name})
    assert alpha == pytest.approx(5 / 604800)


SMALL = SyntheticModel(name="small", numeric=27, categorical=3)
SMALL_WINDOW = 50


def test_small_windows_of_reference_like_traffic_do_not_flap_and_a_shift_resolves_in_time(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    # 30 features, 50-event windows, every default rule and method, a budget of one false
    # alarm a week: 40 windows drawn like the reference, 8 with num_1 shifted by 3 SD, 30
    # like the reference again. Each alert fires within the shift, once, and resolves
    # within resolve_windows (default 2) windows of its end.
    clean, shifted, after = 40, 8, 30
    last_shifted = clean + shifted - 1
    reference = write_reference(tmp_path / "small.jsonl", SMALL)
    topic, group = unique_name("predictions"), unique_name("g")
    kafka_broker.create_topics([topic, f"{topic}.dlq"])
    events: list[bytes] = []
    for window in range(clean + shifted + after):
        shift = Shift(0, {"num_1": 3.0}) if clean <= window <= last_shifted else None
        start = window * SMALL_WINDOW
        events += generate(SMALL, start, SMALL_WINDOW, seed=3, shift=shift)
    with receiver() as team:
        data = _config_dict(
            kafka_broker, redis_server.url, topic, group, reference, {"team": _webhook(team.url)}
        )
        model = data["models"].pop(MODEL.name)
        model.pop("alert_rules")
        model |= {"window": {"events": SMALL_WINDOW}, "features": SMALL.features()}
        model["drift"] = {"false_alarms_per_week": 1}
        data["models"] = {SMALL.name: model}
        config = parse_config(data, environ={})
        produce_json(kafka_broker.bootstrap_servers, topic, events, None)
        with running_daemon(config):
            total = clean + shifted + after
            wait_until(
                lambda: model_status(config, SMALL.name)["windows_closed"] >= total, 120, "windows"
            )
            notifying = [a for a in _audit(config) if a["to"] in ("firing", "resolved")]
            wait_until(lambda: len(team.accepted()) >= len(notifying), 60, "the notifications")

    audit = _audit(config)
    fired = [(a["key"], int(a["window"])) for a in audit if a["to"] == "firing"]
    resolved = [(a["key"], int(a["window"])) for a in audit if a["to"] == "resolved"]
    assert ("small/feature_drift/num_1", clean) in fired  # the first shifted window
    assert all(clean <= window <= last_shifted for _, window in fired), fired
    assert {key for key, _ in resolved} == {key for key, _ in fired}
    assert all(last_shifted < window <= last_shifted + 2 for _, window in resolved), resolved
    episodes = {str(r.headers["Idempotency-Key"]).split("/")[3] for r in team.accepted()}
    assert episodes == {"1"}  # no key ever fired a second time: nothing flapped
    assert len(team.accepted()) == len([a for a in audit if a["to"] in ("firing", "resolved")])


def test_two_daemon_instances_on_one_stream_notify_once_per_episode(
    fresh_kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    reference: Path,
) -> None:
    topic = unique_name("predictions")
    fresh_kafka_broker.create_topics([topic, f"{topic}.dlq"], partitions=2)
    with receiver() as team:
        sinks = {"team": _webhook(team.url)}
        data = _config_dict(
            fresh_kafka_broker, redis_server.url, topic, unique_name("g"), reference, sinks
        )
        config = parse_config(data, environ={})
        with running_daemon(config) as first, running_daemon(config) as second:
            wait_until(
                lambda: bool(first.source.assigned) and bool(second.source.assigned),
                30,
                "both instances to own a partition",
            )
            # All events on one partition, so the windows (and the two episodes) are the
            # same every run; both instances still race to evaluate every closing window
            # and to deliver every outbox message.
            events = _windows("ccssscccsssc")
            produce_json(fresh_kafka_broker.bootstrap_servers, topic, events, None, partition=0)
            wait_until(lambda: len(team.accepted()) >= 4, 60, "two episodes")
            time.sleep(2.0)  # room for a duplicate to show up, if there were one

    fired = [a for a in _audit(config) if a["to"] == "firing"]
    resolved = [a for a in _audit(config) if a["to"] == "resolved"]
    assert len(fired) == 2
    assert len(resolved) == 2
    assert team.accepted_keys() == {
        **{f"{KEY}/{a['episode']}/firing/{a['severity']}": 1 for a in fired},
        **{f"{KEY}/{a['episode']}/resolved": 1 for a in resolved},
    }


def _alertmanager_alerts(port: int) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/alerts", timeout=5) as reply:
        alerts: list[dict[str, Any]] = json.loads(reply.read())
    return alerts


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[int]:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        pytest.skip("Alertmanager is not installed (apt-get install prometheus-alertmanager)")
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        yaml.safe_dump({"route": {"receiver": "null"}, "receivers": [{"name": "null"}]})
    )
    port = free_port()
    log = (tmp_path / "alertmanager.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        def ready() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1):
                    return True
            except OSError:
                return False

        wait_until(ready, 20, "Alertmanager to be ready")
        yield port
    finally:
        process.kill()
        process.wait()
        log.close()


def test_drift_episode_is_active_in_alertmanager_while_firing_and_gone_after_resolve(
    kafka_broker: KafkaBroker, setup: Callable[..., tuple[Config, str]], alertmanager: int
) -> None:
    sinks = {"am": {"type": "alertmanager", "url": f"http://127.0.0.1:{alertmanager}"}}
    config, topic = setup(sinks)

    def ours() -> list[dict[str, Any]]:
        return [
            a for a in _alertmanager_alerts(alertmanager) if a["labels"].get("dedup_key") == KEY
        ]

    with running_daemon(config):
        produce_json(kafka_broker.bootstrap_servers, topic, _windows("ccss"), None)
        wait_until(lambda: len(ours()) == 1, 60, "the alert in Alertmanager")
        (alert,) = ours()
        assert alert["status"]["state"] == "active"
        assert alert["labels"]["severity"] == "critical"
        assert alert["labels"]["alertname"] == "FeatureDrift"
        assert alert["annotations"]["method"] == "psi"

        produce_json(kafka_broker.bootstrap_servers, topic, _windows("cc", first_window=4), None)
        wait_until(lambda: ours() == [], 60, "the alert to leave Alertmanager")


def _post_to_alertmanager(port: int, message: OutboxMessage) -> None:
    body, _ = alertmanager_render(message)
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v2/alerts",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5):
        pass


def test_a_daily_refresh_keeps_the_alert_in_alertmanager_from_its_first_start(
    alertmanager: int,
) -> None:
    fired = time.time() - 86400.0

    def sent_at(detected: float, key: str) -> OutboxMessage:
        facts = {
            "dedup_key": KEY,
            "status": "firing",
            "severity": "warning",
            "model": "fraud",
            "kind": "feature_drift",
            "feature": "num_3",
            "method": "psi",
            "detected_at": detected,
        }
        return OutboxMessage("am", key, "alert", facts)

    _post_to_alertmanager(alertmanager, sent_at(fired, f"{KEY}/1/firing/warning"))
    _post_to_alertmanager(alertmanager, sent_at(fired + 86400.0, f"{KEY}/1/refresh/9"))

    (alert,) = [a for a in _alertmanager_alerts(alertmanager) if a["labels"]["dedup_key"] == KEY]
    assert alert["status"]["state"] == "active"
    starts = datetime.fromisoformat(alert["startsAt"].replace("Z", "+00:00")).timestamp()
    ends = datetime.fromisoformat(alert["endsAt"].replace("Z", "+00:00")).timestamp()
    assert starts == pytest.approx(fired, abs=1.0)
    assert ends == pytest.approx(fired + 86400.0 + FIRING_HOLD_SECONDS, abs=1.0)


def test_daemon_killed_during_delivery_delivers_each_alert_once_after_restart(
    kafka_broker: KafkaBroker, setup: Callable[..., tuple[Config, str]], tmp_path: Path
) -> None:
    with receiver(hang_seconds=60) as team:
        team.answers.append(HANG)  # the first delivery never gets its answer
        config, topic = setup({"team": _webhook(team.url, timeout_seconds=30)})
        path = tmp_path / "daemon.yaml"
        path.write_text(yaml.safe_dump(_as_dict(config)))
        log = tmp_path / "daemon.log"
        produce_json(kafka_broker.bootstrap_servers, topic, _windows("ccsscc"), None)

        daemon = _start(path, log)
        try:
            wait_until(lambda: len(team.requests) == 1, 60, "the first delivery to hang")
        finally:
            os.kill(daemon.pid, signal.SIGKILL)
            daemon.wait()
        daemon = _start(path, log)
        try:
            wait_until(lambda: len(team.accepted()) >= 2, 60, "delivery after the restart")
            time.sleep(1.0)
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)

    hung = team.requests[0]
    assert hung.answered is None
    assert team.accepted_keys() == {f"{KEY}/1/firing/critical": 1, f"{KEY}/1/resolved": 1}
    assert team.accepted()[0].headers["Idempotency-Key"] == hung.headers["Idempotency-Key"]
    assert team.accepted()[0].body == hung.body


def _start(config_path: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "-c", str(config_path)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def _as_dict(config: Config) -> dict[str, Any]:
    """The test config back as YAML data, for a daemon run as a subprocess."""
    model = config.models[MODEL.name]
    rule = model.alert_rules["drift"]
    sink = config.sinks["team"]
    return {
        "kafka": {
            "bootstrap_servers": config.kafka.bootstrap_servers,
            "group_id": config.kafka.group_id,
            "predictions_topic": config.kafka.predictions_topic,
            "dead_letter_topic": config.kafka.dead_letter_topic,
            "batch_size": config.kafka.batch_size,
            "consumer": dict(config.kafka.consumer),
        },
        "redis": {"url": config.redis.url, "key_prefix": config.redis.key_prefix},
        "http": {"host": "127.0.0.1", "port": 0},
        "logging": {"format": "text", "level": "WARNING"},
        "alerting": {"claim_idle_seconds": config.alerting.claim_idle_seconds},
        "models": {
            MODEL.name: {
                "reference": {"path": model.reference.path},
                "window": {"events": WINDOW},
                "features": dict(model.features),
                "prediction": "numeric",
                "alerts": list(model.alerts),
                "alert_rules": {
                    "drift": {
                        "signals": list(rule.signals),
                        "methods": list(rule.methods),
                        "for_windows": rule.for_windows,
                        "resolve_windows": rule.resolve_windows,
                    }
                },
            }
        },
        "sinks": {
            "team": {
                "type": "webhook",
                "url": sink.url,
                "timeout_seconds": sink.timeout_seconds,
                "backoff_initial_seconds": sink.backoff_initial_seconds,
            }
        },
    }
