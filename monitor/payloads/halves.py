"""One message of a model server's log: the request or the response half of an inference.

A half is read in full when its message arrives (envelope, type, body), so a bad message
is dead-lettered at once rather than when its other half comes. A half that must wait
for the other is kept in Redis as the bytes of its message (:class:`RawMessage`): that
is what is read again when the other half arrives, and what is dead-lettered, as it
came, if none does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import msgspec

from monitor.config import PayloadConfig
from monitor.decode import DeadLetterReason
from monitor.payloads.cloudevents import attribute_or_header, read_cloudevent
from monitor.payloads.protocols import PROTOCOLS

Kind = Literal["request", "response"]


class RawMessage(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """A Kafka message as read: value, key, headers, where it lies, and its Kafka time."""

    value: bytes | None
    key: bytes | None
    headers: list[tuple[str, bytes | None]]
    source: str
    """``topic/partition/offset``."""
    timestamp: float | None
    """Seconds; None when Kafka gave none."""

    def to_blob(self) -> bytes:
        return _ENCODE(self)

    @staticmethod
    def from_blob(blob: bytes) -> RawMessage:
        return _DECODE(blob)


_ENCODE = msgspec.msgpack.Encoder().encode
_DECODE = msgspec.msgpack.Decoder(RawMessage).decode


class Half(NamedTuple):
    """A request or a response, read and checked, waiting to meet the other half (a tuple:
    every message of a batch makes one)."""

    id: str
    kind: Kind
    model: str | None
    model_version: str | None
    time: float | None
    """The CloudEvent's ``time`` in epoch seconds."""
    body: Any
    """The body as its protocol reads it (``monitor.payloads.protocols``)."""
    message: RawMessage
    position: int
    """Its message's position among the batch's messages; -1 when read back from Redis."""

    @property
    def event_time(self) -> float | None:
        """When it happened: its CloudEvent ``time``, else its message's Kafka time."""
        return self.message.timestamp if self.time is None else self.time


class HalfReader:
    """Reads messages as halves for one config's format, attributes and event types."""

    def __init__(self, payload: PayloadConfig) -> None:
        self._payload = payload
        self._protocol = PROTOCOLS[payload.format]
        self._kinds: dict[str, Kind] = {
            payload.request_type: "request",
            payload.response_type: "response",
        }

    def read(self, message: RawMessage, index: int) -> Half | None:
        """The half, or None for an event of another type (a broker topic carries others).

        Raises :class:`~monitor.payloads.rejected.Rejected` for a message that cannot be one.
        """
        event = read_cloudevent(message.value, message.headers)
        kind = self._kinds.get(event.type)
        if kind is None:
            return None
        protocol = self._protocol
        body = (protocol.read_request if kind == "request" else protocol.read_response)(event.data)
        version_attribute = self._payload.version_attribute
        return Half(
            id=event.id,
            kind=kind,
            model=attribute_or_header(event, message.headers, self._payload.model_attribute),
            model_version=(
                None
                if version_attribute is None
                else attribute_or_header(event, message.headers, version_attribute)
            ),
            time=event.time(),
            body=body,
            message=message,
            position=index,
        )


@dataclass(frozen=True, slots=True)
class Letter:
    """A message to dead-letter, as it came, with the reason and the detail."""

    message: RawMessage
    reason: DeadLetterReason
    detail: str
