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

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from detectors.quality import EMPTY
from monitor import bulk_json
from monitor.batch_data import JoinedPair, JoinPlan, JoinView, PendingPrediction
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
    # By window: predictions and labels of its pairs. A batch joins thousands of pairs, so
    # the loops below append to local lists rather than call a helper per pair.
    pairs: dict[int, tuple[list[Any], list[Any]]] = {}
    lags = plan.label_lags
    joined = plan.pairs

    def bucket(window_id: int) -> tuple[list[Any], list[Any]]:
        found = pairs.get(window_id)
        if found is None:
            found = pairs[window_id] = ([], [])
        return found

    waiting: dict[str, PendingPrediction]
    stored_labels = view.labels_for_predictions
    if not stored_labels:
        waiting = {prediction.event_id: prediction for prediction in predictions}
    else:
        waiting = {}
        # A set beside the list: membership in a batch of thousands must not be a scan.
        labels_taken: set[str] = set()
        for prediction in predictions:
            stored = stored_labels.get(prediction.event_id)
            if stored is not None and prediction.event_id not in labels_taken:
                label, label_ts = bulk_json.decode(stored)
                window_predictions, window_labels = bucket(prediction.window_id)
                window_predictions.append(prediction.prediction)
                window_labels.append(label)
                lags.append(label_ts - prediction.ts)
                joined.append(JoinedPair(prediction.prediction, label, False, prediction.position))
                plan.delete_labels.append(prediction.event_id)
                labels_taken.add(prediction.event_id)
            else:
                waiting[prediction.event_id] = prediction
    predictions_taken: set[str] = set()
    store_labels = plan.store_labels
    stored_predictions = view.predictions_for_labels
    for label in labels:
        match = waiting.pop(label.event_id, None)
        stored = None if match is not None else stored_predictions.get(label.event_id)
        if match is not None:
            window_predictions, window_labels = bucket(match.window_id)
            window_predictions.append(match.prediction)
            window_labels.append(label.label)
            lags.append(label.ts - match.ts)
            joined.append(JoinedPair(match.prediction, label.label, True, label.position))
        elif stored is not None and label.event_id not in predictions_taken:
            window_id, prediction, ts = bulk_json.decode(stored)
            window_predictions, window_labels = bucket(int(window_id))
            window_predictions.append(prediction)
            window_labels.append(label.label)
            lags.append(label.ts - float(ts))
            joined.append(JoinedPair(prediction, label.label, True, label.position))
            plan.delete_predictions.append(label.event_id)
            predictions_taken.add(label.event_id)
        else:
            store_labels[label.event_id] = bulk_json.encode_text([label.label, label.ts])
    plan.joined = len(joined)
    encode = bulk_json.encode
    plan.store_predictions = {
        event_id: encode([p.window_id, p.prediction, p.ts]).decode()
        for event_id, p in waiting.items()
    }
    for window_id, (window_predictions, window_labels) in pairs.items():
        counts = count_pairs(model, window_predictions, window_labels)
        if counts is not EMPTY:
            plan.quality[window_id] = counts
    return plan
