"""monitor.payloads.v1 and .oip: a model server's request and response bodies as rows.

Spec versions followed: the KServe V1 data plane (``instances`` / ``predictions``) and
the Open Inference Protocol HTTP/REST API as in ``kserve/open-inference-protocol``
(``specification/protocol/inference_rest.md``) and KServe's ``docs/predict-api/v2``:
tensor datatypes BOOL, UINT8..64, INT8..64, FP16/32/64, BYTES; data row-major, flat or
nested; the first dimension the batch. Bodies are built as KServe writes them
(tests/kserve_messages.py).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.config import ModelPayloadConfig
from monitor.payloads import oip, v1
from monitor.payloads.rejected import Rejected
from tests.kserve_messages import tensor, v1_request, v1_response, v2_request, v2_response

IRIS = ("sepal_length", "sepal_width", "petal_length", "petal_width")


def _iris(*values: float) -> dict[str, float]:
    return dict(zip(IRIS, values, strict=True))


def _mapping(**fields: Any) -> ModelPayloadConfig:
    return ModelPayloadConfig(**fields)


def _rejected(call: Any, *args: Any) -> Rejected:
    with pytest.raises(Rejected) as caught:
        call(*args)
    return caught.value


# --------------------------------------------------------------------------- V1


def test_v1_list_instances_are_named_by_position() -> None:
    request = v1.read_request(v1_request([[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]], pretty=True))

    rows = v1.request_rows(request, _mapping(columns=IRIS))

    assert rows == [_iris(6.8, 2.8, 4.8, 1.4), _iris(6.0, 3.4, 4.5, 1.6)]


def test_v1_object_instances_are_read_by_key() -> None:
    request = v1.read_request(v1_request([{"age": 41, "country": "DE"}]))

    assert v1.request_rows(request, _mapping()) == [{"age": 41, "country": "DE"}]


def test_v1_scalar_instances_fill_a_single_column() -> None:
    request = v1.read_request(v1_request([1.5, 2.5]))

    assert v1.request_rows(request, _mapping(columns=("x",))) == [{"x": 1.5}, {"x": 2.5}]


def test_v1_list_instances_without_column_names_are_refused_with_the_fix() -> None:
    rejected = _rejected(v1.request_rows, v1.read_request(v1_request([[1, 2]])), _mapping())

    assert rejected.reason == "missing_field"
    assert "payload.columns" in rejected.detail


def test_v1_instance_of_another_length_than_the_columns_is_a_shape_mismatch() -> None:
    request = v1.read_request(v1_request([[1, 2, 3, 4], [1, 2, 3]]))

    rejected = _rejected(v1.request_rows, request, _mapping(columns=IRIS))

    assert rejected.reason == "shape_mismatch"
    assert "instance 1 has 3 values" in rejected.detail


def test_v1_predictions_values_probabilities_and_objects() -> None:
    response = v1.read_response(v1_response([1, [0.2, 0.8], {"0": 0.9, "1": 0.1}]))

    predictions = v1.response_predictions(response, _mapping())

    assert predictions == [1, {"0": 0.2, "1": 0.8}, {"0": 0.9, "1": 0.1}]


def test_v1_probabilities_take_the_configured_class_names() -> None:
    response = v1.read_response(v1_response([[0.1, 0.7, 0.2]]))
    mapping = _mapping(classes=("setosa", "versicolor", "virginica"))

    assert v1.response_predictions(response, mapping) == [
        {"setosa": 0.1, "versicolor": 0.7, "virginica": 0.2}
    ]


def test_v1_probabilities_of_another_count_than_the_classes_are_a_shape_mismatch() -> None:
    response = v1.read_response(v1_response([[0.1, 0.9]]))

    rejected = _rejected(v1.response_predictions, response, _mapping(classes=("a", "b", "c")))

    assert rejected.reason == "shape_mismatch"


def test_v1_output_picks_a_key_of_prediction_objects() -> None:
    response = v1.read_response(v1_response([{"score": 0.3, "label": "ok"}]))

    assert v1.response_predictions(response, _mapping(output="score")) == [0.3]
    rejected = _rejected(v1.response_predictions, response, _mapping(output="proba"))
    assert rejected.reason == "missing_field"
    assert "'score', 'label'" in rejected.detail


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty"),
        (b"{", "invalid_json"),
        (b"[1]", "not_an_object"),
        (b'{"instances": 3}', "wrong_type"),
        (b'{"inputs": []}', "missing_field"),
    ],
)
def test_v1_bad_request_bodies_are_refused_with_a_reason(body: bytes, reason: str) -> None:
    assert _rejected(v1.read_request, body).reason == reason


def test_a_v2_body_under_the_v1_format_says_which_format_to_set() -> None:
    rejected = _rejected(v1.read_request, v2_request([tensor("x", [1], "FP32", [1.0])]))

    assert "payload.format: open-inference" in rejected.detail


# --------------------------------------------------------------------------- V2 (OIP)


def test_v2_two_dimensional_tensor_is_rows_of_named_columns() -> None:
    body = v2_request([tensor("input-0", [2, 4], "FP32", [6.8, 2.8, 4.8, 1.4, 6.0, 3.4, 4.5, 1.6])])

    rows = oip.request_rows(oip.read_request(body), _mapping(tensors={"input-0": IRIS}))

    assert rows == [_iris(6.8, 2.8, 4.8, 1.4), _iris(6.0, 3.4, 4.5, 1.6)]


def test_v2_nested_data_reads_as_the_flat_data() -> None:
    flat = oip.read_request(v2_request([tensor("x", [2, 2], "INT64", [1, 2, 4, 5])]))
    nested = oip.read_request(v2_request([tensor("x", [2, 2], "INT64", [[1, 2], [4, 5]])]))
    mapping = _mapping(columns=("a", "b"))

    assert oip.request_rows(nested, mapping) == oip.request_rows(flat, mapping)


def test_v2_one_column_tensors_are_features_of_their_names() -> None:
    body = v2_request(
        [
            tensor("age", [3], "INT64", [41, 17, 33]),
            tensor("country", [3, 1], "BYTES", ["DE", "FR", "US"]),
            tensor("member", [3], "BOOL", [True, False, True]),
        ]
    )

    rows = oip.request_rows(oip.read_request(body), _mapping())

    assert rows == [
        {"age": 41, "country": "DE", "member": True},
        {"age": 17, "country": "FR", "member": False},
        {"age": 33, "country": "US", "member": True},
    ]


@pytest.mark.parametrize(
    "names",
    [["a", "b"], '["a", "b"]', "a, b"],
    ids=["list", "json-text", "comma-text"],
)
def test_v2_columns_may_be_named_in_the_tensor_parameters(names: Any) -> None:
    body = v2_request(
        [{**tensor("x", [1, 2], "FP64", [1.0, 2.0]), "parameters": {"columns": names}}]
    )

    assert oip.request_rows(oip.read_request(body), _mapping()) == [{"a": 1.0, "b": 2.0}]


def test_v2_columns_may_be_named_in_the_request_parameters() -> None:
    body = v2_request([tensor("x", [1, 2], "FP64", [1.0, 2.0])], parameters={"columns": "a,b"})

    assert oip.request_rows(oip.read_request(body), _mapping()) == [{"a": 1.0, "b": 2.0}]


def test_v2_configured_tensor_names_win_over_the_payloads() -> None:
    body = v2_request(
        [{**tensor("x", [1, 2], "FP64", [1.0, 2.0]), "parameters": {"columns": "p,q"}}]
    )

    rows = oip.request_rows(oip.read_request(body), _mapping(tensors={"x": ("a", "b")}))

    assert rows == [{"a": 1.0, "b": 2.0}]


def test_v2_columns_nobody_names_are_refused_with_the_fix() -> None:
    body = v2_request([tensor("input-0", [1, 3], "FP32", [1.0, 2.0, 3.0])])

    rejected = _rejected(oip.request_rows, oip.read_request(body), _mapping())

    assert rejected.reason == "missing_field"
    assert "payload.tensors" in rejected.detail


def test_v2_names_of_another_count_than_the_columns_are_a_shape_mismatch() -> None:
    body = v2_request([tensor("x", [1, 3], "FP32", [1.0, 2.0, 3.0])])

    rejected = _rejected(oip.request_rows, oip.read_request(body), _mapping(columns=("a", "b")))

    assert rejected.reason == "shape_mismatch"


def test_v2_inputs_with_different_batch_sizes_are_a_shape_mismatch() -> None:
    body = v2_request([tensor("a", [2], "FP32", [1.0, 2.0]), tensor("b", [3], "FP32", [1.0] * 3)])

    rejected = _rejected(oip.request_rows, oip.read_request(body), _mapping())

    assert rejected.reason == "shape_mismatch"
    assert "'b' has 3 rows" in rejected.detail


@pytest.mark.parametrize(
    ("input_tensor", "reason", "said"),
    [
        (tensor("x", [2], "FP8", [1.0, 2.0]), "unknown_datatype", "'FP8'"),
        (tensor("x", [2, 2], "FP32", [1.0, 2.0, 3.0]), "shape_mismatch", "4 elements"),
        (tensor("x", [], "FP32", [1.0]), "shape_mismatch", "batch dimension"),
        (tensor("x", [2, -1], "FP32", [1.0]), "shape_mismatch", "negative"),
        (tensor("x", [2], "FP32", [[1.0], 2.0]), "shape_mismatch", "mixes"),
        (tensor("x", [2], "FP32", [1.0, "2"]), "wrong_type", "holds str"),
        (tensor("x", [2], "INT64", [1, 2.5]), "wrong_type", "holds float"),
        (tensor("x", [1], "BOOL", [1]), "wrong_type", "holds int"),
        (tensor("x", [1], "BYTES", [1]), "wrong_type", "holds int"),
        (tensor("x", [1], "FP32", [True]), "wrong_type", "holds bool"),
    ],
)
def test_v2_bad_tensors_are_refused_when_they_arrive(
    input_tensor: dict[str, Any], reason: str, said: str
) -> None:
    rejected = _rejected(oip.read_request, v2_request([input_tensor]))

    assert (rejected.reason, said in rejected.detail) == (reason, True), rejected.detail


def test_v2_null_elements_are_read_as_missing_values() -> None:
    body = v2_request([tensor("x", [2], "FP32", [1.0, None])])

    assert oip.request_rows(oip.read_request(body), _mapping()) == [{"x": 1.0}, {"x": None}]


def test_a_v1_body_under_the_v2_format_says_which_format_to_set() -> None:
    rejected = _rejected(oip.read_request, v1_request([[1.0]]))

    assert "payload.format: kserve-cloudevents" in rejected.detail


def test_v2_response_prediction_comes_from_the_only_output() -> None:
    body = v2_response("r1", [tensor("output-0", [2], "INT32", [1, 0])], model="iris", version="3")

    outputs = oip.read_response(body)

    assert oip.response_predictions(outputs, _mapping()) == [1, 0]
    assert outputs.model_version == "3"


def test_v2_response_prediction_comes_from_the_named_output() -> None:
    body = v2_response(
        "r1",
        [tensor("predict", [2], "BYTES", ["yes", "no"]), tensor("latency", [1], "FP32", [3.5])],
        model="m",
    )
    outputs = oip.read_response(body)

    assert oip.response_predictions(outputs, _mapping(output="predict")) == ["yes", "no"]
    rejected = _rejected(oip.response_predictions, outputs, _mapping())
    assert rejected.reason == "missing_field"
    assert "payload.output" in rejected.detail


def test_v2_probability_output_rows_become_class_probabilities() -> None:
    body = v2_response("r1", [tensor("proba", [2, 2], "FP32", [0.9, 0.1, 0.3, 0.7])], model="m")

    predictions = oip.response_predictions(oip.read_response(body), _mapping(classes=("no", "yes")))

    assert predictions == [{"no": 0.9, "yes": 0.1}, {"no": 0.3, "yes": 0.7}]


def test_a_batched_v2_request_of_64_rows_gives_64_rows() -> None:
    rng = np.random.default_rng(64)
    data = rng.normal(size=(64, 4)).round(6)
    body = v2_request([tensor("input-0", [64, 4], "FP32", data.ravel().tolist())])

    rows = oip.request_rows(oip.read_request(body), _mapping(columns=IRIS))

    assert len(rows) == 64
    assert [[row[name] for name in IRIS] for row in rows] == data.tolist()


# --------------------------------------------------------------------------- properties


@st.composite
def _matrices(draw: st.DrawFn) -> list[list[float]]:
    rows = draw(st.integers(0, 12))
    width = draw(st.integers(1, 6))
    number = st.floats(allow_nan=False, allow_infinity=False, width=32)
    return [draw(st.lists(number, min_size=width, max_size=width)) for _ in range(rows)]


@settings(max_examples=200, deadline=None)
@given(matrix=_matrices(), nested=st.booleans())
def test_row_i_column_j_of_a_tensor_is_element_i_j_in_either_representation(
    matrix: list[list[float]], nested: bool
) -> None:
    width = len(matrix[0]) if matrix else 1
    names = tuple(f"c{j}" for j in range(width))
    flat = [value for row in matrix for value in row]
    data = matrix if nested and matrix else flat
    body = v2_request([tensor("x", [len(matrix), width], "FP64", data)])

    rows = oip.request_rows(oip.read_request(body), _mapping(columns=names))

    assert [[row[name] for name in names] for row in rows] == matrix


@settings(max_examples=200, deadline=None)
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    change=st.integers(-3, 3).filter(bool),
)
def test_data_whose_size_disagrees_with_the_shape_is_always_refused(
    shape: list[int], change: int
) -> None:
    size = int(np.prod(shape))
    data = [1.0] * max(size + change, 0)
    if len(data) == size:
        return
    rejected = _rejected(oip.read_request, v2_request([tensor("x", shape, "FP32", data)]))

    assert rejected.reason == "shape_mismatch"


@settings(max_examples=100, deadline=None)
@given(instances=st.lists(st.lists(st.integers(-5, 5), min_size=3, max_size=3), max_size=10))
def test_a_v1_list_request_and_its_v2_tensor_give_the_same_rows(
    instances: list[list[int]],
) -> None:
    names = ("a", "b", "c")
    v1_rows = v1.request_rows(v1.read_request(v1_request(instances)), _mapping(columns=names))
    flat = [value for instance in instances for value in instance]
    body = json.dumps({"inputs": [tensor("x", [len(instances), 3], "INT64", flat)]}).encode()

    assert oip.request_rows(oip.read_request(body), _mapping(columns=names)) == v1_rows
