"""The binned counts of each closed window, kept for the report (bounded per model).

A window's hash is deleted once it is recorded, and the history list keeps only
its summary, so nothing else could draw a past window's histogram. Before a
window is recorded, the evaluator copies its counts (the same two vectors the
window hash holds) and its results here: one hash field per window id, and a sorted set of the
ids, trimmed to the newest ``redis.counts_history_size``. Writing is idempotent (a
window evaluated twice after a crash writes the same bytes), so it needs no
coordination with the Lua scripts.

The joint sums grow with the square of the numeric features (d + d(d+1)/2 floats: 3.3 MB
a window at 900); past ``JOINT_KEPT_FEATURES`` they are not kept, and the kept copy says
so by a joint row count of 0, which evaluates to no joint result.

A field is ``<header length: uint32 LE><JSON header><zlib(ints int64 LE + floats
float64 LE)>``; the header names the reference the counts are binned against,
the events, the window's bounds and its model version.
"""

from __future__ import annotations

import json
import logging
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from detectors.evaluate import SignalResult
from detectors.window import WindowCounts, WindowLayout
from monitor.redis_client import redis_errors
from monitor.store import StateStore, StoredWindow

log = logging.getLogger("monitor.report")

_HEADER_SIZE = struct.Struct("<I")

JOINT_KEPT_FEATURES = 64
"""Joint sums are kept for at most this many numeric features (2,144 floats, 17 KB)."""


@dataclass(frozen=True, slots=True)
class PastWindow:
    """A closed window's counts read back from the history."""

    window_id: int
    counts: WindowCounts
    start_ts: float
    end_ts: float
    reference_id: str
    model_version: str | None
    results: tuple[SignalResult, ...] | None = None
    """As recorded (None in a copy kept without them: recompute from the counts)."""


def joint_kept(layout: WindowLayout) -> bool:
    return layout.joint is not None and layout.joint.profile.size <= JOINT_KEPT_FEATURES


def kept_counts(counts: WindowCounts, layout: WindowLayout) -> WindowCounts:
    """The counts as kept: without the joint sums when there are too many of them."""
    if layout.joint is None or joint_kept(layout):
        return counts
    ints = counts.ints.copy()
    ints[layout.joint.rows] = 0
    return WindowCounts(counts.events, ints, counts.floats[: layout.joint.sums.start])


def pack(window: StoredWindow, layout: WindowLayout, results: Sequence[SignalResult] = ()) -> bytes:
    counts = kept_counts(window.counts, layout)
    verdicts = json.dumps(
        [r.row() for r in results],
        separators=(",", ":"),
        allow_nan=True,
    ).encode()
    header = json.dumps(
        {
            "ref": window.reference_id,
            "n": counts.events,
            "start": window.start_ts,
            "end": window.end_ts,
            "version": window.model_version,
            "ints": int(counts.ints.size),
            "floats": int(counts.floats.size),
            "results": len(verdicts) if results else 0,
        },
        separators=(",", ":"),
    ).encode()
    body = counts.ints.astype("<i8").tobytes() + counts.floats.astype("<f8").tobytes()
    if results:
        body += verdicts
    return _HEADER_SIZE.pack(len(header)) + header + zlib.compress(body, 1)


def unpack(window_id: int, blob: bytes) -> PastWindow:
    """A stored field back as counts; ValueError if it is not one."""
    try:
        (size,) = _HEADER_SIZE.unpack_from(blob)
        header: dict[str, Any] = json.loads(blob[4 : 4 + size])
        body = zlib.decompress(blob[4 + size :])
        n_ints, n_floats = int(header["ints"]), int(header["floats"])
        results = _results(body[8 * (n_ints + n_floats) :]) if header.get("results") else None
    except (struct.error, zlib.error, KeyError, TypeError, ValueError) as error:
        raise ValueError(f"window {window_id}: unreadable counts ({error})") from error
    if len(body) != 8 * (n_ints + n_floats) + int(header.get("results", 0)):
        raise ValueError(f"window {window_id}: {len(body)} bytes of counts, expected more")
    ints = np.frombuffer(body, "<i8", n_ints).astype(np.int64)
    floats = np.frombuffer(body, "<f8", n_floats, offset=8 * n_ints).astype(np.float64)
    version = header.get("version")
    return PastWindow(
        window_id,
        WindowCounts(int(header["n"]), ints, floats),
        float(header["start"]),
        float(header["end"]),
        str(header["ref"]),
        None if version is None else str(version),
        results,
    )


def _results(raw: bytes) -> tuple[SignalResult, ...]:
    return tuple(SignalResult(*row) for row in json.loads(raw))


def record(
    store: StateStore,
    model: str,
    window: StoredWindow,
    layout: WindowLayout,
    results: Sequence[SignalResult] = (),
    *,
    keep: int,
) -> None:
    """Keep this window's counts and results; drop those of windows older than the newest
    ``keep`` (``redis.counts_history_size``; one read of the ids, then one MULTI)."""
    if keep < 1:
        return
    keys, limit = store.keys, keep
    ids_key, blobs_key = keys.count_history_ids(model), keys.count_history(model)
    with redis_errors():
        held = [int(_text(i)) for i in store.client.zrange(ids_key, 0, -1)]
        kept = sorted({*held, window.window_id})[-limit:]
        dropped = [str(i) for i in held if i not in set(kept)]
        pipe = store.client.pipeline(transaction=True)
        if window.window_id in kept:
            pipe.hset(blobs_key, str(window.window_id), pack(window, layout, results))
            pipe.zadd(ids_key, {str(window.window_id): window.window_id})
        if dropped:
            pipe.hdel(blobs_key, *dropped)
            pipe.zrem(ids_key, *dropped)
        pipe.execute()


def read(store: StateStore, model: str, last: int | None = None) -> list[PastWindow]:
    """The kept windows, oldest first (only the ``last`` N when given)."""
    ids_key, blobs_key = store.keys.count_history_ids(model), store.keys.count_history(model)
    with redis_errors():
        ids = [int(_text(i)) for i in store.client.zrange(ids_key, -(last or 0), -1)]
        blobs = store.client.hmget(blobs_key, [str(i) for i in ids]) if ids else []
    kept = []
    for window_id, blob in zip(ids, blobs, strict=True):
        if blob is None:
            continue
        try:
            kept.append(unpack(window_id, _bytes(blob)))
        except ValueError as error:  # one bad field costs its window, not the report
            log.warning(
                "kept window counts unreadable", extra={"model": model, "error": str(error)}
            )
    return kept


def fitting(windows: Iterable[PastWindow], layout: WindowLayout) -> list[PastWindow]:
    """The windows binned against this layout's reference (others cannot be drawn on it),
    their floats padded back to the layout's size where the joint sums were not kept."""
    floats = layout.float_size
    if layout.joint is not None and not joint_kept(layout):
        floats = layout.joint.sums.start
    padding = layout.float_size - floats
    return [
        replace(
            w,
            counts=WindowCounts(
                w.counts.events, w.counts.ints, np.concatenate([w.counts.floats, np.zeros(padding)])
            ),
        )
        if padding
        else w
        for w in windows
        if w.reference_id == layout.profile.id
        and w.counts.ints.size == layout.int_size
        and w.counts.floats.size == floats
    ]


def bytes_per_window(layout: WindowLayout) -> int:
    """Uncompressed size of one window's kept counts: the bound of what a field holds."""
    floats = layout.float_size
    if layout.joint is not None and not joint_kept(layout):
        floats = layout.joint.sums.start
    return 8 * (layout.int_size + floats)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()
