"""Structured log lines: one JSON object per line by default, plain text on request, secrets
redacted, and librdkafka's repeated lines passed once a minute."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from monitor.logs import (
    KAFKA_LOGGER,
    JsonFormatter,
    RepeatFilter,
    TextFormatter,
    configure_logging,
)

SECRET = "s3cr3t-Pa55"


def _line(formatter: logging.Formatter, message: str, *args: object, **extra: Any) -> str:
    """What ``formatter`` writes for one warning with ``extra`` fields."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"test-logs-{uuid.uuid4().hex}")
    logger.propagate = False
    logger.addHandler(handler)
    logger.warning(message, *args, extra=extra)
    logger.removeHandler(handler)
    return stream.getvalue()


def _json_line(message: str, *args: object, **extra: Any) -> dict[str, Any]:
    text = _line(JsonFormatter(), message, *args, **extra)
    assert text.count("\n") == 1
    entry: dict[str, Any] = json.loads(text)
    return entry


@pytest.fixture
def restored_root_logger() -> Iterator[logging.Logger]:
    """The root logger, put back as it was after ``configure_logging`` changed it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield root
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


# ------------------------------------------------------------------------------- the formatters


def test_json_line_is_one_object_with_time_level_logger_message_and_fields() -> None:
    entry = _json_line("window closed with drift", model="fraud", window={"id": 3})
    assert entry.keys() == {"ts", "level", "logger", "message", "model", "window"}
    assert (entry["level"], entry["message"]) == ("warning", "window closed with drift")
    assert (entry["model"], entry["window"]) == ("fraud", {"id": 3})
    assert entry["ts"].endswith("Z")


def test_json_line_redacts_a_kafka_sasl_password_field() -> None:
    entry = _json_line("consumer settings", settings={"sasl.password": SECRET, "acks": "all"})
    assert entry["settings"] == {"sasl.password": "***", "acks": "all"}


def test_json_line_redacts_the_password_of_a_redis_url_in_a_field() -> None:
    entry = _json_line("connecting", redis=f"redis://monitor:{SECRET}@redis:6379/0")
    assert entry["redis"] == "redis://monitor:***@redis:6379/0"


def test_json_line_redacts_the_password_of_a_url_in_the_message() -> None:
    entry = _json_line("cannot reach %s", f"rediss://:{SECRET}@redis:6380/0")
    assert entry["message"] == "cannot reach rediss://:***@redis:6380/0"


def test_json_line_redacts_the_password_of_a_url_in_a_traceback() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(f"test-logs-{uuid.uuid4().hex}")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        raise ConnectionError(f"redis://monitor:{SECRET}@redis:6379/0 refused")
    except ConnectionError:
        logger.exception("outage")
    entry = json.loads(stream.getvalue())
    assert "redis://monitor:***@redis:6379/0 refused" in entry["exception"]
    assert SECRET not in stream.getvalue()


def test_text_line_redacts_secrets_as_the_json_line_does() -> None:
    text = _line(
        TextFormatter(),
        "connecting to %s",
        f"redis://monitor:{SECRET}@redis:6379/0",
        settings={"sasl.password": SECRET},
    )
    assert SECRET not in text
    assert "redis://monitor:***@redis:6379/0" in text


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _librdkafka_line(message: str) -> logging.LogRecord:
    return logging.makeLogRecord({"name": KAFKA_LOGGER, "msg": message, "levelno": 30})


def test_librdkafka_lines_that_differ_only_in_numbers_pass_once_a_minute_with_a_count() -> None:
    clock = _Clock()
    repeats = RepeatFilter(every=60, clock=clock)
    refused = "127.0.0.1:{}/bootstrap: Connect failed: Connection refused (after {}ms)"
    passed = [repeats.filter(_librdkafka_line(refused.format(9092, ms))) for ms in range(5)]
    clock.now = 61
    later = _librdkafka_line(refused.format(9092, 7))
    assert passed == [True, False, False, False, False]
    assert repeats.filter(later)
    assert later.__dict__["repeats"] == 4


def test_distinct_librdkafka_lines_each_pass() -> None:
    repeats = RepeatFilter(every=60, clock=_Clock())
    assert repeats.filter(_librdkafka_line("broker down"))
    assert repeats.filter(_librdkafka_line("all brokers down"))


def test_configure_logging_sets_librdkafka_lines_to_their_own_level(
    restored_root_logger: logging.Logger,
) -> None:
    kafka = logging.getLogger(KAFKA_LOGGER)
    try:
        configure_logging("json", "DEBUG", "ERROR")
        assert kafka.level == logging.ERROR
        assert restored_root_logger.level == logging.DEBUG
    finally:
        kafka.setLevel(logging.NOTSET)
        kafka.filters.clear()


def test_configure_logging_writes_json_lines_by_default(
    restored_root_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging()
    logging.getLogger("monitor.test").info("started", extra={"instance": "i-1"})
    (line,) = capsys.readouterr().err.splitlines()
    assert json.loads(line)["instance"] == "i-1"


def test_configure_logging_writes_plain_text_on_request(
    restored_root_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("text")
    logging.getLogger("monitor.test").info("started", extra={"instance": "i-1"})
    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith("INFO    started instance=i-1")
