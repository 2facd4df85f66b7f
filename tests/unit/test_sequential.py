"""Sequential change detectors: the contract, the saved state, and agreement with river.

Layers, from the contract to the agreement with river:

* a contract suite run over every registered detector: batch semantics, lazy
  reset, state round trips mid-stream (also through JSON), refusal of foreign
  or malformed state, parameter and input validation, bounded state;
* detection points equal to river 0.26's on seeded streams with known changes
  (one with several changes), with river's defaults and other parameters, fed to
  river one element at a time; for ADWIN also the window's width, sum and
  variance, bit for bit;
* hypothesis: arbitrary batch splits, with state round trips at arbitrary
  split points, give the same global detection points as one whole batch; and
  short structured random streams agree with river.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import itertools
import json
import math
import subprocess
import sys
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from river import drift as river_drift
from river.drift import binary as river_binary
from scipy import stats

from detectors.sequential import (
    BINARY,
    DETECTORS,
    NUMERIC,
    SequentialDetector,
    make,
    restore,
)
from detectors.sequential.kswin import ks_gaps, ks_p_value

# --- streams --------------------------------------------------------------------------------


def numeric_stream(
    seed: int, means: list[float], cuts: list[int], n: int, sd: float = 1.0
) -> NDArray[np.float64]:
    """Normal values whose mean is ``means[k]`` between ``cuts[k-1]`` and ``cuts[k]``."""
    rng = np.random.default_rng(seed)
    segment = np.searchsorted(np.array(cuts), np.arange(n), side="right")
    return np.asarray(means)[segment] + rng.normal(0.0, sd, n)


def error_stream(seed: int, rates: list[float], cuts: list[int], n: int) -> NDArray[np.bool_]:
    """Bernoulli errors (True = the model was wrong) at ``rates[k]`` between the cuts."""
    rng = np.random.default_rng(seed)
    segment = np.searchsorted(np.array(cuts), np.arange(n), side="right")
    return rng.random(n) < np.asarray(rates)[segment]


def discrete_stream(seed: int, n: int) -> NDArray[np.float64]:
    """Small integers (many ties) whose range moves up at n/2: river's own doctest shape."""
    rng = np.random.default_rng(seed)
    values: NDArray[np.float64] = np.r_[
        rng.integers(0, 3, n // 2), rng.integers(2, 6, n - n // 2)
    ].astype(np.float64)
    return values


NUMERIC_STREAMS: dict[str, Callable[[], NDArray[np.float64]]] = {
    "shift": lambda: numeric_stream(1, [0.0, 1.5], [1500], 3000),
    "several": lambda: numeric_stream(2, [0.0, 2.0, -1.0, 1.0, 3.0], [800, 1600, 2400, 3200], 4000),
    "small_shift": lambda: numeric_stream(3, [10.0, 10.7], [1500], 3000, sd=2.0),
    "ties": lambda: discrete_stream(4, 2000),
}
BINARY_STREAMS: dict[str, Callable[[], NDArray[np.bool_]]] = {
    "rise": lambda: error_stream(1, [0.1, 0.3], [2000], 4000),
    "several": lambda: error_stream(2, [0.05, 0.3, 0.1, 0.5, 0.2], [1200, 2400, 3600, 4800], 6000),
    "fall": lambda: error_stream(3, [0.4, 0.1], [2000], 4000),
}

# Parameters: river's defaults first (KSWIN needs a seed to be comparable), then others.
PARAMS: dict[str, list[dict[str, Any]]] = {
    "adwin": [
        {},
        {"clock": 1},
        {"delta": 0.05, "clock": 4, "max_buckets": 2, "min_window_length": 1, "grace_period": 0},
        {
            "delta": 1e-4,
            "clock": 16,
            "max_buckets": 8,
            "min_window_length": 20,
            "grace_period": 200,
        },
    ],
    "page_hinkley": [
        {},
        {"threshold": 10.0, "min_instances": 5, "mode": "up"},
        {"delta": 0.1, "threshold": 20.0, "alpha": 0.99, "mode": "down"},
    ],
    "kswin": [
        {"seed": 42},
        {"seed": 7, "alpha": 0.05},
        {"seed": 3, "alpha": 0.001, "window_size": 200, "stat_size": 50},
    ],
    "ddm": [{}, {"warm_start": 100, "warning_threshold": 1.5, "drift_threshold": 2.5}],
    "eddm": [{}, {"warm_start": 10, "alpha": 0.98, "beta": 0.95}],
    "hddm_a": [
        {},
        {"two_sided_test": True},
        {"drift_confidence": 0.01, "warning_confidence": 0.05, "two_sided_test": True},
    ],
    "hddm_w": [
        {},
        {"two_sided_test": True},
        {
            "drift_confidence": 0.01,
            "warning_confidence": 0.05,
            "lambda_val": 0.2,
            "two_sided_test": True,
        },
    ],
}

RIVER: dict[str, Callable[..., Any]] = {
    "adwin": river_drift.ADWIN,
    "page_hinkley": river_drift.PageHinkley,
    "kswin": river_drift.KSWIN,
    "ddm": river_binary.DDM,
    "eddm": river_binary.EDDM,
    "hddm_a": river_binary.HDDMA,
    "hddm_w": river_binary.HDDMW,
}


def stream_for(name: str, which: str | None = None) -> NDArray[Any]:
    streams: Mapping[str, Callable[[], NDArray[Any]]] = (
        BINARY_STREAMS if name in BINARY else NUMERIC_STREAMS
    )
    return streams["several" if which is None else which]()


def river_points(name: str, params: dict[str, Any], stream: NDArray[Any]) -> list[int]:
    """Where river's detector flags a drift, fed one element at a time as river intends."""
    detector = RIVER[name](**params)
    values = stream.astype(int).tolist() if stream.dtype == np.bool_ else stream.tolist()
    points = []
    for i, x in enumerate(values):
        detector.update(x)
        if detector.drift_detected:
            points.append(i)
    return points


def fed_in_batches(
    detector: SequentialDetector,
    stream: NDArray[Any],
    cuts: list[int],
    reload: Callable[[SequentialDetector], SequentialDetector] | None = None,
) -> tuple[list[int], SequentialDetector]:
    """Global detection points of ``stream`` fed in batches split at ``cuts``."""
    points: list[int] = []
    bounds = [0, *cuts, len(stream)]
    for start, stop in itertools.pairwise(bounds):
        found = detector.update_many(stream[start:stop])
        assert found.dtype == np.int64
        assert all(0 <= i < stop - start for i in found.tolist())
        points.extend(start + int(i) for i in found)
        if reload is not None:
            detector = reload(detector)
    return points, detector


def default_params(name: str) -> dict[str, Any]:
    return PARAMS[name][0]


def through_json(detector: SequentialDetector) -> SequentialDetector:
    text = json.dumps(detector.state(), allow_nan=False)
    return type(detector).from_state(json.loads(text))


ALL = sorted(DETECTORS)


# --- registry -------------------------------------------------------------------------------


def test_registry_names_every_detector_once() -> None:
    assert set(DETECTORS) == {"adwin", "page_hinkley", "kswin", "ddm", "eddm", "hddm_a", "hddm_w"}
    assert set(DETECTORS) == NUMERIC | BINARY
    assert not NUMERIC & BINARY
    for name, cls in DETECTORS.items():
        assert cls.kind == name


def test_make_lists_valid_names_on_an_unknown_one() -> None:
    with pytest.raises(ValueError, match=r"unknown sequential detector 'adwn'") as error:
        make("adwn")
    message = str(error.value)
    assert "did you mean 'adwin'" in message
    for name in DETECTORS:
        assert name in message


def test_make_passes_parameters_to_the_constructor() -> None:
    detector = make("adwin", delta=0.01, clock=4)
    assert detector.params["delta"] == 0.01
    assert detector.params["clock"] == 4
    with pytest.raises(
        ValueError, match=r"adwin: unknown parameter 'dleta' \(did you mean 'delta'\?\); valid: "
    ):
        make("adwin", dleta=0.01)


@pytest.mark.parametrize("name", ALL)
def test_every_detector_keeps_the_protocol(name: str) -> None:
    detector = make(name, **default_params(name))
    assert isinstance(detector, SequentialDetector)
    assert detector.drift_detected is False
    assert detector.n_seen == 0
    assert detector.n_detections == 0


def test_the_package_is_pure() -> None:
    """detectors.sequential loads no I/O library and nothing of the daemon."""
    code = (
        "import sys, detectors.sequential; "
        "print(','.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", code],
            check=True,
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        .stdout.strip()
        .split(",")
    )
    forbidden = {"monitor", "confluent_kafka", "redis", "prometheus_client", "http", "urllib3"}
    assert not loaded & forbidden


