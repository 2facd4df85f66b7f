"""A request and its response as the daemon's own prediction events, one per row.

The events are encoded as the contract's JSON (README "Events") and decoded by the same
:class:`~monitor.decode.EventDecoder` as the native format, so a model server's rows
become exactly the columns, type mismatches and missing values the same rows sent as
drift-monitor events would: a value of the wrong kind for its feature is counted as a
mismatch and kept as missing, never a reason to drop the row.

Each row is one event: its ``event_id`` is the CloudEvent id for a request of one row,
and ``<id>/<row>`` (from 0) for the rows of a batched one, so labels can name each; its
``ts`` is the request's CloudEvent ``time`` (else the response's, else the request
message's Kafka time).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from monitor.config import ModelConfig
from monitor.payloads.pairing import Pair
from monitor.payloads.protocols import BodyProtocol
from monitor.payloads.rejected import Rejected


class _Event(msgspec.Struct, omit_defaults=True, gc=False):
    event_id: str
    model: str
    ts: float
    features: dict[str, Any]
    prediction: Any = None
    model_version: str | None = None


_ENCODE = msgspec.json.Encoder().encode


def pair_events(
    pair: Pair, protocol: BodyProtocol, models: Mapping[str, ModelConfig], now: float
) -> list[bytes]:
    """The pair's rows as event JSON, in row order; Rejected if the pair cannot be read."""
    request, response = pair.request, pair.response
    name = request.model or response.model
    if name is None:
        raise Rejected("missing_model", "neither the request nor the response names its model")
    model = models.get(name)
    if model is None:
        raise Rejected("unknown_model", f"model {name!r} is not configured")
    rows = protocol.rows(request.body, model.payload)
    predictions = protocol.predictions(response.body, model.payload)
    if len(rows) != len(predictions):
        raise Rejected(
            "shape_mismatch",
            f"the request has {len(rows)} rows, the response {len(predictions)} predictions",
        )
    version = (
        request.model_version or response.model_version or protocol.model_version(response.body)
    )
    ts = _first_time(
        request.time, response.time, request.message.timestamp, response.message.timestamp, now
    )
    ids = [request.id] if len(rows) == 1 else [f"{request.id}/{i}" for i in range(len(rows))]
    return [
        _ENCODE(_Event(event_id, name, ts, row, prediction, version))
        for event_id, row, prediction in zip(ids, rows, predictions, strict=True)
    ]


def _first_time(*times: float | None) -> float:
    return next(t for t in times if t is not None)
