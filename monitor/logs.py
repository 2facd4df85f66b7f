"""Logging set-up, done only by the CLI: JSON lines by default, plain text on request.

Log calls pass their facts in ``extra``; the JSON formatter writes them as
fields, so a log pipeline can filter on ``model`` or ``partition`` without
parsing prose. Values under keys that look like secrets are redacted, and so
are passwords inside URLs anywhere in a line (message, fields, traceback).
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
import time
from collections.abc import Callable
from typing import Any

_STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
_SECRET_KEY = re.compile(r"pass(word)?|secret|token|sasl|credential|api[_-]?key", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@/\s]+@")


def redact(value: Any, key: str = "") -> Any:
    """Hide secrets: values under secret-looking keys, and passwords inside URLs."""
    if key and _SECRET_KEY.search(key):
        return "***"
    if isinstance(value, str):
        return _URL_PASSWORD.sub(r"\1***@", value)
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the record's extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = redact(value, key)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """Human-readable lines with the extras appended as key=value."""

    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(
            f"{k}={redact(v, k)}"
            for k, v in vars(record).items()
            if k not in _STANDARD and not k.startswith("_")
        )
        base = f"{self.formatTime(record)} {record.levelname:<7} {redact(record.getMessage())}"
        line = f"{base} {extras}" if extras else base
        if record.exc_info:
            line = f"{line}\n{redact(self.formatException(record.exc_info))}"
        return line


KAFKA_LOGGER = "monitor.librdkafka"
"""Where every librdkafka client of drift-monitor sends its own log lines."""


class RepeatFilter(logging.Filter):
    """Lets each distinct line through once per ``every`` seconds, with a count of the rest.

    A broker that is not there makes librdkafka write a line per connection attempt and
    broker thread (423 lines in a minute); they differ only in numbers ("after 0ms",
    ports), which are ignored when lines are compared. The next line let through says in
    ``repeats`` how many like it were held back.
    """

    def __init__(self, every: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._every = every
        self._clock = clock
        self._seen: dict[str, tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = _DIGITS.sub("#", record.getMessage())
        now = self._clock()
        said_at, held = self._seen.get(key, (-math.inf, 0))
        if now - said_at < self._every:
            self._seen[key] = (said_at, held + 1)
            return False
        if held:
            record.repeats = held
        self._seen[key] = (now, 0)
        return True


_DIGITS = re.compile(r"\d+")


def configure_logging(fmt: str = "json", level: str = "INFO", kafka_level: str = "WARNING") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    kafka = logging.getLogger(KAFKA_LOGGER)
    kafka.setLevel(kafka_level)
    kafka.filters[:] = [RepeatFilter()]
