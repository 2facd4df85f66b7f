"""Open Inference Protocol (KServe V2) bodies: ``inputs`` and ``outputs`` tensors.

Open Inference Protocol, HTTP/REST (``kserve/open-inference-protocol``, the
``inference_rest.md`` of KServe's V2 data plane): a tensor is ``{"name", "shape",
"datatype", "data"}`` (``parameters`` optional); the data is the elements in row-major
order, flattened or nested as the shape; the first dimension of a batched tensor is the
batch, so a ``[64, 4]`` input is 64 rows of 4 columns. Each tensor is checked when its
message arrives: a datatype of the protocol's table, a shape of non-negative dimensions
with at least the batch one, as many elements as the shape holds, and elements of the
datatype's JSON kind (numbers, integers, booleans, strings; ``null`` is read as missing).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from itertools import chain
from typing import Any, Final

import msgspec

from monitor.config import ModelPayloadConfig
from monitor.payloads.rejected import Rejected, decode_body
from monitor.payloads.v1 import probabilities

_NUMBER: Final[frozenset[type]] = frozenset({int, float, type(None)})
_INTEGER: Final[frozenset[type]] = frozenset({int, type(None)})
DATATYPES: Final[Mapping[str, frozenset[type]]] = {
    "BOOL": frozenset({bool, type(None)}),
    **dict.fromkeys(("UINT8", "UINT16", "UINT32", "UINT64"), _INTEGER),
    **dict.fromkeys(("INT8", "INT16", "INT32", "INT64"), _INTEGER),
    **dict.fromkeys(("FP16", "FP32", "FP64"), _NUMBER),
    "BYTES": frozenset({str, type(None)}),
}
"""The protocol's tensor datatypes, and the JSON kinds their elements may have."""
COLUMNS_PARAMETER: Final = "columns"
"""The ``parameters`` key (of a tensor, or of the request) that may name a tensor's columns."""


class Tensor(msgspec.Struct, frozen=True, gc=False):
    name: str
    shape: list[int]
    datatype: str
    data: list[Any]
    parameters: dict[str, Any] | None = None


class V2Request(msgspec.Struct, frozen=True, gc=False):
    inputs: list[Tensor]
    id: Any = None
    parameters: dict[str, Any] | None = None


class V2Response(msgspec.Struct, frozen=True, gc=False):
    outputs: list[Tensor]
    model_name: Any = None
    model_version: Any = None
    id: Any = None
    parameters: dict[str, Any] | None = None


class Checked(msgspec.Struct, frozen=True, gc=False):
    """A tensor that passed its checks: its elements flat, in rows of ``width``."""

    tensor: Tensor
    values: list[Any]
    rows: int
    width: int


class Inputs(msgspec.Struct, frozen=True, gc=False):
    """A request's checked input tensors, and its parameters (which may name columns)."""

    tensors: list[Checked]
    parameters: dict[str, Any] | None


class Outputs(msgspec.Struct, frozen=True, gc=False):
    """A response's checked output tensors, and the model version it names (if any)."""

    tensors: list[Checked]
    model_version: str | None


_REQUEST = msgspec.json.Decoder(V2Request)
_RESPONSE = msgspec.json.Decoder(V2Response)
_OTHER_PROTOCOL = " (a KServe V1 body? then set payload.format: kserve-cloudevents)"


def read_request(data: bytes | None) -> Inputs:
    request = decode_body(_REQUEST, data, "V2 request", _OTHER_PROTOCOL)
    return Inputs([_checked(tensor, "input") for tensor in request.inputs], request.parameters)


def read_response(data: bytes | None) -> Outputs:
    response = decode_body(_RESPONSE, data, "V2 response", _OTHER_PROTOCOL)
    version = None if response.model_version is None else str(response.model_version)
    return Outputs([_checked(tensor, "output") for tensor in response.outputs], version)


def request_rows(inputs: Inputs, mapping: ModelPayloadConfig) -> list[dict[str, Any]]:
    """One feature object per row of the batch, each column under its name."""
    if not inputs.tensors:
        return []
    rows: list[dict[str, Any]] = [{} for _ in range(inputs.tensors[0].rows)]
    for checked in inputs.tensors:
        if checked.rows != len(rows):
            raise Rejected(
                "shape_mismatch",
                f"input {checked.tensor.name!r} has {checked.rows} rows, the inputs before it "
                f"{len(rows)}: the first dimension is the batch, the same for every input",
            )
        names = _column_names(checked, inputs, mapping)
        values, width = checked.values, checked.width
        if width == 1:
            name = names[0]
            for row, value in zip(rows, values, strict=True):
                row[name] = value
        else:
            for i, row in enumerate(rows):
                row.update(zip(names, values[i * width : (i + 1) * width], strict=True))
    return rows


