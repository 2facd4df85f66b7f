"""Joining predictions with their late (or early) labels, planned in memory for one batch.

Predictions with an ``event_id`` wait in Redis for their label; labels that
arrive first wait for their prediction. For each batch the daemon reads the
waiting entries that this batch's ids could match (:meth:`JoinReader.read`,
one pipeline), plans the joins here without I/O, and the batch's apply script
writes them together with everything else, checking the model's join version
so that a plan made from a stale read is refused and re-planned. Joined pairs
add to the quality counters of the window the prediction was counted in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from detectors.quality import EMPTY, QualityCounts, QualityTask
from monitor import bulk_json
from monitor.config import ModelConfig
from monitor.decode import ModelColumns
from monitor.labels import Label
from monitor.quality_inputs import count_pairs


class PendingPrediction(NamedTuple):
    """A prediction waiting for its label (a tuple: a batch makes thousands)."""

    event_id: str
    window_id: int
    prediction: Any
    ts: float
    position: int = -1
    """Its message's position in the batch's prediction messages."""


@dataclass(frozen=True, slots=True)
class JoinView:
    """What Redis holds for the ids of one batch, read in one step."""

    version: int
    labels_for_predictions: Sequence[bytes | None]
    predictions_for_labels: Sequence[bytes | None]


class JoinedPair(NamedTuple):
    """A joined (prediction, label), and the message whose arrival completed the join."""

    prediction: Any
    label: Any
    from_labels_topic: bool
    position: int


@dataclass(slots=True)
class JoinPlan:
    """A model's label-join changes for one batch."""

    expected_version: int
    store_predictions: dict[str, str] = field(default_factory=dict)
    store_labels: dict[str, str] = field(default_factory=dict)
    delete_predictions: list[str] = field(default_factory=list)
    delete_labels: list[str] = field(default_factory=list)
    quality: dict[int, QualityCounts] = field(default_factory=dict)
    task: QualityTask | None = None
    """The model's task: which counters of ``quality`` are stored packed."""
    joined: int = 0
    labels_received: int = 0
    predictions_keyed: int = 0
    label_lags: list[float] = field(default_factory=list)
    pairs: list[JoinedPair] = field(default_factory=list)
    """Every join of the batch in order, with the message that completed it."""

    @property
    def empty(self) -> bool:
        return not (self.predictions_keyed or self.labels_received)


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
    if not any(stored is not None for stored in stored_labels):
        waiting = {prediction.event_id: prediction for prediction in predictions}
    else:
        waiting = {}
        # Sets beside the lists: membership in a batch of thousands must not be a scan.
        labels_taken: set[str] = set()
        for prediction, stored in zip(predictions, stored_labels, strict=True):
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
    for label, stored in zip(labels, view.predictions_for_labels, strict=True):
        match = waiting.pop(label.event_id, None)
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
