"""KServe V1 bodies: ``{"instances": [...]}`` requests and ``{"predictions": [...]}`` responses.

KServe's V1 data plane (the ``:predict`` endpoint, as its payload logger records it): each
instance is one row, an object of named values or a list of values by position; each
prediction belongs to the instance at its position, and is a value (score or class), a
list of class probabilities, or an object.
"""

from __future__ import annotations

from typing import Any

import msgspec

from monitor.config import ModelPayloadConfig
from monitor.payloads.rejected import Rejected, decode_body


class V1Request(msgspec.Struct, frozen=True, gc=False):
    instances: list[Any]


class V1Response(msgspec.Struct, frozen=True, gc=False):
    predictions: list[Any]


_REQUEST = msgspec.json.Decoder(V1Request)
_RESPONSE = msgspec.json.Decoder(V1Response)
_OTHER_PROTOCOL = " (an Open Inference Protocol body? then set payload.format: open-inference)"


def read_request(data: bytes | None) -> V1Request:
    return decode_body(_REQUEST, data, "V1 request", _OTHER_PROTOCOL)


def read_response(data: bytes | None) -> V1Response:
    return decode_body(_RESPONSE, data, "V1 response", _OTHER_PROTOCOL)


def request_rows(request: V1Request, mapping: ModelPayloadConfig) -> list[dict[str, Any]]:
    """One feature object per instance: an object as it is, a list by ``mapping.columns``."""
    columns = mapping.columns
    rows: list[dict[str, Any]] = []
    for i, instance in enumerate(request.instances):
        if isinstance(instance, dict):
            rows.append(instance)
        elif isinstance(instance, list):
            if not columns:
                raise Rejected(
                    "missing_field",
                    f"instance {i} is a list of {len(instance)} values and no columns name "
                    "them; give their names in models.<model>.payload.columns",
                )
            if len(instance) != len(columns):
                raise Rejected(
                    "shape_mismatch",
                    f"instance {i} has {len(instance)} values, payload.columns names "
                    f"{len(columns)}",
                )
            rows.append(dict(zip(columns, instance, strict=True)))
        elif len(columns) == 1:
            rows.append({columns[0]: instance})
        else:
            raise Rejected(
                "shape_mismatch",
                f"instance {i} is a single value, but payload.columns names {len(columns)}",
            )
    return rows


def response_predictions(response: V1Response, mapping: ModelPayloadConfig) -> list[Any]:
    """Each instance's prediction: a value as it is; probabilities as ``{class: probability}``
    (what the event decoder reads a prediction object as); ``mapping.output`` out of objects."""
    out: list[Any] = []
    for i, prediction in enumerate(response.predictions):
        value = prediction
        if mapping.output is not None and isinstance(value, dict):
            if mapping.output not in value:
                raise Rejected(
                    "missing_field",
                    f"prediction {i} has no {mapping.output!r} (payload.output); it has "
                    f"{', '.join(map(repr, value)) or 'no keys'}",
                )
            value = value[mapping.output]
        if isinstance(value, list):
            value = probabilities(value, mapping.classes, f"prediction {i}")
        out.append(value)
    return out


def probabilities(values: list[Any], classes: tuple[str, ...], what: str) -> dict[str, Any]:
    """Class probabilities by class name: ``classes`` in order, or ``"0"``, ``"1"``, ..."""
    names = classes or tuple(map(str, range(len(values))))
    if len(names) != len(values):
        raise Rejected(
            "shape_mismatch",
            f"{what} has {len(values)} class probabilities, payload.classes names {len(names)}",
        )
    return dict(zip(names, values, strict=True))
