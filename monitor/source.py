"""The Kafka boundary: consuming micro-batches, resuming from Redis, dead-lettering.

Redis, not Kafka, holds the authoritative offsets: they are written in the
same atomic step as the state they produced. On every assignment the consumer
is positioned at the offsets Redis holds (falling back to Kafka's committed
offset, then ``auto.offset.reset``, for partitions Redis has never seen).
Offsets are still committed to Kafka afterwards, so the usual lag tooling
works. Offsets are positions in one incarnation of a topic: on every assignment the
topics' Kafka ids are compared with those Redis recorded, and a topic deleted and
created again is read from its beginning instead of from the old topic's offsets.
"""

from __future__ import annotations

import logging
import operator
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any, TypeVar, cast

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_INVALID,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from monitor.config import Config
from monitor.errors import ConfigError, DriftMonitorError, ServiceUnavailable
from monitor.logs import KAFKA_LOGGER, RepeatFilter
from monitor.store import StateStore
from monitor.topics import admin_settings, await_topics, topic_ids

log = logging.getLogger(__name__)
# librdkafka's own log lines (connection refused while a broker restarts, ...) go through
# logging like everything else instead of straight to stderr.
_librdkafka_log = logging.getLogger(KAFKA_LOGGER)
_kafka_errors = logging.getLogger(f"{__name__}.kafka_errors")
"""Errors the consumer reports: each distinct one at once, then at most once per 30 s with
a count (``repeats``), so a broker that stays down does not write a line per fetch."""
_kafka_errors.addFilter(RepeatFilter(every=30.0))

_Client = TypeVar("_Client", Consumer, Producer)
_T = TypeVar("_T")

REASON_HEADER = "x-drift-monitor-reason"
DETAIL_HEADER = "x-drift-monitor-detail"

_FORCED_CONSUMER_SETTINGS: Mapping[str, Any] = {
    # Offsets live in Redis with the state; Kafka commits are explicit and informational.
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
}
_DEFAULT_CONSUMER_SETTINGS: Mapping[str, Any] = {
    "auto.offset.reset": "earliest",
    "allow.auto.create.topics": False,
    # With a backlog the prefetch queue fills up, and librdkafka then pauses fetching for
    # this long (1000 ms by default). Once the queue drained below a batch, consume() sat
    # out the rest of batch_timeout_ms: ~200 ms stalls that cost a quarter of the
    # benchmark's rate. Re-checking every 20 ms costs nothing measurable.
    "fetch.queue.backoff.ms": 20,
}


def consumer_settings(config: Config, *, client_id: str) -> dict[str, Any]:
    kafka = config.kafka
    if kafka.bootstrap_servers is None:
        raise ValueError("kafka.bootstrap_servers is not set")
    return {
        "bootstrap.servers": kafka.bootstrap_servers,
        "group.id": kafka.group_id,
        "client.id": client_id,
        **_DEFAULT_CONSUMER_SETTINGS,
        **dict(kafka.consumer),
        **_FORCED_CONSUMER_SETTINGS,
    }


def producer_settings(config: Config) -> dict[str, Any]:
    kafka = config.kafka
    if kafka.bootstrap_servers is None:
        raise ValueError("kafka.bootstrap_servers is not set")
    return {
        "bootstrap.servers": kafka.bootstrap_servers,
        "enable.idempotence": True,
        **dict(kafka.producer),
    }


def refused_settings(config: Config) -> list[str]:
    """What librdkafka refuses in ``kafka.consumer`` / ``kafka.producer`` (a misspelt
    property, a bad value), found by building the clients once and closing them at once.
    They are built without ``bootstrap.servers``, so they connect to nothing: a broker
    that is down is no finding of ``validate`` (and librdkafka said so on stderr)."""
    problems = []
    consumer = _offline(consumer_settings(config, client_id="validate"))
    producer = _offline(producer_settings(config))
    try:
        _client(lambda: Consumer(consumer, logger=_librdkafka_log), "consumer").close()
        _client(lambda: Producer(producer, logger=_librdkafka_log), "producer").flush(0)
    except ConfigError as error:
        problems.extend(error.problems)
    return problems


def _offline(settings: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in settings.items() if name != "bootstrap.servers"}


def _client(build: Callable[[], _Client], section: str) -> _Client:
    """A librdkafka client, or a ConfigError naming the section whose settings it refused."""
    try:
        return build()
    except KafkaException as error:
        refusal = error.args[0].str()
        raise ConfigError([f"kafka.{section}: librdkafka refuses it: {refusal}"]) from error


@dataclass(frozen=True, slots=True)
class Batch:
    """Messages of one consume call, with each partition's first and next offset."""

    messages: list[Message]
    offsets: dict[tuple[str, int], tuple[int, int]]


TopicPartitionKey = tuple[str, int]
"""(topic, partition): offsets, assignments and lag are kept per partition of each topic."""


