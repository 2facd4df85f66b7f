"""A real Prometheus scrapes a running daemon and evaluates the shipped rules on what it sees.

The daemon has consumed a stream in which only ``num_3`` drifts (from the third
window on); Prometheus (Debian's binary, started here on a free port, scraping
every second) loads config/rules/*.yml exactly as shipped.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from detectors.methods import NUMERIC_METHODS, QUALITY_METHODS
from monitor.daemon import Daemon
from monitor.tooling.embedded import KafkaBroker, RedisServer, free_port
from tests.daemon_harness import model_status, wait_until
from tests.stack_harness import (
    MODEL,
    RULE_FILES,
    SHIFTED,
    PrometheusServer,
    daemon_target,
    drifting_daemon,
    prometheus_config,
    running_prometheus,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(
    kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Daemon, PrometheusServer]]:
    with (
        RedisServer() as redis_server,
        drifting_daemon(kafka_broker, redis_server.url, tmp_path_factory.mktemp("s")) as daemon,
        running_prometheus(prometheus_config([daemon_target(daemon)])) as prometheus,
    ):
        wait_until(
            lambda: bool(prometheus.query('drift_monitor_drift_score{job="drift-monitor"}')),
            30,
            "Prometheus to scrape the daemon's drift scores",
        )
        scraped_at = time.time()
        wait_until(
            lambda: all(_evaluated_at(r) > scraped_at for r in prometheus.rules()),
            30,
            "every shipped rule to be evaluated on the scraped series",
        )
        yield daemon, prometheus


@pytest.fixture(scope="module")
def prometheus(stack: tuple[Daemon, PrometheusServer]) -> PrometheusServer:
    return stack[1]


def _evaluated_at(rule: dict[str, Any]) -> float:
    """A rule's last evaluation as epoch seconds (Prometheus gives RFC 3339 with nanoseconds)."""
    stamp = re.sub(r"(\.\d{6})\d*", r"\1", rule["lastEvaluation"]).replace("Z", "+00:00")
    return datetime.fromisoformat(stamp).timestamp()


def _rules_in(path: Path) -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]]


def _alerts_named(prometheus: PrometheusServer, name: str) -> list[dict[str, Any]]:
    return [a for a in prometheus.alerts() if a["labels"]["alertname"] == name]


def _active_alerts(prometheus: PrometheusServer, prefix: str) -> set[tuple[str, str, str]]:
    return {
        (a["labels"]["alertname"], a["labels"].get("signal", ""), a["state"])
        for a in prometheus.alerts()
        if a["labels"]["alertname"].startswith(prefix)
    }


def test_prometheus_returns_the_drift_score_series_of_the_drifted_signal(
    prometheus: PrometheusServer,
) -> None:
    series = prometheus.query(f'drift_monitor_drift_score{{model="fraud", signal="{SHIFTED}"}}')
    assert {s["metric"]["method"] for s in series} == {*NUMERIC_METHODS, *QUALITY_METHODS}
    assert {s["metric"]["job"] for s in series} == {"drift-monitor"}


def test_prometheus_sees_the_shifted_feature_as_the_only_drifted_signal(
    prometheus: PrometheusServer,
) -> None:
    series = prometheus.query('max by (signal) (drift_monitor_drifted{model="fraud"}) == 1')
    assert {s["metric"]["signal"] for s in series} == {SHIFTED}


def test_scraped_drift_scores_are_the_results_the_daemon_recorded(
    stack: tuple[Daemon, PrometheusServer],
) -> None:
    daemon, prometheus = stack
    recorded = model_status(daemon.config, MODEL.name)["signals"]
    series = prometheus.query(f'drift_monitor_drift_score{{signal="{SHIFTED}"}}')
    scraped = {s["metric"]["method"]: float(s["value"][1]) for s in series}
    assert len(scraped) == len(NUMERIC_METHODS) + len(QUALITY_METHODS)
    assert scraped == pytest.approx(
        {method: recorded[f"{SHIFTED}/{method}"]["score"] for method in scraped}
    )


def test_shipped_rules_evaluate_without_errors_on_the_daemons_series(
    prometheus: PrometheusServer,
) -> None:
    rules = prometheus.rules()
    shipped = [str(r.get("alert") or r["record"]) for p in RULE_FILES for r in _rules_in(p)]
    assert sorted(r["name"] for r in rules) == sorted(shipped)
    assert {r["name"]: r["health"] for r in rules if r["health"] != "ok"} == {}


def test_shipped_drift_rule_fires_critical_for_the_drifted_signal_alone(
    prometheus: PrometheusServer,
) -> None:
    assert _active_alerts(prometheus, "ModelDrift") == {("ModelDriftCritical", SHIFTED, "firing")}


def test_shipped_drift_alert_names_the_drifted_methods_and_their_scores(
    prometheus: PrometheusServer,
) -> None:
    (alert,) = _alerts_named(prometheus, "ModelDriftCritical")
    description = alert["annotations"]["description"]
    assert f"signal {SHIFTED} drifted: " in description
    for method in NUMERIC_METHODS:
        assert f"{method} " in description


IDLENESS_ALERTS = {"DriftMonitorNoEvents", "DriftMonitorModelSilent"}
"""The stack's daemon consumed its whole stream before Prometheus started: it is idle."""


def test_shipped_self_alerts_stay_quiet_for_a_healthy_daemon(
    prometheus: PrometheusServer,
) -> None:
    active = _active_alerts(prometheus, "DriftMonitor")
    assert {alert for alert in active if alert[0] not in IDLENESS_ALERTS} == set()


def test_shipped_idleness_alerts_go_pending_for_a_daemon_that_consumes_nothing(
    prometheus: PrometheusServer,
) -> None:
    wait_until(
        lambda: {a[0] for a in _active_alerts(prometheus, "DriftMonitor")} == IDLENESS_ALERTS,
        30,
        "the idleness alerts to go pending",
    )
    assert {a[2] for a in _active_alerts(prometheus, "DriftMonitor")} == {"pending"}


def test_shipped_down_alert_goes_pending_when_the_daemon_stops_answering() -> None:
    silent = f"127.0.0.1:{free_port()}"  # nothing listens here
    with running_prometheus(prometheus_config([silent])) as prometheus:
        wait_until(
            lambda: ("DriftMonitorDown", "", "pending") in _active_alerts(prometheus, "Drift"),
            30,
            "DriftMonitorDown to go pending",
        )
        (alert,) = [
            a for a in prometheus.alerts() if a["labels"]["alertname"] == "DriftMonitorDown"
        ]
        assert alert["labels"]["instance"] == silent
