"""Model quality from (prediction, label) pairs, as mergeable counts, judged against a baseline.

Labels arrive late and in any order, so a window's quality is never computed
in one go: every joined pair adds to counters of the window its prediction
belonged to, and the metrics are derived from the counters whenever they are
read. Every counter is a count or a sum, so pairs joined by different batches,
partitions or instances add up to the same window.

- binary: the confusion matrix at ``decision_threshold``; with probability
  scores also log-loss and Brier sums and two score histograms (positives,
  negatives) from which ROC AUC is computed (ties inside a histogram bin count
  half, so the AUC is exact up to pairs that share a bin: |error| <= the share
  of positive-negative pairs in the same bin, under 0.01 with 200 bins for
  typical scores);
- multiclass: correct and total;
- regression: sums of errors, absolute errors and squared errors.

A window is judged on its error rate (binary, multiclass) or mean absolute
error (regression) against the reference's, with a one-sided test whose
width follows from how many labels the window has: an exact binomial tail for
error rates, a z-test on absolute errors for regression. As for drift, a
result is degraded only when the rise is both significant and at least the
``warn`` threshold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import NDArray
from scipy import stats as sps

from detectors.methods import Thresholds
from detectors.profile import category_key

QualityTask = Literal["binary", "multiclass", "regression"]

AUC_BINS: Final = 200
LOG_LOSS_EPSILON: Final = float(np.finfo(np.float64).eps)
"""Probabilities are clipped to [eps, 1 - eps] for log-loss, as scikit-learn does."""

DEFAULT_QUALITY_THRESHOLDS: Final[Mapping[str, Thresholds]] = {
    # Absolute rise of the error rate over the reference's.
    "error_rate": Thresholds(0.05, 0.1),
    # Relative rise of the mean absolute error over the reference's.
    "mae": Thresholds(0.1, 0.25),
}


@dataclass(frozen=True, slots=True)
class QualityCounts:
    """A window's (or the reference's) quality counters; add two to merge them."""

    ints: Mapping[str, int]
    floats: Mapping[str, float]

    def __add__(self, other: QualityCounts) -> QualityCounts:
        return QualityCounts(_sum(self.ints, other.ints), _sum(self.floats, other.floats))

    @property
    def pairs(self) -> int:
        return int(self.ints.get("n", 0))

    def to_state(self) -> dict[str, Any]:
        return {"ints": dict(self.ints), "floats": dict(self.floats)}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> QualityCounts:
        return cls(
            {str(k): int(v) for k, v in state["ints"].items()},
            {str(k): float(v) for k, v in state["floats"].items()},
        )


EMPTY = QualityCounts({}, {})


def _sum(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for key, value in b.items():
        out[key] = out.get(key, 0) + value
    return out


def positive_labels(labels: list[Any], positive_class: str) -> NDArray[np.bool_]:
    """Which labels are the positive class, by category key (1, "1" and true all match "1")."""
    keys = {positive_class}
    if positive_class in ("1", "true"):
        keys = {"1", "true", "1.0"}
    if labels and set(map(type, labels)) == {int}:
        # Integer labels (the usual 0 and 1), compared as numbers: an int's key is its
        # decimal text, so it is positive when that text is one of the keys.
        try:
            values = np.asarray(labels, dtype=np.int64)
        except OverflowError:
            pass
        else:
            targets = [int(key) for key in keys if _decimal(key)]
            if len(targets) == 1:  # the usual case: a comparison, not np.isin's set logic
                positive: NDArray[np.bool_] = values == targets[0]
                return positive
            return np.isin(values, targets)
    return np.fromiter(
        (label is not None and category_key(label) in keys for label in labels),
        dtype=np.bool_,
        count=len(labels),
    )


def _decimal(text: str) -> bool:
    """Whether ``text`` is an int's decimal text (``str(int(text)) == text``)."""
    try:
        return str(int(text)) == text
    except ValueError:
        return False


