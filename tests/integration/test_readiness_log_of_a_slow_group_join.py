"""A daemon whose group join is slow logs why it is not ready, naming the group and the causes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.tooling.embedded import KafkaBroker, RedisServer
from monitor.tooling.synthetic import SyntheticModel
from tests.daemon_harness import new_pipeline, running_daemon, wait_until, write_reference
from tests.helpers import KAFKA_TEST_SETTINGS
from tests.unit.test_readiness_log import _messages

MODEL = SyntheticModel(name="fraud", numeric=3, categorical=1)


@pytest.mark.slow
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