class KafkaSource:
    """Consumes the predictions topic (and the labels topic, if any) in micro-batches."""

    def __init__(
        self, config: Config, store: StateStore, *, client_id: str, stop: threading.Event
    ) -> None:
        self._config = config
        self._store = store
        self._client_id = client_id
        self._stop = stop
        self._topics = [config.kafka.predictions_topic]
        if config.kafka.labels_topic is not None:
            self._topics.append(config.kafka.labels_topic)
        self._consumer: Consumer | None = None
        self._admin: AdminClient | None = None
        self._assigned: set[TopicPartitionKey] = set()
        self._cooperative = False
        self._rewind: dict[TopicPartitionKey, int] = {}
        self.assignment_received = False
        self.missing_topics: list[str] = []
        """Topics the daemon waits for (start-up check, or deleted while running): /readyz."""
        self.unreachable: str | None = None
        """Why the start-up check has no answer from Kafka, while it has none: /readyz."""

    @property
    def topics(self) -> list[str]:
        """The topics consumed: predictions, and labels if configured."""
        return list(self._topics)

    @property
    def subscribed(self) -> bool:
        """Whether the start-up check is over and the consumer asked for its partitions."""
        return self._consumer is not None

    @property
    def assigned(self) -> frozenset[TopicPartitionKey]:
        """The partitions this instance owns now (it changes with each rebalance)."""
        return frozenset(self._assigned)

    def start(self) -> None:
        """Subscribe once every topic exists (waiting, and saying so, until then)."""
        await_topics(self._config, self._stop, self._set_missing)
        if self._stop.is_set():
            return
        settings = consumer_settings(self._config, client_id=self._client_id)
        self._cooperative = "cooperative" in str(settings.get("partition.assignment.strategy", ""))
        self._consumer = _client(lambda: Consumer(settings, logger=_librdkafka_log), "consumer")
        self._admin = AdminClient(admin_settings(self._config), logger=_librdkafka_log)
        self._consumer.subscribe(
            self._topics,
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )

    def _set_missing(self, topics: list[str], unreachable: str | None) -> None:
        self.missing_topics, self.unreachable = topics, unreachable

    def _require(self) -> Consumer:
        if self._consumer is None:
            raise RuntimeError("KafkaSource.start() was not called")
        return self._consumer

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        topics = {p.topic for p in partitions}
        recreated = self._recreated(topics)
        stored = self._stored_offsets([(p.topic, p.partition) for p in partitions])
        for partition in partitions:
            fallback = OFFSET_BEGINNING if partition.topic in recreated else OFFSET_INVALID
            partition.offset = stored.get((partition.topic, partition.partition), fallback)
        if self._cooperative:
            consumer.incremental_assign(partitions)
        else:
            consumer.assign(partitions)
        self._assigned.update((p.topic, p.partition) for p in partitions)
        self.assignment_received = True
        log.info(
            "partitions assigned",
            extra={"partitions": {f"{p.topic}/{p.partition}": p.offset for p in partitions}},
        )
        back = [topic for topic in self.missing_topics if topic in topics]
        if back:
            # An empty recreated topic brings no message to say it is back: its partitions do.
            log.info("kafka topics back; consuming", extra={"topics": back})
            self.missing_topics = [t for t in self.missing_topics if t not in topics]

    def _recreated(self, topics: Collection[str]) -> set[str]:
        """The topics deleted and created again since Redis stored their offsets, whose
        offsets it has just forgotten: their partitions start at the beginning (every message
        in them came after the old topic's last one, none was counted)."""
        if self._admin is None:
            return set()
        try:
            ids = topic_ids(self._admin, sorted(topics), timeout=10.0)
        except KafkaException as error:
            log.warning(
                "kafka did not say the topic ids of %s, so a topic deleted and created again "
                "since its offsets were stored goes unnoticed this time: %s",
                ", ".join(sorted(topics)),
                error.args[0].str(),
            )
            return set()
        recreated = self._waiting_for_redis(lambda: self._store.forget_recreated(ids))
        for topic in recreated:
            log.warning(
                "kafka topic %s was deleted and created again since its offsets were stored; "
                "reading the new topic from its beginning",
                topic,
                extra={"topic_id": ids[topic]},
            )
        return set(recreated)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._assigned.difference_update((p.topic, p.partition) for p in partitions)
        log.info(
            "partitions revoked",
            extra={"partitions": [f"{p.topic}/{p.partition}" for p in partitions]},
        )

    def _stored_offsets(
        self, partitions: Sequence[TopicPartitionKey]
    ) -> dict[TopicPartitionKey, int]:
        return self._waiting_for_redis(lambda: self._store.offsets(partitions))

    def _waiting_for_redis(self, call: Callable[[], _T]) -> _T:
        """Redis's answer; while Redis is down, wait: guessing would lose or repeat events."""
        delay = 0.2
        while True:
            try:
                return call()
            except ServiceUnavailable as error:
                if self._stop.is_set():
                    raise
                log.warning("waiting for Redis to resume partitions", extra={"error": str(error)})
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def poll(self) -> Batch:
        consumer = self._require()
        kafka = self._config.kafka
        raw = consumer.consume(num_messages=kafka.batch_size, timeout=kafka.batch_timeout_ms / 1000)
        # Thousands of messages per batch: every per-message step is a C-level map. The
        # errors are compared by identity: KafkaError's == against None raises inside C.
        errors = list(map(Message.error, raw))
        if not all(map(operator.is_, errors, repeat(None))):
            raw = [
                m for m, error in zip(raw, errors, strict=True) if self._usable(m.topic(), error)
            ]
        elif self.missing_topics and raw:
            log.info("kafka topics back; consuming", extra={"topics": self.missing_topics})
            self.missing_topics = []
        # A consumed message that is no error has its topic, partition and offset.
        keys = cast(
            list[TopicPartitionKey],
            list(zip(map(Message.topic, raw), map(Message.partition, raw), strict=True)),
        )
        positions = cast(list[int], list(map(Message.offset, raw)))
        last = dict(zip(keys, positions, strict=True))
        first = dict(zip(reversed(keys), reversed(positions), strict=True))
        return Batch(raw, {key: (first[key], after + 1) for key, after in last.items()})

    def _usable(self, topic: str | None, error: KafkaError | None) -> bool:
        """Whether a consumed message is a message: end-of-partition events and errors are
        not. A fatal error stops the daemon with a sentence; a topic gone (deleted while
        running) is waited for; the others are logged, once per kind every 30 s, and left
        to librdkafka to recover from."""
        if error is None:
            return True
        code = error.code()
        if code == KafkaError._PARTITION_EOF:
            return False
        if error.fatal():
            raise KafkaUnusable(f"Kafka reported a fatal error: {error.name()}: {error.str()}")
        if code in _TOPIC_GONE:
            gone = topic or "a subscribed topic"
            if gone not in self.missing_topics:
                self.missing_topics = [*self.missing_topics, gone]
            _kafka_errors.warning(
                f"kafka topic {gone} does not exist (deleted while running?); waiting for it "
                f"to be created again: {error.str()}"
            )
        else:
            _kafka_errors.warning(f"kafka error {error.name()}: {error.str()}")
        return False

    def rewind(self, batch_offsets: Mapping[TopicPartitionKey, tuple[int, int]]) -> None:
        """Re-position a refused batch's partitions: at Redis's offset, or else the batch's start.

        A partition Redis has never seen must go back to where the batch began,
        or the refused batch's messages of it would be skipped.
        """
        consumer = self._require()
        stored = self._stored_offsets(list(batch_offsets))
        for key, (first, _) in batch_offsets.items():
            if key in self._assigned:
                consumer.seek(TopicPartition(key[0], key[1], stored.get(key, first)))

    def commit(self, offsets: Mapping[TopicPartitionKey, tuple[int, int]]) -> None:
        consumer = self._require()
        positions = [TopicPartition(t, p, after) for (t, p), (_, after) in offsets.items()]
        if positions:
            try:
                consumer.commit(offsets=positions, asynchronous=True)
            except KafkaException as error:
                log.warning(
                    "kafka offset commit failed (Redis holds the offsets)",
                    extra={"error": str(error)},
                )

    def lag(self, next_offsets: Mapping[TopicPartitionKey, int]) -> dict[TopicPartitionKey, int]:
        """Per assigned partition: messages behind the high watermark seen with the last fetch.

        An empty partition (low == high) is 0 behind even before any batch came from it:
        its lag must read 0, not be missing, or a dashboard cannot tell it from one stuck.
        """
        consumer = self._require()
        lags = {}
        for key in sorted(self._assigned):
            try:
                low, high = consumer.get_watermark_offsets(TopicPartition(*key), cached=True)
            except KafkaException:
                continue
            position = next_offsets.get(key)
            if position is None and 0 <= low == high:
                position = high
            if high >= 0 and position is not None:
                lags[key] = max(high - position, 0)
        return lags

    def pause(self) -> None:
        consumer = self._require()
        consumer.pause([TopicPartition(t, p) for t, p in self._assigned])

    def keep_alive(self) -> None:
        """Poll while paused, so a long outage does not cost the group membership.

        A message that still arrives (fetched before the pause) is not processed:
        its partition is rewound to it on :meth:`resume`.
        """
        message = self._require().poll(0)
        if message is None or message.error() is not None:
            return
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        if topic is not None and partition is not None and offset is not None:
            key = (topic, partition)
            self._rewind[key] = min(offset, self._rewind.get(key, offset))

    def resume(self) -> None:
        consumer = self._require()
        consumer.resume([TopicPartition(t, p) for t, p in self._assigned])
        for key, offset in self._rewind.items():
            if key in self._assigned:
                consumer.seek(TopicPartition(key[0], key[1], offset))
        self._rewind.clear()

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
        self._admin = None


