"""monitor.decode: Kafka message values to numpy columns, bad messages to dead letters.

Every batch either decodes in one typed call (the fast path) or message by message (the
slow path, which names a reason for each message it rejects); either way each message of
the batch becomes exactly one event or exactly one dead letter.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.config import Config, parse_config
from monitor.decode import DEAD_LETTER_REASONS, DecodedBatch, EventDecoder, take
from monitor.origins import Origins

MESSAGE_TIME_BASE = 1_000.0


def _config(payload: dict[str, Any] | None = None, **kafka: Any) -> Config:
    return parse_config(
        {
            "kafka": kafka,
            "payload": payload or {},
            "models": {
                "fraud": {
                    "reference": {"path": "data/fraud.jsonl"},
                    "window": {"events": 100},
                    "features": {
                        "amount": "numeric",
                        "age": "numeric",
                        "country": "categorical",
                        "channel": "categorical",
                    },
                    "prediction": "numeric",
                    "task": "binary",
                },
                "churn": {
                    "reference": {"path": "data/churn.jsonl"},
                    "window": {"events": 100},
                    "features": {"tenure": "numeric", "plan": "categorical"},
                    "prediction": "categorical",
                    "task": "multiclass",
                },
            },
        },
        environ={},
    )


DECODER = EventDecoder(_config())


def _origins(count: int) -> Origins:
    """Messages of one partition whose Kafka timestamp is ``1000 + position``."""
    return Origins(
        topics=["predictions"] * count,
        partitions=np.zeros(count, np.int64),
        offsets=np.arange(count, dtype=np.int64),
        timestamps=MESSAGE_TIME_BASE + np.arange(count, dtype=np.float64),
    )


def _encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


def _fraud(**fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "model": "fraud",
        "event_id": "e1",
        "ts": 1_764_182_400.25,
        "features": {"amount": 12.5, "age": 40, "country": "DE", "channel": "web"},
        "prediction": 0.83,
    }
    return event | fields


def _decode(values: Sequence[bytes | None], decoder: EventDecoder = DECODER) -> DecodedBatch:
    return decoder.decode(values, _origins(len(values)))


def _reasons(batch: DecodedBatch) -> list[tuple[int, str]]:
    return [(d.index, d.reason) for d in batch.dead_letters]


# --------------------------------------------------------------------------- the fast path


def test_clean_batch_decodes_into_columns_of_its_values(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_slow_path(*_: object) -> None:
        raise AssertionError("a clean batch must decode in one call")

    monkeypatch.setattr(EventDecoder, "_decode_slow", no_slow_path)
    events = [
        _fraud(features={"amount": 1.5, "age": 30, "country": "DE", "channel": "web"}),
        _fraud(features={"amount": None, "age": 31.5, "country": None, "channel": "app"}),
        _fraud(features={"age": 32, "country": "FR"}, prediction=None),
    ]
    batch = _decode([_encode(e) for e in events])
    assert batch.dead_letters == []
    fraud = batch.models["fraud"]
    assert fraud.rows == 3
    np.testing.assert_array_equal(fraud.numeric["amount"], [1.5, np.nan, np.nan])
    np.testing.assert_array_equal(fraud.numeric["age"], [30.0, 31.5, 32.0])
    np.testing.assert_array_equal(fraud.numeric["prediction"], [0.83, 0.83, np.nan])
    assert fraud.categorical == {"country": ["DE", None, "FR"], "channel": ["web", "app", None]}
    assert fraud.mismatches == {}
    assert fraud.event_ids == ["e1", "e1", "e1"]


def test_one_bad_message_does_not_cost_the_good_ones() -> None:
    values = [_encode(_fraud(event_id="a")), b"{not json", _encode(_fraud(event_id="b"))]
    batch = _decode(values)
    assert _reasons(batch) == [(1, "invalid_json")]
    assert batch.models["fraud"].event_ids == ["a", "b"]


def test_events_of_several_models_are_split_per_model() -> None:
    values = [
        _encode(_fraud(event_id="f1", features={"amount": 1.0})),
        _encode({"model": "churn", "event_id": "c1", "features": {"tenure": 7, "plan": "pro"}}),
        _encode(_fraud(event_id="f2", features={"amount": 2.0})),
    ]
    batch = _decode(values)
    assert set(batch.models) == {"fraud", "churn"}
    assert batch.models["fraud"].event_ids == ["f1", "f2"]
    np.testing.assert_array_equal(batch.models["fraud"].numeric["amount"], [1.0, 2.0])
    churn = batch.models["churn"]
    assert (churn.rows, churn.event_ids) == (1, ["c1"])
    np.testing.assert_array_equal(churn.numeric["tenure"], [7.0])
    assert churn.categorical == {"plan": ["pro"], "prediction": [None]}


GAPPY_FRAUD_EVENTS = [
    _fraud(features={"amount": 1.5, "age": None, "country": "DE", "channel": 3}),
    _fraud(features={"age": 2, "channel": True}),
    _fraud(features={"amount": -0.25, "age": 1e300, "country": None, "channel": False}),
]


def test_columns_hold_the_values_sent_with_nan_or_none_for_the_missing() -> None:
    fraud = _decode([_encode(e) for e in GAPPY_FRAUD_EVENTS]).models["fraud"]
    assert list(fraud.numeric) == ["amount", "age", "prediction"]
    for column in fraud.numeric.values():
        assert column.dtype == np.float64
        assert column.flags.c_contiguous
    np.testing.assert_array_equal(fraud.numeric["amount"], [1.5, np.nan, -0.25])
    np.testing.assert_array_equal(fraud.numeric["age"], [np.nan, 2.0, 1e300])
    assert fraud.categorical == {"country": ["DE", None, None], "channel": [3, True, False]}
    assert [type(v) for v in fraud.categorical["channel"]] == [int, bool, bool]


def test_slow_path_columns_match_the_fast_path_for_the_well_typed_events() -> None:
    values = [_encode(e) for e in GAPPY_FRAUD_EVENTS]
    fast = _decode(values).models["fraud"]
    wrong = _fraud(features={"amount": "12", "age": 5, "country": 1.5, "channel": "web"})
    slow = _decode([*values, _encode(wrong)]).models["fraud"]
    assert list(slow.numeric) == list(fast.numeric)
    for name, column in fast.numeric.items():
        np.testing.assert_array_equal(slow.numeric[name][:3], column)
        assert slow.numeric[name].dtype == np.float64
    assert math.isnan(slow.numeric["amount"][3])
    assert slow.categorical == {
        name: [*column, "web" if name == "channel" else None]
        for name, column in fast.categorical.items()
    }
    assert {name: flags.tolist() for name, flags in slow.mismatches.items()} == {
        "amount": [False, False, False, True],
        "country": [False, False, False, True],
    }


def test_features_declared_in_any_order_land_in_their_own_columns() -> None:
    data: dict[str, Any] = {
        "models": {
            "mixed": {
                "reference": {"path": "data/mixed.jsonl"},
                "window": {"events": 100},
                "features": {
                    "plan": "categorical",
                    "spend": "numeric",
                    "region": "categorical",
                    "user-age": "numeric",
                },
            }
        }
    }
    decoder = EventDecoder(parse_config(data, environ={}))
    events = [
        {"model": "mixed", "features": {"user-age": 30, "region": "eu", "spend": 9.5}},
        {"model": "mixed", "features": {"plan": "pro", "spend": None, "region": 7}},
    ]
    mixed = _decode([_encode(e) for e in events], decoder).models["mixed"]
    assert list(mixed.numeric) == ["spend", "user-age"]
    np.testing.assert_array_equal(mixed.numeric["spend"], [9.5, np.nan])
    np.testing.assert_array_equal(mixed.numeric["user-age"], [30.0, np.nan])
    assert mixed.categorical == {"plan": [None, "pro"], "region": ["eu", 7]}


def test_message_times_are_taken_by_batch_position_for_each_model() -> None:
    values = [
        _encode(_fraud(ts=5.0)),
        _encode({"model": "churn", "features": {}}),
        _encode({"model": "fraud", "features": {}}),
    ]
    batch = _decode(values)
    np.testing.assert_array_equal(batch.models["fraud"].ts, [5.0, MESSAGE_TIME_BASE + 2])
    np.testing.assert_array_equal(batch.models["churn"].ts, [MESSAGE_TIME_BASE + 1])


def test_decoded_batch_carries_each_messages_partition_and_offset() -> None:
    values = [_encode(_fraud()), b"{", _encode(_fraud())]
    origins = Origins(
        topics=["p", "p", "p"],
        partitions=np.array([2, 0, 1]),
        offsets=np.array([40, 7, 11]),
        timestamps=np.full(3, np.nan),
    )
    batch = DECODER.decode(values, origins)
    rows = batch.models["fraud"].positions
    assert batch.origins.partitions[rows].tolist() == [2, 1]
    assert batch.origins.offsets[rows].tolist() == [40, 11]


# --------------------------------------------------------------------------- dead letters

REJECTED: list[tuple[str, bytes | None]] = [
    ("empty", b""),
    ("empty", None),
    ("invalid_json", b'{"model": "fraud", "features": {'),
    ("not_an_object", b"[1,2]"),
    ("not_an_object", b'"fraud"'),
    ("missing_model", b'{"features": {"amount": 1}}'),
    ("unknown_model", b'{"model": "spam", "features": {}}'),
    ("unknown_model", b'{"model": 5, "features": {}}'),
    ("missing_field", b'{"model": "fraud", "prediction": 0.5}'),
    ("wrong_type", b'{"model": "fraud", "features": {}, "prediction": "high"}'),
    ("wrong_type", b'{"model": "fraud", "features": [1, 2]}'),
    ("invalid_timestamp", b'{"model": "fraud", "features": {}, "ts": "yesterday"}'),
    (
        "undecodable",
        b'{"model": "fraud", "features": {}, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ),
]


@pytest.mark.parametrize(
    ("reason", "value"),
    REJECTED,
    ids=[
        "empty-bytes",
        "no-value",
        "truncated-json",
        "json-array",
        "json-string",
        "no-model",
        "model-not-configured",
        "model-not-a-string",
        "no-features",
        "prediction-a-string",
        "features-a-list",
        "ts-not-a-date",
        "nested-100000-deep",
    ],
)
def test_rejected_message_is_dead_lettered_with_its_reason(
    reason: str, value: bytes | None
) -> None:
    batch = _decode([_encode(_fraud(event_id="ok")), value])
    assert _reasons(batch) == [(1, reason)]
    assert batch.dead_letters[0].detail
    assert batch.models["fraud"].event_ids == ["ok"]


def test_a_decoder_exception_names_its_class_in_the_dead_letter() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    batch = _decode([_encode(_fraud(event_id="a")), deep, _encode(_fraud(event_id="b"))])
    assert _reasons(batch) == [(1, "undecodable")]
    assert batch.dead_letters[0].detail.startswith("RecursionError: ")
    assert batch.models["fraud"].event_ids == ["a", "b"]


def test_an_event_whose_columns_cannot_be_built_is_dead_lettered_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import monitor.decode as decode

    build = decode._model_columns

    def refuse_poison(codec: Any, events: list[Any], *args: Any) -> Any:
        if any(event.event_id == "poison" for event in events):
            raise OverflowError("cannot build this one")
        return build(codec, events, *args)

    monkeypatch.setattr(decode, "_model_columns", refuse_poison)
    values = [_encode(_fraud(event_id=name)) for name in ("a", "poison", "b")]
    batch = _decode(values)
    assert _reasons(batch) == [(1, "undecodable")]
    assert batch.dead_letters[0].detail == "OverflowError: cannot build this one"
    assert batch.models["fraud"].event_ids == ["a", "b"]
    assert batch.models["fraud"].positions.tolist() == [0, 2]


def test_every_reason_is_exercised() -> None:
    assert {reason for reason, _ in REJECTED} | {"oversize"} == set(DEAD_LETTER_REASONS)


def test_message_over_max_message_bytes_is_dead_lettered_as_oversize() -> None:
    small = _encode(_fraud(features={}))
    decoder = EventDecoder(_config(max_message_bytes=len(small)))
    big = _encode(_fraud(features={"country": "X" * 100}))
    batch = _decode([small, big], decoder)
    assert _reasons(batch) == [(1, "oversize")]
    assert batch.models["fraud"].rows == 1


# --------------------------------------------------------------------------- feature types


def test_string_in_a_numeric_feature_is_a_mismatch_not_a_dead_letter() -> None:
    batch = _decode([_encode(_fraud(features={"amount": "12.5", "age": 3}))])
    fraud = batch.models["fraud"]
    assert batch.dead_letters == []
    assert math.isnan(fraud.numeric["amount"][0])
    assert fraud.numeric["age"][0] == 3.0
    assert fraud.mismatches["amount"].tolist() == [True]
    assert "age" not in fraud.mismatches


def test_mismatch_is_flagged_only_on_its_row() -> None:
    values = [_encode(_fraud()), _encode(_fraud(features={"amount": "x"})), _encode(_fraud())]
    fraud = _decode(values).models["fraud"]
    assert fraud.mismatches["amount"].tolist() == [False, True, False]
    np.testing.assert_array_equal(fraud.numeric["amount"], [12.5, np.nan, 12.5])


def test_boolean_in_a_numeric_feature_is_a_mismatch() -> None:
    fraud = _decode([_encode(_fraud(features={"amount": True}))]).models["fraud"]
    assert math.isnan(fraud.numeric["amount"][0])
    assert fraud.mismatches["amount"].tolist() == [True]


def test_object_in_a_categorical_feature_is_a_mismatch() -> None:
    fraud = _decode([_encode(_fraud(features={"country": {"iso": "DE"}}))]).models["fraud"]
    assert fraud.categorical["country"] == [None]
    assert fraud.mismatches["country"].tolist() == [True]


def test_integer_and_boolean_categories_are_kept_as_values_not_mismatches() -> None:
    # The profile compares them by category_key ("49", "true"): see tests/unit/test_profile.py.
    fraud = _decode([_encode(_fraud(features={"country": 49, "channel": True}))]).models["fraud"]
    assert fraud.categorical["country"] == [49]
    assert fraud.categorical["channel"] == [True]
    assert fraud.mismatches == {}


def test_integer_category_is_kept_on_the_slow_path() -> None:
    values = [_encode(_fraud(features={"country": 49})), b"not json"]
    assert _decode(values).models["fraud"].categorical["country"] == [49]


def test_unknown_feature_is_ignored() -> None:
    fraud = _decode([_encode(_fraud(features={"amount": 1.0, "colour": "red"}))]).models["fraud"]
    assert fraud.numeric["amount"].tolist() == [1.0]
    assert fraud.mismatches == {}


# --------------------------------------------------------------------------- event time


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-27T00:00:00Z", datetime(2026, 11, 27, tzinfo=UTC)),
        ("2026-11-27T01:30:00+01:30", datetime(2026, 11, 27, tzinfo=UTC)),
        ("2026-11-27T00:00:00", datetime(2026, 11, 27, tzinfo=UTC)),
        ("2026-11-27T00:00:00.25Z", datetime(2026, 11, 27, 0, 0, 0, 250_000, tzinfo=UTC)),
    ],
    ids=["utc-z", "with-offset", "no-offset-is-utc", "fractional"],
)
def test_rfc3339_timestamp_becomes_epoch_seconds(text: str, expected: datetime) -> None:
    fraud = _decode([_encode(_fraud(ts=text))]).models["fraud"]
    assert fraud.ts.tolist() == [expected.timestamp()]


def test_epoch_seconds_timestamp_is_kept() -> None:
    fraud = _decode([_encode(_fraud(ts=1_764_182_400.25))]).models["fraud"]
    assert fraud.ts.tolist() == [1_764_182_400.25]


def test_message_time_fills_in_only_for_events_without_ts() -> None:
    events = [_fraud(ts=5.0), _fraud(ts=None), _fraud(ts="1970-01-01T00:00:06Z"), _fraud()]
    del events[3]["ts"]
    fraud = _decode([_encode(e) for e in events]).models["fraud"]
    assert fraud.ts.tolist() == [5.0, MESSAGE_TIME_BASE + 1, 6.0, MESSAGE_TIME_BASE + 3]


# --------------------------------------------------------------------------- predictions


def test_probabilities_give_the_positive_class_probability() -> None:
    fraud = _decode([_encode(_fraud(prediction={"0": 0.2, "1": 0.8}))]).models["fraud"]
    assert fraud.numeric["prediction"].tolist() == [0.8]


def test_probabilities_and_scores_mix_in_one_batch() -> None:
    values = [_encode(_fraud(prediction={"0": 0.3, "1": 0.7})), _encode(_fraud(prediction=0.1))]
    fraud = _decode(values).models["fraud"]
    assert fraud.numeric["prediction"].tolist() == [0.7, 0.1]
    assert "prediction" not in fraud.mismatches


def test_configured_positive_class_picks_its_probability() -> None:
    data: dict[str, Any] = {
        "models": {
            "spam": {
                "reference": {"path": "data/spam.jsonl"},
                "window": {"events": 100},
                "features": {"length": "numeric"},
                "prediction": "numeric",
                "task": "binary",
                "positive_class": "spam",
            }
        }
    }
    decoder = EventDecoder(parse_config(data, environ={}))
    event = {"model": "spam", "features": {}, "prediction": {"ham": 0.9, "spam": 0.1}}
    batch = _decode([_encode(event)], decoder)
    assert batch.models["spam"].numeric["prediction"].tolist() == [0.1]


def test_probabilities_without_the_positive_class_are_a_mismatch() -> None:
    fraud = _decode([_encode(_fraud(prediction={"no": 0.2, "yes": 0.8}))]).models["fraud"]
    assert math.isnan(fraud.numeric["prediction"][0])
    assert fraud.mismatches["prediction"].tolist() == [True]


def test_categorical_prediction_from_probabilities_is_the_most_probable_class() -> None:
    event = {"model": "churn", "features": {}, "prediction": {"stay": 0.3, "leave": 0.7}}
    assert _decode([_encode(event)]).models["churn"].categorical["prediction"] == ["leave"]


def test_categorical_prediction_label_becomes_its_key() -> None:
    labels: tuple[object, ...] = ("leave", 1, False)
    events = [{"model": "churn", "features": {}, "prediction": p} for p in labels]
    churn = _decode([_encode(e) for e in events]).models["churn"]
    assert churn.categorical["prediction"] == ["leave", "1", "false"]


# --------------------------------------------------------------------------- framing


def test_pretty_printed_message_is_decoded() -> None:
    pretty = json.dumps(_fraud(event_id="pretty"), indent=2).encode()
    assert b"\n" in pretty
    batch = _decode([_encode(_fraud(event_id="a")), pretty, _encode(_fraud(event_id="b"))])
    assert batch.dead_letters == []
    assert batch.models["fraud"].event_ids == ["a", "pretty", "b"]
    assert batch.models["fraud"].numeric["amount"].tolist() == [12.5, 12.5, 12.5]


def test_two_halves_of_an_event_in_two_messages_do_not_make_an_event() -> None:
    values = [b'{"model":"fraud","features":{"a":"', b'"}}']
    batch = _decode(values)
    assert batch.events == 0
    assert _reasons(batch) == [(0, "invalid_json"), (1, "invalid_json")]


def test_split_event_is_not_rebuilt_even_when_another_message_holds_two_events() -> None:
    two = _encode(_fraud(event_id="x")) + _encode(_fraud(event_id="y"))
    values = [two, b'{"model":"fraud","event_id":"z","features":{"amount":', b"5}}"]
    batch = _decode(values)
    assert batch.events == 0
    assert [d.index for d in batch.dead_letters] == [0, 1, 2]


def test_message_holding_two_events_is_dead_lettered() -> None:
    two = _encode(_fraud(event_id="x")) + _encode(_fraud(event_id="y"))
    batch = _decode([two, b" "])
    assert batch.events == 0
    assert _reasons(batch) == [(0, "invalid_json"), (1, "invalid_json")]


# --------------------------------------------------------------------------- hostile input


def test_invalid_utf8_is_dead_lettered() -> None:
    batch = _decode([b'{"model":"fraud","features":{"country":"\xff"}}'])
    assert _reasons(batch) == [(0, "invalid_json")]


def test_integer_too_large_for_a_float_is_a_mismatch() -> None:
    value = b'{"model":"fraud","features":{"amount":' + b"9" * 400 + b"}}"
    fraud = _decode([value]).models["fraud"]
    assert math.isnan(fraud.numeric["amount"][0])
    assert fraud.mismatches["amount"].tolist() == [True]


# Leaves of the JSON values the property tests build. Integers stay within 2**100 and text
# is valid UTF-8: the two ways past those bounds have tests of their own above.
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**100), 2**100),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(["2026-11-27T00:00:00Z", "yesterday", "fraud", "churn", "1"]),
)
JSON = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=6,
)
FEATURE_NAMES = st.sampled_from(["amount", "age", "country", "channel", "tenure", "plan", "x"])
PLAUSIBLE_EVENTS = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["fraud", "churn"]),
        "features": st.dictionaries(FEATURE_NAMES, LEAVES, max_size=5),
    },
    optional={
        "prediction": LEAVES | st.dictionaries(st.sampled_from(["0", "1", "a"]), LEAVES),
        "ts": LEAVES,
        "event_id": LEAVES,
    },
)
ANY_EVENTS = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from(["fraud", "churn", "spam"]) | JSON,
        "features": st.dictionaries(FEATURE_NAMES, JSON, max_size=5) | JSON,
        "prediction": JSON,
        "ts": JSON,
        "model_version": JSON,
    },
)
EVENTS = PLAUSIBLE_EVENTS | ANY_EVENTS
MESSAGES = st.one_of(
    st.binary(max_size=64).map(lambda b: b.decode("utf-8", "replace").encode()),
    st.text(max_size=64).map(str.encode),
    JSON.map(lambda v: msgspec.json.encode(v)),
    EVENTS.map(lambda e: msgspec.json.encode(e)),
    st.sampled_from([_encode(_fraud()), b" ", b"", b"null", b"{}"]),
)


# Hostile shapes beyond the JSON strategy's reach: depth, size and encoding.
def _nested(depth: int) -> bytes:
    return b'{"model": "fraud", "features": ' + b"[" * depth + b"]" * depth + b"}"


HOSTILE = st.one_of(
    st.integers(1, 200_000).map(_nested),
    st.integers(1, 200_000).map(
        lambda n: b'{"model": "fraud", "features": {"amount": 1' + b"0" * n + b"}}"
    ),
    st.integers(0, 300_000).map(lambda n: _encode(_fraud(event_id="x" * n))),
    st.sampled_from(
        [b"\xff\xfe{}", b'{"model": "fraud\xed\xa0\x80"}', b'"\\ud800"', b"NaN", b"1e400"]
    ),
    st.binary(min_size=1, max_size=256),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(MESSAGES | HOSTILE, max_size=8))
def test_any_depth_size_or_encoding_decodes_without_raising(values: list[bytes]) -> None:
    batch = _decode(values)
    _check_every_message_accounted_for(batch, len(values))


def _check_every_message_accounted_for(batch: DecodedBatch, size: int) -> None:
    dead = [d.index for d in batch.dead_letters]
    assert len(dead) == len(set(dead))
    assert all(0 <= i < size for i in dead)
    assert batch.events + len(dead) == size
    for columns in batch.models.values():
        assert columns.ts.size == columns.rows
        assert all(len(v) == columns.rows for v in columns.numeric.values())
        assert all(len(v) == columns.rows for v in columns.categorical.values())
        assert all(v.size == columns.rows for v in columns.mismatches.values())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(MESSAGES, max_size=12))
def test_any_batch_decodes_without_raising(values: list[bytes]) -> None:
    batch = _decode(values)
    _check_every_message_accounted_for(batch, len(values))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(EVENTS, max_size=12))
def test_each_message_becomes_its_own_event_or_its_own_dead_letter(
    events: list[dict[str, Any]],
) -> None:
    # Tag each message with its position, so the events show which messages they came from.
    values = [msgspec.json.encode(e | {"event_id": f"m{i}"}) for i, e in enumerate(events)]
    batch = _decode(values)
    _check_every_message_accounted_for(batch, len(values))
    dead = {d.index for d in batch.dead_letters}
    decoded = [str(event_id) for c in batch.models.values() for event_id in c.event_ids]
    assert sorted(decoded) == sorted(f"m{i}" for i in range(len(values)) if i not in dead)


WIRE_NAMES = {
    "model": "model_name",
    "features": "inputs",
    "prediction": "score",
    "ts": "timestamp",
    "event_id": "request_id",
    "model_version": "version",
    "label": "outcome",
}
RENAMED_DECODER = EventDecoder(_config(payload={"prediction_fields": WIRE_NAMES}))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(EVENTS, max_size=12))
def test_renamed_fields_decode_exactly_as_the_contracts_names_do(
    events: list[dict[str, Any]],
) -> None:
    contract = [msgspec.json.encode(e) for e in events]
    renamed = [msgspec.json.encode({WIRE_NAMES[k]: v for k, v in e.items()}) for e in events]
    expected, got = _decode(contract), _decode(renamed, RENAMED_DECODER)
    assert _reasons(got) == _reasons(expected)
    assert got.models.keys() == expected.models.keys()
    for name, columns in expected.models.items():
        other = got.models[name]
        assert (other.rows, other.event_ids, other.predictions) == (
            columns.rows,
            columns.event_ids,
            columns.predictions,
        )
        np.testing.assert_array_equal(other.ts, columns.ts)
        assert other.numeric.keys() == columns.numeric.keys()
        for signal, values in columns.numeric.items():
            np.testing.assert_array_equal(other.numeric[signal], values)
        assert other.categorical == columns.categorical


def test_event_time_in_milliseconds_is_dead_lettered_as_an_invalid_timestamp() -> None:
    batch = _decode([_encode(_fraud(ts=1_764_182_400_250))])
    assert _reasons(batch) == [(0, "invalid_timestamp")]
    assert "milliseconds" in batch.dead_letters[0].detail


@pytest.mark.parametrize("rows", [[], [2], [3, 0, 3, 1]])
def test_take_gives_a_lists_rows_in_their_order_repeats_included(rows: list[int]) -> None:
    values = ["a", None, 7, {"x": 1}]
    assert take(values, rows) == [values[row] for row in rows]