# --- contract suite -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_empty_batch_changes_nothing(name: str) -> None:
    detector = make(name, **default_params(name))
    before = detector.state()
    found = detector.update_many(np.array([]))
    assert found.dtype == np.int64
    assert found.shape == (0,)
    assert detector.state() == before
    assert detector.update_many([]).shape == (0,)


@pytest.mark.parametrize("name", ALL)
def test_detections_are_positions_in_the_batch_and_the_flag_is_the_last_element(
    name: str,
) -> None:
    stream = stream_for(name)
    detector = make(name, **default_params(name))
    everything = make(name, **default_params(name)).update_many(stream).tolist()
    assert everything, "the stream must have detections for this test to mean anything"
    points: list[int] = []
    for start in range(0, len(stream), 250):
        batch = stream[start : start + 250]
        found = detector.update_many(batch).tolist()
        assert found == sorted(set(found))
        assert all(0 <= i < len(batch) for i in found)
        # River resets lazily: the flag reads True exactly when the batch's last element was one.
        assert detector.drift_detected == (bool(found) and found[-1] == len(batch) - 1)
        points.extend(start + i for i in found)
    assert points == everything
    assert detector.n_seen == len(stream)
    assert detector.n_detections == len(everything)


@pytest.mark.parametrize("name", ALL)
def test_a_detection_on_the_last_element_resets_on_the_next(name: str) -> None:
    stream = stream_for(name)
    detector = make(name, **default_params(name))
    first = int(detector.update_many(stream)[0])
    detector = make(name, **default_params(name))
    assert detector.update_many(stream[: first + 1]).tolist() == [first]
    assert detector.drift_detected
    # Carried across a state round trip, and cleared by the next element.
    detector = through_json(detector)
    assert detector.drift_detected
    rest = detector.update_many(stream[first + 1 :]).tolist()
    whole = make(name, **default_params(name)).update_many(stream).tolist()
    assert [first, *(first + 1 + i for i in rest)] == whole