def message_source(message: Message) -> str:
    """Where a message lies, ``topic/partition/offset``: in dead letters' headers and logs."""
    return f"{message.topic()}/{message.partition()}/{message.offset()}"


def _too_large(error: KafkaError, letter: _Letter) -> bool:
    """Whether truncating the letter is the answer (it was not truncated already)."""
    return error.code() == KafkaError.MSG_SIZE_TOO_LARGE and not any(
        name == TRUNCATED_HEADER for name, _ in letter.headers
    )


_TOPIC_GONE = frozenset({KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC})


class KafkaUnusable(DriftMonitorError):
    """Kafka said something no retry can fix (a fatal client error): stop, with its sentence."""


TRUNCATED_HEADER = "x-drift-monitor-truncated-from"
DEAD_LETTER_KEPT_BYTES = 65536
"""How much of a message that the dead-letter topic refuses as too large is kept: its
start, enough to see what it was. ``x-drift-monitor-source`` says where the whole is, and
``x-drift-monitor-truncated-from`` how large it was."""

_Headers = list[tuple[str, str | bytes | None]]


@dataclass(frozen=True, slots=True)
class _Letter:
    value: bytes | None
    key: bytes | str | None
    headers: _Headers

    def truncated(self) -> _Letter:
        value = self.value or b""
        headers = [*self.headers, (TRUNCATED_HEADER, str(len(value)).encode())]
        return _Letter(value[:DEAD_LETTER_KEPT_BYTES], self.key, headers)