def accumulate_pairs(
    task: QualityTask,
    predictions: list[Any],
    labels: list[Any],
    *,
    decision_threshold: float = 0.5,
    positive_class: str = "1",
) -> QualityCounts:
    """Counters of a set of joined pairs (predictions as the daemon decoded them)."""
    if len(predictions) != len(labels):
        raise ValueError(f"{len(predictions)} predictions for {len(labels)} labels")
    if not predictions:
        return EMPTY
    if task == "regression":
        return _regression(predictions, labels)
    if task == "multiclass":
        correct = sum(
            p is not None and y is not None and category_key(p) == category_key(y)
            for p, y in zip(predictions, labels, strict=True)
        )
        return QualityCounts({"n": len(labels), "correct": int(correct)}, {})
    return _binary(predictions, labels, decision_threshold, positive_class)


def _regression(predictions: list[Any], labels: list[Any]) -> QualityCounts:
    predicted = np.asarray(predictions, dtype=np.float64)
    actual = np.asarray(labels, dtype=np.float64)
    error = predicted - actual
    usable = ~np.isnan(error)
    error = error[usable]
    return QualityCounts(
        {"n": int(error.size)},
        {
            "err": float(error.sum()),
            "abs": float(np.abs(error).sum()),
            "sq": float((error * error).sum()),
        },
    )


def _binary(
    predictions: list[Any], labels: list[Any], threshold: float, positive_class: str
) -> QualityCounts:
    actual = positive_labels(labels, positive_class)
    scores = _scores(predictions)
    if scores is not None:
        predicted = scores >= threshold
    else:
        predicted = positive_labels(predictions, positive_class)
    ints = {
        "n": len(labels),
        "tp": int(np.count_nonzero(predicted & actual)),
        "fp": int(np.count_nonzero(predicted & ~actual)),
        "fn": int(np.count_nonzero(~predicted & actual)),
        "tn": int(np.count_nonzero(~predicted & ~actual)),
    }
    floats: dict[str, float] = {}
    if scores is not None:
        p = np.clip(scores, LOG_LOSS_EPSILON, 1 - LOG_LOSS_EPSILON)
        y = actual.astype(np.float64)
        floats["log_loss"] = float(-(y * np.log(p) + (1 - y) * np.log1p(-p)).sum())
        floats["brier"] = float(((scores - y) ** 2).sum())
        ints["scored"] = len(labels)
        bins = np.minimum((scores * AUC_BINS).astype(np.int64), AUC_BINS - 1)
        for names, members in ((_POS_BINS, actual), (_NEG_BINS, ~actual)):
            histogram = np.bincount(bins[members], minlength=AUC_BINS)
            filled = np.flatnonzero(histogram)
            ints.update(zip(names[filled].tolist(), histogram[filled].tolist(), strict=True))
    return QualityCounts(ints, floats)


# Each AUC histogram bin's counter name, by bin: a window's nonzero bins are named by one
# take rather than a string formatted per bin.
_POS_BINS: Final = np.array([f"pos{b}" for b in range(AUC_BINS)], dtype=object)
_NEG_BINS: Final = np.array([f"neg{b}" for b in range(AUC_BINS)], dtype=object)


