"""Estimated performance (CBPE): the calibration against scikit-learn, the estimates
against NannyML on the same data and chunking, and the window state's merging."""

from __future__ import annotations

import json
import os
import warnings
from typing import Any

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression

from detectors.calibration import Calibration, calibration_helps, fit_isotonic
from detectors.estimation import (
    BINARY_METRICS,
    BinaryEstimator,
    SegmentCounts,
    build_binary_estimator,
)
from tests.estimation_streams import LabelledStream, breast_cancer_stream, covariate_shift_stream
from tests.helpers import in_ci

SEED = 20261201


def _nannyml() -> Any:
    """NannyML, imported quietly; skipped when not installed locally, a failure in CI."""
    os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import nannyml
    except ImportError:
        message = "nannyml is not installed (`pip install -e '.[dev,nannyml]'`, or `make install`)"
        if in_ci():
            pytest.fail(f"{message}; it is required in CI")
        pytest.skip(message)
    return nannyml


@pytest.mark.parametrize("size", [3, 50, 500, 20_000])
def test_isotonic_fit_predicts_what_scikit_learns_predicts(size: int) -> None:
    rng = np.random.default_rng(SEED + size)
    scores = rng.random(size)
    outcomes = (rng.random(size) < scores**2).astype(np.float64)
    fit = fit_isotonic(scores, outcomes)
    reference = IsotonicRegression(out_of_bounds="clip").fit(scores, outcomes)
    probe = np.concatenate([rng.random(2000) * 1.2 - 0.1, scores])
    np.testing.assert_array_equal(fit.x, reference.X_thresholds_)
    np.testing.assert_allclose(fit(probe), reference.predict(probe), atol=1e-12)


def test_isotonic_fit_pools_tied_scores_first() -> None:
    scores = np.round(np.random.default_rng(SEED).random(500), 2)
    outcomes = (scores > 0.5).astype(np.float64)
    reference = IsotonicRegression(out_of_bounds="clip").fit(scores, outcomes)
    np.testing.assert_allclose(fit_isotonic(scores, outcomes)(scores), reference.predict(scores))


def test_calibration_is_kept_only_where_it_helps() -> None:
    rng = np.random.default_rng(SEED)
    calibrated = rng.random(5000)
    overconfident = np.clip(calibrated * 1.6 - 0.3, 0, 1)
    outcomes = (rng.random(5000) < calibrated).astype(np.float64)
    assert calibration_helps(overconfident, outcomes)
    assert not calibration_helps(np.where(outcomes == 1, 0.9, 0.1), outcomes)  # separates


def test_estimator_state_survives_plain_json() -> None:
    stream = covariate_shift_stream()
    estimator = build_binary_estimator(stream.reference_scores, stream.reference_labels == 1, 0.5)
    again = BinaryEstimator.from_state(json.loads(json.dumps(estimator.to_state())))
    window = stream.scores[:2000]
    first = estimator.estimate(estimator.accumulate(window), BINARY_METRICS)
    second = again.estimate(again.accumulate(window), BINARY_METRICS)
    assert {k: v.to_dict() for k, v in first.items()} == {k: v.to_dict() for k, v in second.items()}


def test_window_state_merged_from_batches_estimates_like_the_whole() -> None:
    stream = covariate_shift_stream()
    estimator = build_binary_estimator(stream.reference_scores, stream.reference_labels == 1, 0.5)
    window = stream.scores[:2000]
    parts = [estimator.accumulate(window[start : start + 333]) for start in range(0, 2000, 333)]
    merged = SegmentCounts(
        np.sum([p.counts for p in parts], axis=0), np.sum([p.sums for p in parts], axis=0)
    )
    whole = estimator.accumulate(window)
    np.testing.assert_array_equal(merged.counts, whole.counts)
    for metric, estimate in estimator.estimate(merged, BINARY_METRICS).items():
        assert estimate.value == pytest.approx(
            estimator.estimate(whole, BINARY_METRICS)[metric].value, abs=1e-12
        )


