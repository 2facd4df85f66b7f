"""Segmented traffic for the segment tests: events tagged by region, with known shifts.

Each event has three numeric features, one categorical, a score, and the tag ``region``
drawn from the given shares; a :class:`SegmentShift` moves ``num_0`` of one region's
events by a number of standard deviations, so a test knows which segment must be flagged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

FEATURES = {"num_0": "numeric", "num_1": "numeric", "num_2": "numeric", "cat_0": "categorical"}
BASE_TS = 1_764_182_400.0
RATE = 100.0  # events per second of event time


@dataclass(frozen=True, slots=True)
class SegmentShift:
    """``num_0`` of ``region``'s events (every event's: None) from event ``start`` on,
    ``sd`` deviations higher."""

    region: str | None
    sd: float
    start: int = 0


def regions(count: int) -> list[str]:
    return [f"r{i:02d}" for i in range(count)]


def segmented_events(
    shares: Mapping[str, float],
    count: int,
    *,
    seed: int,
    first: int = 0,
    shift: SegmentShift | None = None,
    versions: Sequence[tuple[int, str]] = ((0, "3"),),
    extra_tags: Sequence[str] | None = None,
) -> list[bytes]:
    """Events ``first .. first+count-1``; ``versions``: (from event, model_version) steps;
    ``extra_tags``: a tag value per event instead of the shares' regions."""
    rng = np.random.default_rng([seed, first])
    names = list(shares)
    weights = np.array([shares[n] for n in names], dtype=np.float64)
    picked = rng.choice(len(names), p=weights / weights.sum(), size=count)
    numeric = rng.normal([0.0, 10.0, -5.0], [1.0, 2.0, 3.0], size=(count, 3))
    index = np.arange(first, first + count)
    if shift is not None:
        region = np.array(names)[picked]
        moved = (region == shift.region if shift.region else True) & (index >= shift.start)
        numeric[moved, 0] += shift.sd
    cats = rng.choice(["a", "b", "c", "d"], p=[0.4, 0.3, 0.2, 0.1], size=count)
    encode = msgspec.json.Encoder().encode
    out = []
    for i in range(count):
        n = int(index[i])
        version = next(v for start, v in reversed(versions) if n >= start)
        region = names[picked[i]] if extra_tags is None else extra_tags[i]
        event: dict[str, Any] = {
            "event_id": f"e{n}",
            "model": "fraud",
            "model_version": version,
            "ts": BASE_TS + n / RATE,
            "features": {
                "num_0": float(numeric[i, 0]),
                "num_1": float(numeric[i, 1]),
                "num_2": float(numeric[i, 2]),
                "cat_0": str(cats[i]),
            },
            "prediction": float(1.0 / (1.0 + np.exp(-numeric[i, 0]))),
            "tags": {"region": region},
        }
        out.append(encode(event))
    return out


def write_events(path: Path, events: Sequence[bytes]) -> Path:
    path.write_bytes(b"\n".join(events) + b"\n")
    return path
