"""Assigning one model's events of a micro-batch to tumbling windows.

Count windows number the model's events in the order they are counted (the
``events`` counter in Redis, minus events that went into a stream-built
reference): window ``w`` holds events ``w*N .. w*N+N-1`` and closes when its
last event is counted. Event-time windows hold events with
``w*S <= ts < (w+1)*S`` and close when the model's watermark, minus
``allowed_lateness_seconds``, passes their end; an event for a window that has
already closed is counted as late, not lost: it stays in the model's event
total and the ``late`` counter.

The watermark is the *smallest* of the partitions' largest event times, as in
Kafka Streams or Flink: a partition consumed behind the others (a backlog, a
rebalance, an instance restarting) holds windows open until it catches up,
instead of finding them closed. A partition assigned but not yet seen holds
windows open too (its first events may be older than the others'). A partition
no batch has carried for ``idle_partition_seconds`` (wall clock; for one never
seen, since it was first assigned) stops holding the watermark back, so a quiet
partition cannot stop every window from closing. The watermark never moves
back.

The plan is computed from a :class:`ModelCursor` read from Redis, without I/O; the
apply script refuses it if the model moved meanwhile, and the caller re-plans.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from detectors.profile import ReferenceProfile
from detectors.window import WindowLayout
from monitor.batch_data import ModelCursor, ModelWrite, WindowDelta
from monitor.config import ModelConfig
from monitor.decode import MAX_EVENT_TIME, ModelColumns
from monitor.profiles import build_model_profile


@dataclass(frozen=True, slots=True)
class Plan:
    """A model's write for one batch, and the cursor and layout once it is applied."""

    write: ModelWrite
    cursor: ModelCursor
    layout: WindowLayout | None
    row_windows: NDArray[np.int64]
    """The window of each row of the batch; -1 for rows in no window (reference, late)."""


def completes_reference(
    model: ModelConfig, cursor: ModelCursor, layout: WindowLayout | None, rows: int
) -> bool:
    """Whether a batch of ``rows`` events completes the model's stream-built reference,
    so the rows collected before it must be read to build it."""
    wanted = model.reference.from_stream
    return layout is None and wanted is not None and cursor.reference_collected + rows >= wanted


def plan_model_write(
    model: ModelConfig,
    cursor: ModelCursor,
    layout: WindowLayout | None,
    columns: ModelColumns,
    stored_chunks: Sequence[bytes],
    now: float,
    partitions: NDArray[np.int64] | None = None,
    assigned: frozenset[int] = frozenset(),
) -> Plan:
    """Work out what a batch changes for one model, without touching Redis.

    ``stored_chunks``: the rows collected so far for a stream-built reference, read when
    :func:`completes_reference` says this batch needs them; ``partitions``: each row's
    partition of the predictions topic (None: all one); ``assigned``: the partitions of
    that topic this instance owns.
    """
    write = ModelWrite(model=model.name, expected_events=cursor.events, events=columns.rows)
    collected = cursor.reference_collected
    start = 0
    if layout is None:
        wanted = model.reference.from_stream
        if wanted is None:
            raise ValueError(f"model {model.name!r} has no reference profile loaded")
        start = min(columns.rows, wanted - collected)
        chunk = _reference_chunk(columns, 0, start)
        collected += start
        write.reference_rows = start
        if collected >= wanted:
            profile = _profile_from_chunks(model, [*stored_chunks, chunk], now)
            write.reference = profile
            layout = WindowLayout(profile)
        else:
            write.reference_chunk = chunk
    if layout is not None:
        write.reference_id = layout.profile.id
    open_windows = set(cursor.open_windows)
    watermark = cursor.watermark
    marks = cursor.partition_marks
    row_windows = np.full(columns.rows, -1, dtype=np.int64)
    if layout is not None and start < columns.rows:
        if model.window.events is not None:
            position = cursor.events + start - collected
            _count_windows(model.window.events, position, layout, columns, start, write)
            row_windows[start:] = (
                position + np.arange(columns.rows - start)
            ) // model.window.events
        else:
            rows_partitions = (
                np.zeros(columns.rows - start, np.int64)
                if partitions is None
                else partitions[start:]
            )
            watermark = _time_windows(
                model,
                cursor,
                layout,
                columns,
                start,
                write,
                row_windows,
                _Partitions(rows_partitions, assigned),
                now,
            )
            marks = write.partition_marks or marks
        open_windows.update(d.window_id for d in write.windows)
        open_windows.difference_update(write.close)
    return Plan(
        write=write,
        cursor=ModelCursor(
            events=cursor.events + columns.rows,
            watermark=watermark,
            reference_collected=collected,
            open_windows=frozenset(open_windows),
            partition_marks=marks,
        ),
        layout=layout,
        row_windows=row_windows,
    )


