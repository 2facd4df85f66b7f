"""Helpers for integration tests: produce and consume on the test broker, and drive kcat.

Fixtures live in ``conftest.py``; these are plain functions so tests, fixtures and ad-hoc
scripts can share them.

kcat and Tansu
--------------
Debian's kcat 1.7.1 is linked against librdkafka 2.0.2, which cannot parse Tansu's ApiVersions
v3 response ("Read underflow" in the trailing tagged fields), and ``api.version.request=false``
does not stop that request. :func:`kcat_command` therefore runs the *same kcat binary* with the
newer librdkafka that the confluent-kafka wheel bundles (via ``LD_LIBRARY_PATH``). kcat's own
code (argument parsing, framing, keys, delimiters) is still the third-party client; only the
protocol library underneath is newer.
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition

#: librdkafka settings every test client must use with Tansu (docs/architecture.md,
#: "Testing against the local broker"): short session timeout (a join is held for about half
#: of it: 1 s here against 3 s at 6000 ms, and every daemon a test starts joins a group;
#: heartbeats every 500 ms keep a busy member in its group), fast fetches (latency ~ half of
#: fetch.wait.max.ms), quick metadata refresh when subscribing before a topic exists, and no
#: auto-creation (Tansu would create unknown topics with 4 partitions).
KAFKA_TEST_SETTINGS: Mapping[str, Any] = {
    "session.timeout.ms": 2000,
    "heartbeat.interval.ms": 500,
    "fetch.wait.max.ms": 50,
    "topic.metadata.refresh.interval.ms": 1000,
    "allow.auto.create.topics": False,
}

JsonEvent = Mapping[str, Any] | bytes | str
KeyFunction = Callable[[JsonEvent], "bytes | str | None"]


def in_ci() -> bool:
    """True when running under CI (``CI=true``), where missing tools fail instead of skipping."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _encode(event: JsonEvent) -> bytes:
    if isinstance(event, bytes):
        return event  # already encoded: lets a test send garbage to exercise the DLQ
    if isinstance(event, str):
        return event.encode()
    return json.dumps(event, separators=(",", ":"), allow_nan=False).encode()


def _key(event: JsonEvent, partition_key: str | KeyFunction | None) -> bytes | str | None:
    if partition_key is None:
        return None
    if callable(partition_key):
        return partition_key(event)
    if isinstance(event, Mapping) and event.get(partition_key) is not None:
        return str(event[partition_key])
    return None


def produce_json(
    bootstrap: str,
    topic: str,
    events: Iterable[JsonEvent],
    partition_key: str | KeyFunction | None = "model",
    *,
    partition: int | None = None,
    headers: Mapping[str, bytes | str] | None = None,
    config: Mapping[str, Any] | None = None,
    timeout: float = 30.0,
) -> int:
    """Produce ``events`` as JSON messages to ``topic``, flush, and return how many were sent.

    The message key is the event's ``partition_key`` field (default ``model``, as a real
    producer of prediction events would key them so a model's events stay ordered), or the
    result of ``partition_key(event)``, or no key when ``None``. ``bytes``/``str`` events are
    sent verbatim. Raises ``KafkaException`` if any message is not delivered.
    """
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, **(config or {})})
    failures: list[str] = []

    def on_delivery(err: Any, msg: Message) -> None:
        if err is not None:
            failures.append(f"{msg.topic()}[{msg.partition()}]: {err}")

    count = 0
    extra: dict[str, Any] = {} if partition is None else {"partition": partition}
    header_list: list[tuple[str, str | bytes | None]] | None = (
        list(headers.items()) if headers else None
    )
    for event in events:
        while True:
            try:
                producer.produce(
                    topic,
                    value=_encode(event),
                    key=_key(event, partition_key),
                    headers=header_list,
                    on_delivery=on_delivery,
                    **extra,
                )
                break
            except BufferError:  # local queue full: let deliveries drain, then retry
                producer.poll(0.1)
        count += 1
        producer.poll(0)
    remaining = producer.flush(timeout)
    if remaining:
        raise KafkaException(f"{remaining} messages to {topic} still undelivered after {timeout}s")
    if failures:
        raise KafkaException(f"{len(failures)} messages not delivered: {failures[:5]}")
    return count


