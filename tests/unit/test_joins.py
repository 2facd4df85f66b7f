"""Planning one batch's label joins from what Redis holds for its ids (pure, no Redis)."""

from __future__ import annotations

import dataclasses
import json

import msgspec
import numpy as np
import pytest

from monitor.batch_data import JoinView, KeyedPredictions
from monitor.config import ModelConfig
from monitor.decode import ModelColumns
from monitor.labels.decode import Label
from monitor.labels.joins import keyed_predictions, plan_joins
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


Row = tuple[str, int, float, float, int, str]


def _prediction(event_id: str, window: int = 3, score: float = 0.9) -> Row:
    return (event_id, window, score, 100.0, 7, "")


def _keyed(*rows: Row) -> KeyedPredictions:
    """Keyed predictions given as rows (id, window, prediction, ts, position, stream)."""
    columns = [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * 6
    return KeyedPredictions(*columns)


def _view(
    labels_for_predictions: dict[str, bytes], predictions_for_labels: dict[str, bytes]
) -> JoinView:
    return JoinView(5, labels_for_predictions, predictions_for_labels)


def test_a_prediction_joins_the_label_that_waited_for_it(model: ModelConfig) -> None:
    waiting_label = json.dumps([1, 160.0]).encode()
    plan = plan_joins(model, _view({"a": waiting_label}, {}), _keyed(_prediction("a")), [])
    assert plan.joined == 1
    assert plan.delete_labels == ["a"]
    assert plan.store_predictions == {}
    assert plan.label_lags == [60.0]
    assert plan.quality[model.name][3].pairs == 1
    assert not plan.pairs(model.name)[0].from_labels_topic


def test_a_label_joins_the_prediction_that_waited_for_it(model: ModelConfig) -> None:
    waiting_prediction = json.dumps([2, 0.8, 100.0]).encode()
    label = Label("a", 1, ts=130.0, position=4)
    plan = plan_joins(model, _view({}, {"a": waiting_prediction}), KeyedPredictions(), [label])
    assert plan.joined == 1
    assert plan.delete_predictions == ["a"]
    assert list(plan.quality[model.name]) == [2]
    assert plan.pairs(model.name)[0].from_labels_topic
    assert plan.pairs(model.name)[0].position == 4


def test_a_prediction_and_its_label_in_the_same_batch_join_without_waiting(
    model: ModelConfig,
) -> None:
    plan = plan_joins(model, _view({}, {}), _keyed(_prediction("a")), [Label("a", 0, 101.0)])
    assert plan.joined == 1
    assert plan.store_predictions == {}
    assert plan.store_labels == {}


def test_unmatched_predictions_and_labels_wait_as_json(model: ModelConfig) -> None:
    plan = plan_joins(model, _view({}, {}), _keyed(_prediction("a")), [Label("b", 1, 140.0)])
    assert plan.joined == 0
    assert msgspec.json.decode(plan.store_predictions["a"]) == [3, 0.9, 100.0]
    assert json.loads(plan.store_labels["b"]) == [1, 140.0]


def test_a_second_label_for_an_already_joined_prediction_waits_instead(
    model: ModelConfig,
) -> None:
    waiting_prediction = json.dumps([2, 0.8, 100.0]).encode()
    labels = [Label("a", 1, 130.0), Label("a", 0, 131.0)]
    plan = plan_joins(model, _view({}, {"a": waiting_prediction}), KeyedPredictions(), labels)
    assert plan.joined == 1
    assert plan.delete_predictions == ["a"]
    assert json.loads(plan.store_labels["a"]) == [0, 131.0]


def test_the_plan_carries_the_join_version_it_was_made_from(model: ModelConfig) -> None:
    plan = plan_joins(model, _view({}, {}), _keyed(_prediction("a")), [])
    assert plan.expected_version == 5
    assert plan.predictions_keyed == 1


V3, V4 = "fraud/version=3", "fraud/version=4"


@pytest.fixture(scope="module")
def per_version(model: ModelConfig) -> ModelConfig:
    """The model with a reference per version: its versions' predictions join under it."""
    by_version = {"3": "v3.jsonl", "4": "v4.jsonl"}
    return dataclasses.replace(
        model, reference=dataclasses.replace(model.reference, path=None, by_version=by_version)
    )


def _of_version(event_id: str, stream: str, window: int) -> Row:
    return (event_id, window, 0.9, 100.0, 7, stream)


def test_a_versions_prediction_waits_under_the_model_naming_its_stream(
    per_version: ModelConfig,
) -> None:
    plan = plan_joins(per_version, _view({}, {}), _keyed(_of_version("a", V4, 3)), [])
    assert msgspec.json.decode(plan.store_predictions["a"]) == [3, 0.9, 100.0, V4]
    assert plan.stream_counts == {V4: (0, 1)}


def test_a_label_counts_in_the_stream_whose_prediction_waited_for_it(
    per_version: ModelConfig,
) -> None:
    waiting_prediction = json.dumps([2, 0.8, 100.0, V3]).encode()
    plan = plan_joins(
        per_version,
        _view({}, {"a": waiting_prediction}),
        KeyedPredictions(),
        [Label("a", 1, 130.0)],
    )
    assert {stream: list(windows) for stream, windows in plan.quality.items()} == {V3: [2]}
    assert plan.stream_counts == {V3: (1, 0)}
    assert plan.pairs(V3)[0].label == 1
    assert plan.pairs(per_version.name) == []


def test_labels_of_two_versions_in_one_batch_count_each_in_its_own_stream(
    per_version: ModelConfig,
) -> None:
    predictions = _keyed(_of_version("a", V3, 1), _of_version("b", V4, 1), _of_version("c", V4, 1))
    labels = [Label("a", 1, 130.0), Label("b", 0, 130.0), Label("c", 1, 130.0)]
    plan = plan_joins(per_version, _view({}, {}), predictions, labels)
    assert plan.quality[V3][1].pairs == 1
    assert plan.quality[V4][1].pairs == 2
    assert plan.stream_counts == {V3: (1, 1), V4: (2, 2)}
    assert plan.joined == 3


def test_only_predictions_with_an_id_a_prediction_and_a_window_are_keyed() -> None:
    columns = ModelColumns(
        model="fraud",
        rows=4,
        numeric={},
        categorical={},
        mismatches={},
        ts=np.array([1.0, 2.0, 3.0, 4.0]),
        event_ids=["a", None, "c", "d"],
        predictions=[0.1, 0.2, None, 0.4],
        positions=np.array([10, 11, 12, 13], dtype=np.intp),
    )
    keyed = keyed_predictions(columns, np.array([0, 0, 0, -1], dtype=np.int64), V4)
    assert keyed == KeyedPredictions(["a"], [0], [0.1], [1.0], [10], [V4])
