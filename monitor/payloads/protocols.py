"""The two body protocols a model server logs, behind one interface chosen by payload.format."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, NamedTuple

from monitor.config import ModelPayloadConfig, PayloadFormat
from monitor.payloads import oip, v1


class BodyProtocol(NamedTuple):
    """Reading bodies when their message arrives, and rows and predictions from a pair."""

    read_request: Callable[[bytes | None], Any]
    read_response: Callable[[bytes | None], Any]
    rows: Callable[[Any, ModelPayloadConfig], list[dict[str, Any]]]
    predictions: Callable[[Any, ModelPayloadConfig], list[Any]]
    model_version: Callable[[Any], str | None]
    """The model version a response body names (only V2 responses can)."""


PROTOCOLS: Final[Mapping[PayloadFormat, BodyProtocol]] = {
    "kserve-cloudevents": BodyProtocol(
        v1.read_request,
        v1.read_response,
        v1.request_rows,
        v1.response_predictions,
        lambda _response: None,
    ),
    "open-inference": BodyProtocol(
        oip.read_request,
        oip.read_response,
        oip.request_rows,
        oip.response_predictions,
        lambda response: response.model_version,
    ),
}