def consume_messages(
    bootstrap: str,
    topic: str,
    count: int,
    *,
    partitions: Sequence[int] | None = None,
    timeout: float = 15.0,
    config: Mapping[str, Any] | None = None,
) -> list[Message]:
    """Read ``count`` messages from the start of ``topic`` with ``assign()`` and return them.

    ``assign()`` skips the group join (docs/architecture.md, "Testing against the local
    broker", 7), so this is fast and cannot wedge a group.
    All partitions are read unless ``partitions`` is given. Raises ``AssertionError`` if fewer
    than ``count`` messages arrive within ``timeout`` seconds.
    """
    consumer = Consumer(
        {
            **KAFKA_TEST_SETTINGS,
            "bootstrap.servers": bootstrap,
            "group.id": f"assign-only-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            **(config or {}),
        }
    )
    try:
        if partitions is None:
            metadata = consumer.list_topics(timeout=10)  # all topics: never auto-creates
            if topic not in metadata.topics:
                raise AssertionError(f"topic {topic!r} does not exist on {bootstrap}")
            partitions = sorted(metadata.topics[topic].partitions)
        # Offset 0, not OFFSET_BEGINNING/END: Tansu's offset look-ups are wrong
        # (docs/architecture.md, "Testing against the local broker", 3).
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        received: list[Message] = []
        deadline = time.monotonic() + timeout
        while len(received) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error() is not None:
                raise KafkaException(msg.error())
            received.append(msg)
        if len(received) < count:
            raise AssertionError(
                f"received {len(received)} of {count} messages from {topic} in {timeout}s"
            )
        return received
    finally:
        consumer.close()


def message_json(msg: Message) -> Any:
    """Decode a consumed message's JSON value (failing clearly on a tombstone)."""
    value = msg.value()
    assert value is not None, f"message at {msg.topic()}[{msg.partition()}]@{msg.offset()} is null"
    return json.loads(value)


# --------------------------------------------------------------------------------------------
# kcat
# --------------------------------------------------------------------------------------------


def require_kcat() -> str:
    """Return kcat's path; skip the test if it is missing, or fail under CI (CI=true)."""
    path = shutil.which("kcat")
    if path is None:
        message = "kcat is not installed (run `make install` or `apt-get install kcat`)"
        if in_ci():
            pytest.fail(f"{message}; it is required in CI")
        pytest.skip(message)
    return path


@functools.cache
def _bundled_librdkafka_dir() -> str | None:
    """A directory holding ``librdkafka.so.1`` -> the confluent-kafka wheel's librdkafka.

    The wheel renames the library (``librdkafka-<hash>.so.1``), so a symlink under the name
    kcat's dynamic loader looks for is made in a temporary directory, removed at exit.
    Returns None when confluent-kafka was built against a system librdkafka instead.
    """
    spec = importlib.util.find_spec("confluent_kafka")
    if spec is None or spec.origin is None:
        return None
    libs = Path(spec.origin).parent.parent / "confluent_kafka.libs"
    candidates = sorted(libs.glob("librdkafka*.so*"))
    if not candidates:
        return None
    tmp = tempfile.mkdtemp(prefix="drift-monitor-kcat-")
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    os.symlink(candidates[0], os.path.join(tmp, "librdkafka.so.1"))
    return tmp


def kcat_command(*args: str) -> tuple[list[str], dict[str, str]]:
    """Return ``(argv, env)`` to run kcat with ``args`` against Tansu (see module docstring)."""
    kcat = require_kcat()
    env = dict(os.environ)
    libdir = _bundled_librdkafka_dir()
    if libdir is not None:
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            p for p in (libdir, env.get("LD_LIBRARY_PATH", "")) if p
        )
    return [kcat, *args], env


def kcat_run(
    *args: str, input: bytes | None = None, timeout: float = 30.0
) -> subprocess.CompletedProcess[bytes]:
    """Run kcat, raise ``AssertionError`` with its stderr if it fails, and return the result."""
    argv, env = kcat_command(*args)
    result = subprocess.run(argv, input=input, capture_output=True, env=env, timeout=timeout)
    stderr = result.stderr.decode(errors="replace")
    # kcat -P can exit 0 after failed deliveries; its "% ERROR" lines are the reliable signal.
    if result.returncode != 0 or "% ERROR" in stderr or "Delivery failed" in stderr:
        raise AssertionError(f"kcat {' '.join(args)} failed (exit {result.returncode}):\n{stderr}")
    return result


def kcat_produce(
    bootstrap: str,
    topic: str,
    lines: Iterable[str | bytes],
    *,
    key_delimiter: str | None = None,
    partition: int | None = None,
    extra_args: Sequence[str] = (),
    timeout: float = 30.0,
) -> int:
    """Pipe ``lines`` (one message each) into the real ``kcat -P`` and return how many.

    ``key_delimiter=":"`` makes ``"k1:{...}"`` a message with key ``k1``. Lines must not
    contain newlines. Auto-creation is disabled so a typo in ``topic`` fails loudly.
    """
    encoded = [line.encode() if isinstance(line, str) else line for line in lines]
    if any(b"\n" in line for line in encoded):
        raise ValueError("kcat_produce: a line contains a newline; kcat would split it")
    args = ["-P", "-b", bootstrap, "-t", topic, "-X", "allow.auto.create.topics=false"]
    if key_delimiter is not None:
        args += ["-K", key_delimiter]
    if partition is not None:
        args += ["-p", str(partition)]
    payload = b"".join(line + b"\n" for line in encoded)
    kcat_run(*args, *extra_args, input=payload, timeout=timeout)
    return len(encoded)
