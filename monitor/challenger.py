"""Champion and challenger (``compare_versions: [champion, challenger]``): two versions of
a model live at once, compared with each other over the same windows.

Each version is monitored apart against its own reference (``monitor.versions``); that
says whether each drifted from what it was trained on, not whether the two differ now. So
the challenger's events are also counted on the champion's reference bins, into the
champion's event-time window of the same span, as fields of that window's hash named
like a segment's (``n@4 vs 3``, ``ints@4 vs 3``, ...; see ``apply_batch.lua``): written by
the same script as the champion's counts, under the champion's cursor, so exactly once
and merging across partitions and instances come with the champion's window. When that
window closes, the challenger's counts are judged against the champion's
(:func:`detectors.versus.compare_versions`): a challenger that sees other traffic, or
predicts differently on the same traffic, is a ``version_comparison`` result.

Event-time windows are what make "the same windows": count windows of two versions hold
different events and close at different times. A challenger event whose champion window
has already closed (the champion's watermark passed it) is not compared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from detectors.evaluate import DecisionSettings, SignalResult
from detectors.versus import compare_versions, comparison_name
from detectors.window import WindowCounts, WindowLayout
from monitor.batch_data import ModelCursor, ModelWrite, SegmentWindow, WindowDelta
from monitor.config import ModelConfig
from monitor.decode import MAX_EVENT_TIME, ModelColumns
from monitor.versions import model_of, stream_name, version_of
from monitor.windowing import Plan, categorical_values, encode_columns


@dataclass(frozen=True, slots=True)
class Comparison:
    """The champion's stream, the challenger's, and the name of their comparison."""

    champion: str
    challenger: str
    name: str


def comparison_of(model: ModelConfig) -> Comparison | None:
    """The comparison a stream holds: the champion's stream holds it; None for the others."""
    if not model.compare_versions or version_of(model.name) != model.compare_versions[0]:
        return None
    champion, challenger = model.compare_versions
    return Comparison(
        model.name,
        stream_name(model_of(model.name), challenger),
        comparison_name(challenger, champion),
    )


def with_challenger(
    model: ModelConfig,
    cursor: ModelCursor,
    layout: WindowLayout,
    plan: Plan | None,
    columns: ModelColumns,
) -> Plan:
    """The champion's plan (None: it had no events in this batch) with the challenger's rows
    counted into its windows of the same span, on its reference's bins."""
    seconds = model.window.seconds
    assert seconds is not None  # the config refuses a comparison over count windows
    comparison = comparison_of(model)
    assert comparison is not None
    lateness = model.window.allowed_lateness_seconds
    if plan is None:
        write = ModelWrite(model.name, cursor.events, 0, reference_id=layout.profile.id)
        plan = Plan(write, cursor, layout, np.empty(0, np.int64))
    ts = columns.ts
    window_ids = np.floor(np.where((ts >= 0) & (ts < MAX_EVENT_TIME), ts, -1.0) / seconds)
    on_time = window_ids >= 0
    if cursor.watermark is not None:
        on_time &= (window_ids + 1) * seconds > cursor.watermark - lateness
    if not on_time.any():
        return plan
    everything = slice(None)
    encoded = encode_columns(layout, columns, everything)
    values = categorical_values(columns, everything)
    deltas = {delta.window_id: delta for delta in plan.write.windows}
    for window_id in np.unique(window_ids[on_time]).astype(np.int64).tolist():
        members = on_time & (window_ids == window_id)
        counts = layout.accumulate(encoded, columns.mismatches, members, values)
        delta = deltas.get(window_id) or WindowDelta(
            window_id, layout.empty(), float(ts[members].min()), float(ts[members].max())
        )
        deltas[window_id] = replace(delta, segments=_adding(delta.segments, comparison, counts))
    closing = [
        w
        for w in deltas.keys() - plan.cursor.open_windows - set(plan.write.close)
        if plan.cursor.watermark is not None
        and (w + 1) * seconds <= plan.cursor.watermark - lateness
    ]
    opened = deltas.keys() - set(plan.write.close) - set(closing)
    write = replace(
        plan.write,
        windows=list(deltas.values()),
        close=sorted([*plan.write.close, *closing]),
    )
    cursor = replace(plan.cursor, open_windows=plan.cursor.open_windows | opened)
    return replace(plan, write=write, cursor=cursor)


def _adding(
    segments: SegmentWindow | None, comparison: Comparison, counts: WindowCounts
) -> SegmentWindow:
    events = {} if segments is None else dict(segments.events)
    counted = {} if segments is None else dict(segments.counts)
    events[comparison.name] = counts.events
    counted[comparison.name] = counts
    return SegmentWindow(events, counted)


def comparison_layouts(model: ModelConfig, layout: WindowLayout) -> dict[str, WindowLayout]:
    """The challenger's counts a champion window holds, by name, with the layout to read
    them with (the champion's own): empty for a stream that holds no comparison."""
    comparison = comparison_of(model)
    return {} if comparison is None else {comparison.name: layout}


def judge_challenger(
    model: ModelConfig,
    layout: WindowLayout,
    champion: WindowCounts,
    challengers: Mapping[str, WindowCounts],
    settings: DecisionSettings,
) -> tuple[tuple[SignalResult, ...], dict[str, dict[str, Any]]]:
    """A closed champion window's comparison with the challenger, and its summary (the
    challenger's events, or why it was not judged), as a segment's."""
    comparison = comparison_of(model)
    if comparison is None:
        return (), {}
    challenger = challengers.get(comparison.name, layout.empty())
    entry: dict[str, Any] = {"events": challenger.events, "champion_events": champion.events}
    minimum = settings.min_events
    if min(champion.events, challenger.events) < minimum:
        entry["skipped"] = (
            f"{champion.events} champion and {challenger.events} challenger events, "
            f"fewer than min_events {minimum}"
        )
        return (), {comparison.name: entry}
    entry["basis"] = f"version {model.compare_versions[0]}'s window"
    results = compare_versions(layout, champion, challenger, comparison.name, settings)
    return results, {comparison.name: entry}