@pytest.mark.parametrize("name", ALL)
def test_state_round_trip_mid_stream_continues_identically(name: str) -> None:
    stream = stream_for(name)
    uninterrupted = make(name, **default_params(name)).update_many(stream).tolist()
    # Stop points: early (warm-up), in a concept, at and right after detections.
    stops = {7, 450, len(stream) // 2, uninterrupted[0], uninterrupted[0] + 1, uninterrupted[-1]}
    for t in sorted(stops):
        for reload in (lambda d: type(d).from_state(d.state()), through_json, restore_json):
            first = make(name, **default_params(name))
            head = first.update_many(stream[:t]).tolist()
            state = first.state()
            second = reload(first)
            assert second.state() == state
            tail = second.update_many(stream[t:]).tolist()
            assert head + [t + i for i in tail] == uninterrupted, f"stopped at {t}"
            assert second.n_seen == len(stream)
            assert second.n_detections == len(uninterrupted)


def restore_json(detector: SequentialDetector) -> SequentialDetector:
    return restore(json.loads(json.dumps(detector.state(), allow_nan=False)))


@pytest.mark.parametrize("name", ALL)
def test_state_is_versioned_plain_json(name: str) -> None:
    detector = make(name, **default_params(name))
    detector.update_many(stream_for(name)[:1000])
    state = detector.state()
    assert state["kind"] == name
    assert state["v"] == 1
    assert state["params"] == detector.params
    assert state["n_seen"] == 1000
    text = json.dumps(state, allow_nan=False)  # no Infinity/NaN, no objects
    assert json.loads(text) == state


@pytest.mark.parametrize("name", ALL)
def test_foreign_or_malformed_state_is_refused(name: str) -> None:
    cls = DETECTORS[name]
    detector = make(name, **default_params(name))
    detector.update_many(stream_for(name)[:500])
    state = detector.state()
    other = "ddm" if name != "ddm" else "eddm"
    with pytest.raises(ValueError, match=r"cannot load a state of kind"):
        cls.from_state({**state, "kind": other})
    with pytest.raises(ValueError, match=r"cannot load state version 2"):
        cls.from_state({**state, "v": 2})
    with pytest.raises(ValueError, match=r"cannot load state version None"):
        cls.from_state({k: v for k, v in state.items() if k != "v"})
    with pytest.raises(ValueError, match=r"unknown keys \['extra'\]"):
        cls.from_state({**state, "extra": 1})
    with pytest.raises(ValueError, match=r"missing keys \['n_seen'\]"):
        cls.from_state({k: v for k, v in state.items() if k != "n_seen"})
    with pytest.raises(ValueError, match=r"n_seen"):
        cls.from_state({**state, "n_seen": -1})
    with pytest.raises(ValueError, match=r"bad params"):
        cls.from_state({**state, "params": {**state["params"], "nope": 1}})
    with pytest.raises(ValueError, match=r"a detector state is a mapping"):
        cls.from_state([state])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"unknown sequential detector 'nope'"):
        restore({**state, "kind": "nope"})


