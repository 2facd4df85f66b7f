"""Plain-data encoding of numpy arrays for state stored outside the process.

State read back from Redis is never unpickled: arrays travel as
``{"dtype", "shape", "data"}`` with the raw little-endian bytes in base64,
and the dtype is checked against an allow-list before ``frombuffer``.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
from numpy.typing import NDArray

_ALLOWED_DTYPES = frozenset({"<f8", "<i8"})


def encode_array(array: NDArray[Any]) -> dict[str, Any]:
    """Encode a float64 or int64 array as JSON-safe plain data."""
    little = array.astype(array.dtype.newbyteorder("<"), copy=False)
    dtype = little.dtype.str
    if dtype not in _ALLOWED_DTYPES:
        raise ValueError(f"cannot encode arrays of dtype {array.dtype}; use float64 or int64")
    return {
        "dtype": dtype,
        "shape": list(little.shape),
        "data": base64.b64encode(np.ascontiguousarray(little).tobytes()).decode("ascii"),
    }


def decode_array(data: Any) -> NDArray[Any]:
    """Decode what :func:`encode_array` produced, refusing anything else."""
    if not isinstance(data, dict) or set(data) != {"dtype", "shape", "data"}:
        raise ValueError("an encoded array is an object with exactly dtype, shape and data")
    dtype = data["dtype"]
    if dtype not in _ALLOWED_DTYPES:
        raise ValueError(f"refusing to decode an array of dtype {dtype!r}")
    shape = tuple(int(d) for d in data["shape"])
    raw = base64.b64decode(data["data"], validate=True)
    array = np.frombuffer(raw, dtype=np.dtype(dtype))
    if array.size != int(np.prod(shape)):
        raise ValueError(
            f"array data holds {array.size} values, shape {shape} needs {np.prod(shape)}"
        )
    return array.reshape(shape).copy()
