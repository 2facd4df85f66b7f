"""A window's quality counters as Redis keeps them: packed vectors, and single counters.

The storage format of :class:`detectors.quality.QualityCounts`, on the store's side: the
label path counts, the store packs what it writes and unpacks what it reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np

from detectors.quality import AUC_BINS, QualityCounts, QualityTask

# A window's quality counters travel to and live in Redis as two packed little-endian
# vectors (int64, float64) per task, added to element by element in the apply script:
# one HINCRBY per counter cost ~400 calls per window (the AUC histograms) and batch, and
# labels 0 to 10 minutes late touch a dozen windows per batch. Each packed field is named
# with its task and length, so a layout that changes never adds into another's vector.
_PACKED_INT = "<i8"
_PACKED_FLOAT = "<f8"


@dataclass(frozen=True, slots=True)
class QualityLayout:
    """The counters of a task that are packed, in order; others are kept one per field."""

    task: QualityTask
    ints: tuple[str, ...]
    floats: tuple[str, ...]

    @property
    def int_field(self) -> str:
        return f"pi:{self.task}:{len(self.ints)}"

    @property
    def float_field(self) -> str:
        return f"pf:{self.task}:{len(self.floats)}"


def _layout(task: QualityTask) -> QualityLayout:
    if task == "binary":
        bins = tuple(f"{side}{b}" for side in ("pos", "neg") for b in range(AUC_BINS))
        ints = ("n", "tp", "fp", "fn", "tn", "scored", *bins)
        return QualityLayout(task, ints, ("log_loss", "brier"))
    if task == "multiclass":
        return QualityLayout(task, ("n", "correct"), ())
    return QualityLayout(task, ("n",), ("err", "abs", "sq"))


LAYOUTS: Final[Mapping[str, QualityLayout]] = {
    task: _layout(task) for task in ("binary", "multiclass", "regression")
}


@dataclass(frozen=True, slots=True)
class PackedQuality:
    """A window's quality delta as the apply script adds it."""

    packed: list[tuple[str, bytes, str]]
    """(hash field, little-endian vector, Lua struct code) to add element by element."""
    ints: dict[str, int]
    floats: dict[str, float]
    """Counters outside the layout, added one by one (``i:`` / ``f:`` fields)."""


def pack_quality(task: QualityTask | None, counts: QualityCounts) -> PackedQuality:
    """A window's quality delta: the task's layout packed, the rest one counter each."""
    packed: list[tuple[str, bytes, str]] = []
    ints, floats = dict(counts.ints), dict(counts.floats)
    if task is None:
        return PackedQuality(packed, ints, floats)
    layout = LAYOUTS[task]
    if layout.ints:
        vector = np.array([ints.pop(name, 0) for name in layout.ints], dtype=_PACKED_INT)
        packed.append((layout.int_field, vector.tobytes(), "i8"))
    if layout.floats:
        values = [floats.pop(name, 0.0) for name in layout.floats]
        packed.append((layout.float_field, np.array(values, dtype=_PACKED_FLOAT).tobytes(), "d"))
    return PackedQuality(packed, ints, floats)


def unpack_quality(fields: Mapping[str, bytes]) -> QualityCounts:
    """A window's quality counters from its hash: packed vectors and single counters.

    Zero integer counters are left out, as a hash of single counters never had them.
    A vector whose layout this version does not know is skipped.
    """
    ints: dict[str, int] = {}
    floats: dict[str, float] = {}
    for name, value in fields.items():
        kind, _, rest = name.partition(":")
        if kind == "i":
            ints[rest] = ints.get(rest, 0) + int(value)
        elif kind == "f":
            floats[rest] = floats.get(rest, 0.0) + float(value)
        elif kind in ("pi", "pf"):
            task, _, size = rest.partition(":")
            layout = LAYOUTS.get(task)
            if layout is None:
                continue
            names = layout.ints if kind == "pi" else layout.floats
            if not size.isdigit() or int(size) != len(names) or len(value) != 8 * len(names):
                continue
            if kind == "pi":
                vector = np.frombuffer(value, dtype=_PACKED_INT).tolist()
                for counter, count in zip(names, vector, strict=True):
                    if count:
                        ints[counter] = ints.get(counter, 0) + count
            else:
                sums = np.frombuffer(value, dtype=_PACKED_FLOAT).tolist()
                for counter, total in zip(names, sums, strict=True):
                    floats[counter] = floats.get(counter, 0.0) + total
    return QualityCounts(ints, floats)
