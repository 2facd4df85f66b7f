"""The benchmark's synthetic events as a model server would log them: a request and a response
CloudEvent per event, in the two formats drift-monitor reads besides its own.

Each event of ``monitor.tooling.synthetic`` (20 numeric and 3 categorical features, a numeric
score) becomes one KServe logger request and one response, binary-mode CloudEvents as a
Knative Kafka sink writes them (tests/kserve_messages.py builds the headers and bodies):
``kserve-cloudevents`` with V1 bodies (one instance of 23 values by position, the score
as the prediction), ``open-inference`` with V2 tensors (an FP64 ``[1, 20]`` tensor of the
numeric features and a BYTES ``[1, 3]`` one of the categorical ones; the score in the
FP64 output ``predict``). Each response follows its request ``RESPONSE_LAG`` requests
later, so a batch boundary leaves some requests waiting in Redis for their response.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import msgspec

from monitor.tooling.synthetic import SyntheticModel, blocks
from tests.kserve_messages import ce_headers, tensor

PAYLOAD_FORMATS = ("kserve-cloudevents", "open-inference")
RESPONSE_LAG = 250
Message = tuple[bytes, list[tuple[str, bytes]]]

_decode = msgspec.json.Decoder(dict[str, Any]).decode
_encode = msgspec.json.Encoder().encode


def payload_mapping(model: SyntheticModel, payload_format: str) -> dict[str, Any]:
    """The model's ``payload`` section for these messages."""
    if payload_format == "kserve-cloudevents":
        return {"columns": [*model.numeric_names, *model.categorical_names]}
    return {
        "tensors": {"num": model.numeric_names, "cat": model.categorical_names},
        "output": "predict",
    }


def payload_messages(
    model: SyntheticModel, payload_format: str, count: int, *, seed: int
) -> Iterator[Message]:
    """Events ``0 .. count-1`` as (value, headers) messages, requests and responses."""
    waiting: deque[Message] = deque()
    for block in blocks(model, count, seed=seed):
        for raw in block:
            event = _decode(raw)
            request, response = _pair(model, payload_format, event)
            yield request
            waiting.append(response)
            if len(waiting) > RESPONSE_LAG:
                yield waiting.popleft()
    yield from waiting


def _pair(
    model: SyntheticModel, payload_format: str, event: dict[str, Any]
) -> tuple[Message, Message]:
    features = event["features"]
    numeric = [features[name] for name in model.numeric_names]
    categorical = [features[name] for name in model.categorical_names]
    if payload_format == "kserve-cloudevents":
        request = _encode({"instances": [[*numeric, *categorical]]})
        response = _encode({"predictions": [event["prediction"]]})
    else:
        request = _encode(
            {
                "inputs": [
                    tensor("num", [1, len(numeric)], "FP64", numeric),
                    tensor("cat", [1, len(categorical)], "BYTES", categorical),
                ]
            }
        )
        output = tensor("predict", [1], "FP64", [event["prediction"]])
        response = _encode(
            {
                "model_name": model.name,
                "model_version": "1",
                "id": event["event_id"],
                "outputs": [output],
            }
        )
    time = datetime.fromtimestamp(event["ts"], UTC).isoformat().replace("+00:00", "Z")
    return (
        (request, ce_headers(event["event_id"], "request", model=model.name, time=time)),
        (response, ce_headers(event["event_id"], "response", model=model.name, time=time)),
    )
