"""Segments as pure logic: their references, their counts, their tests and their alerts."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import pytest

from detectors.evaluate import DecisionSettings, WindowPart, evaluate_parts
from detectors.methods import DEFAULT_THRESHOLDS
from detectors.profile import OTHER_SEGMENT, ReferenceProfile, SignalSpec
from detectors.segments import SegmentKey, build_segmented_profile, top_values
from detectors.window import WindowLayout
from monitor.alerts.facts import alert_facts
from monitor.alerts.rules import observe
from monitor.alerts.state import AlertState, WindowFacts
from monitor.config import AlertRuleConfig, Config, ModelConfig, parse_config
from monitor.decode import EventDecoder, ModelColumns
from monitor.origins import Origins
from monitor.segmenting import count_segments, segment_parts, segmentation
from monitor.windowing import categorical_values, encode_columns

SPECS = [
    SignalSpec("amount", "numeric", "feature"),
    SignalSpec("device", "categorical", "feature"),
    SignalSpec("prediction", "numeric", "prediction"),
    SignalSpec("tags.region", "categorical", "segment", max_categories=3),
]
REGION = SegmentKey("tags.region", "tags.region")
DEVICE = SegmentKey("features.device", "device")


def _columns(rows: int, seed: int, regions: list[str] | None = None) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    names = regions or rng.choice(["eu", "us", "apac", "latam"], p=[0.4, 0.3, 0.2, 0.1], size=rows)
    return {
        "amount": rng.normal(10.0, 2.0, rows),
        "device": np.asarray(rng.choice(["ios", "android"], size=rows), dtype=object),
        "prediction": rng.random(rows),
        "tags.region": np.asarray(list(names), dtype=object),
    }


def _profile(columns: dict[str, Any], *, min_rows: int = 100, top: int = 3) -> ReferenceProfile:
    return build_segmented_profile(
        "fraud",
        SPECS,
        columns,
        [REGION, DEVICE],
        top=top,
        min_rows=min_rows,
        bins=10,
        max_categories=20,
        created_at=1.0,
        source="test",
    )


def _config(segments: Any) -> Config:
    """A config of the model ``fraud`` (amount, device, a score) segmented by ``segments``."""
    return parse_config(
        {
            "kafka": {"bootstrap_servers": "unused:9092"},
            "models": {
                "fraud": {
                    "reference": {"from_stream": 100},
                    "window": {"events": 1000},
                    "features": {"amount": "numeric", "device": "categorical"},
                    "prediction": "numeric",
                    "segments": segments,
                }
            },
        }
    )


def _model(**segments: Any) -> ModelConfig:
    return _config({"keys": ["tags.region", "features.device"], **segments}).models["fraud"]


def test_a_key_keeps_its_top_values_by_frequency_with_ties_broken_by_name() -> None:
    assert top_values(["b", "a", "c", "a", "b", None, None, None, 1], 2) == ("a", "b")


def test_every_value_outside_the_top_and_a_missing_one_is_the_other_segment() -> None:
    reference = _profile(_columns(4_000, 1)).segments[0]
    assert reference.values == ("eu", "us", "apac")
    codes = reference.codes(["us", "latam", None, "eu", "new", "apac"]).tolist()
    assert codes == [1, 3, 3, 0, 3, 2]
    assert reference.names[3] == OTHER_SEGMENT


def test_a_segment_with_enough_reference_rows_gets_a_profile_of_its_own_rows() -> None:
    columns = _columns(4_000, 1)
    profile = _profile(columns, min_rows=500)
    region = profile.segments[0]
    eu = np.asarray(columns["tags.region"]) == "eu"
    assert region.rows == tuple(int(n) for n in (eu.sum(), *_others(columns)))
    own = region.profiles["eu"].signal("amount")
    assert own.present == int(eu.sum())
    assert [s.name for s in region.profiles["eu"].signals] == ["amount", "device", "prediction"]
    assert sorted(region.profiles) == ["apac", "eu", "us"]  # __other__ (latam, 10%) is thin
    assert [s.name for s in profile.segments[1].profiles["ios"].signals] == ["amount", "prediction"]


def _others(columns: dict[str, Any]) -> list[int]:
    regions = np.asarray(columns["tags.region"])
    return [
        int((regions == "us").sum()),
        int((regions == "apac").sum()),
        int((regions == "latam").sum()),
    ]


def test_a_segmented_profile_survives_json_and_its_id_follows_its_segments() -> None:
    columns = _columns(2_000, 1)
    profile = _profile(columns)
    back = ReferenceProfile.from_json(profile.to_json())
    assert back.id == profile.id
    assert back.segments[0].values == profile.segments[0].values
    assert back.segments[0].profiles["eu"].id == profile.segments[0].profiles["eu"].id
    assert _profile(columns).id == profile.id  # a rebuild names the same version
    assert _profile(columns, min_rows=150).id != profile.id
    assert _profile(columns, top=2).id != profile.id


def test_a_thin_segment_is_skipped_with_why_or_judged_against_the_whole_when_asked() -> None:
    profile = _profile(_columns(1_000, 1), min_rows=150, top=4)  # latam, 10%: ~100 rows
    layout = WindowLayout(profile)
    skipping = {
        s.name: s for s in segmentation(_model(min_reference_events=150), layout)[0].segments
    }
    latam = skipping["region=latam"]
    assert latam.layout is None
    assert latam.basis == (
        f"thin in the reference: {latam.reference_rows} rows, fewer than min_reference_events 150"
    )
    assert skipping["region=__other__"].basis == "absent from the reference"
    whole = segmentation(_model(min_reference_events=150, thin_reference="whole"), layout)[0]
    fallback = {s.name: s for s in whole.segments}["region=latam"]
    assert fallback.basis == "whole"
    assert fallback.layout is not None
    assert [s.name for s in fallback.layout.profile.signals] == ["amount", "device", "prediction"]
    assert fallback.layout.profile.signal("amount").present == 1_000


def _batch(columns: dict[str, Any]) -> ModelColumns:
    rows = len(columns["amount"])
    return ModelColumns(
        model="fraud",
        rows=rows,
        numeric={"amount": columns["amount"], "prediction": columns["prediction"]},
        categorical={k: list(columns[k]) for k in ("device", "tags.region")},
        mismatches={},
        ts=np.arange(rows, dtype=np.float64),
    )


def test_a_batch_counts_each_segment_of_each_window_as_its_own_rows_alone_would() -> None:
    profile = _profile(_columns(4_000, 1))
    keys = segmentation(_model(), WindowLayout(profile))
    columns = _columns(900, 2)
    batch = _batch(columns)
    row_windows = np.repeat([4, 5, -1], 300)  # the last 300 rows are in no window (late)
    counted = count_segments(keys, batch, row_windows)

    assert sorted(counted) == [4, 5]
    regions = np.asarray(columns["tags.region"])
    for window in (4, 5):
        at = counted[window]
        assert sum(v for k, v in at.events.items() if k.startswith("region=")) == 300
        rows = (row_windows == window) & (regions == "us")
        layout = next(s.layout for s in keys[0].segments if s.name == "region=us")
        assert layout is not None
        expected = layout.accumulate(
            encode_columns(layout, batch, slice(None)),
            {},
            rows,
            categorical_values(batch, slice(None)),
        )
        np.testing.assert_array_equal(at.counts["region=us"].ints, expected.ints)
        np.testing.assert_allclose(at.counts["region=us"].floats, expected.floats)
        assert at.counts["region=us"].events == int(rows.sum())


def test_segments_under_min_events_are_skipped_with_that_reason_and_the_rest_judged() -> None:
    profile = _profile(_columns(4_000, 1))
    keys = segmentation(_model(), WindowLayout(profile))[:1]
    parts, summary = segment_parts(keys, {"region=eu": 400, "region=us": 40}, {}, 100)
    assert [p.segment for p in parts] == ["region=eu"]
    assert summary["region=us"]["skipped"] == "40 events, fewer than min_events 100"
    assert summary["region=apac"]["skipped"] == "0 events, fewer than min_events 100"
    rows = profile.segments[0].rows[0]
    assert summary["region=eu"] == {"events": 400, "reference_rows": rows, "basis": "own"}


def test_the_correction_counts_every_segments_tests_as_one_family() -> None:
    profile = _profile(_columns(4_000, 1))
    layout = WindowLayout(profile)
    window = _columns(2_000, 3)
    window["amount"] = window["amount"] + 0.25  # a small shift: p-value near 1e-5
    batch = _batch(window)
    counts = layout.accumulate(encode_columns(layout, batch, slice(None)), {}, slice(None), None)
    settings = DecisionSettings(
        ("ks",),
        ("chi2",),
        ("missing_rate",),
        {m: DEFAULT_THRESHOLDS[m] for m in DEFAULT_THRESHOLDS},
    )
    settings = dataclasses.replace(
        settings,
        thresholds={**settings.thresholds, "ks": DEFAULT_THRESHOLDS["ks"]._replace(warn=0.01)},
    )
    alone = {r.key: r for r in evaluate_parts([WindowPart(layout, counts)], settings)}
    p_value = alone["amount/ks"].p_value
    assert p_value is not None
    alpha = p_value * 10  # significant among the whole model's ~10 tests ...
    settings = dataclasses.replace(settings, alpha=alpha)
    assert {r.key: r for r in evaluate_parts([WindowPart(layout, counts)], settings)}[
        "amount/ks"
    ].drifted
    segments = [
        WindowPart(layout, counts, f"region=s{i}", 1) for i in range(20)
    ]  # ... but not among twenty segments' more
    family = {r.key: r for r in evaluate_parts([WindowPart(layout, counts), *segments], settings)}
    assert not family["amount/ks"].drifted


def _result(signal: str, segment: str | None, drifted: bool) -> Any:
    from detectors.evaluate import SignalResult

    return SignalResult(
        signal,
        "feature",
        "psi",
        0.5 if drifted else 0.0,
        None,
        None,
        0.1,
        0.25,
        drifted,
        "critical" if drifted else "ok",
        segment=segment,
    )


def test_one_alert_per_signal_and_segment_key_names_the_segments_affected() -> None:
    rule = AlertRuleConfig(name="drift")
    results = [
        _result("amount", None, False),
        _result("amount", "region=eu", True),
        _result("amount", "region=us", True),
        _result("amount", "region=apac", False),
        _result("amount", "device=ios", False),
    ]
    seen = {o.dedup_key: o for o in observe("fraud", [rule], results)}
    assert set(seen) == {
        "fraud/feature_drift/amount",
        "fraud/feature_drift/amount@region",
        "fraud/feature_drift/amount@device",
    }
    region = seen["fraud/feature_drift/amount@region"]
    assert region.segments == ["region=eu", "region=us"]
    facts = alert_facts(
        model="fraud",
        seen=region,
        state=AlertState(),
        status="firing",
        window=WindowFacts(3, 0.0, 10.0, 1000),
        reference={"id": "r", "events": 1},
        detected_at=11.0,
    )
    assert facts["segments"] == ["region=eu", "region=us"]
    assert facts["segment"] == "region=eu"
    assert "of amount in region=eu (segments drifted: region=eu, region=us)" in facts["message"]
    assert not seen["fraud/feature_drift/amount"].breaching


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        (["region"], "'region' is not tags.<name> or features.<name>"),
        (["features.amount"], "segments are cut by a categorical feature; 'amount' is not one"),
        (["tags.device", "features.device"], "names its segments like 'tags.device'"),
    ],
)
def test_a_segment_key_that_cannot_cut_segments_is_refused_with_its_path(
    keys: list[str], problem: str
) -> None:
    with pytest.raises(Exception, match=r"models\.fraud\.segments\.keys") as refused:
        _config(keys)
    assert problem in str(refused.value)


def test_the_tags_a_model_is_segmented_by_become_columns_and_a_wrong_type_is_missing() -> None:
    config = _config(["tags.region"])
    events = [
        {"model": "fraud", "features": {"amount": 1.0}, "tags": {"region": "eu", "team": "x"}},
        {"model": "fraud", "features": {"amount": 2.0}},
        {"model": "fraud", "features": {"amount": 3.0}, "tags": {"region": 2.5}},
    ]
    values = [json.dumps(e).encode() for e in events]
    decoded = EventDecoder(config).decode(values, Origins.of_lines("test", len(values), 0.0))
    columns = decoded.models["fraud"]
    assert decoded.dead_letters == []
    assert columns.categorical["tags.region"] == ["eu", None, None]
    assert columns.mismatches["tags.region"].tolist() == [False, False, True]
