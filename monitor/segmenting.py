"""A segmented model's segments: what each is judged against, and a batch's counts of each.

Segments share the model's windows: a segment's window ``w`` holds the segment's events
of the model's window ``w``, so it closes with it, is evaluated with it (one family of
tests, one false-alarm budget) and is written with it, as fields of the same window
hash (``ints@region=eu``, ...; see ``apply_batch.lua``): exactly once and merging across
partitions and instances come with the model's window. A segment has its own
reference, though: the reference rows of that segment (:mod:`detectors.segments`).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from detectors.evaluate import WindowPart
from detectors.grouped_counts import Group, accumulate_groups
from detectors.profile import SegmentReference
from detectors.segments import SegmentKey, whole_reference_for
from detectors.window import WindowCounts, WindowLayout
from monitor.batch_data import SegmentWindow
from monitor.config import ModelConfig, SegmentsConfig
from monitor.decode import ModelColumns, take
from monitor.profiles import segment_keys
from monitor.windowing import Plan


@dataclass(frozen=True, slots=True)
class Segment:
    """One segment of a key, and what it is judged against."""

    name: str
    """``region=eu``, ``region=__other__``."""
    reference_rows: int
    layout: WindowLayout | None
    """Its own reference's, or the whole reference's (a thin segment, when the config says
    so); None when it is not judged."""
    basis: str
    """``own``, ``whole``, or why it is not judged (thin or absent in the reference)."""


@dataclass(frozen=True, slots=True)
class SegmentedKey:
    """A segment key of the model, its reference, and its segments in code order."""

    key: SegmentKey
    reference: SegmentReference
    segments: tuple[Segment, ...]


_SEGMENTATIONS: weakref.WeakKeyDictionary[
    WindowLayout, tuple[SegmentsConfig, tuple[SegmentedKey, ...]]
] = weakref.WeakKeyDictionary()
"""Each live layout's segments, made once per config (profiles never change)."""


def segmentation(model: ModelConfig, layout: WindowLayout) -> tuple[SegmentedKey, ...]:
    """The segments of ``model`` as its reference in ``layout`` defines them (empty for a
    model not segmented)."""
    cached = _SEGMENTATIONS.get(layout)
    if cached is not None and cached[0] == model.segments:
        return cached[1]
    keys = {key.key: key for key in segment_keys(model)}
    made = tuple(
        SegmentedKey(keys[reference.key], reference, _segments(model, layout, keys[reference.key]))
        for reference in layout.profile.segments
        if reference.key in keys
    )
    _SEGMENTATIONS[layout] = (model.segments, made)
    return made


def _segments(model: ModelConfig, layout: WindowLayout, key: SegmentKey) -> tuple[Segment, ...]:
    reference = next(r for r in layout.profile.segments if r.key == key.key)
    whole: WindowLayout | None = None
    segments = []
    for value, rows in zip(reference.names, reference.rows, strict=True):
        name = reference.segment_name(value)
        own = reference.profiles.get(value)
        if own is not None:
            segments.append(Segment(name, rows, WindowLayout(own), "own"))
            continue
        if model.segments.thin_reference == "whole":
            whole = whole or WindowLayout(whole_reference_for(layout.profile, key))
            segments.append(Segment(name, rows, whole, "whole"))
            continue
        why = (
            "absent from the reference"
            if rows == 0
            else f"thin in the reference: {rows} rows, fewer than min_reference_events "
            f"{reference.min_rows}"
        )
        segments.append(Segment(name, rows, None, why))
    return tuple(segments)


