"""Sequential change detectors in the daemon: one per detector and Kafka partition.

Order-dependent detectors cannot merge the way window counts do, so each is owned
by one partition (docs/architecture.md, "Mergeable state"): the partition's consumer
feeds it that partition's values in offset order, and its state (versioned JSON) is
written by the batch's apply script together with the partition's offset, so a crash
or a rebalance resumes it exactly where the last checkpoint left it. Numeric signals
are fed from prediction events; the ``error`` stream from label joins, each owned by
the partition of the message that completed the join.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from detectors.profile import category_key
from detectors.sequential import make, restore
from monitor.batch_data import Detection, JoinedPair, JoinPlan, SequentialPlan
from monitor.config import ModelConfig, SequentialConfig
from monitor.decode import ModelColumns
from monitor.labels.decode import Label
from monitor.labels.quality_inputs import quality_prediction
from monitor.origins import Origins


@dataclass(frozen=True, slots=True)
class _Stream:
    """One partition's slice of a detector's input, in offset order."""

    topic: str
    partition: int
    values: list[float]
    offsets: list[int]


def state_field(detector: SequentialConfig, topic: str, partition: int) -> str:
    return f"{detector.name}/{topic}/{partition}"


def error_value(model: ModelConfig, pair: JoinedPair) -> float | None:
    """1.0 when a classifier was wrong, 0.0 when right; a regressor's absolute error."""
    prediction = quality_prediction(model, pair.prediction)
    if prediction is None or pair.label is None:
        return None
    if model.task == "regression":
        try:
            return abs(float(prediction) - float(pair.label))
        except (TypeError, ValueError):
            return None
    if (
        model.task == "binary"
        and isinstance(prediction, float | int)
        and not isinstance(prediction, bool)
    ):
        positive = model.positive_class or "1"
        truth = category_key(pair.label) in (
            {positive, "1", "true", "1.0"} if positive == "1" else {positive}
        )
        return float((prediction >= model.decision_threshold) != truth)
    return float(category_key(prediction) != category_key(pair.label))


def detector_fields(
    model: ModelConfig,
    columns: ModelColumns | None,
    labels: Sequence[Label],
    predictions: Origins,
    label_origins: Origins,
) -> list[str]:
    """The saved states a batch may feed: each detector's, on each partition it touches.

    Read before the joins are planned, so the ``error`` detectors ask for every
    partition a join could be completed on (the batch's predictions and labels of the
    model); a state asked for and not fed is left as it was.
    """
    parts: set[tuple[str, int]] = set()
    if columns is not None:
        parts.update(_partitions(predictions, columns.positions.tolist()))
    label_parts = _partitions(label_origins, [label.position for label in labels])
    fields: list[str] = []
    for detector in model.sequential.values():
        if detector.signal == "error":
            touched = parts | label_parts
        elif columns is not None and detector.signal in columns.numeric:
            touched = parts
        else:
            continue
        fields.extend(state_field(detector, topic, p) for topic, p in sorted(touched))
    return fields


def _partitions(origins: Origins, positions: list[int]) -> set[tuple[str, int]]:
    if not positions:
        return set()
    topics, partitions = origins.topics, origins.partitions
    return {(topics[i], int(partitions[i])) for i in set(positions)}


def plan_sequential(
    model: ModelConfig,
    columns: ModelColumns | None,
    join: JoinPlan | None,
    predictions: Origins,
    labels: Origins,
    saved: Mapping[str, bytes | None],
) -> SequentialPlan:
    """Feed this batch to the model's detectors, from their ``saved`` states (None: new)."""
    plan = SequentialPlan()
    streams: dict[str, list[_Stream]] = {}
    for config in model.sequential.values():
        if config.signal == "error":
            streams[config.name] = _error_streams(model, join, predictions, labels)
        else:
            streams[config.name] = _signal_streams(config.signal, columns, predictions)
    for name, parts in streams.items():
        settings = model.sequential[name]
        for stream in parts:
            key = state_field(settings, stream.topic, stream.partition)
            raw = saved.get(key)
            detector = (
                make(settings.detector, **dict(settings.params))
                if raw is None
                else restore(json.loads(raw))
            )
            before = detector.n_seen
            found = detector.update_many(np.asarray(stream.values, dtype=np.float64))
            plan.states[key] = json.dumps(detector.state(), allow_nan=False)
            plan.detections.extend(
                Detection(
                    model.name,
                    name,
                    settings.signal,
                    stream.topic,
                    stream.partition,
                    stream.offsets[i],
                    before + i + 1,
                )
                for i in found.tolist()
            )
    return plan


def _signal_streams(signal: str, columns: ModelColumns | None, origins: Origins) -> list[_Stream]:
    if columns is None or signal not in columns.numeric:
        return []
    values = columns.numeric[signal]
    present = np.flatnonzero(~np.isnan(values))
    return _by_partition(
        origins,
        [(int(columns.positions[row]), float(values[row])) for row in present.tolist()],
    )


def _error_streams(
    model: ModelConfig, join: JoinPlan | None, predictions: Origins, labels: Origins
) -> list[_Stream]:
    if join is None:
        return []
    from_predictions: list[tuple[int, float]] = []
    from_labels: list[tuple[int, float]] = []
    for pair in join.pairs(model.name):
        value = error_value(model, pair)
        if value is not None:
            side = from_labels if pair.from_labels_topic else from_predictions
            side.append((pair.position, value))
    return [*_by_partition(predictions, from_predictions), *_by_partition(labels, from_labels)]


def _by_partition(origins: Origins, items: list[tuple[int, float]]) -> list[_Stream]:
    """Values by the (topic, partition) of the message at each position, in offset order."""
    grouped: dict[tuple[str, int], tuple[list[float], list[int]]] = {}
    topics, partitions, offsets = origins.topics, origins.partitions, origins.offsets
    for position, value in items:
        values, stream_offsets = grouped.setdefault(
            (topics[position], int(partitions[position])), ([], [])
        )
        values.append(value)
        stream_offsets.append(int(offsets[position]))
    return [
        _Stream(topic, partition, values, stream_offsets)
        for (topic, partition), (values, stream_offsets) in grouped.items()
    ]