def encode_columns(
    layout: WindowLayout, columns: ModelColumns, rows: slice
) -> dict[str, NDArray[Any]]:
    """The selected rows as :meth:`WindowLayout.accumulate` takes them (categories as slots)."""
    encoded: dict[str, NDArray[Any]] = {}
    for name, where in layout.signals.items():
        if name in columns.numeric:
            encoded[name] = columns.numeric[name][rows]
        else:
            profile = where.profile
            values = columns.categorical[name][rows]
            encoded[name] = profile.encode(values)  # type: ignore[union-attr]
    return encoded


def categorical_values(columns: ModelColumns, rows: slice) -> dict[str, list[Any]]:
    """The selected rows' raw categorical values, which name and sketch the tail."""
    return {name: column[rows] for name, column in columns.categorical.items()}


def _count_windows(
    size: int,
    position: int,
    layout: WindowLayout,
    columns: ModelColumns,
    start: int,
    write: ModelWrite,
) -> None:
    """Contiguous runs of events per window: slices, never masks."""
    rows = slice(start, columns.rows)
    encoded = encode_columns(layout, columns, rows)
    values = categorical_values(columns, rows)
    mismatches = {k: v[rows] for k, v in columns.mismatches.items()}
    ts = columns.ts[rows]
    total = columns.rows - start
    offset = 0
    while offset < total:
        window_id, used = divmod(position + offset, size)
        take = min(size - used, total - offset)
        part = slice(offset, offset + take)
        write.windows.append(
            WindowDelta(
                window_id=window_id,
                counts=layout.accumulate(encoded, mismatches, part, values),
                start_ts=float(np.nanmin(ts[part])) if take else math.nan,
                end_ts=float(np.nanmax(ts[part])) if take else math.nan,
                model_version=_last_version(
                    columns.model_versions, range(start + offset, start + offset + take)
                ),
            )
        )
        if used + take == size:
            write.close.append(window_id)
        offset += take


def _time_windows(
    model: ModelConfig,
    cursor: ModelCursor,
    layout: WindowLayout,
    columns: ModelColumns,
    start: int,
    write: ModelWrite,
    row_windows: NDArray[np.int64],
    partitions: _Partitions,
    now: float,
) -> float | None:
    """Group by event-time window; returns the new watermark (see the module's doc)."""
    seconds = model.window.seconds
    assert seconds is not None
    lateness = model.window.allowed_lateness_seconds
    rows = slice(start, columns.rows)
    ts = columns.ts[rows]
    # The decoder only lets through event times in [0, MAX_EVENT_TIME); anything else
    # cannot be placed in a window and is counted as late rather than crash the batch.
    placeable = (ts >= 0) & (ts < MAX_EVENT_TIME)
    window_ids = np.floor(np.where(placeable, ts, 0.0) / seconds)
    late = ~placeable
    if cursor.watermark is not None:
        late |= (window_ids + 1) * seconds <= cursor.watermark - lateness
    write.late = int(np.count_nonzero(late))
    encoded = encode_columns(layout, columns, rows)
    values = categorical_values(columns, rows)
    mismatches = {k: v[rows] for k, v in columns.mismatches.items()}
    on_time = ~late
    row_windows[start:] = np.where(on_time, window_ids, -1).astype(np.int64)
    for window_id in np.unique(window_ids[on_time]).astype(np.int64).tolist():
        members = on_time & (window_ids == window_id)
        write.windows.append(
            WindowDelta(
                window_id=window_id,
                counts=layout.accumulate(encoded, mismatches, members, values),
                start_ts=float(ts[members].min()),
                end_ts=float(ts[members].max()),
                model_version=_last_version(
                    columns.model_versions, (start + np.flatnonzero(members)).tolist()
                ),
            )
        )
    watermark = _watermark(
        model,
        cursor,
        write,
        ts[placeable],
        _Partitions(partitions.rows[placeable], partitions.assigned),
        now,
    )
    if watermark is not None:
        candidates = set(cursor.open_windows) | {d.window_id for d in write.windows}
        write.watermark = watermark
        write.close = sorted(w for w in candidates if (w + 1) * seconds <= watermark - lateness)
    return watermark