def count_segments(
    keys: Sequence[SegmentedKey], columns: ModelColumns, row_windows: NDArray[np.int64]
) -> dict[int, SegmentWindow]:
    """Each window's segment counts from a batch's rows (``row_windows``: each row's window,
    -1 for rows in none).

    Per key, the rows are put in (segment, window) order once, and the judged segments'
    rows gathered once in that order, so each segment's rows of a window are one run,
    and all runs are counted together (:func:`detectors.grouped_counts.accumulate_groups`):
    a batch costs a few numpy calls per signal, not a dozen per signal and segment.
    """
    placed = np.flatnonzero(row_windows >= 0)
    out: dict[int, SegmentWindow] = {}
    if placed.size == 0:
        return out
    windows = row_windows[placed]
    index = placed.tolist()
    for segmented in keys:
        column = columns.categorical[segmented.key.column]
        codes = segmented.reference.codes(take(column, index))
        order = np.lexsort((windows, codes))
        for code, window_id, start, stop in _runs(codes[order], windows[order]):
            at = out.setdefault(window_id, SegmentWindow({}, {}))
            at.events[segmented.segments[code].name] = stop - start
        judged = np.array([s.layout is not None for s in segmented.segments])[codes[order]]
        order = order[judged]
        if order.size == 0:
            continue
        runs = _runs(codes[order], windows[order])
        groups = [
            Group(segmented.segments[code].layout, start, stop)  # type: ignore[arg-type]
            for code, _, start, stop in runs
        ]
        counted = accumulate_groups(groups, *_gathered(columns, placed[order], groups[0].layout))
        for (code, window_id, _, _), counts in zip(runs, counted, strict=True):
            out[window_id].counts[segmented.segments[code].name] = counts
    return out


def _gathered(
    columns: ModelColumns, rows: NDArray[np.intp], layout: WindowLayout
) -> tuple[dict[str, NDArray[np.float64]], dict[str, list[Any]], dict[str, NDArray[np.bool_]]]:
    """The ``rows`` of the columns ``layout`` counts, in that order: numeric, categorical
    (raw values) and the wrong-type flags."""
    numeric = {n: columns.numeric[n][rows] for n in layout.signals if n in columns.numeric}
    index = rows.tolist()
    categorical = {
        n: take(columns.categorical[n], index) for n in layout.signals if n in columns.categorical
    }
    mismatches = {n: flags[rows] for n, flags in columns.mismatches.items()}
    return numeric, categorical, mismatches


def segment_layouts(keys: Sequence[SegmentedKey]) -> dict[str, WindowLayout]:
    """The layout of every judged segment, by name: what a window's segments are read with."""
    return {s.name: s.layout for key in keys for s in key.segments if s.layout is not None}


def segment_parts(
    keys: Sequence[SegmentedKey],
    events: Mapping[str, int],
    counts: Mapping[str, WindowCounts],
    min_events: int,
) -> tuple[list[WindowPart], dict[str, dict[str, Any]]]:
    """A closed window's segments to judge with the whole model's, and a summary of every
    segment: its events and what it is judged against, or why it is skipped."""
    parts: list[WindowPart] = []
    summary: dict[str, dict[str, Any]] = {}
    for key in keys:
        for segment in key.segments:
            n = events.get(segment.name, 0)
            entry: dict[str, Any] = {"events": n, "reference_rows": segment.reference_rows}
            summary[segment.name] = entry
            if segment.layout is None:
                entry["skipped"] = segment.basis
            elif n < min_events:
                entry["skipped"] = f"{n} events, fewer than min_events {min_events}"
            else:
                entry["basis"] = segment.basis
                window = counts.get(segment.name, segment.layout.empty())
                parts.append(WindowPart(segment.layout, window, segment.name, min_events))
    return parts, summary


def with_segments(keys: Sequence[SegmentedKey], columns: ModelColumns, plan: Plan) -> Plan:
    """``plan`` with its window deltas carrying the batch's segment counts."""
    if not keys:
        return plan
    counted = count_segments(keys, columns, plan.row_windows)
    windows = [replace(d, segments=counted.get(d.window_id)) for d in plan.write.windows]
    return replace(plan, write=replace(plan.write, windows=windows))


def _runs(codes: NDArray[np.int64], windows: NDArray[np.int64]) -> list[tuple[int, int, int, int]]:
    """(code, window, start, stop) of each run of one (code, window) in sorted rows."""
    changes = (np.diff(codes) != 0) | (np.diff(windows) != 0)
    starts = np.concatenate(([0], np.flatnonzero(changes) + 1))
    stops = np.append(starts[1:], codes.size)
    return list(
        zip(
            codes[starts].tolist(),
            windows[starts].tolist(),
            starts.tolist(),
            stops.tolist(),
            strict=True,
        )
    )