@pytest.mark.parametrize("name", ALL)
def test_state_with_bad_params_is_refused_by_the_constructor_checks(name: str) -> None:
    cls = DETECTORS[name]
    state = make(name, **default_params(name)).state()
    key, bad = INVALID_PARAMS[name][0]
    with pytest.raises(ValueError, match=key):
        cls.from_state({**state, "params": {**state["params"], key: bad}})


INVALID_PARAMS: dict[str, list[tuple[str, Any]]] = {
    "adwin": [
        ("delta", 0.0),
        ("delta", 1.5),
        ("delta", math.nan),
        ("delta", "0.1"),
        ("clock", 0),
        ("clock", 2.5),
        ("max_buckets", 1),
        ("min_window_length", 0),
        ("grace_period", -1),
        ("grace_period", True),
    ],
    "page_hinkley": [
        ("min_instances", 0),
        ("delta", -0.1),
        ("threshold", 0.0),
        ("threshold", math.inf),
        ("alpha", 0.0),
        ("alpha", 1.01),
        ("mode", "sideways"),
    ],
    "kswin": [
        ("alpha", 0.0),
        ("alpha", 2.0),
        ("window_size", 1),
        ("stat_size", 0),
        ("stat_size", 51),
        ("stat_size", 10_001),
        ("seed", -1),
        ("seed", 1.5),
    ],
    "ddm": [("warm_start", -1), ("warning_threshold", 0.0), ("drift_threshold", -3.0)],
    "eddm": [("warm_start", -1), ("alpha", 1.5), ("beta", 0.0), ("beta", 0.99)],
    "hddm_a": [
        ("drift_confidence", 0.0),
        ("drift_confidence", 1.0),
        ("warning_confidence", 1.2),
        ("two_sided_test", 1),
    ],
    "hddm_w": [
        ("drift_confidence", 0.0),
        ("warning_confidence", -0.5),
        ("lambda_val", 0.0),
        ("lambda_val", 1.5),
        ("two_sided_test", "yes"),
    ],
}


