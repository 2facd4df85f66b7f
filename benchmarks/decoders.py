"""Decoder choice for the hot path: the same batch of message values, five ways.

Run::

    .venv/bin/python benchmarks/decoders.py [--events N] [--batch B]

Every contender turns a batch of JSON prediction events (20 numeric and 3
categorical features, ~700 bytes each, from ``monitor.tooling.synthetic``) into what
the daemon needs, numeric feature columns as float64 arrays, so the figures
compare like with like:

``msgspec_typed``
    the daemon's own ``EventDecoder``: one typed msgspec decode per value,
    then columns (type checks, dead letters and mismatch counts included).
``msgspec_dicts``
    ``msgspec.json.decode`` of each value to dicts, then columns by key.
``orjson_dicts``
    ``orjson.loads`` of each value, then columns by key.
``pyarrow_ndjson``
    the values joined with newlines, read by ``pyarrow.json.read_json``.
``polars_ndjson``
    the same joined bytes, read by ``polars.read_ndjson``.

The NDJSON readers parse a whole batch in C, but a single bad message fails
the whole batch and they infer types per batch (a string in a numeric column
changes the column's type), so they would need the per-message path behind
them anyway; the figures say what that robustness costs. A contender whose
package is missing is skipped (``pip install orjson polars`` adds the two that
are not dependencies of the project).

Measured here (100k events, batches of 5,000): msgspec_typed 215k events/s,
msgspec_dicts 142k, orjson_dicts 113k, pyarrow_ndjson 216k, polars_ndjson 197k.
The typed per-message decode is as fast as the whole-batch NDJSON readers and
keeps per-message error handling, so it stays.
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable
from typing import Any

import msgspec
import numpy as np

from monitor.config import parse_config
from monitor.decode import EventDecoder
from monitor.origins import Origins
from monitor.tooling.synthetic import SyntheticModel, generate

MODEL = SyntheticModel()
NUMERIC = MODEL.numeric_names


def _columns_from_dicts(events: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    features = [event["features"] for event in events]
    return {name: np.array([f.get(name) for f in features], dtype=np.float64) for name in NUMERIC}


def contenders() -> dict[str, Callable[[list[bytes]], object]]:
    config = parse_config(
        {
            "models": {
                MODEL.name: {
                    "reference": {"path": "unused.jsonl"},
                    "window": {"events": 5000},
                    "features": MODEL.features(),
                    "prediction": "numeric",
                }
            }
        }
    )
    decoder = EventDecoder(config)

    def msgspec_typed(values: list[bytes]) -> object:
        return (
            decoder.decode(values, Origins.of_lines("bench", len(values), 0.0))
            .models[MODEL.name]
            .numeric
        )

    def msgspec_dicts(values: list[bytes]) -> object:
        return _columns_from_dicts(list(map(msgspec.json.decode, values)))

    found: dict[str, Callable[[list[bytes]], object]] = {
        "msgspec_typed": msgspec_typed,
        "msgspec_dicts": msgspec_dicts,
    }
    try:
        import orjson

        found["orjson_dicts"] = lambda values: _columns_from_dicts(list(map(orjson.loads, values)))
    except ImportError:
        pass
    try:
        import pyarrow.json as pa_json

        def pyarrow_ndjson(values: list[bytes]) -> object:
            table = pa_json.read_json(io.BytesIO(b"\n".join(values)))
            features = table.column("features").combine_chunks()
            return {name: features.field(name).to_numpy(zero_copy_only=False) for name in NUMERIC}

        found["pyarrow_ndjson"] = pyarrow_ndjson
    except ImportError:
        pass
    try:
        import polars as pl

        def polars_ndjson(values: list[bytes]) -> object:
            frame = pl.read_ndjson(io.BytesIO(b"\n".join(values))).unnest("features")
            return {name: frame[name].to_numpy() for name in NUMERIC}

        found["polars_ndjson"] = polars_ndjson
    except ImportError:
        pass
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args()
    values = generate(MODEL, 0, args.events, seed=2)
    batches = [values[i : i + args.batch] for i in range(0, len(values), args.batch)]
    reference = None
    for name, decode in contenders().items():
        decode(batches[0])  # warm-up: imports, caches
        started = time.perf_counter()
        for batch in batches:
            out = decode(batch)
        rate = args.events / (time.perf_counter() - started)
        first = decode(batches[0])
        assert isinstance(first, dict)
        if reference is None:
            reference = first
        same = all(np.allclose(first[k], reference[k]) for k in NUMERIC)
        print(f"{name:>15}: {rate:>10,.0f} events/s  columns equal to msgspec_typed: {same}")
        del out


if __name__ == "__main__":
    main()
