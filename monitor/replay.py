"""Producing a JSONL file of events into Kafka, at full speed or at a given rate."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, Message, Producer
from confluent_kafka.admin import AdminClient

from monitor.config import Config
from monitor.errors import DriftMonitorError, ServiceUnavailable
from monitor.logs import KAFKA_LOGGER
from monitor.source import producer_settings
from monitor.topics import admin_settings, existing_topics, how_to_create


@dataclass(slots=True)
class ReplayResult:
    """How many lines were produced and acknowledged, and how many failed."""

    produced: int = 0
    delivered: int = 0
    failed: int = 0
    seconds: float = 0.0


class RateLimiter:
    """Paces a loop to ``rate`` iterations per second, sleeping in small steps."""

    def __init__(self, rate: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._clock = clock
        self._started = clock()
        self._count = 0

    def wait(self, n: int = 1) -> None:
        self._count += n
        if not self._rate:
            return
        due = self._started + self._count / self._rate
        delay = due - self._clock()
        if delay > 0:
            time.sleep(delay)


def produce_lines(
    config: Config,
    lines: Iterable[bytes],
    *,
    topic: str | None = None,
    rate: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> ReplayResult:
    """Produce one message per non-empty line; returns counts once every message is acknowledged.

    ``progress`` hears of each message once Kafka acknowledged (or refused) it, not when it
    was read: a bar fed from it cannot show 100% while nothing has arrived.
    """
    result = ReplayResult()
    started = time.monotonic()
    target = topic or config.kafka.predictions_topic

    def delivered(error: KafkaError | None, _message: Message) -> None:
        if error is None:
            result.delivered += 1
        else:
            result.failed += 1
        if progress:
            progress(1)

    producer = Producer(
        {**producer_settings(config), "linger.ms": 20},
        logger=logging.getLogger(KAFKA_LOGGER),
    )
    limiter = RateLimiter(rate)
    for line in lines:
        value = line.strip()
        if not value:
            continue
        if not result.produced:  # asked before the first message only: nothing to send, no ask
            require_topic(config, target)
        while True:
            try:
                producer.produce(target, value=value, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
        result.produced += 1
        limiter.wait()
    remaining = producer.flush(60)
    result.seconds = time.monotonic() - started
    if remaining:
        raise ServiceUnavailable(f"{remaining} messages not acknowledged by Kafka within 60 s")
    return result


def require_topic(config: Config, topic: str) -> None:
    """Fail in seconds, with a sentence, when the broker cannot be reached or lacks the topic,
    instead of queueing every line for a minute of librdkafka retries."""
    settings = admin_settings(config)
    present = existing_topics(
        AdminClient(settings, logger=logging.getLogger(KAFKA_LOGGER)),
        settings["bootstrap.servers"],
        timeout=10.0,
    )
    if topic not in present:
        raise DriftMonitorError(
            f"topic {topic} does not exist on {settings['bootstrap.servers']}; "
            f"{how_to_create([topic], config)}"
        )


def count_lines(path: Path) -> int:
    """The non-empty lines of a file: what a replay of it produces."""
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def file_lines(path: Path) -> Iterable[bytes]:
    with path.open("rb") as handle:
        yield from handle


def summary(result: ReplayResult) -> dict[str, Any]:
    rate = result.delivered / result.seconds if result.seconds else 0.0
    return {
        "produced": result.produced,
        "delivered": result.delivered,
        "failed": result.failed,
        "seconds": round(result.seconds, 3),
        "events_per_second": round(rate, 1),
    }
