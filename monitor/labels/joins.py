"""Joining predictions with their late (or early) labels, planned in memory for one batch.

Predictions with an ``event_id`` wait in Redis for their label; labels that
arrive first wait for their prediction. For each batch the daemon reads the
waiting entries that this batch's ids could match (:func:`join_ids` says which;
the store reads them with everything else the batch needs), plans the joins here
without I/O, and the batch's apply script
writes them together with everything else, checking the model's join version
so that a plan made from a stale read is refused and re-planned. Joined pairs
add to the quality counters of the window the prediction was counted in.
"""

from __future__ import annotations

import itertools
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
    columns: ModelColumns | None, row_windows: NDArray[np.int64] | None
) -> list[PendingPrediction]:
    """The batch's predictions that can be joined: they have an id and a window."""
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
        PendingPrediction(event_id, window, prediction, ts, position)
        for event_id, window, prediction, ts, position in rows
        if window >= 0 and event_id is not None and prediction is not None
    ]


def join_ids(columns: ModelColumns | None, labels: Sequence[Label]) -> tuple[list[str], list[str]]:
    """The ids whose waiting partners a batch must read: its predictions' and its labels'.

    Every prediction with an id and a prediction is asked for, before the batch is
    assigned to windows; the few that then fall in no window (reference rows, late
    events) are read for nothing, which costs less than a second round trip.
    """
    predictions: list[str] = []
    if columns is not None:
        predictions = list(
            dict.fromkeys(
                event_id
                for event_id, prediction in zip(columns.event_ids, columns.predictions, strict=True)
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
    """Pair what can be paired; everything else waits. Pure: the caller reads and writes."""
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
    lags = plan.label_lags
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
            continue
        stored = stored_predictions.pop(event_id, None)
        if stored is None:
            store_labels[event_id] = bulk_json.encode_text([label.label, label.ts])
            continue
        window_id, prediction, ts = stored
        windows.append(int(window_id))
        paired_predictions.append(prediction)
        paired_labels.append(label.label)
        lags.append(label.ts - float(ts))
        from_labels_topic.append(True)
        positions.append(label.position)
        delete_predictions.append(event_id)
    plan.joined = len(paired_predictions)
    encode = bulk_json.encode
    plan.store_predictions = {
        event_id: encode([p.window_id, p.prediction, p.ts]).decode()
        for event_id, p in waiting.items()
    }
    for window_id, (window_predictions, window_labels) in _by_window(
        windows, paired_predictions, paired_labels
    ):
        counts = count_pairs(model, window_predictions, window_labels)
        if counts is not EMPTY:
            plan.quality[window_id] = counts
    return plan


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