class DeadLetterProducer:
    """Forwards undecodable messages to the dead-letter topic with the reason in headers.

    Delivery is at least once: a letter Kafka refused for a passing reason fails the
    flush, and the caller's retry sends the whole batch's letters again.
    """

    def __init__(self, config: Config) -> None:
        self._config = config
        self._topic = config.kafka.dead_letter_topic
        self._producer: Producer | None = None
        self._refused: list[tuple[KafkaError, _Letter]] = []

    def send(self, message: Message, reason: str, detail: str) -> None:
        self.send_copy(
            message.value(),
            message.key(),
            message.headers(),
            message_source(message),
            reason,
            detail,
        )

    def send_copy(
        self,
        value: bytes | None,
        key: bytes | str | None,
        original: Any,
        source: str,
        reason: str,
        detail: str,
    ) -> None:
        """Dead-letter a message known by its parts (one kept in Redis, say), as it came."""
        headers: _Headers = [
            (REASON_HEADER, reason.encode()),
            (DETAIL_HEADER, detail[:1000].encode()),
            ("x-drift-monitor-source", source.encode()),
        ]
        if isinstance(original, dict):
            headers.extend(original.items())
        elif original:
            headers.extend(original)
        self._produce(_Letter(value, key, headers))

    def _produce(self, letter: _Letter) -> None:
        if self._producer is None:
            settings = producer_settings(self._config)
            self._producer = _client(lambda: Producer(settings, logger=_librdkafka_log), "producer")

        def delivered(error: KafkaError | None, _: Message) -> None:
            if error is not None:
                self._refused.append((error, letter))

        while True:
            try:
                self._producer.produce(
                    self._topic,
                    value=letter.value,
                    key=letter.key,
                    headers=letter.headers,
                    on_delivery=delivered,
                )
                return
            except BufferError:
                self._producer.poll(0.1)  # the local queue is full: let deliveries drain it
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                if _too_large(error, letter):
                    self._produce(letter.truncated())
                    return
                raise ServiceUnavailable(f"dead letter not produced: {error.str()}") from exc

    def flush(self, timeout: float = 30.0) -> None:
        """Block until every dead letter is in Kafka: durable before the offsets move past it.

        A letter the broker refuses as too large is sent again truncated; any other
        refusal raises, so the batch is retried rather than its letters lost.
        """
        if self._producer is None:
            return
        while True:
            remaining = self._producer.flush(timeout)
            if remaining:
                raise ServiceUnavailable(
                    f"{remaining} dead letters not acknowledged by Kafka within {timeout}s"
                )
            refused, self._refused = self._refused, []
            if not refused:
                return
            fatal = [(error, letter) for error, letter in refused if not _too_large(error, letter)]
            if fatal:
                error = fatal[0][0]
                raise ServiceUnavailable(
                    f"{len(fatal)} dead letters refused by topic {self._topic!r}: {error.str()}"
                )
            for _, letter in refused:
                self._produce(letter.truncated())

    def close(self) -> None:
        self.flush()
