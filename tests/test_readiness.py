"""Why the daemon is not ready is logged: after a few seconds, every 30 s, then "ready"."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.readiness import ReadinessLog
from monitor.tooling.embedded import KafkaBroker, RedisServer
from monitor.tooling.synthetic import SyntheticModel
from tests.daemon_harness import new_pipeline, running_daemon, wait_until, write_reference
from tests.helpers import KAFKA_TEST_SETTINGS

LOGGER = "test.readiness"
MODEL = SyntheticModel(name="fraud", numeric=3, categorical=1)


def _messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records]


def test_a_short_wait_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    readiness = ReadinessLog(logging.getLogger(LOGGER), first_after=60, every=60)
    readiness.observe(["no partition assignment yet"])
    readiness.observe([])
    assert _messages(caplog) == []


def test_a_long_wait_is_logged_with_its_reasons_repeated_and_closed_by_ready(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    readiness = ReadinessLog(logging.getLogger(LOGGER), first_after=0.0, every=0.05)
    readiness.observe(["redis unreachable"])
    readiness.observe(["redis unreachable"])
    time.sleep(0.06)
    readiness.observe(["redis unreachable"])
    readiness.observe([])
    assert _messages(caplog) == [
        "not ready: redis unreachable",
        "not ready: redis unreachable",
        "ready",
    ]
    assert caplog.records[0].__dict__["since"]


@pytest.mark.integration
def test_a_slow_group_join_is_logged_naming_the_group_and_the_likely_causes(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Tansu holds a group join for about half of session.timeout.ms: 16 s here, as a
    # group whose killed member still holds the partitions would.
    _, config = new_pipeline(
        kafka_broker,
        redis_server.url,
        unique_name,
        MODEL,
        reference=write_reference(tmp_path / "reference.jsonl", MODEL, events=2000),
        kafka_extra={"consumer": {**KAFKA_TEST_SETTINGS, "session.timeout.ms": 32000}},
    )
    caplog.set_level(logging.INFO, logger="monitor.daemon")
    with running_daemon(config) as daemon:
        wait_until(lambda: "ready" in _messages(caplog), 60, "the daemon to be ready")
    waits = [m for m in _messages(caplog) if m.startswith("not ready: ")]
    assert waits
    assert f"no partition assignment yet for group {config.kafka.group_id!r}" in waits[0]
    assert "session.timeout.ms" in waits[0]
    assert daemon.source.assignment_received