class _Partitions(NamedTuple):
    rows: NDArray[np.int64]
    """Each row's partition."""
    assigned: frozenset[int]


def _watermark(
    model: ModelConfig,
    cursor: ModelCursor,
    write: ModelWrite,
    seen: NDArray[np.float64],
    partitions: _Partitions,
    now: float,
) -> float | None:
    """The smallest largest-event-time of the partitions not idle, never below the last.

    An assigned partition not seen yet is marked ``-inf`` from now: until it is seen or
    idle, it holds the watermark where it is.
    """
    marks = dict(cursor.partition_marks)
    for partition in partitions.assigned - marks.keys():
        marks[partition] = (-math.inf, now)
    for partition in np.unique(partitions.rows).tolist():
        latest = float(seen[partitions.rows == partition].max())
        previous = marks.get(partition)
        marks[partition] = (latest if previous is None else max(previous[0], latest), now)
    if marks != cursor.partition_marks:
        write.partition_marks = marks
    idle = model.window.idle_partition_seconds
    active = [latest for latest, seen_at in marks.values() if now - seen_at <= idle]
    watermark = cursor.watermark
    if active and math.isfinite(lowest := min(active)):
        watermark = lowest if watermark is None else max(watermark, lowest)
    return watermark


def _last_version(versions: list[str | None], rows: Sequence[int]) -> str | None:
    """The model version of the latest of these rows that names one (None if none does)."""
    for row in reversed(rows):
        if row < len(versions) and versions[row] is not None:
            return versions[row]
    return None


def _reference_chunk(columns: ModelColumns, begin: int, end: int) -> bytes:
    """A batch's rows for a stream-built reference, as JSON (NaN as null)."""
    chunk = {
        "numeric": {
            name: [None if math.isnan(v) else v for v in column[begin:end].tolist()]
            for name, column in columns.numeric.items()
        },
        "categorical": {name: column[begin:end] for name, column in columns.categorical.items()},
    }
    return json.dumps(chunk, separators=(",", ":")).encode()


def _profile_from_chunks(model: ModelConfig, chunks: list[bytes], now: float) -> ReferenceProfile:
    numeric: dict[str, list[float]] = {}
    categorical: dict[str, list[Any]] = {}
    for raw in chunks:
        chunk = json.loads(raw)
        for name, values in chunk["numeric"].items():
            numeric.setdefault(name, []).extend(math.nan if v is None else v for v in values)
        for name, values in chunk["categorical"].items():
            categorical.setdefault(name, []).extend(values)
    columns: dict[str, NDArray[Any]] = {
        name: np.asarray(values, dtype=np.float64) for name, values in numeric.items()
    }
    columns.update({name: np.asarray(values, dtype=object) for name, values in categorical.items()})
    return build_model_profile(
        model, columns, created_at=now, source=f"stream: first {model.reference.from_stream} events"
    )
