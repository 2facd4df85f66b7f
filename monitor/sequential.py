"""Sequential change detectors in the daemon: one per detector and Kafka partition.

Order-dependent detectors cannot merge the way window counts do, so each is
owned by one partition (DESIGN.md): the partition's consumer feeds it that
partition's values in offset order, and its state (versioned JSON) is written
by the batch's apply script together with the partition's offset, so a crash
or a rebalance resumes it exactly where the last checkpoint left it. Numeric
signals are fed from prediction events; the ``error`` stream from label joins,
each owned by the partition of the message that completed the join.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from confluent_kafka import Message

from detectors.profile import category_key
from detectors.sequential import make, restore
from monitor.config import ModelConfig, SequentialConfig
from monitor.decode import ModelColumns
from monitor.joins import JoinedPair, JoinPlan
from monitor.quality_inputs import quality_prediction


@dataclass(frozen=True, slots=True)
class Detection:
    """A change a detector found: which stream, and the exact event (partition and offset)."""

    model: str
    detector: str
    signal: str
    topic: str
    partition: int
    offset: int
    n_seen: int
    """How many values this partition's detector had seen, this one included."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "signal": self.signal,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "n_seen": self.n_seen,
        }


@dataclass(slots=True)
class SequentialPlan:
    """New detector states (field → JSON) and the detections of one batch for one model."""

    states: dict[str, str] = field(default_factory=dict)
    detections: list[Detection] = field(default_factory=list)


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


def plan_sequential(
    model: ModelConfig,
    columns: ModelColumns | None,
    join: JoinPlan | None,
    predictions: Sequence[Message],
    labels: Sequence[Message],
    stored: Callable[[list[str]], list[bytes | None]],
) -> SequentialPlan:
    """Feed this batch to the model's detectors; ``stored(fields)`` reads their saved states."""
    plan = SequentialPlan()
    streams: dict[str, list[_Stream]] = {}
    for config in model.sequential.values():
        if config.signal == "error":
            streams[config.name] = _error_streams(model, join, predictions, labels)
        else:
            streams[config.name] = _signal_streams(config.signal, columns, predictions)
    fields = [
        state_field(model.sequential[name], s.topic, s.partition)
        for name, parts in streams.items()
        for s in parts
    ]
    if not fields:
        return plan
    saved = dict(zip(fields, stored(fields), strict=True))
    for name, parts in streams.items():
        settings = model.sequential[name]
        for stream in parts:
            key = state_field(settings, stream.topic, stream.partition)
            raw = saved[key]
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


def _signal_streams(
    signal: str, columns: ModelColumns | None, messages: Sequence[Message]
) -> list[_Stream]:
    if columns is None or signal not in columns.numeric:
        return []
    values = columns.numeric[signal]
    present = np.flatnonzero(~np.isnan(values))
    return _by_partition(
        [(messages[int(columns.positions[row])], float(values[row])) for row in present.tolist()]
    )


def _error_streams(
    model: ModelConfig,
    join: JoinPlan | None,
    predictions: Sequence[Message],
    labels: Sequence[Message],
) -> list[_Stream]:
    if join is None:
        return []
    items = []
    for pair in join.pairs:
        value = error_value(model, pair)
        if value is not None:
            source = labels if pair.from_labels_topic else predictions
            items.append((source[pair.position], value))
    return _by_partition(items)


def _by_partition(items: list[tuple[Message, float]]) -> list[_Stream]:
    grouped: dict[tuple[str, int], tuple[list[float], list[int]]] = {}
    for message, value in items:
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        if topic is None or partition is None or offset is None:
            continue
        values, offsets = grouped.setdefault((topic, partition), ([], []))
        values.append(value)
        offsets.append(offset)
    return [
        _Stream(topic, partition, values, offsets)
        for (topic, partition), (values, offsets) in grouped.items()
    ]
