"""Kafka topic sink: the facts as JSON, keyed by dedup key so an alert's messages stay ordered.

The idempotency key travels as a header. The producer is the daemon's
idempotent producer configuration (``kafka.producer``), made on first use
(no I/O in constructors); a delivery counts once the broker acknowledged it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from monitor.alerts.facts import dumps
from monitor.alerts.plan import OutboxMessage
from monitor.alerts.sinks.base import DeliveryResult
from monitor.logs import KAFKA_LOGGER

KEY_HEADER = "idempotency-key"


class KafkaSink:
    def __init__(self, name: str, topic: str, settings: Mapping[str, Any], timeout: float) -> None:
        self.name = name
        self._topic = topic
        self._settings = dict(settings)
        self._timeout = timeout
        self._producer: Producer | None = None

    def deliver(self, message: OutboxMessage) -> DeliveryResult:
        if self._producer is None:
            self._producer = Producer(
                {"message.timeout.ms": int(self._timeout * 1000), **self._settings},
                logger=logging.getLogger(KAFKA_LOGGER),  # raw to stderr otherwise
            )
        errors: list[KafkaError] = []

        def on_delivery(error: KafkaError | None, _msg: Message) -> None:
            if error is not None:
                errors.append(error)

        try:
            self._producer.produce(
                self._topic,
                value=dumps(message.facts).encode(),
                key=str(message.facts.get("dedup_key", message.key)).encode(),
                headers=[(KEY_HEADER, message.key.encode())],
                on_delivery=on_delivery,
            )
        except (BufferError, ValueError) as error:
            return DeliveryResult(False, f"cannot produce: {error}")
        except Exception as error:  # KafkaException: unknown topic, fatal producer state
            return DeliveryResult(False, f"cannot produce: {error}")
        remaining = self._producer.flush(self._timeout + 1.0)
        if remaining:
            return DeliveryResult(False, f"not acknowledged within {self._timeout:g}s")
        if errors:
            return DeliveryResult(False, f"broker refused: {errors[0]}")
        return DeliveryResult(True, f"produced to {self._topic}")

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(5.0)
            self._producer = None