@pytest.mark.parametrize(
    ("name", "key", "bad"),
    [(name, key, bad) for name, cases in INVALID_PARAMS.items() for key, bad in cases],
)
def test_invalid_parameters_are_refused_with_a_clear_message(name: str, key: str, bad: Any) -> None:
    params = {**default_params(name), key: bad}
    if name == "kswin" and key == "stat_size" and bad == 10_001:
        params["window_size"] = 20_002
    with pytest.raises(ValueError, match=rf"^{name}: {key}") as error:
        make(name, **params)
    assert repr(bad) in str(error.value) or str(bad) in str(error.value)


@pytest.mark.parametrize("name", ALL)
def test_defaults_are_rivers(name: str) -> None:
    ours = inspect.signature(DETECTORS[name]).parameters
    theirs = inspect.signature(RIVER[name]).parameters
    for key, parameter in ours.items():
        assert theirs[key].default == parameter.default, key


@pytest.mark.parametrize("name", ALL)
def test_bad_input_is_refused_before_any_state_changes(name: str) -> None:
    detector = make(name, **default_params(name))
    detector.update_many(stream_for(name)[:100])
    before = detector.state()
    with pytest.raises(ValueError, match=r"position 2 is nan; values must be finite"):
        detector.update_many([0.0, 1.0, math.nan])
    with pytest.raises(ValueError, match=r"position 0 is inf"):
        detector.update_many(np.array([math.inf]))
    with pytest.raises(ValueError, match=r"1-D array"):
        detector.update_many(np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"real numbers"):
        detector.update_many(np.array(["a", "b"]))
    if name in BINARY:
        with pytest.raises(ValueError, match=r"position 1 is 0.5.*binary error stream"):
            detector.update_many([1, 0.5, 0])
    assert detector.state() == before


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_detectors_read_bools_ints_and_floats_alike(name: str) -> None:
    errors = stream_for(name)
    as_bool = make(name).update_many(errors).tolist()
    assert make(name).update_many(errors.astype(np.int64)).tolist() == as_bool
    assert make(name).update_many(errors.astype(np.float64).tolist()).tolist() == as_bool


@pytest.mark.parametrize("name", ALL)
def test_state_stays_bounded_on_a_long_stream(name: str) -> None:
    """No growing history: the saved state after 60k events is about as large as after 6k."""
    rng = np.random.default_rng(0)
    stream = rng.random(60_000) < 0.2 if name in BINARY else rng.normal(0.0, 1.0, 60_000)
    # Thresholds that never fire, so that the window (ADWIN's in particular) keeps growing.
    quiet = {"adwin": {"delta": 1e-12}, "page_hinkley": {"threshold": 1e9}}
    params = quiet.get(name, default_params(name))
    if name == "kswin":
        params = {"seed": 1, "alpha": 1e-300}
    detector = make(name, **params)
    detector.update_many(stream[:6000])
    small = len(json.dumps(detector.state()))
    detector.update_many(stream[6000:])
    large = len(json.dumps(detector.state()))
    if name in NUMERIC:
        assert detector.n_detections == 0
    if name == "adwin":
        assert detector.state()["width"] == 60_000
    assert large <= small + 600, (small, large)  # ADWIN: a few more buckets (log2 of 10x)
    assert large < 12_000  # KSWIN's generator state is the largest part: 624 words


# --- agreement with river -------------------------------------------------------------------


RIVER_CASES = [
    (name, index, which)
    for name in ALL
    for index in range(len(PARAMS[name]))
    for which in (BINARY_STREAMS if name in BINARY else NUMERIC_STREAMS)
    # river's KSWIN runs scipy's KS test per value (~1k values/s): two streams per setting.
    if name != "kswin" or which in {"several", "ties"}
]


