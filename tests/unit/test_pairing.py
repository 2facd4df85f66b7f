"""monitor.payloads.pairing, .rows and .stage.decode_pairs: requests meet their responses.

Pure planning on plain data (no Redis here: tests/integration/test_model_server_pipeline.py
runs the same on a real broker and redis-server). Messages are KServe's logger's through a
Knative Kafka sink, built as tests/kserve_messages.py says (CloudEvents 1.0.2, Kafka
Protocol Binding 1.0.2 binary mode, KServe V1 and Open Inference Protocol REST bodies).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.batch_data import PendingView
from monitor.config import Config, parse_config
from monitor.decode import EventDecoder
from monitor.origins import Origins
from monitor.payloads.halves import Half, HalfReader, Letter, RawMessage
from monitor.payloads.pairing import PairingPlan, plan_pairing
from monitor.payloads.protocols import PROTOCOLS
from monitor.payloads.stage import decode_pairs
from tests.kserve_messages import (
    ce_headers,
    tensor,
    v1_request,
    v1_response,
    v2_request,
    v2_response,
)

IRIS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
NOW = 1_800_000_000.0
TTL = 60.0


def _config(payload_format: str = "kserve-cloudevents", **model: Any) -> Config:
    return parse_config(
        {
            "payload": {"format": payload_format},
            "models": {
                "sklearn-iris": {
                    "reference": {"path": "iris.csv"},
                    "window": {"events": 100},
                    "features": dict.fromkeys(IRIS, "numeric"),
                    "prediction": "categorical",
                    "payload": {"columns": IRIS},
                    **model,
                }
            },
        },
        environ={},
    )


CONFIG = _config()
READER = HalfReader(CONFIG.payload)


def _half(kind: str, event_id: str, body: bytes, index: int = 0, **headers: Any) -> Half:
    message = RawMessage(body, None, ce_headers(event_id, kind, **headers), f"t/0/{index}", NOW)
    half = READER.read(message, index)
    assert half is not None
    return half


def _request(event_id: str, index: int = 0, rows: int = 1, **headers: Any) -> Half:
    return _half("request", event_id, v1_request([[5.1, 3.5, 1.4, 0.2]] * rows), index, **headers)


def _response(event_id: str, index: int = 0, rows: int = 1, **headers: Any) -> Half:
    return _half("response", event_id, v1_response([0] * rows), index, **headers)


def _view(*stored: Half, since: float = NOW - 1, waiting: int | None = None) -> PendingView:
    blobs = {half.id: half.message.to_blob() for half in stored}
    return PendingView(
        stored=blobs,
        waiting=len(stored) if waiting is None else waiting,
        oldest=[(hid, since, blob) for hid, blob in blobs.items()],
    )


def _plan(halves: list[Half], view: PendingView | None = None, cap: int = 100) -> PairingPlan:
    return plan_pairing(
        halves,
        view or PendingView({}, 0, []),
        lambda message: READER.read(message, -1),
        now=NOW,
        ttl_seconds=TTL,
        max_pending=cap,
    )


def _letters(plan: PairingPlan) -> list[tuple[str, str]]:
    return [(letter.reason, letter.message.source) for letter in plan.letters]


# --------------------------------------------------------------------------- pairing


@pytest.mark.parametrize("response_first", [False, True])
def test_request_and_response_in_one_batch_pair_in_either_order(response_first: bool) -> None:
    first, second = (_response, _request) if response_first else (_request, _response)

    plan = _plan([first("a", 0), second("a", 1)])

    (pair,) = plan.pairs
    assert (pair.request.kind, pair.response.kind, pair.position) == ("request", "response", 1)
    assert (plan.write.store, plan.write.delete, plan.letters, plan.waiting) == ({}, [], [], 0)


def test_a_half_alone_waits_in_redis_as_its_message() -> None:
    request = _request("a", 3)

    plan = _plan([request])

    assert plan.pairs == []
    assert list(plan.write.store) == ["a"]
    blob, since = plan.write.store["a"]
    assert RawMessage.from_blob(blob) == request.message
    assert since == request.time
    assert plan.waiting == 1


def test_a_waiting_half_pairs_with_its_other_half_and_leaves_redis() -> None:
    plan = _plan([_response("a", 0)], _view(_request("a")))

    (pair,) = plan.pairs
    assert (pair.request.position, pair.response.position) == (-1, 0)
    assert (plan.write.delete, plan.write.store, plan.waiting) == (["a"], {}, 0)


def test_a_second_half_of_the_same_kind_is_a_duplicate() -> None:
    plan = _plan([_request("a", 0), _request("a", 1), _response("a", 2)])

    assert len(plan.pairs) == 1
    assert _letters(plan) == [("duplicate", "t/0/1")]


def test_a_request_repeated_after_its_pair_waits_again() -> None:
    plan = _plan([_response("a", 0), _request("a", 1)], _view(_request("a")))

    assert len(plan.pairs) == 1
    assert (plan.write.delete, list(plan.write.store)) == (["a"], ["a"])


def test_a_half_past_the_ttl_is_dead_lettered_unanswered() -> None:
    old = _request("old")
    plan = _plan([_request("new", 0)], _view(old, since=NOW - TTL - 1))

    assert _letters(plan) == [("unanswered", old.message.source)]
    assert "no other half within 60 s (event time)" in plan.letters[0].detail
    assert (plan.write.delete, list(plan.write.store), plan.waiting) == (["old"], ["new"], 1)


def test_a_half_past_the_ttl_still_pairs_when_its_other_half_comes() -> None:
    plan = _plan([_response("old", 0)], _view(_request("old"), since=NOW - TTL - 1))

    assert len(plan.pairs) == 1
    assert plan.letters == []


def test_beyond_max_pending_the_longest_waiting_halves_are_evicted() -> None:
    waiting = [_request(f"w{i}") for i in range(3)]
    view = PendingView(
        stored={},
        waiting=3,
        oldest=[(h.id, NOW - 10 + i, h.message.to_blob()) for i, h in enumerate(waiting)],
    )

    plan = _plan([_request("n0", 0), _request("n1", 1)], view, cap=3)

    assert [letter.reason for letter in plan.letters] == ["unanswered"] * 2
    assert "max_pending (3)" in plan.letters[0].detail
    assert sorted(plan.write.delete) == ["w0", "w1"]
    assert (sorted(plan.write.store), plan.waiting) == (["n0", "n1"], 3)


def test_a_batch_larger_than_max_pending_evicts_its_own_first_halves() -> None:
    plan = _plan([_request(f"n{i}", i) for i in range(4)], cap=2)

    assert _letters(plan) == [("unanswered", "t/0/0"), ("unanswered", "t/0/1")]
    assert sorted(plan.write.store) == ["n2", "n3"]


def test_counters_count_halves_and_pairs() -> None:
    plan = _plan([_request("a", 0), _response("a", 1), _request("b", 2)])

    assert plan.write.counts == {"requests": 2, "responses": 1, "paired": 1}


@settings(max_examples=200, deadline=None)
@given(
    order=st.permutations(list(range(8))),
    cut=st.integers(0, 8),
)
def test_every_pair_is_made_once_whatever_the_order_and_the_batch_boundary(
    order: list[int], cut: int
) -> None:
    """Four requests and their responses, arriving in any order over two batches: each pair
    is made exactly once, and nothing is left waiting."""
    halves = [
        (_request if i % 2 == 0 else _response)(f"id{i // 2}", position)
        for position, i in enumerate(order)
    ]
    first = _plan(halves[:cut])
    stored = [RawMessage.from_blob(blob) for blob, _ in first.write.store.values()]
    view = PendingView(
        stored={READER.read(m, -1).id: m.to_blob() for m in stored},
        waiting=len(stored),
        oldest=[],
    )
    second = _plan(halves[cut:], view)

    made = sorted(pair.request.id for pair in [*first.pairs, *second.pairs])
    assert made == [f"id{k}" for k in range(4)]
    assert second.waiting == 0
    assert first.letters == second.letters == []


# --------------------------------------------------------------------------- rows


def _decoded(halves: list[Half], config: Config = CONFIG) -> tuple[Any, list[Letter]]:
    plan = _plan(halves)
    letters: list[Letter] = []
    origins = Origins.of_lines("t", len(halves), NOW)
    decoded = decode_pairs(
        plan.pairs,
        PROTOCOLS[config.payload.format],
        config,
        EventDecoder(config),
        origins,
        NOW,
        letters,
    )
    return decoded, letters


def test_rows_of_a_batched_request_are_one_event_each_at_the_completing_message() -> None:
    decoded, letters = _decoded([_request("r", 0, rows=3), _response("r", 1, rows=3)])

    iris = decoded.models["sklearn-iris"]
    assert letters == []
    assert iris.rows == 3
    assert iris.event_ids == ["r/0", "r/1", "r/2"]
    assert iris.positions.tolist() == [1, 1, 1]
    assert iris.categorical["prediction"] == ["0", "0", "0"]


def test_a_request_of_one_row_keeps_the_cloudevent_id() -> None:
    decoded, _ = _decoded([_request("r", 0), _response("r", 1)])

    assert decoded.models["sklearn-iris"].event_ids == ["r"]


def test_event_time_is_the_requests_cloudevent_time() -> None:
    request = _request("r", 0, time="2026-03-02T10:15:30Z")
    response = _response("r", 1, time="2026-03-02T10:15:31Z")

    decoded, _ = _decoded([request, response])

    assert decoded.models["sklearn-iris"].ts.tolist() == [1772446530.0]


def test_the_version_comes_from_the_configured_attribute_else_the_v2_response() -> None:
    config = parse_config(
        {
            "payload": {"format": "open-inference", "version_attribute": "endpoint"},
            "models": {
                "m": {
                    "reference": {"path": "m.csv"},
                    "window": {"events": 100},
                    "features": {"x": "numeric"},
                    "prediction": "numeric",
                }
            },
        },
        environ={},
    )
    reader = HalfReader(config.payload)
    request = v2_request([tensor("x", [1], "FP32", [1.5])])
    response = v2_response("r", [tensor("y", [1], "FP32", [0.5])], model="m", version="7")

    def pair(endpoint: str) -> list[Half]:
        halves = []
        for index, (kind, body) in enumerate((("request", request), ("response", response))):
            headers = ce_headers("r", kind, model="m")
            headers = [(n, endpoint.encode() if n == "ce_endpoint" else v) for n, v in headers]
            half = reader.read(RawMessage(body, None, headers, f"t/0/{index}", NOW), index)
            assert half is not None
            halves.append(half)
        return halves

    canary, _ = _decoded(pair("canary"), config)
    unnamed, _ = _decoded(pair(""), config)

    assert canary.models["m"].model_versions == ["canary"]
    assert unnamed.models["m"].model_versions == ["7"]


def test_a_response_with_another_count_of_predictions_dead_letters_both_halves() -> None:
    decoded, letters = _decoded([_request("r", 0, rows=2), _response("r", 1, rows=3)])

    assert decoded.models == {}
    assert [(letter.reason, letter.message.source) for letter in letters] == [
        ("shape_mismatch", "t/0/0"),
        ("shape_mismatch", "t/0/1"),
    ]
    assert "2 rows, the response 3 predictions" in letters[0].detail


def test_an_unknown_model_dead_letters_both_halves() -> None:
    halves = [_request("r", 0, model="other"), _response("r", 1, model="other")]

    decoded, letters = _decoded(halves)

    assert decoded.models == {}
    assert {letter.reason for letter in letters} == {"unknown_model"}


def test_a_pair_a_row_of_which_the_decoder_refuses_is_dead_lettered_whole() -> None:
    good = [_request("g", 0), _response("g", 1)]
    bad_response = _half("response", "b", v1_response([0, [[1]]]), 3)
    bad = [_request("b", 2, rows=2), bad_response]

    decoded, letters = _decoded([*good, *bad])

    assert decoded.models["sklearn-iris"].event_ids == ["g"]
    assert decoded.models["sklearn-iris"].positions.tolist() == [1]
    assert [(letter.reason, letter.message.source) for letter in letters] == [
        ("wrong_type", "t/0/2"),
        ("wrong_type", "t/0/3"),
    ]


@settings(max_examples=100, deadline=None)
@given(
    rows=st.lists(
        st.lists(
            st.one_of(st.none(), st.floats(-1e6, 1e6), st.text(max_size=3)), min_size=4, max_size=4
        ),
        min_size=1,
        max_size=8,
    ),
    labels=st.lists(st.sampled_from(["setosa", "versicolor", 2]), min_size=8, max_size=8),
)
def test_a_pairs_rows_decode_to_the_columns_the_same_drift_monitor_events_give(
    rows: list[list[Any]], labels: list[Any]
) -> None:
    """Values of any kind (numbers, strings in numeric features, nulls) give the same columns,
    mismatches and missing values as the native events carrying them."""
    request = _half("request", "r", v1_request(rows), 0, time="2026-03-02T10:15:30Z")
    response = _half("response", "r", v1_response(labels[: len(rows)]), 1)
    decoded, letters = _decoded([request, response])
    native = [
        json.dumps(
            {
                "event_id": "r" if len(rows) == 1 else f"r/{i}",
                "model": "sklearn-iris",
                "ts": 1772446530.0,
                "features": dict(zip(IRIS, row, strict=True)),
                "prediction": labels[i],
            }
        ).encode()
        for i, row in enumerate(rows)
    ]
    expected = EventDecoder(CONFIG).decode(native, Origins.of_lines("t", len(rows), NOW))

    assert letters == []
    got, want = decoded.models["sklearn-iris"], expected.models["sklearn-iris"]
    for name in IRIS:
        np.testing.assert_array_equal(got.numeric[name], want.numeric[name])
    assert got.categorical == want.categorical
    assert {k: v.tolist() for k, v in got.mismatches.items()} == {
        k: v.tolist() for k, v in want.mismatches.items()
    }
    assert (got.event_ids, got.ts.tolist()) == (want.event_ids, want.ts.tolist())