def response_predictions(outputs: Outputs, mapping: ModelPayloadConfig) -> list[Any]:
    """Each row's prediction from the output tensor ``mapping.output`` (or the only one): a
    value per row, or a row of class probabilities as ``{class: probability}``."""
    output = _prediction_output(outputs.tensors, mapping.output)
    if output.width == 1:
        return output.values
    values, width = output.values, output.width
    return [
        probabilities(values[i * width : (i + 1) * width], mapping.classes, f"output row {i}")
        for i in range(output.rows)
    ]


def _checked(tensor: Tensor, role: str) -> Checked:
    what = f"{role} {tensor.name!r}"
    kinds = DATATYPES.get(tensor.datatype)
    if kinds is None:
        raise Rejected(
            "unknown_datatype",
            f"{what} has datatype {tensor.datatype!r}; the Open Inference Protocol's are "
            f"{', '.join(DATATYPES)}",
        )
    shape = tensor.shape
    if not shape or min(shape) < 0:
        raise Rejected(
            "shape_mismatch",
            f"{what} has shape {shape}: it needs the batch dimension, and none negative",
        )
    values, held = _flat(tensor.data, what)
    size = math.prod(shape)
    if len(values) != size:
        raise Rejected(
            "shape_mismatch",
            f"{what} has shape {shape}, {size} elements, but holds {len(values)} values",
        )
    if not held <= kinds:
        wrong = ", ".join(sorted(kind.__name__ for kind in held - kinds))
        raise Rejected("wrong_type", f"{what} is {tensor.datatype} but holds {wrong} values")
    return Checked(tensor, values, shape[0], math.prod(shape[1:]))


def _flat(data: list[Any], what: str) -> tuple[list[Any], set[type]]:
    """The elements in row-major order, from the flat or the nested representation, and
    the kinds of element they are."""
    held = set(map(type, data))
    while list in held:
        if len(held) > 1:
            raise Rejected("shape_mismatch", f"{what} mixes nested arrays and values")
        data = list(chain.from_iterable(data))
        held = set(map(type, data))
    return data, held


def _column_names(checked: Checked, inputs: Inputs, mapping: ModelPayloadConfig) -> tuple[str, ...]:
    """A tensor's column names: configured for it, or in its parameters; for a request's
    only input, in the request's parameters or ``payload.columns``; else a tensor of one
    column per row is the feature of its name."""
    tensor = checked.tensor
    names = mapping.tensors.get(tensor.name) or _named_in(tensor.parameters, tensor.name)
    if names is None and len(inputs.tensors) == 1:
        names = _named_in(inputs.parameters, tensor.name) or mapping.columns or None
    if names is None and checked.width == 1:
        names = (tensor.name,)
    if names is None:
        raise Rejected(
            "missing_field",
            f"input {tensor.name!r} has {checked.width} columns and nothing names them; give "
            f"their names in models.<model>.payload.tensors (or parameters.{COLUMNS_PARAMETER})",
        )
    if len(names) != checked.width:
        raise Rejected(
            "shape_mismatch",
            f"input {tensor.name!r} has {checked.width} columns, but {len(names)} names are "
            "given for them",
        )
    return names


def _named_in(parameters: Mapping[str, Any] | None, tensor: str) -> tuple[str, ...] | None:
    """Column names under ``parameters.columns``: a list, or (as the protocol's parameters are
    scalars) a JSON array or comma-separated names in a string."""
    if not parameters or COLUMNS_PARAMETER not in parameters:
        return None
    given = parameters[COLUMNS_PARAMETER]
    if isinstance(given, str):
        try:
            given = json.loads(given) if given.lstrip().startswith("[") else given.split(",")
        except ValueError:
            given = None
        if isinstance(given, list):
            given = [name.strip() if isinstance(name, str) else name for name in given]
    if isinstance(given, list) and given and all(isinstance(name, str) for name in given):
        return tuple(given)
    raise Rejected(
        "wrong_type",
        f"parameters.{COLUMNS_PARAMETER} of input {tensor!r} is not a list of column names",
    )


def _prediction_output(outputs: Sequence[Checked], name: str | None) -> Checked:
    if name is not None:
        for checked in outputs:
            if checked.tensor.name == name:
                return checked
    elif len(outputs) == 1:
        return outputs[0]
    held = ", ".join(repr(checked.tensor.name) for checked in outputs) or "none"
    wanted = f"no output {name!r} (payload.output)" if name else "several outputs"
    raise Rejected(
        "missing_field",
        f"the response has {wanted}; its outputs: {held}"
        + ("" if name else "; name the prediction's in models.<model>.payload.output"),
    )
