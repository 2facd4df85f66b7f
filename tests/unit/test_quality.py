"""Quality counters and metrics against scikit-learn on the same pairs; degradation decisions."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from detectors.profile import category_key
from detectors.quality import (
    EMPTY,
    QualityCounts,
    accumulate_pairs,
    judge_quality,
    positive_labels,
    quality_metrics,
)

SEED = 20261127


def _binary_pairs(n: int, seed: int = SEED) -> tuple[list[float], list[int]]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    scores = np.clip(rng.normal(0.35 + 0.3 * labels, 0.2), 0.0, 1.0)
    return scores.tolist(), labels.tolist()


def test_binary_metrics_equal_scikit_learns_on_the_same_pairs() -> None:
    scores, labels = _binary_pairs(5000)
    metrics = quality_metrics("binary", accumulate_pairs("binary", scores, labels))
    predicted = (np.asarray(scores) >= 0.5).astype(int)
    assert metrics["accuracy"] == pytest.approx(skm.accuracy_score(labels, predicted), abs=1e-12)
    assert metrics["precision"] == pytest.approx(skm.precision_score(labels, predicted), abs=1e-12)
    assert metrics["recall"] == pytest.approx(skm.recall_score(labels, predicted), abs=1e-12)
    assert metrics["f1"] == pytest.approx(skm.f1_score(labels, predicted), abs=1e-12)
    assert metrics["log_loss"] == pytest.approx(skm.log_loss(labels, scores), rel=1e-9)
    assert metrics["brier"] == pytest.approx(skm.brier_score_loss(labels, scores), rel=1e-9)
    # ROC AUC from 200-bin score histograms: exact but for pairs sharing a bin.
    assert metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(labels, scores), abs=0.005)


def test_counts_merged_from_parts_give_the_metrics_of_the_whole() -> None:
    scores, labels = _binary_pairs(3000)
    whole = accumulate_pairs("binary", scores, labels)
    parts = EMPTY
    for start in range(0, 3000, 700):
        parts = parts + accumulate_pairs(
            "binary", scores[start : start + 700], labels[start : start + 700]
        )
    assert parts.ints == whole.ints
    assert parts.floats == pytest.approx(whole.floats, rel=1e-12)


def test_binary_labels_match_the_positive_class_by_category_key() -> None:
    counts = accumulate_pairs("binary", [0.9, 0.9, 0.9, 0.1], [1, "1", True, 0])
    assert counts.ints["tp"] == 3
    assert counts.ints["tn"] == 1


@pytest.mark.parametrize("positive_class", ["1", "true", "7", "07", "-3", "yes"])
def test_integer_labels_are_positive_exactly_when_their_category_key_is(
    positive_class: str,
) -> None:
    labels = [0, 1, 7, -3, 2**40]
    by_key = [category_key(label) in _positive_keys(positive_class) for label in labels]
    assert positive_labels(labels, positive_class).tolist() == by_key


def _positive_keys(positive_class: str) -> set[str]:
    return {"1", "true", "1.0"} if positive_class in ("1", "true") else {positive_class}


def test_class_label_predictions_give_the_confusion_matrix_without_scores() -> None:
    counts = accumulate_pairs(
        "binary", ["fraud", "ok", "fraud"], ["fraud", "fraud", "ok"], positive_class="fraud"
    )
    assert (counts.ints["tp"], counts.ints["fn"], counts.ints["fp"]) == (1, 1, 1)
    assert "log_loss" not in quality_metrics("binary", counts)


def test_multiclass_accuracy_equals_scikit_learns() -> None:
    rng = np.random.default_rng(SEED)
    labels = rng.choice(["a", "b", "c"], 2000).tolist()
    predictions = [y if rng.random() < 0.7 else "a" for y in labels]
    metrics = quality_metrics("multiclass", accumulate_pairs("multiclass", predictions, labels))
    assert metrics["accuracy"] == pytest.approx(skm.accuracy_score(labels, predictions))


def test_regression_metrics_equal_scikit_learns() -> None:
    rng = np.random.default_rng(SEED)
    actual = rng.normal(10, 3, 4000)
    predicted = actual + rng.normal(0.5, 1.0, 4000)
    metrics = quality_metrics(
        "regression", accumulate_pairs("regression", predicted.tolist(), actual.tolist())
    )
    assert metrics["mae"] == pytest.approx(skm.mean_absolute_error(actual, predicted), rel=1e-12)
    assert metrics["rmse"] == pytest.approx(
        skm.root_mean_squared_error(actual, predicted), rel=1e-12
    )
    assert metrics["bias"] == pytest.approx(float(np.mean(predicted - actual)), rel=1e-12)


def _error_counts(n: int, error_rate: float) -> QualityCounts:
    errors = round(n * error_rate)
    return QualityCounts({"n": n, "tp": n - errors, "fp": errors, "fn": 0, "tn": 0}, {})


def test_a_material_and_significant_error_rise_is_degraded() -> None:
    verdict = judge_quality(
        "binary", _error_counts(1000, 0.25), _error_counts(20000, 0.15), alpha=0.01, min_labels=200
    )
    assert verdict is not None
    assert verdict.drifted
    assert verdict.severity == "critical"
    assert verdict.score == pytest.approx(0.10)


def test_the_same_rise_on_few_labels_is_not_significant() -> None:
    verdict = judge_quality(
        "binary", _error_counts(40, 0.25), _error_counts(20000, 0.15), alpha=0.01, min_labels=20
    )
    assert verdict is not None
    assert verdict.p_value is not None
    assert verdict.p_value > 0.01
    assert not verdict.drifted


def test_a_significant_but_small_rise_is_not_degraded() -> None:
    verdict = judge_quality(
        "binary",
        _error_counts(200_000, 0.16),
        _error_counts(200_000, 0.15),
        alpha=0.01,
        min_labels=200,
    )
    assert verdict is not None
    assert verdict.p_value is not None
    assert verdict.p_value < 1e-6
    assert not verdict.drifted


def test_a_window_below_min_labels_is_insufficient() -> None:
    verdict = judge_quality(
        "binary", _error_counts(50, 0.9), _error_counts(20000, 0.15), alpha=0.01, min_labels=200
    )
    assert verdict is not None
    assert verdict.severity == "insufficient"
    assert not verdict.drifted


def test_an_unlabelled_reference_sets_no_baseline() -> None:
    assert judge_quality("binary", _error_counts(500, 0.5), EMPTY, alpha=0.01, min_labels=1) is None


def test_regression_degradation_uses_the_relative_rise_of_mae() -> None:
    rng = np.random.default_rng(SEED)
    truth = rng.normal(0, 1, 20000)
    baseline = accumulate_pairs(
        "regression", (truth + rng.normal(0, 1, 20000)).tolist(), truth.tolist()
    )
    worse_truth = rng.normal(0, 1, 1000)
    window = accumulate_pairs(
        "regression", (worse_truth + rng.normal(0, 1.5, 1000)).tolist(), worse_truth.tolist()
    )
    verdict = judge_quality("regression", window, baseline, alpha=0.01, min_labels=100)
    assert verdict is not None
    assert verdict.metric == "mae"
    assert verdict.score == pytest.approx(0.5, abs=0.1)
    assert verdict.drifted