@pytest.mark.parametrize(("name", "index", "which"), RIVER_CASES)
def test_detection_points_equal_rivers(name: str, index: int, which: str) -> None:
    params = PARAMS[name][index]
    stream = stream_for(name, which)
    expected = river_points(name, params, stream)
    assert make(name, **params).update_many(stream).tolist() == expected


@pytest.mark.parametrize("name", ALL)
def test_river_comparison_streams_are_not_vacuous(name: str) -> None:
    """With default parameters river detects every change of the several-changes stream."""
    stream = stream_for(name, "several")
    points = river_points(name, default_params(name), stream)
    cuts = [800, 1600, 2400, 3200] if name in NUMERIC else [1200, 2400, 3600, 4800]
    detected_after = [any(cut <= p < cut + 800 for p in points) for cut in cuts]
    # EDDM and DDM see only rises of the error rate, which two of the four changes are.
    needed = 2 if name in {"ddm", "eddm", "hddm_a", "hddm_w"} else 4
    assert sum(detected_after) >= needed, points


@pytest.mark.parametrize("name", sorted(NUMERIC - {"kswin"}))
@pytest.mark.parametrize(
    "values",
    [np.full(3000, 2.5), np.r_[np.full(1500, 1e12), np.full(1500, 1e12 + 1e6)]],
    ids=["constant", "large_magnitude"],
)
def test_degenerate_numeric_streams_agree_with_river(name: str, values: NDArray[Any]) -> None:
    for params in PARAMS[name]:
        expected = river_points(name, params, values)
        assert make(name, **params).update_many(values).tolist() == expected


def test_adwin_window_equals_rivers_bit_for_bit() -> None:
    """Not only the detections: the window's width, sum and variance after every 7 elements."""
    stream = stream_for("adwin", "several")
    for params in PARAMS["adwin"]:
        theirs = RIVER["adwin"](**params)
        ours = make("adwin", **params)
        for start in range(0, 2000, 7):
            batch = stream[start : start + 7]
            for x in batch.tolist():
                theirs.update(x)
            ours.update_many(batch)
            state = ours.state()
            assert (state["width"], state["total"], state["variance"]) == (
                theirs.width,
                theirs.total,
                theirs.variance,
            )


@pytest.mark.parametrize(("name", "index"), [(n, i) for n in sorted(BINARY) for i in (0, 1)])
def test_warning_flags_equal_rivers(name: str, index: int) -> None:
    params = PARAMS[name][index]
    errors = stream_for(name, "several")[:3000]
    theirs = RIVER[name](**params)
    ours = make(name, **params)
    warnings_seen = 0
    for x in errors.tolist():
        theirs.update(int(x))
        ours.update_many([x])
        assert ours.drift_detected == theirs.drift_detected
        assert ours.warning_detected == theirs.warning_detected  # type: ignore[attr-defined]
        warnings_seen += theirs.warning_detected
    assert warnings_seen


# --- KSWIN's shortcuts, checked against scipy -----------------------------------------------


def test_ks_gaps_equal_scipys_statistic_times_n() -> None:
    rng = np.random.default_rng(5)
    for n, values in [(30, 4), (30, 1000), (7, 2), (50, 10**9)]:
        first = rng.integers(0, values, (200, n)).astype(float)
        second = rng.integers(0, values, (200, n)).astype(float)
        gaps = ks_gaps(first, second)
        for row in range(200):
            with warnings.catch_warnings():  # "exact calculation unsuccessful": p only
                warnings.simplefilter("ignore", RuntimeWarning)
                statistic = stats.ks_2samp(first[row], second[row]).statistic
            assert gaps[row] == round(statistic * n)


def test_ks_p_value_is_scipys_for_every_gap() -> None:
    rng = np.random.default_rng(6)
    for n in (10, 30, 50):
        for _ in range(100):
            first, second = rng.normal(0, 1, n), rng.normal(rng.uniform(0, 2), 1, n)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                result = stats.ks_2samp(first, second, method="auto")
            gap = round(result.statistic * n)
            assert ks_p_value(n, gap) == result.pvalue
            assert gap * 1.0 / n == result.statistic


