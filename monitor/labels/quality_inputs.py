"""Turning a model's predictions and labels as sent into the pairs detectors.quality counts.

One place decides how a prediction is read for quality, so the reference's
baseline and live windows can never be computed differently.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from detectors.estimation import BinaryEstimator, build_binary_estimator
from detectors.quality import (
    EMPTY,
    QualityCounts,
    QualityTask,
    accumulate_pairs,
    positive_labels,
)
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
    if _as_sent(predictions, labels):
        kept_predictions, kept_labels = list(predictions), list(labels)
    else:
        pairs = [
            (quality_prediction(model, p), y)
            for p, y in zip(predictions, labels, strict=True)
            if y is not None and p is not None
        ]
        pairs = [(p, y) for p, y in pairs if p is not None]
        kept_predictions, kept_labels = [p for p, _ in pairs], [y for _, y in pairs]
    if not kept_predictions:
        return EMPTY
    return accumulate_pairs(
        task,
        kept_predictions,
        kept_labels,
        decision_threshold=model.decision_threshold,
        positive_class=model.positive_class or "1",
    )


def _as_sent(predictions: Sequence[Any], labels: Sequence[Any]) -> bool:
    """Whether every pair counts as it is (no None, no probabilities to read): the usual
    batch, checked without a Python loop per pair."""
    return (
        None not in labels
        and None not in predictions
        and not any(issubclass(kind, dict) for kind in set(map(type, predictions)))
    )


def fit_estimator(
    model: ModelConfig, predictions: Sequence[Any], labels: Sequence[Any]
) -> BinaryEstimator | None:
    """The model's performance estimator, fitted on the reference's labelled scores; None
    when the model estimates nothing, or no prediction with a label is a score.

    ValueError when the labelled scores cannot calibrate (a single class).
    """
    if not model.estimates or model.task != "binary":
        return None
    scores: list[float] = []
    outcomes: list[Any] = []
    for prediction, label in zip(predictions, labels, strict=True):
        score = quality_prediction(model, prediction)
        if label is None or isinstance(score, bool) or not isinstance(score, int | float):
            continue
        scores.append(float(score))
        outcomes.append(label)
    if not scores:
        return None
    positive = positive_labels(outcomes, model.positive_class or "1")
    return build_binary_estimator(np.asarray(scores), positive, model.decision_threshold)
