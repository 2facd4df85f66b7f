"""Turning a model's predictions and labels as sent into the pairs detectors.quality counts.

One place decides how a prediction is read for quality, so the reference's
baseline and live windows can never be computed differently.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from detectors.quality import EMPTY, QualityCounts, QualityTask, accumulate_pairs
from monitor.config import ModelConfig


def quality_task(model: ModelConfig) -> QualityTask | None:
    """The model's task, or None when it declares none (no quality is computed)."""
    return model.task


def quality_prediction(model: ModelConfig, prediction: Any) -> Any:
    """A prediction as quality reads it: probabilities become the positive class's (binary)
    or the most probable class (multiclass); scores and labels stay as they are."""
    if isinstance(prediction, dict):
        if not prediction:
            return None
        if model.task == "binary":
            return prediction.get(model.positive_class or "1")
        return max(prediction, key=prediction.__getitem__)
    return prediction


def count_pairs(
    model: ModelConfig, predictions: Sequence[Any], labels: Sequence[Any]
) -> QualityCounts:
    """Quality counters of joined pairs; pairs without a usable label or prediction are skipped."""
    task = quality_task(model)
    if task is None:
        return EMPTY
    pairs = [
        (quality_prediction(model, p), y)
        for p, y in zip(predictions, labels, strict=True)
        if y is not None and p is not None
    ]
    pairs = [(p, y) for p, y in pairs if p is not None]
    if not pairs:
        return EMPTY
    return accumulate_pairs(
        task,
        [p for p, _ in pairs],
        [y for _, y in pairs],
        decision_threshold=model.decision_threshold,
        positive_class=model.positive_class or "1",
    )
