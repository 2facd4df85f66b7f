"""Label messages of any depth, size or encoding: each a label or a dead letter, never fatal."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.config import PayloadConfig
from monitor.labels.decode import DecodedLabels, LabelDecoder
from monitor.origins import Origins
from tests.unit.test_decode import HOSTILE, MESSAGES


def _decode(values: list[bytes | None]) -> DecodedLabels:
    decoder = LabelDecoder(["fraud"], max_bytes=1_000_000, payload=PayloadConfig())
    return decoder.decode(values, Origins.of_lines("labels", len(values), 1_764_000_000.0))


def _label(event_id: str) -> bytes:
    return json.dumps({"event_id": event_id, "model": "fraud", "label": 1, "ts": 1.0}).encode()


def test_a_label_nested_100000_deep_is_dead_lettered_with_its_exception_and_the_others_kept() -> (
    None
):
    deep = b'{"event_id": "x", "model": "fraud", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    batch = _decode([_label("a"), deep, _label("b")])
    ((index, reason, detail),) = [(d.index, d.reason, d.detail) for d in batch.dead_letters]
    assert (index, reason) == (1, "undecodable")
    assert detail.startswith("RecursionError: ")
    assert [label.event_id for label in batch.models["fraud"]] == ["a", "b"]


@pytest.mark.parametrize(
    "value",
    [b"\xff\xfe{}", b'{"event_id": "x", "model": "fraud\xed\xa0\x80", "label": 1}', b"1e400"],
    ids=["invalid-utf8", "lone-surrogate", "number-out-of-range"],
)
def test_a_label_in_a_hostile_encoding_is_dead_lettered(value: bytes) -> None:
    batch = _decode([_label("a"), value])
    assert [d.index for d in batch.dead_letters] == [1]
    assert batch.count == 1


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(MESSAGES | HOSTILE, max_size=8))
def test_any_depth_size_or_encoding_is_a_label_or_a_dead_letter(values: list[bytes]) -> None:
    batch = _decode([*values, _label("last")])
    dead = [d.index for d in batch.dead_letters]
    assert len(dead) == len(set(dead))
    assert batch.count + len(dead) == len(values) + 1
