"""Planning one batch's label joins from what Redis holds for its ids (pure, no Redis)."""

from __future__ import annotations

import json

import msgspec
import pytest

from monitor.batch_data import JoinView, PendingPrediction
from monitor.config import ModelConfig
from monitor.labels.decode import Label
from monitor.labels.joins import plan_joins
from monitor.tooling.synthetic import SyntheticModel
from tests.daemon_harness import pipeline_config


@pytest.fixture(scope="module")
def model() -> ModelConfig:
    synthetic = SyntheticModel()
    config = pipeline_config(
        bootstrap="127.0.0.1:9",
        redis_url="redis://127.0.0.1:9",
        topic="predictions",
        group="joins",
        model=synthetic,
        extra_model={"task": "binary"},
    )
    return config.models[synthetic.name]


def _prediction(event_id: str, window: int = 3, score: float = 0.9) -> PendingPrediction:
    return PendingPrediction(event_id, window, score, ts=100.0, position=7)


def _view(
    labels_for_predictions: dict[str, bytes], predictions_for_labels: dict[str, bytes]
) -> JoinView:
    return JoinView(5, labels_for_predictions, predictions_for_labels)


def test_a_prediction_joins_the_label_that_waited_for_it(model: ModelConfig) -> None:
    waiting_label = json.dumps([1, 160.0]).encode()
    plan = plan_joins(model, _view({"a": waiting_label}, {}), [_prediction("a")], [])
    assert plan.joined == 1
    assert plan.delete_labels == ["a"]
    assert plan.store_predictions == {}
    assert plan.label_lags == [60.0]
    assert plan.quality[3].pairs == 1
    assert not plan.pairs[0].from_labels_topic


def test_a_label_joins_the_prediction_that_waited_for_it(model: ModelConfig) -> None:
    waiting_prediction = json.dumps([2, 0.8, 100.0]).encode()
    label = Label("a", 1, ts=130.0, position=4)
    plan = plan_joins(model, _view({}, {"a": waiting_prediction}), [], [label])
    assert plan.joined == 1
    assert plan.delete_predictions == ["a"]
    assert list(plan.quality) == [2]
    assert plan.pairs[0].from_labels_topic
    assert plan.pairs[0].position == 4


def test_a_prediction_and_its_label_in_the_same_batch_join_without_waiting(
    model: ModelConfig,
) -> None:
    plan = plan_joins(model, _view({}, {}), [_prediction("a")], [Label("a", 0, 101.0)])
    assert plan.joined == 1
    assert plan.store_predictions == {}
    assert plan.store_labels == {}


def test_unmatched_predictions_and_labels_wait_as_json(model: ModelConfig) -> None:
    plan = plan_joins(model, _view({}, {}), [_prediction("a")], [Label("b", 1, 140.0)])
    assert plan.joined == 0
    assert msgspec.json.decode(plan.store_predictions["a"]) == [3, 0.9, 100.0]
    assert json.loads(plan.store_labels["b"]) == [1, 140.0]


def test_a_second_label_for_an_already_joined_prediction_waits_instead(
    model: ModelConfig,
) -> None:
    waiting_prediction = json.dumps([2, 0.8, 100.0]).encode()
    labels = [Label("a", 1, 130.0), Label("a", 0, 131.0)]
    plan = plan_joins(model, _view({}, {"a": waiting_prediction}), [], labels)
    assert plan.joined == 1
    assert plan.delete_predictions == ["a"]
    assert json.loads(plan.store_labels["a"]) == [0, 131.0]


def test_the_plan_carries_the_join_version_it_was_made_from(model: ModelConfig) -> None:
    plan = plan_joins(model, _view({}, {}), [_prediction("a")], [])
    assert plan.expected_version == 5
    assert plan.predictions_keyed == 1
