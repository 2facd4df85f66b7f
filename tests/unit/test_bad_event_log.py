"""Bad events are logged per reason at once, then once per interval with their count."""

from __future__ import annotations

import logging

import pytest

from monitor.bad_event_log import BadEventLog

LOGGER = "tests.bad_events"


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str, int]]:
    return [
        (r.__dict__["reason"], r.__dict__["source"], r.__dict__["count"]) for r in caplog.records
    ]


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> tuple[BadEventLog, _Clock]:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    clock = _Clock()
    return BadEventLog(logging.getLogger(LOGGER), interval_seconds=60, clock=clock), clock


def test_the_first_bad_event_of_a_reason_is_logged_at_once_with_its_source(
    log: tuple[BadEventLog, _Clock], caplog: pytest.LogCaptureFixture
) -> None:
    bad, _ = log
    bad.record("invalid_json", "expected ',' at 31", "predictions/0/17")
    assert _lines(caplog) == [("invalid_json", "predictions/0/17", 1)]
    assert caplog.records[0].__dict__["detail"] == "expected ',' at 31"


def test_further_events_of_that_reason_within_the_interval_are_not_logged(
    log: tuple[BadEventLog, _Clock], caplog: pytest.LogCaptureFixture
) -> None:
    bad, clock = log
    for offset in range(1000):
        clock.now = offset * 0.05
        bad.record("invalid_json", "", f"predictions/0/{offset}")
    assert len(caplog.records) == 1


def test_each_new_reason_is_logged_at_once(
    log: tuple[BadEventLog, _Clock], caplog: pytest.LogCaptureFixture
) -> None:
    bad, _ = log
    bad.record("invalid_json", "", "p/0/1")
    bad.record("missing_model", "", "p/0/2")
    bad.record("invalid_json", "", "p/0/3")
    assert _lines(caplog) == [("invalid_json", "p/0/1", 1), ("missing_model", "p/0/2", 1)]


def test_after_the_interval_the_next_line_counts_the_events_since_the_last(
    log: tuple[BadEventLog, _Clock], caplog: pytest.LogCaptureFixture
) -> None:
    bad, clock = log
    bad.record("oversize", "", "p/0/1")
    for offset in range(2, 12):
        bad.record("oversize", "", f"p/0/{offset}")
    clock.now = 60.0
    bad.record("oversize", "", "p/0/12")
    assert _lines(caplog) == [("oversize", "p/0/1", 1), ("oversize", "p/0/12", 11)]
