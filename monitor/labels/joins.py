"""Joining predictions with their late (or early) labels, planned in memory for one batch.

Predictions with an ``event_id`` wait in Redis for their label; labels that
arrive first wait for their prediction. For each batch the daemon reads the
waiting entries that this batch's ids could match (:func:`join_ids` says which;
the store reads them with everything else the batch needs), plans the joins here
without I/O, and the batch's apply script
writes them together with everything else, checking the model's join version
so that a plan made from a stale read is refused and re-planned. Joined pairs
add to the quality counters of the window the prediction was counted in.

A model monitored per version joins once, under the model's name: its labels name
the model, not the version, so its versions' predictions wait together, each entry
naming its stream, and a pair counts in the windows of the stream its prediction was
counted in (README, "References per model version").
"""

from __future__ import annotations

import itertools
import operator
from collections import Counter
from collections.abc import Mapping, Sequence
from itertools import compress
from typing import Any

import msgspec
import numpy as np
from numpy.typing import NDArray

from detectors.quality import EMPTY
from monitor import bulk_json
from monitor.batch_data import JoinPlan, JoinView, KeyedPredictions
from monitor.config import ModelConfig
from monitor.decode import ModelColumns, take
from monitor.labels.decode import Label
from monitor.labels.quality_inputs import count_pairs

_EVENT_ID, _LABEL, _POSITION = map(operator.attrgetter, ("event_id", "label", "position"))


