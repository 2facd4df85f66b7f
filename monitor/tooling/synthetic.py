"""Synthetic prediction traffic with a known drift, for the demo, the benchmark and the tests.

Every feature's distribution is fixed by the seed, and a :class:`Shift` moves
chosen numeric features by a number of standard deviations from a given event
on, so a test knows exactly which signal must be flagged and from where.
Events are generated a block at a time with numpy and serialised with msgspec.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import msgspec
import numpy as np

CATEGORY_VALUES = ("DE", "FR", "US", "GB", "NL", "ES", "IT", "PL")


@dataclass(frozen=True, slots=True)
class Shift:
    """From event ``start`` on, add ``sd`` standard deviations to each named numeric feature,
    and optionally skew a categorical feature towards its last value."""

    start: int
    numeric: Mapping[str, float] = field(default_factory=dict)
    categorical: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SyntheticModel:
    """A model's feature layout: ``num_0..num_{n-1}`` numeric, ``cat_0..`` categorical;
    with ``segments``, each event is tagged ``{"segment": "s00"}`` .. ``s<segments - 1>``,
    uniformly (drawn last, so the other values are those of the same seed without)."""

    name: str = "fraud"
    numeric: int = 20
    categorical: int = 3
    segments: int = 0

    @property
    def numeric_names(self) -> list[str]:
        return [f"num_{i}" for i in range(self.numeric)]

    @property
    def categorical_names(self) -> list[str]:
        return [f"cat_{i}" for i in range(self.categorical)]

    def features(self) -> dict[str, str]:
        """The ``features`` mapping of this model's config."""
        kinds = dict.fromkeys(self.numeric_names, "numeric")
        kinds.update(dict.fromkeys(self.categorical_names, "categorical"))
        return kinds


def _means(model: SyntheticModel) -> np.ndarray:
    return np.linspace(0.0, 50.0, model.numeric)


def _scales(model: SyntheticModel) -> np.ndarray:
    return np.linspace(1.0, 10.0, model.numeric)


def generate(
    model: SyntheticModel,
    start: int,
    count: int,
    *,
    seed: int = 0,
    shift: Shift | None = None,
    base_ts: float = 1_764_182_400.0,
    events_per_second: float = 100.0,
) -> list[bytes]:
    """Events ``start .. start+count-1`` as JSON message values; a seed always gives the same."""
    rng = np.random.default_rng([seed, start])
    means, scales = _means(model), _scales(model)
    numeric = rng.normal(means, scales, size=(count, model.numeric))
    probabilities = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.08, 0.05, 0.02])
    categorical = rng.choice(len(CATEGORY_VALUES), p=probabilities, size=(count, model.categorical))
    index = np.arange(start, start + count)
    if shift is not None:
        after = index >= shift.start
        names = model.numeric_names
        for name, sd in shift.numeric.items():
            j = names.index(name)
            numeric[after, j] += sd * scales[j]
        for name in shift.categorical:
            j = model.categorical_names.index(name)
            skewed = rng.random(count) < 0.5
            categorical[after & skewed, j] = len(CATEGORY_VALUES) - 1
    segments = rng.integers(0, model.segments, size=count).tolist() if model.segments else None
    scores = 1.0 / (1.0 + np.exp(-(numeric[:, 0] - means[0]) / scales[0]))
    ts = base_ts + index / events_per_second
    numeric_names = model.numeric_names
    categorical_names = model.categorical_names
    rows = numeric.tolist()
    cats = categorical.tolist()
    encode = msgspec.json.Encoder().encode
    out = []
    for i in range(count):
        features: dict[str, object] = dict(zip(numeric_names, rows[i], strict=True))
        features.update(zip(categorical_names, (CATEGORY_VALUES[c] for c in cats[i]), strict=True))
        event: dict[str, object] = {
            "event_id": f"e{index[i]}",
            "model": model.name,
            "model_version": "1",
            "ts": float(ts[i]),
            "features": features,
            "prediction": float(scores[i]),
        }
        if segments is not None:
            event["tags"] = {"segment": f"s{segments[i]:02d}"}
        out.append(encode(event))
    return out


def blocks(
    model: SyntheticModel,
    total: int,
    *,
    block: int = 10_000,
    seed: int = 0,
    shift: Shift | None = None,
    start: int = 0,
) -> Iterator[list[bytes]]:
    """The stream in blocks of ``block`` events, so large streams never sit in memory whole."""
    for offset in range(start, start + total, block):
        yield generate(model, offset, min(block, start + total - offset), seed=seed, shift=shift)