def test_missing_scores_are_left_out_of_the_estimate() -> None:
    stream = covariate_shift_stream()
    estimator = build_binary_estimator(stream.reference_scores, stream.reference_labels == 1, 0.5)
    window = stream.scores[:1000]
    holed = np.concatenate([window, np.full(50, np.nan)])
    assert estimator.accumulate(holed).events == 1000
    with_holes = estimator.estimate(estimator.accumulate(holed), ("accuracy",))["accuracy"]
    without = estimator.estimate(estimator.accumulate(window), ("accuracy",))["accuracy"]
    assert with_holes.value == pytest.approx(without.value, abs=1e-12)


def test_a_reference_of_one_class_cannot_calibrate() -> None:
    with pytest.raises(ValueError, match="both classes"):
        build_binary_estimator(np.array([0.2, 0.7, 0.9]), np.array([True, True, True]), 0.5)


def _nannyml_estimates(stream: LabelledStream, metrics: tuple[str, ...]) -> Any:
    nml = _nannyml()
    import pandas as pd

    def frame(scores: np.ndarray, labels: np.ndarray) -> Any:
        return pd.DataFrame({"p": scores, "y_pred": (scores >= 0.5).astype(int), "y": labels})

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator = nml.CBPE(
            y_pred_proba="p",
            y_pred="y_pred",
            y_true="y",
            problem_type="classification_binary",
            metrics=list(metrics),
            chunk_size=stream.chunk,
        )
        estimator.fit(frame(stream.reference_scores, stream.reference_labels))
        result = estimator.estimate(frame(stream.scores, stream.labels))
        return result.filter(period="analysis").to_df()


@pytest.mark.parametrize(
    "stream",
    [covariate_shift_stream(), breast_cancer_stream()],
    ids=["covariate_shift", "breast_cancer"],
)
def test_estimated_accuracy_and_roc_auc_are_within_0_01_of_nannymls_per_chunk(
    stream: LabelledStream,
) -> None:
    metrics = ("accuracy", "roc_auc", "precision", "recall", "f1")
    theirs = _nannyml_estimates(stream, metrics)
    ours = build_binary_estimator(stream.reference_scores, stream.reference_labels == 1, 0.5)
    assert len(theirs) == stream.chunks
    for chunk in range(stream.chunks):
        scores = stream.scores[chunk * stream.chunk : (chunk + 1) * stream.chunk]
        estimates = ours.estimate(ours.accumulate(scores), metrics)
        row = theirs.iloc[chunk]
        for metric in ("accuracy", "roc_auc"):
            assert estimates[metric].value == pytest.approx(row[(metric, "value")], abs=0.01)
        for metric in metrics:  # measured: all five agree to 1e-3, sampling errors too
            assert estimates[metric].value == pytest.approx(row[(metric, "value")], abs=1e-3)
            assert estimates[metric].sampling_error == pytest.approx(
                row[(metric, "sampling_error")], rel=0.01
            )


def test_the_estimate_follows_a_covariate_shift_that_hurts_the_model() -> None:
    from tests.estimation_streams import SyntheticModel

    model = SyntheticModel(11)
    x_ref, y_ref = model.draw(10_000)
    estimator = build_binary_estimator(model.score(x_ref), y_ref == 1, 0.5)
    x, y = model.draw(3000, scale=(0.3, 0.3, 1.0))  # features crowd the decision boundary
    estimate = estimator.estimate(estimator.accumulate(model.score(x)), ("accuracy",))["accuracy"]
    realized = float(np.mean((model.score(x) >= 0.5) == (y == 1)))
    assert estimator.baseline["accuracy"] - estimate.value > 0.1
    assert estimator.baseline["accuracy"] - realized > 0.1
    # Not within the band: the logistic model misses the label's x1 * x2 and sin(3 x0) terms,
    # so shrinking the features also moves P(label | score) a little (0.04 here).
    assert abs(estimate.value - realized) < 0.05


def test_calibration_state_refuses_knots_that_do_not_increase() -> None:
    state = Calibration(np.array([0.0, 1.0]), np.array([0.1, 0.9]), True).to_state()
    state["x"] = Calibration(np.array([1.0, 0.0]), np.array([0.1, 0.9]), True).to_state()["x"]
    with pytest.raises(ValueError, match="increasing"):
        Calibration.from_state(state)
