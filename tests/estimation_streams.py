"""Labelled streams for estimated performance: a reference, then chunks under a shift.

Shared by the pure tests (against NannyML) and the daemon's integration tests,
so both judge the same data. Every stream is seeded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

FEATURES = ("x0", "x1", "x2")


@dataclass(frozen=True)
class LabelledStream:
    """Reference and analysis rows of one model: features, scores, labels."""

    reference_features: NDArray[np.float64]
    reference_scores: NDArray[np.float64]
    reference_labels: NDArray[np.int64]
    features: NDArray[np.float64]
    scores: NDArray[np.float64]
    labels: NDArray[np.int64]
    chunk: int

    @property
    def chunks(self) -> int:
        return self.scores.size // self.chunk


def _true_logit(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """What decides the label: a logistic model of x0 and x1 misses the x1 * x2 term."""
    return 1.5 * x[:, 0] - x[:, 1] + 0.8 * x[:, 1] * x[:, 2] + 0.5 * np.sin(3 * x[:, 0])


class SyntheticModel:
    """A logistic regression trained on 10,000 rows of three standard-normal features."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        x, y = self.draw(10_000)
        self.model = LogisticRegression().fit(x, y)

    def draw(
        self,
        n: int,
        *,
        shift: tuple[float, float, float] = (0.0, 0.0, 0.0),
        scale: tuple[float, float, float] = (1.0, 1.0, 1.0),
        concept: float = 0.0,
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """Rows with shifted / scaled features; ``concept`` flips that share of the labels."""
        x = self.rng.normal(0.0, 1.0, (n, 3)) * np.asarray(scale) + np.asarray(shift)
        y = (self.rng.random(n) < 1 / (1 + np.exp(-_true_logit(x)))).astype(np.int64)
        flip = self.rng.random(n) < concept
        return x, np.where(flip, 1 - y, y)

    def score(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(self.model.predict_proba(x)[:, 1], dtype=np.float64)


def covariate_shift_stream(seed: int = 7, chunk: int = 2000) -> LabelledStream:
    """A 10,000-row reference, then chunks of x0 shifted by 0, 0, 0.5, 1, 1.5 and -1 sd."""
    model = SyntheticModel(seed)
    x_ref, y_ref = model.draw(10_000)
    parts = [model.draw(chunk, shift=(s, 0.0, 0.0)) for s in (0.0, 0.0, 0.5, 1.0, 1.5, -1.0)]
    x = np.vstack([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    return LabelledStream(x_ref, model.score(x_ref), y_ref, x, model.score(x), y, chunk)


def breast_cancer_stream(seed: int = 3) -> LabelledStream:
    """scikit-learn's breast-cancer data: a model trained on 200 rows (10 features), a
    200-row reference, then two 60-row chunks: a random one, and the 60 largest tumours
    (by mean radius) of the rest, a sub-population the reference holds few of."""
    data = load_breast_cancer()
    x, y = np.asarray(data.data[:, :10]), np.asarray(data.target, dtype=np.int64)
    order = np.random.default_rng(seed).permutation(y.size)
    train, reference, rest = order[:200], order[200:400], order[400:]
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.05)).fit(x[train], y[train])
    largest = rest[np.argsort(x[rest, 0])[::-1]]
    analysis = np.concatenate([rest[:60], largest[:60]])

    def score(rows: NDArray[np.intp]) -> NDArray[np.float64]:
        return np.asarray(model.predict_proba(x[rows])[:, 1], dtype=np.float64)

    return LabelledStream(
        x[reference], score(reference), y[reference], x[analysis], score(analysis), y[analysis], 60
    )
