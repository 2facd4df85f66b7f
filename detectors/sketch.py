"""Bounded summaries of a categorical signal's long tail, mergeable by addition.

A categorical signal keeps one counter per reference category it names (the
``max_categories`` most frequent); every other value, a rare reference category or one
never seen, is in its *tail*. A feature such as a merchant id or a user agent has tens
of thousands of tail values, and live traffic brings new ones all the time, so the tail
is summarised in a fixed size, whatever the number of distinct values:

* a **count-min sketch** (Cormode and Muthukrishnan, 2005): ``depth`` rows of ``width``
  counters; a value adds 1 to one counter per row, picked by a hash of the value, and
  its count is estimated by the smallest of its ``depth`` counters. The estimate is
  never below the true count and, with probability at least ``1 - delta``, at most
  ``eps * N`` above it, ``N`` the tail values counted, for ``eps = e / width`` and
  ``delta = exp(-depth)`` (:func:`error_bound`). Its counters are plain int64s, so
  sketches of batches, partitions or instances add up to the sketch of their union,
  element by element, as the rest of a window's counters do.
* the **heaviest values by name**: a sketch estimates the count of a value it is
  asked about, but cannot list values. Each batch sends the names of its
  :data:`BATCH_NAMES` heaviest tail values with their counts in the batch, and a window
  keeps the :data:`WINDOW_NAMES` with the largest summed counts (:func:`merge_names`):
  a dictionary of at most that many entries. Summing then trimming is not exact
  addition, so a name's summed count is a lower bound of its window count; a value
  heavy in the window is heavy in most of its batches, so it is among the names, and
  the sketch gives its count.

Hashes (:func:`fingerprints`) depend on the value only: the same in every process and
instance (Python's ``hash`` of a string is not), so sketches built anywhere merge.

Pure computation: numpy and the standard library only.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

SKETCH_WIDTH = 256
"""Counters per row: ``eps = e / 256``, about 1.06 % of the tail values counted."""

SKETCH_DEPTH = 4
"""Rows: ``delta = exp(-4)``, an estimate within ``eps * N`` with probability 98.2 %."""

BATCH_NAMES = 8
"""Heaviest tail values of a batch (of one window) sent by name with the batch."""

WINDOW_NAMES = 16
"""Heaviest tail values a window keeps by name, per signal: the bound of that state."""

NAME_CHARS = 200
"""A longer value is named by its first ``NAME_CHARS`` characters and ``…`` (the sketch
counts it whole; its named count is then all the estimate there is)."""

_CUT = "\u2026"

_HASH_KEY = b"drift-monitor/sketch/v1"


def error_bound(width: int, depth: int) -> tuple[float, float]:
    """``(eps, delta)``: an estimate is within ``eps * N`` of the count with prob. 1 - delta."""
    return math.e / width, math.exp(-depth)


def fingerprints(values: Sequence[str]) -> NDArray[np.uint64]:
    """A 64-bit hash of each value, the same in every process and on every machine.

    Values of up to ``_SHORT`` characters (nearly all) are hashed together in numpy: a
    64-bit FNV-1a over their code points, seeded with their length, then the SplitMix64
    finaliser; a Python call per value would cost more than the rest of a batch's
    counting. Longer values take a keyed BLAKE2b of their UTF-8 bytes, one by one.
    """
    prints = np.empty(len(values), dtype=np.uint64)
    if not values:
        return prints
    lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    short = lengths <= _SHORT
    if short.all():
        prints[:] = _short_hashes(np.asarray(values, dtype=str), lengths)
    else:
        rows = np.flatnonzero(short)
        if rows.size:
            texts = np.asarray([values[i] for i in rows.tolist()], dtype=str)
            prints[rows] = _short_hashes(texts, lengths[rows])
        for i in np.flatnonzero(~short).tolist():
            digest = hashlib.blake2b(
                values[i].encode("utf-8", "surrogatepass"), digest_size=8, key=_HASH_KEY
            ).digest()
            prints[i] = int.from_bytes(digest, "little")
    return prints


_SHORT = 64
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


def _short_hashes(texts: NDArray[np.str_], lengths: NDArray[np.int64]) -> NDArray[np.uint64]:
    """FNV-1a of each text's code points (``texts`` a fixed-width ``<U`` array), mixed."""
    width = texts.dtype.itemsize // 4
    points = texts.view(np.uint32).reshape(texts.size, width) if width else None
    with np.errstate(over="ignore"):
        h = _FNV_OFFSET ^ lengths.astype(np.uint64)
        for column in range(width):  # past a text's end, its hash is left as it is
            assert points is not None
            mixed = (h ^ points[:, column].astype(np.uint64)) * _FNV_PRIME
            h = np.where(lengths > column, mixed, h)
    return _mix(h)


