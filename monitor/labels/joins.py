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
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from detectors.quality import EMPTY
from monitor import bulk_json
from monitor.batch_data import JoinPlan, JoinView, PendingPrediction
from monitor.config import ModelConfig
from monitor.decode import ModelColumns
from monitor.labels.decode import Label
from monitor.labels.quality_inputs import count_pairs


def keyed_predictions(
    columns: ModelColumns | None, row_windows: NDArray[np.int64] | None, stream: str = ""
) -> list[PendingPrediction]:
    """The batch's predictions that can be joined: they have an id and a window.
    ``stream``: the version's stream they were counted in, when they join under the
    model's name (empty: the joining model's own)."""
    if columns is None or row_windows is None:
        return []
    rows = zip(
        columns.event_ids,
        row_windows.tolist(),
        columns.predictions,
        columns.ts.tolist(),
        columns.positions.tolist(),
        strict=True,
    )
    return [
        PendingPrediction(event_id, window, prediction, ts, position, stream)
        for event_id, window, prediction, ts, position in rows
        if window >= 0 and event_id is not None and prediction is not None
    ]


def join_ids(
    columns: Sequence[ModelColumns], labels: Sequence[Label]
) -> tuple[list[str], list[str]]:
    """The ids whose waiting partners a batch must read: its predictions' (of the model,
    or of each of its versions' streams) and its labels'.

    Every prediction with an id and a prediction is asked for, before the batch is
    assigned to windows; the few that then fall in no window (reference rows, late
    events) are read for nothing, which costs less than a second round trip.
    """
    predictions = list(
        dict.fromkeys(
            event_id
            for stream in columns
            for event_id, prediction in zip(stream.event_ids, stream.predictions, strict=True)
            if event_id is not None and prediction is not None
        )
    )
    return predictions, list(dict.fromkeys(label.event_id for label in labels))


def plan_joins(
    model: ModelConfig,
    view: JoinView,
    predictions: Sequence[PendingPrediction],
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
    # A batch joins thousands of pairs: the loops below append each pair's window,
    # prediction, label and message to lists (the pairs are counted by window at the
    # end), and take a waiting entry by popping it, so an id repeated in the batch joins
    # once.
    windows: list[int] = []
    paired_predictions = plan.pair_predictions
    paired_labels = plan.pair_labels
    from_labels_topic = plan.pair_from_labels_topic
    positions = plan.pair_positions
    streams = plan.pair_streams
    lags = plan.label_lags
    own = model.name
    stored_labels = _decoded(view.labels_for_predictions)
    waiting: dict[str, PendingPrediction]
    if not stored_labels:
        waiting = {prediction.event_id: prediction for prediction in predictions}
    else:
        waiting = {}
        for prediction in predictions:
            stored = stored_labels.pop(prediction.event_id, None)
            if stored is None:
                waiting[prediction.event_id] = prediction
                continue
            label, label_ts = stored
            windows.append(prediction.window_id)
            paired_predictions.append(prediction.prediction)
            paired_labels.append(label)
            lags.append(label_ts - prediction.ts)
            from_labels_topic.append(False)
            positions.append(prediction.position)
            streams.append(prediction.stream or own)
            plan.delete_labels.append(prediction.event_id)
    store_labels = plan.store_labels
    delete_predictions = plan.delete_predictions
    stored_predictions = _decoded(view.predictions_for_labels)
    for label in labels:
        event_id = label.event_id
        match = waiting.pop(event_id, None)
        if match is not None:
            windows.append(match.window_id)
            paired_predictions.append(match.prediction)
            paired_labels.append(label.label)
            lags.append(label.ts - match.ts)
            from_labels_topic.append(True)
            positions.append(label.position)
            streams.append(match.stream or own)
            continue
        stored = stored_predictions.pop(event_id, None)
        if stored is None:
            store_labels[event_id] = bulk_json.encode_text([label.label, label.ts])
            continue
        windows.append(int(stored[0]))
        paired_predictions.append(stored[1])
        paired_labels.append(label.label)
        lags.append(label.ts - float(stored[2]))
        from_labels_topic.append(True)
        positions.append(label.position)
        streams.append(stored[3] if len(stored) > 3 else own)
        delete_predictions.append(event_id)
    plan.joined = len(paired_predictions)
    encode = bulk_json.encode
    plan.store_predictions = {
        event_id: encode(
            [p.window_id, p.prediction, p.ts, p.stream]
            if p.stream
            else [p.window_id, p.prediction, p.ts]
        ).decode()
        for event_id, p in waiting.items()
    }
    counted = sorted(set(streams))
    for stream in counted:
        rows = None if len(counted) == 1 else [i for i, of in enumerate(streams) if of == stream]
        for window_id, (window_predictions, window_labels) in _by_window(
            *_rows(rows, windows, paired_predictions, paired_labels)
        ):
            counts = count_pairs(model, window_predictions, window_labels)
            if counts is not EMPTY:
                plan.quality.setdefault(stream, {})[window_id] = counts
    if model.reference.per_version:
        _count_streams(plan, own, predictions)
    return plan


def _rows(
    rows: list[int] | None, windows: list[int], predictions: list[Any], labels: list[Any]
) -> tuple[list[int], list[Any], list[Any]]:
    """The pairs at ``rows`` (None: every pair, as when one stream has them all, not copied)."""
    if rows is None:
        return windows, predictions, labels
    return [windows[i] for i in rows], [predictions[i] for i in rows], [labels[i] for i in rows]


def _count_streams(plan: JoinPlan, own: str, predictions: Sequence[PendingPrediction]) -> None:
    """Each version's stream's joined pairs and keyed predictions, in place."""
    joined = Counter(stream for stream in plan.pair_streams if stream != own)
    keyed = Counter(p.stream for p in predictions if p.stream and p.stream != own)
    plan.stream_counts = {
        stream: (joined[stream], keyed[stream]) for stream in sorted({*joined, *keyed})
    }


def _decoded(stored: Mapping[str, bytes]) -> dict[str, Any]:
    """Waiting entries (JSON texts) by id, decoded in one call rather than one per entry."""
    if not stored:
        return {}
    values = bulk_json.decode(b"[" + b",".join(stored.values()) + b"]")
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
