"""Label events → per-model lists of (event_id, label, event time), a batch at a time.

Label events are small and far fewer than predictions, so one typed msgspec
decode per message is plenty; anything that does not fit the label contract
is dead-lettered with a reason like a bad prediction event, never fatal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
import numpy as np
from numpy.typing import NDArray

from monitor.config import LABEL_FIELDS, PayloadConfig
from monitor.decode import (
    MAX_EVENT_TIME,
    DeadLetter,
    DeadLetterReason,
    describe_error,
    event_time,
)
from monitor.origins import Origins

_LABEL_EVENT_FIELDS: list[Any] = [
    ("event_id", str | int),
    ("model", str),
    ("label", str | int | float | bool | None),
    ("ts", float | datetime | None, None),
]


def _label_event_type(wire: Mapping[str, str]) -> type[msgspec.Struct]:
    """``{"event_id": "7f3a", "model": "fraud", "label": 1, "ts": ...}``, its fields read
    under their ``wire`` names (``payload.label_fields``)."""
    return msgspec.defstruct(
        "LabelEvent", _LABEL_EVENT_FIELDS, rename=dict(wire), frozen=True, gc=False
    )


class Label(msgspec.Struct, frozen=True, gc=False):
    """One label, ready to join: its prediction's id, the label, its event time.

    A struct made in C that the cyclic GC does not track (it holds only a decoded JSON
    scalar): a batch makes thousands, and a NamedTuple's Python-level ``__new__`` and
    its tracking measured a few milliseconds a batch.
    """

    event_id: str
    label: Any
    ts: float
    position: int = -1
    """Its message's position in the batch's label messages."""


@dataclass(slots=True)
class DecodedLabels:
    """A batch of label messages: labels per model, and the messages that were not labels."""

    models: dict[str, list[Label]]
    dead_letters: list[DeadLetter]
    origins: Origins
    """Each message's topic, partition, offset and timestamp (a label's ``position``)."""

    @property
    def count(self) -> int:
        return sum(len(labels) for labels in self.models.values())


class LabelDecoder:
    """Decodes label messages for the configured models."""

    def __init__(self, models: Sequence[str], max_bytes: int, payload: PayloadConfig) -> None:
        self._models = frozenset(models)
        self._max_bytes = max_bytes
        self._wire = {name: payload.label_field(name) for name in LABEL_FIELDS}
        self._decoder = msgspec.json.Decoder(_label_event_type(self._wire))

    def decode(
        self,
        values: Sequence[bytes | None],
        origins: Origins,
    ) -> DecodedLabels:
        fast = self._decode_fast(values)
        if fast is not None:
            return DecodedLabels(fast, [], origins)
        models: dict[str, list[Label]] = {}
        dead: list[DeadLetter] = []
        fallback: NDArray[np.float64] | None = None
        for index, value in enumerate(values):
            outcome = self._decode_one(value)
            if isinstance(outcome, DeadLetter):
                dead.append(DeadLetter(index, outcome.reason, outcome.detail))
                continue
            ts = event_time(outcome.ts)
            if math.isnan(ts):
                if fallback is None:
                    fallback = origins.timestamps
                ts = float(fallback[index])
            if not 0.0 <= ts < MAX_EVENT_TIME:
                dead.append(DeadLetter(index, "invalid_timestamp", f"ts {ts!r} out of range"))
                continue
            models.setdefault(outcome.model, []).append(
                Label(str(outcome.event_id), outcome.label, ts, index)
            )
        return DecodedLabels(models, dead, origins)

    def _decode_fast(self, values: Sequence[bytes | None]) -> dict[str, list[Label]] | None:
        """Every value decoded as a label of a configured model with an event time in range,
        or None if any is not (the per-message path then says which and why).

        One C-level decode per value (``map``), as for prediction events.
        """
        if not values or None in values:
            return None
        if max(map(len, values)) > self._max_bytes:  # type: ignore[arg-type]
            return None
        try:
            events: list[Any] = list(map(self._decoder.decode, values))  # type: ignore[arg-type]
        except Exception:  # invalid, or hostile (nested too deep): the slow path says which
            return None
        models: dict[str, list[Label]] = {}
        for index, event in enumerate(events):
            ts = event.ts
            if ts.__class__ is not float or not 0.0 <= ts < MAX_EVENT_TIME:
                return None  # no ts, an RFC 3339 one, or out of range: the slow path
            if event.model not in self._models:
                return None
            labels = models.get(event.model)
            if labels is None:
                labels = models[event.model] = []
            labels.append(Label(str(event.event_id), event.label, ts, index))
        return models

    def _decode_one(self, value: bytes | None) -> Any:
        """A label event (a struct of :func:`_label_event_type`), or a dead letter.

        Whatever the decoder raises on a hostile message (RecursionError for deep
        nesting) dead-letters that message alone, never the batch.
        """
        try:
            return self._decode_checked(value)
        except Exception as error:
            return _dead("undecodable", describe_error(error))

    def _decode_checked(self, value: bytes | None) -> Any:
        if not value:
            return _dead("empty", "message has no value")
        if len(value) > self._max_bytes:
            return _dead("oversize", f"{len(value)} bytes > max_message_bytes {self._max_bytes}")
        try:
            event: Any = self._decoder.decode(value)
        except (msgspec.DecodeError, UnicodeDecodeError) as error:
            message = str(error)
            if isinstance(error, msgspec.ValidationError):
                return _dead(_reason(message, self._wire), message)
            return _dead("invalid_json", message)
        if event.model not in self._models:
            return _dead("unknown_model", f"model {event.model!r} is not configured")
        return event


def _reason(message: str, wire: Mapping[str, str]) -> DeadLetterReason:
    if message.startswith("Expected `object`") and " - at " not in message:
        return "not_an_object"
    if f"missing required field `{wire['model']}`" in message:
        return "missing_model"
    if "missing required field" in message:
        return "missing_field"
    if f"`$.{wire['ts']}`" in message:
        return "invalid_timestamp"
    return "wrong_type"


def _dead(reason: DeadLetterReason, detail: str) -> DeadLetter:
    return DeadLetter(-1, reason, detail)