def _mix(h: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """The SplitMix64 finaliser: every input bit moves about half the output bits."""
    with np.errstate(over="ignore"):
        h = h ^ (h >> np.uint64(30))
        h = h * np.uint64(0xBF58476D1CE4E5B9)
        h = h ^ (h >> np.uint64(27))
        h = h * np.uint64(0x94D049BB133111EB)
        return h ^ (h >> np.uint64(31))


def sketch_cells(prints: NDArray[np.uint64], width: int, depth: int) -> NDArray[np.intp]:
    """``(depth, n)``: the counter of each value in each row, as positions in the flat sketch.

    Row ``i`` takes ``mix(fingerprint + i * golden) mod width``, ``mix`` the SplitMix64
    finaliser: rows as good as independent. (Double hashing, ``h1 + i * h2``, is
    cheaper, but two values whose ``h1`` and ``h2`` agree modulo the width share all
    their counters: one pair in ``width ** 2``, which a bot's value met among a window's
    thousands of ids in tests.)
    """
    rows = np.arange(depth, dtype=np.uint64)[:, None] * np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        column = _mix(prints[None, :] + rows) % np.uint64(width)
    offsets = np.arange(depth, dtype=np.uint64)[:, None] * np.uint64(width)
    cells: NDArray[np.intp] = (column + offsets).astype(np.intp)
    return cells


def sketch_counts(prints: NDArray[np.uint64], width: int, depth: int) -> NDArray[np.int64]:
    """The sketch of these values: ``depth * width`` counters, row after row."""
    counts: NDArray[np.int64] = np.bincount(
        sketch_cells(prints, width, depth).ravel(), minlength=width * depth
    ).astype(np.int64)
    return counts


def sketch_estimates(
    counters: NDArray[np.int64], prints: NDArray[np.uint64], width: int, depth: int
) -> NDArray[np.int64]:
    """Estimated count of each value: the smallest of its counters (never below the count)."""
    estimates: NDArray[np.int64] = counters[sketch_cells(prints, width, depth)].min(axis=0)
    return estimates


def heaviest(values: Sequence[str], keep: int = BATCH_NAMES) -> dict[str, int]:
    """The ``keep`` most frequent values with their counts (ties by value, so it reproduces).

    Values longer than ``NAME_CHARS`` are named cut (:func:`cut_name`), so a window's
    names stay bounded in bytes too.
    """
    if values and max(map(len, values)) > NAME_CHARS:
        values = [value if len(value) <= NAME_CHARS else cut_name(value) for value in values]
    return _top(Counter(values), keep)


def cut_name(value: str) -> str:
    """How a value longer than ``NAME_CHARS`` is named."""
    return value[:NAME_CHARS] + _CUT


def is_cut(name: str) -> bool:
    """Whether a name is a longer value cut (its sketch estimate is then not known)."""
    return len(name) == NAME_CHARS + 1 and name.endswith(_CUT)


def merge_names(
    first: Mapping[str, int], second: Mapping[str, int], keep: int = WINDOW_NAMES
) -> dict[str, int]:
    """Counts summed by name, then the ``keep`` largest (as ``apply_batch.lua`` merges them)."""
    merged = Counter(first)
    merged.update(second)
    return _top(merged, keep)


def _top(counts: Mapping[str, int], keep: int) -> dict[str, int]:
    """The ``keep`` largest counts, heaviest first, ties by value.

    Two C-level sorts, by value then (stably) by count, rather than one sort on a
    Python key: a batch may name thousands of values seen once.
    """
    ranked = sorted(counts)
    ranked.sort(key=counts.__getitem__, reverse=True)  # reverse keeps ties in order
    return {value: counts[value] for value in ranked[:keep]}
