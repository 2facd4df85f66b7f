"""``drift-monitor produce-synthetic``, the compose stack's example producer: its drift
schedule, the model layouts it accepts and the events it makes."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pytest

from monitor.config import parse_config
from monitor.errors import DriftMonitorError
from monitor.tooling.synthetic import SyntheticModel
from monitor.tooling.synthetic_producer import DriftSchedule, synthetic_lines, synthetic_model

LAYOUT = SyntheticModel(name="fraud", numeric=4, categorical=1)


def _model_config(features: dict[str, str]) -> Any:
    model = {"reference": {"from_stream": 100}, "window": {"events": 100}, "features": features}
    return parse_config({"models": {"fraud": model}}).models["fraud"]


# ------------------------------------------------------------------------------ the schedule


def test_schedule_is_calm_before_drift_after_and_drifted_from_it_on() -> None:
    schedule = DriftSchedule(after=100)
    assert [schedule.drifting(i) for i in (0, 99, 100, 10_000)] == [False, False, True, True]
    assert (schedule.next_change(0), schedule.next_change(100)) == (100, None)


def test_schedule_with_a_period_alternates_drifted_and_calm() -> None:
    schedule = DriftSchedule(after=100, period=50)
    assert [schedule.drifting(i) for i in (99, 100, 149, 150, 199, 200)] == [
        *(False, True, True, False, False, True)
    ]
    assert [schedule.next_change(i) for i in (0, 100, 149, 150)] == [100, 150, 150, 200]


def test_shift_specs_are_feature_equals_standard_deviations() -> None:
    schedule = DriftSchedule.parse(["num_1=1.5", "num_2=-0.5"], after=0, period=None)
    assert dict(schedule.shift) == {"num_1": 1.5, "num_2": -0.5}


@pytest.mark.parametrize("spec", ["num_1", "=1", "num_1=big", "num_1=nan"])
def test_a_malformed_shift_spec_is_refused_with_an_example(spec: str) -> None:
    with pytest.raises(DriftMonitorError, match="--shift"):
        DriftSchedule.parse([spec], after=0, period=None)


def test_the_default_shift_moves_the_first_numeric_feature_by_one_deviation() -> None:
    assert dict(DriftSchedule().resolved(LAYOUT).shift) == {"num_0": 1.0}


def test_a_shift_of_a_feature_the_model_lacks_is_refused_naming_its_features() -> None:
    with pytest.raises(DriftMonitorError, match=r"cat_0.*num_0, num_1, num_2, num_3"):
        DriftSchedule.parse(["cat_0=1"], after=0, period=None).resolved(LAYOUT)


# ------------------------------------------------------------------------- the model's layout


def test_a_model_with_the_generators_feature_names_gets_its_layout() -> None:
    config = _model_config(LAYOUT.features())
    assert synthetic_model(config) == LAYOUT


def test_a_model_with_other_feature_names_is_refused_saying_which_are_expected() -> None:
    with pytest.raises(DriftMonitorError, match=r"num_0\.\.num_\{n-1\}.*amount"):
        synthetic_model(_model_config({"amount": "numeric", "num_1": "numeric"}))


# ------------------------------------------------------------------------------- the events


def test_events_drift_in_the_shifted_feature_only_while_the_schedule_says() -> None:
    schedule = DriftSchedule.parse(["num_2=3"], after=4000, period=4000)
    lines = list(synthetic_lines(LAYOUT, schedule, rate=1000, events=12_000, seed=5))
    features = [json.loads(line)["features"] for line in lines]
    means = {
        name: [np.mean([f[name] for f in features[a : a + 4000]]) for a in (0, 4000, 8000)]
        for name in ("num_1", "num_2")
    }
    scale = 1.0 + 9.0 * 2 / 3  # synthetic.py: num_2's standard deviation
    calm, drifted, calm_again = means["num_2"]
    assert drifted - calm == pytest.approx(3 * scale, rel=0.1)
    assert calm_again == pytest.approx(calm, abs=0.2 * scale)
    assert np.ptp(means["num_1"]) < 0.5


def test_events_carry_the_wall_clock_as_event_time_spaced_by_the_rate() -> None:
    before = time.time()
    lines = list(synthetic_lines(LAYOUT, DriftSchedule(), rate=100, events=201))
    stamps = [json.loads(line)["ts"] for line in lines]
    assert before <= stamps[0] <= time.time()
    assert stamps[200] - stamps[0] == pytest.approx(2.0)