# --- properties -----------------------------------------------------------------------------


SPLIT_STREAMS = {name: stream_for(name) for name in ALL}
WHOLE = {name: make(name, **default_params(name)).update_many(SPLIT_STREAMS[name]) for name in ALL}


@pytest.mark.parametrize("name", ALL)
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_batch_split_and_restart_gives_the_same_detections(
    name: str, data: st.DataObject
) -> None:
    stream = SPLIT_STREAMS[name]
    cuts = sorted(set(data.draw(st.lists(st.integers(0, len(stream)), max_size=12), label="cuts")))
    restart = data.draw(st.booleans(), label="restart from state at every cut")
    reload = through_json if restart else None
    points, detector = fed_in_batches(
        make(name, **default_params(name)), stream, cuts, reload=reload
    )
    assert points == WHOLE[name].tolist()
    assert detector.n_seen == len(stream)


# Short streams and touchy parameters, so that a few hundred values already detect.
FUZZ_PARAMS: dict[str, dict[str, Any]] = {
    "adwin": {
        "delta": 0.1,
        "clock": 1,
        "max_buckets": 2,
        "min_window_length": 1,
        "grace_period": 0,
    },
    "page_hinkley": {"threshold": 3.0, "min_instances": 1, "delta": 0.0},
    "kswin": {"alpha": 0.2, "window_size": 20, "stat_size": 8, "seed": 11},
    "ddm": {"warm_start": 5},
    "eddm": {"warm_start": 3},
    "hddm_a": {"drift_confidence": 0.05, "warning_confidence": 0.1, "two_sided_test": True},
    "hddm_w": {"drift_confidence": 0.05, "warning_confidence": 0.1, "two_sided_test": True},
}


@st.composite
def segmented_streams(draw: st.DrawFn, binary: bool) -> NDArray[Any]:
    """A few segments of random length, each with its own level (or error rate)."""
    seed = draw(st.integers(0, 2**32 - 1))
    levels = draw(
        st.lists(st.floats(0.0, 1.0) if binary else st.integers(-5, 5), min_size=1, max_size=4)
    )
    lengths = draw(st.lists(st.integers(1, 120), min_size=len(levels), max_size=len(levels)))
    rng = np.random.default_rng(seed)
    if binary:
        return np.concatenate([rng.random(n) < p for p, n in zip(levels, lengths, strict=True)])
    ties = draw(st.booleans())
    parts = [
        (np.round(rng.normal(m, 1.0, n)) if ties else rng.normal(m, 1.0, n))
        for m, n in zip(levels, lengths, strict=True)
    ]
    return np.concatenate(parts)


@pytest.mark.parametrize("name", ALL)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_random_short_streams_agree_with_river(name: str, data: st.DataObject) -> None:
    stream = data.draw(segmented_streams(binary=name in BINARY), label="stream")
    params = FUZZ_PARAMS[name]
    assert make(name, **params).update_many(stream).tolist() == river_points(name, params, stream)


def test_kswin_without_seed_round_trips_its_generator() -> None:
    """seed=None draws from the OS, but a saved state continues identically until the next
    reset (which, as in river, re-seeds from the OS)."""
    stream = stream_for("kswin", "ties")
    detector = make("kswin", alpha=0.05)
    detector.update_many(stream[:700])
    copy = through_json(detector)
    ours, theirs = detector.update_many(stream[700:]), copy.update_many(stream[700:])
    assert ours.size
    assert theirs.size
    assert ours[0] == theirs[0]


@pytest.mark.parametrize(
    "module",
    ["__init__", "adwin", "page_hinkley", "kswin", "ddm", "eddm", "hddm_a", "hddm_w"],
)
def test_docstring_examples_run(module: str) -> None:
    name = "detectors.sequential" + ("" if module == "__init__" else f".{module}")
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0
    assert result.failed == 0
