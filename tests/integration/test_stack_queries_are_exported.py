"""Every metric the shipped dashboard and alert rules query is exported by a running daemon."""

from __future__ import annotations

import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.tooling.embedded import KafkaBroker, RedisServer
from tests.stack_harness import daemon_target, drifting_daemon
from tests.unit.test_stack_files import (
    PROMETHEUS_SERIES,
    _dashboard_queries,
    _recorded_names,
    _rule_expressions,
    metric_names,
)


@pytest.fixture(scope="module")
def scrape(kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> str:
    """/metrics of a running daemon that has seen drift and bad messages."""
    with (
        RedisServer() as redis_server,
        drifting_daemon(
            kafka_broker, redis_server.url, tmp_path_factory.mktemp("m"), with_sinks=True
        ) as daemon,
    ):
        url = f"http://{daemon_target(daemon)}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            return bytes(response.read()).decode()


@pytest.fixture(scope="module")
def exported(scrape: str) -> frozenset[str]:
    """Names of the series the daemon exports (with at least one sample)."""
    return frozenset(
        sample.name
        for family in text_string_to_metric_families(scrape)
        for sample in family.samples
    )


def test_every_metric_the_dashboard_queries_is_exported_by_a_running_daemon(
    exported: frozenset[str],
) -> None:
    used = set().union(*map(metric_names, _dashboard_queries()))
    assert used - exported - PROMETHEUS_SERIES == set()


def test_every_metric_the_alert_rules_query_is_exported_by_a_running_daemon(
    exported: frozenset[str],
) -> None:
    used = set().union(*map(metric_names, _rule_expressions()))
    assert used - exported - PROMETHEUS_SERIES - _recorded_names() == set()
