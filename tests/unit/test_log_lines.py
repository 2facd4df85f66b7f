"""Structured log lines: one JSON object per line by default, plain text on request, secrets
redacted, and librdkafka's lines in the same log (never raw on stderr), repeated ones passed
once a minute."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from monitor.alerts.plan import OutboxMessage
from monitor.alerts.sinks.kafka import KafkaSink
from monitor.logs import (
    KAFKA_LOGGER,
    JsonFormatter,
    RepeatFilter,
    TextFormatter,
    configure_logging,
)
from monitor.tooling.demo import _kafka_answers
from monitor.tooling.embedded import free_port

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


def _raw_librdkafka_lines(capfd: pytest.CaptureFixture[str]) -> list[str]:
    """What librdkafka wrote to file descriptor 2 itself ("%3|<time>|FAIL|..."): no logger."""
    return [line for line in capfd.readouterr().err.splitlines() if line.startswith("%")]


def test_a_kafka_alert_sink_whose_broker_is_down_logs_librdkafka_through_the_log(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=KAFKA_LOGGER)
    sink = KafkaSink("bus", "retrain", {"bootstrap.servers": f"127.0.0.1:{free_port()}"}, 1.0)
    message = OutboxMessage("bus", "fraud/drift/amount/1/firing", "firing", {"dedup_key": "k"})
    assert not sink.deliver(message).ok
    sink.close()
    assert _raw_librdkafka_lines(capfd) == []
    assert any("Connect to" in r.getMessage() for r in caplog.records if r.name == KAFKA_LOGGER)


def test_the_demos_probe_of_a_broker_that_is_not_there_writes_nothing_raw(
    capfd: pytest.CaptureFixture[str],
) -> None:
    assert not _kafka_answers(f"127.0.0.1:{free_port()}")
    assert _raw_librdkafka_lines(capfd) == []


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
