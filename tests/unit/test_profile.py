"""Reference profiles: quantile bins, category slots, plain-data round trips, version ids.

Pure unit tests of ``detectors.profile`` and ``detectors.arrays``: no I/O, seeded data.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from detectors.arrays import decode_array, encode_array
from detectors.profile import (
    MISSING,
    CategoricalProfile,
    NumericProfile,
    ReferenceProfile,
    SignalSpec,
    build_categorical_profile,
    build_numeric_profile,
    build_reference_profile,
    category_key,
    coarse_bin_starts,
    histogram,
)

SEED = 20261127


def _rng(offset: int = 0) -> np.random.Generator:
    return np.random.default_rng([SEED, offset])


def _reference(
    numeric: NDArray[np.float64] | None = None, *, created_at: float = 0.0
) -> ReferenceProfile:
    """A small model: numeric ``amount`` (NaN sprinkled in), categorical ``country``, prediction."""
    rng = _rng()
    n = 2_000
    amount = rng.normal(10.0, 3.0, n) if numeric is None else numeric
    amount = amount.copy()
    amount[::97] = np.nan
    country = np.asarray(
        [None if i % 50 == 0 else c for i, c in enumerate(rng.choice(["DE", "FR", "US"], n))],
        dtype=object,
    )
    specs = [
        SignalSpec("amount", "numeric", "feature"),
        SignalSpec("country", "categorical", "feature"),
        SignalSpec("prediction", "numeric", "prediction"),
    ]
    columns: dict[str, NDArray[Any]] = {
        "amount": amount,
        "country": country,
        "prediction": rng.random(n),
    }
    return build_reference_profile(
        "fraud", specs, columns, bins=20, max_categories=2, created_at=created_at, source="test"
    )


# --------------------------------------------------------------------------- numeric profiles


def test_quantile_edges_give_equal_bin_counts() -> None:
    values = _rng().normal(0.0, 1.0, 50_000)
    profile = build_numeric_profile("x", "feature", values, bins=50)
    assert profile.bins == 50
    # Edges are quantiles of these very values, so each bin holds n/bins give or take one
    # value at either edge (linear interpolation puts an edge between two order statistics).
    assert np.all(np.abs(profile.counts - 1_000) <= 2)


def test_bins_follow_the_searchsorted_right_convention() -> None:
    values = _rng().normal(0.0, 1.0, 1_000)
    profile = build_numeric_profile("x", "feature", values, bins=10)
    counts, _ = histogram(profile.edges, profile.edges.copy())
    # A value equal to an edge belongs to the bin to the edge's right.
    assert counts.tolist() == [0] + [1] * (profile.bins - 1)


def test_tied_quantiles_collapse_into_one_edge() -> None:
    values = _rng().integers(0, 5, 10_000).astype(np.float64)
    profile = build_numeric_profile("x", "feature", values, bins=50)
    assert np.all(np.diff(profile.edges) > 0)
    assert profile.bins < 50
    bins_of_each_value = [
        np.flatnonzero(histogram(profile.edges, np.array([v]))[0]).tolist() for v in range(5)
    ]
    assert sorted(b for [b] in bins_of_each_value) == np.flatnonzero(profile.counts).tolist()


def test_nan_is_counted_as_missing_and_left_out_of_the_statistics() -> None:
    values = np.array([1.0, np.nan, 2.0, 3.0, np.nan, 4.0])
    profile = build_numeric_profile("x", "feature", values, bins=4)
    assert profile.missing == 2
    assert profile.present == 4
    assert profile.mean == pytest.approx(2.5)
    assert (profile.minimum, profile.maximum) == (1.0, 4.0)
    assert profile.sums.sum() == pytest.approx(10.0)


def test_all_missing_numeric_signal_has_one_empty_bin() -> None:
    profile = build_numeric_profile("x", "feature", np.full(5, np.nan), bins=10)
    assert profile.missing == 5
    assert profile.present == 0
    assert profile.bins == 1


def test_coarse_bins_cut_fifty_equal_bins_into_tens() -> None:
    counts = np.full(50, 100, dtype=np.int64)
    assert coarse_bin_starts(counts).tolist() == list(range(0, 50, 5))


def test_coarse_bins_keep_every_bin_when_there_are_few() -> None:
    counts = np.array([5, 0, 7, 3], dtype=np.int64)
    assert coarse_bin_starts(counts).tolist() == [0, 1, 2, 3]


def test_coarse_bins_merge_a_spike_into_one_group() -> None:
    # One bin holding 90 % of the reference swallows the deciles it spans.
    counts = np.array([10] * 5 + [900] + [10] * 5, dtype=np.int64)
    starts = coarse_bin_starts(counts)
    assert np.all(np.diff(starts) > 0)
    assert starts[0] == 0
    assert starts.size < 10


# --------------------------------------------------------------------------- categorical profiles


def test_most_frequent_categories_get_slots_and_the_rest_go_to_other() -> None:
    values = ["a"] * 5 + ["b"] * 4 + ["c"] * 3 + ["d"] * 2 + [None]
    profile = build_categorical_profile("c", "feature", values, max_categories=2)
    assert profile.categories == ("a", "b")
    assert profile.other_categories == frozenset({"c", "d"})
    assert profile.counts.tolist() == [5, 4, 5, 0]  # a, b, other, unseen
    assert profile.missing == 1


def test_equally_frequent_categories_rank_by_name() -> None:
    profile = build_categorical_profile("c", "feature", ["z", "y", "x", "x"], max_categories=2)
    assert profile.categories == ("x", "y")


def test_encode_maps_values_to_their_slots() -> None:
    profile = build_categorical_profile("c", "feature", ["a", "a", "b", "c"], max_categories=2)
    codes = profile.encode(["a", "b", "c", "never-seen", None])
    assert codes.tolist() == [0, 1, profile.other_slot, profile.unseen_slot, MISSING]


def test_encode_compares_integers_and_booleans_by_their_category_key() -> None:
    profile = build_categorical_profile("c", "feature", ["49", "true", "x"], max_categories=5)
    codes = profile.encode([49, True, "49", 50, False])
    slot = {category: i for i, category in enumerate(profile.categories)}
    assert codes.tolist() == [slot["49"], slot["true"], slot["49"], *[profile.unseen_slot] * 2]


def test_category_keys_of_json_scalars() -> None:
    assert category_key(True) == "true"
    assert category_key(False) == "false"
    assert category_key(3) == "3"
    assert category_key("DE") == "DE"


def test_boolean_and_its_string_spelling_are_one_category() -> None:
    profile = build_categorical_profile("c", "feature", [True, "true", False], max_categories=5)
    assert profile.categories == ("true", "false")
    assert profile.counts.tolist()[:2] == [2, 1]


# --------------------------------------------------------------------------- plain-data state


def test_json_round_trip_preserves_every_array_exactly() -> None:
    profile = _reference()
    again = ReferenceProfile.from_json(profile.to_json())
    assert (again.model, again.id, again.created_at, again.events, again.source) == (
        profile.model,
        profile.id,
        profile.created_at,
        profile.events,
        profile.source,
    )
    assert [s.name for s in again.signals] == [s.name for s in profile.signals]
    for before, after in zip(profile.signals, again.signals, strict=True):
        assert type(after) is type(before)
        assert after.role == before.role
        assert after.missing == before.missing
        if isinstance(before, NumericProfile):
            assert isinstance(after, NumericProfile)
            for name in ("edges", "counts", "sums", "coarse_starts"):
                a, b = getattr(after, name), getattr(before, name)
                assert a.dtype == b.dtype, name
                assert a.tobytes() == b.tobytes(), name  # bit-exact, not merely close
            assert (after.minimum, after.maximum, after.mean, after.std) == (
                before.minimum,
                before.maximum,
                before.mean,
                before.std,
            )
        else:
            assert isinstance(before, CategoricalProfile)
            assert isinstance(after, CategoricalProfile)
            assert after.categories == before.categories
            assert after.other_categories == before.other_categories
            assert after.counts.tolist() == before.counts.tolist()
            assert after.counts.dtype == before.counts.dtype


def test_restored_categorical_profile_encodes_like_the_original() -> None:
    profile = _reference()
    again = ReferenceProfile.from_json(profile.to_json())
    values = ["DE", "FR", "US", "XX", None]
    before, after = profile.signal("country"), again.signal("country")
    assert isinstance(before, CategoricalProfile)
    assert isinstance(after, CategoricalProfile)
    assert after.encode(values).tolist() == before.encode(values).tolist()


@pytest.mark.parametrize(
    ("field", "value"),
    [("kind", "window_state"), ("v", 999), ("kind", None)],
    ids=["wrong-kind", "wrong-version", "no-kind"],
)
def test_from_json_rejects_other_kinds_and_versions(field: str, value: object) -> None:
    state = json.loads(_reference().to_json())
    if value is None:
        del state[field]
    else:
        state[field] = value
    with pytest.raises(ValueError, match="reference profile"):
        ReferenceProfile.from_json(json.dumps(state))


def test_from_json_rejects_an_unknown_signal_kind() -> None:
    state = json.loads(_reference().to_json())
    state["signals"][0]["kind"] = "image"
    with pytest.raises(ValueError, match="unknown signal kind"):
        ReferenceProfile.from_json(json.dumps(state))


def test_encoded_array_round_trips_bit_exactly() -> None:
    for array in (np.array([1.5, -0.0, np.inf, 1e-300]), np.arange(-3, 9, dtype=np.int64)):
        restored = decode_array(encode_array(array))
        assert restored.dtype == array.dtype
        assert restored.tobytes() == array.tobytes()


def test_decode_array_refuses_a_dtype_outside_the_allow_list() -> None:
    encoded = encode_array(np.zeros(2))
    encoded["dtype"] = "|O"
    with pytest.raises(ValueError, match="refusing"):
        decode_array(encoded)


def test_decode_array_refuses_data_that_does_not_fill_the_shape() -> None:
    encoded = encode_array(np.zeros(3))
    encoded["shape"] = [4]
    with pytest.raises(ValueError, match="shape"):
        decode_array(encoded)


def test_decode_array_refuses_extra_keys() -> None:
    encoded = encode_array(np.zeros(1)) | {"pickle": True}
    with pytest.raises(ValueError, match="exactly"):
        decode_array(encoded)


def test_decode_array_refuses_bytes_that_are_not_base64() -> None:
    encoded = encode_array(np.zeros(1))
    encoded["data"] = "not base64!"
    with pytest.raises(ValueError, match=r"base64"):
        decode_array(encoded)


def test_encode_array_refuses_other_dtypes() -> None:
    with pytest.raises(ValueError, match="float64 or int64"):
        encode_array(np.array(["a"], dtype=object))


def test_encoded_data_is_little_endian_bytes() -> None:
    encoded = encode_array(np.array([1.0], dtype=">f8"))
    assert encoded["dtype"] == "<f8"
    assert base64.b64decode(encoded["data"]) == np.array([1.0], dtype="<f8").tobytes()


# --------------------------------------------------------------------------- version id


def test_profile_id_is_the_same_for_the_same_data() -> None:
    # created_at is when, not what: it must not change the id.
    assert _reference(created_at=1.0).id == _reference(created_at=2.0).id


def test_profile_id_differs_for_different_data() -> None:
    shifted = _rng(1).normal(11.0, 3.0, 2_000)
    assert _reference().id != _reference(shifted).id


def test_profile_id_names_the_model() -> None:
    assert _reference().id.startswith("fraud@")


@settings(max_examples=300, deadline=None)
@given(
    edges=st.lists(st.floats(-1e6, 1e6), max_size=60, unique=True).map(sorted),
    values=st.lists(st.one_of(st.floats(-2e6, 2e6), st.just(math.nan)), max_size=300),
)
def test_histogram_counts_as_a_search_of_each_value_among_the_edges(
    edges: list[float], values: list[float]
) -> None:
    """The definition the sorted lookup must equal: bin = number of edges <= value."""
    edge_array, value_array = np.array(edges, dtype=np.float64), np.array(values, np.float64)
    counts, sums = histogram(edge_array, value_array)
    present = value_array[~np.isnan(value_array)]
    index = np.searchsorted(edge_array, present, side="right")
    assert counts.tolist() == np.bincount(index, minlength=len(edges) + 1).tolist()
    expected = np.bincount(index, weights=present, minlength=len(edges) + 1)
    np.testing.assert_allclose(sums, expected, rtol=1e-9, atol=1e-6)