class _WaitingPrediction(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """A waiting prediction's entry as stored, ``[window, prediction, ts(, stream)]``.

    Decoded as a struct the cyclic GC does not track, not as a list: a batch reads
    thousands, and lists would each be scanned by the collections they live through.
    """

    window: Any
    prediction: Any
    ts: Any
    stream: str = ""


class _WaitingLabel(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """A waiting label's entry as stored, ``[label, ts]`` (untracked, as above)."""

    label: Any
    ts: Any


_PREDICTIONS = msgspec.json.Decoder(list[_WaitingPrediction])
_LABELS = msgspec.json.Decoder(list[_WaitingLabel])
_WINDOW, _PREDICTION, _TS, _STREAM = map(
    operator.attrgetter, ("window", "prediction", "ts", "stream")
)


def keyed_predictions(
    columns: ModelColumns | None, row_windows: NDArray[np.int64] | None, stream: str = ""
) -> KeyedPredictions:
    """The batch's predictions that can be joined: they have an id and a window.
    ``stream``: the version's stream they were counted in, when they join under the
    model's name (empty: the joining model's own)."""
    if columns is None or row_windows is None or not row_windows.size:
        return KeyedPredictions()
    event_ids, predictions = columns.event_ids, columns.predictions
    keyed = KeyedPredictions(
        event_ids,  # type: ignore[arg-type]  # no None in them, or filtered below
        row_windows.tolist(),
        predictions,
        columns.ts.tolist(),
        columns.positions.tolist(),
    )
    if None in event_ids or None in predictions or row_windows.min() < 0:
        rows = ((row_windows >= 0) & _not_none(event_ids) & _not_none(predictions)).tolist()
        keyed = KeyedPredictions(
            *(list(compress(column, rows)) for column in (
                keyed.event_ids, keyed.windows, keyed.predictions, keyed.ts, keyed.positions
            ))
        )  # fmt: skip
    else:
        keyed.event_ids = list(keyed.event_ids)
        keyed.predictions = list(keyed.predictions)
    keyed.streams = [stream] * len(keyed.event_ids)
    return keyed


def _not_none(values: list[Any]) -> NDArray[np.bool_]:
    return np.fromiter(
        map(operator.is_not, values, itertools.repeat(None)), dtype=np.bool_, count=len(values)
    )


def join_ids(
    columns: Sequence[ModelColumns], labels: Sequence[Label]
) -> tuple[list[str], list[str]]:
    """The ids whose waiting partners a batch must read: its predictions' (of the model,
    or of each of its versions' streams) and its labels'.

    Every prediction with an id and a prediction is asked for, before the batch is
    assigned to windows; the few that then fall in no window (reference rows, late
    events) are read for nothing, which costs less than a second round trip.
    """
    predictions: list[str] = []
    for stream in columns:
        event_ids, values = stream.event_ids, stream.predictions
        if None in event_ids or None in values:
            keep = (_not_none(event_ids) & _not_none(values)).tolist()
            predictions += compress(event_ids, keep)  # type: ignore[arg-type]
        else:
            predictions += event_ids  # type: ignore[arg-type]
    return list(dict.fromkeys(predictions)), list(dict.fromkeys(map(_EVENT_ID, labels)))


def plan_joins(
    model: ModelConfig,
    view: JoinView,
    predictions: KeyedPredictions,
    labels: Sequence[Label],
) -> JoinPlan:
    """Pair what can be paired; everything else waits. Pure: the caller reads and writes.

    A waiting prediction of a version's stream is stored as ``[window, prediction, ts,
    stream]``, a model's own as ``[window, prediction, ts]``.
    """
    plan = JoinPlan(
        expected_version=view.version,
        task=model.task,
        labels_received=len(labels),
        predictions_keyed=len(predictions),
    )
    # A batch joins thousands of pairs, so the loops below only find them: each pair's
    # prediction as a row of the batch's columns (or, past them, of the waiting entries
    # read), and its label as a row of the labels; the pairs' columns are gathered from
    # those rows at the end. A waiting entry is taken by popping it, so an id repeated in
    # the batch joins once. The pairs are in the order they were found.
    own = model.name
    event_ids = predictions.event_ids
    stored_labels = _decoded(view.labels_for_predictions, _LABELS)
    found_labels: list[_WaitingLabel] = []  # the label that waited for each row of `early`
    early: list[int] = []  # rows of predictions whose label waited
    waiting: dict[str, int]
    if not stored_labels:
        waiting = dict(zip(event_ids, range(len(event_ids)), strict=True))
    else:
        waiting = {}
        for row, event_id in enumerate(event_ids):
            stored = stored_labels.pop(event_id, None)
            if stored is None:
                waiting[event_id] = row
                continue
            early.append(row)
            found_labels.append(stored)
        plan.delete_labels = take(event_ids, early)
    stored_predictions = _decoded(view.predictions_for_labels, _PREDICTIONS)
    entries: list[_WaitingPrediction] = []  # waiting predictions taken
    prediction_rows: list[int] = []  # each label-side pair's prediction: a row, or an entry
    label_rows: list[int] = []  # and its label
    unmatched: list[int] = []
    first_entry = len(event_ids)  # entries' rows follow the batch's predictions'
    label_ids = list(map(_EVENT_ID, labels))
    for index, event_id in enumerate(label_ids):
        row = waiting.pop(event_id, -1)
        if row < 0:
            stored = stored_predictions.pop(event_id, None)
            if stored is None:
                unmatched.append(index)
                continue
            row = first_entry + len(entries)
            entries.append(stored)
            plan.delete_predictions.append(event_id)
        prediction_rows.append(row)
        label_rows.append(index)
    label_values = list(map(_LABEL, labels))
    label_ts = list(map(_TS, labels))
    label_positions = list(map(_POSITION, labels))
    entry_windows, entry_values, entry_times, entry_streams = _columns(entries)
    windows = predictions.windows + entry_windows
    values = predictions.predictions + entry_values
    times = predictions.ts + entry_times
    plan.pair_predictions = take(values, early) + take(values, prediction_rows)
    plan.pair_labels = [found.label for found in found_labels] + take(label_values, label_rows)
    plan.label_lags = [
        *map(operator.sub, [float(found.ts) for found in found_labels], take(times, early)),
        *map(operator.sub, take(label_ts, label_rows), take(times, prediction_rows)),
    ]
    plan.pair_from_labels_topic = [False] * len(early) + [True] * len(label_rows)
    plan.pair_positions = take(predictions.positions, early) + take(label_positions, label_rows)
    if entry_streams or any(predictions.streams):
        streams = predictions.streams + (entry_streams or [""] * len(entries))
        pair_streams = take(predictions.streams, early) + take(streams, prediction_rows)
        plan.pair_streams = [stream or own for stream in pair_streams]
    else:  # the usual model, not monitored per version: every pair is its own
        plan.pair_streams = [own] * (len(early) + len(prediction_rows))
    pair_windows = take(windows, early) + take(windows, prediction_rows)
    plan.store_labels = dict(
        zip(
            take(label_ids, unmatched),
            map(
                bulk_json.encode_text,
                zip(take(label_values, unmatched), take(label_ts, unmatched), strict=True),
            ),
            strict=True,
        )
    )
    plan.joined = len(plan.pair_predictions)
    plan.store_predictions = _entries(predictions, waiting)
    counted = sorted(set(plan.pair_streams))
    for stream in counted:
        rows = (
            None
            if len(counted) == 1
            else [i for i, of in enumerate(plan.pair_streams) if of == stream]
        )
        for window_id, (window_predictions, window_labels) in _by_window(
            *_rows(rows, pair_windows, plan.pair_predictions, plan.pair_labels)
        ):
            counts = count_pairs(model, window_predictions, window_labels)
            if counts is not EMPTY:
                plan.quality.setdefault(stream, {})[window_id] = counts
    if model.reference.per_version:
        _count_streams(plan, own, predictions)
    return plan


def _columns(
    entries: list[_WaitingPrediction],
) -> tuple[list[int], list[Any], list[float], list[str]]:
    """Waiting predictions' entries as columns: windows, predictions, event times, and
    streams (empty when no entry names one, as a model's own entries)."""
    streams = list(map(_STREAM, entries))
    return (
        list(map(int, map(_WINDOW, entries))),
        list(map(_PREDICTION, entries)),
        list(map(float, map(_TS, entries))),
        streams if any(streams) else [],
    )


def _entries(predictions: KeyedPredictions, waiting: Mapping[str, int]) -> dict[str, str]:
    """The waiting predictions' entries (JSON texts) by id, encoded in C-level maps."""
    rows = list(waiting.values())
    columns = [take(column, rows) for column in (
        predictions.windows, predictions.predictions, predictions.ts
    )]  # fmt: skip
    streams = take(predictions.streams, rows)
    if any(streams):
        entries = [
            [window, prediction, ts, stream] if stream else [window, prediction, ts]
            for window, prediction, ts, stream in zip(*columns, streams, strict=True)
        ]
        texts = map(bulk_json.encode, entries)
    else:
        texts = map(bulk_json.encode, zip(*columns, strict=True))
    return dict(zip(waiting, map(bytes.decode, texts), strict=True))


def _rows(
    rows: list[int] | None, windows: list[int], predictions: list[Any], labels: list[Any]
) -> tuple[list[int], list[Any], list[Any]]:
    """The pairs at ``rows`` (None: every pair, as when one stream has them all, not copied)."""
    if rows is None:
        return windows, predictions, labels
    return [windows[i] for i in rows], [predictions[i] for i in rows], [labels[i] for i in rows]


def _count_streams(plan: JoinPlan, own: str, predictions: KeyedPredictions) -> None:
    """Each version's stream's joined pairs and keyed predictions, in place."""
    joined = Counter(stream for stream in plan.pair_streams if stream != own)
    keyed = Counter(stream for stream in predictions.streams if stream and stream != own)
    plan.stream_counts = {
        stream: (joined[stream], keyed[stream]) for stream in sorted({*joined, *keyed})
    }


def _decoded(
    stored: Mapping[str, bytes], decoder: msgspec.json.Decoder[list[Any]]
) -> dict[str, Any]:
    """Waiting entries (JSON texts) by id, decoded in one call rather than one per entry."""
    if not stored:
        return {}
    values = decoder.decode(b"[" + b",".join(stored.values()) + b"]")
    return dict(zip(stored, values, strict=True))


def _by_window(
    windows: list[int], predictions: list[Any], labels: list[Any]
) -> list[tuple[int, tuple[list[Any], list[Any]]]]:
    """Each window's pairs, in the order they were joined (a stable sort by window)."""
    if not windows:
        return []
    window_ids = np.asarray(windows, dtype=np.int64)
    order = np.argsort(window_ids, kind="stable")
    starts = np.flatnonzero(np.diff(window_ids[order], prepend=window_ids[order[0]] - 1))
    ordered_predictions = _objects(predictions)[order]
    ordered_labels = _objects(labels)[order]
    bounds = [*starts.tolist(), len(windows)]
    return [
        (
            int(window_ids[order[first]]),
            (ordered_predictions[first:end].tolist(), ordered_labels[first:end].tolist()),
        )
        for first, end in itertools.pairwise(bounds)
    ]


def _objects(values: list[Any]) -> NDArray[np.object_]:
    """The values as an array of the same Python objects (never converted to numbers)."""
    return np.fromiter(values, dtype=object, count=len(values))
