"""Why the daemon is not ready is logged: after a few seconds, every 30 s, then "ready"."""

from __future__ import annotations

import logging
import time

import pytest

from monitor.readiness import ReadinessLog

LOGGER = "test.readiness"


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


def test_a_wait_counts_from_the_start_and_observe_says_since_when(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    readiness = ReadinessLog(logging.getLogger(LOGGER), first_after=0.05, every=60)
    time.sleep(0.06)
    wait = readiness.observe(["no partition assignment yet"])
    assert wait is not None
    assert wait["waited_seconds"] >= 0.05
    assert _messages(caplog) == ["not ready: no partition assignment yet"]
    assert caplog.records[0].__dict__["since"] == wait["since"]
    assert readiness.observe([]) is None