def _scores(predictions: list[Any]) -> NDArray[np.float64] | None:
    """Probability scores in [0, 1], or None when the predictions are class labels."""
    try:
        scores = np.asarray(predictions, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if np.isnan(scores).any() or scores.min() < 0 or scores.max() > 1:
        return None
    return scores


def quality_metrics(task: QualityTask, counts: QualityCounts) -> dict[str, float]:
    """The metrics a set of counters supports (empty when it holds no pairs)."""
    n = counts.pairs
    if n == 0:
        return {}
    ints, floats = counts.ints, counts.floats
    if task == "regression":
        return {
            "mae": floats["abs"] / n,
            "rmse": math.sqrt(floats["sq"] / n),
            "bias": floats["err"] / n,
        }
    if task == "multiclass":
        accuracy = ints.get("correct", 0) / n
        return {"accuracy": accuracy, "error_rate": 1 - accuracy}
    tp, fp, fn, tn = (ints.get(k, 0) for k in ("tp", "fp", "fn", "tn"))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    metrics = {
        "accuracy": (tp + tn) / n,
        "error_rate": (fp + fn) / n,
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
    }
    scored = ints.get("scored", 0)
    if scored:
        metrics["log_loss"] = floats["log_loss"] / scored
        metrics["brier"] = floats["brier"] / scored
        auc = _auc(ints)
        if auc is not None:
            metrics["roc_auc"] = auc
    return metrics


def _auc(ints: Mapping[str, int]) -> float | None:
    pos = np.array([ints.get(f"pos{b}", 0) for b in range(AUC_BINS)], dtype=np.float64)
    neg = np.array([ints.get(f"neg{b}", 0) for b in range(AUC_BINS)], dtype=np.float64)
    positives, negatives = pos.sum(), neg.sum()
    if positives == 0 or negatives == 0:
        return None
    below = np.cumsum(neg) - neg  # negatives in lower bins
    return float((pos * (below + 0.5 * neg)).sum() / (positives * negatives))


@dataclass(frozen=True, slots=True)
class QualityVerdict:
    """How a window's quality compares with the baseline."""

    metric: str
    value: float
    baseline: float
    score: float
    p_value: float | None
    warn: float
    critical: float
    labels: int
    drifted: bool
    severity: Literal["ok", "warning", "critical", "insufficient"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "signal": self.metric,
            "role": "performance",
            "method": "binomial" if self.metric == "error_rate" else "z_test",
            "score": self.score,
            "value": self.value,
            "baseline": self.baseline,
            "p_value": self.p_value,
            "statistic": None,
            "threshold": self.warn,
            "critical_threshold": self.critical,
            "labels": self.labels,
            "drifted": self.drifted,
            "severity": self.severity,
        }


def judge_quality(
    task: QualityTask,
    window: QualityCounts,
    baseline: QualityCounts,
    *,
    alpha: float,
    min_labels: int,
    thresholds: Mapping[str, Thresholds] = DEFAULT_QUALITY_THRESHOLDS,
) -> QualityVerdict | None:
    """Whether the window's quality is significantly and materially worse than the baseline.

    None when the baseline has no pairs (an unlabelled reference sets no baseline).
    """
    if baseline.pairs == 0:
        return None
    n = window.pairs
    if task == "regression":
        metric = "mae"
        base = baseline.floats["abs"] / baseline.pairs
        value = window.floats.get("abs", 0.0) / n if n else math.nan
        score = (value - base) / base if base > 0 and n else 0.0
        p_value = _mae_p_value(window, base) if n >= 2 else None
    else:
        metric = "error_rate"
        base = quality_metrics(task, baseline)["error_rate"]
        value = quality_metrics(task, window)["error_rate"] if n else math.nan
        score = value - base if n else 0.0
        errors = round(value * n) if n else 0
        # P(at least this many errors | the baseline rate): exact binomial tail.
        p_value = float(sps.binom.sf(errors - 1, n, base)) if n else None
    limits = thresholds[metric]
    judged = n >= min_labels
    drifted = bool(judged and p_value is not None and p_value < alpha and score >= limits.warn)
    severity: Literal["ok", "warning", "critical", "insufficient"] = "ok"
    if not judged:
        severity = "insufficient"
    elif drifted:
        severity = "critical" if score >= limits.critical else "warning"
    return QualityVerdict(
        metric=metric,
        value=float(value),
        baseline=float(base),
        score=float(score),
        p_value=p_value,
        warn=limits.warn,
        critical=limits.critical,
        labels=n,
        drifted=drifted,
        severity=severity,
    )


def _mae_p_value(window: QualityCounts, baseline_mae: float) -> float:
    """One-sided z-test that the window's mean absolute error exceeds the baseline's."""
    n = window.pairs
    mean = window.floats["abs"] / n
    variance = max(window.floats["sq"] / n - mean * mean, 0.0) * n / (n - 1)
    if variance == 0:
        return 0.0 if mean > baseline_mae else 1.0
    z = (mean - baseline_mae) / math.sqrt(variance / n)
    return float(sps.norm.sf(z))
