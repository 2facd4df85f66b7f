"""Model versions as pure logic: which reference a version gets, and how events are routed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from monitor.config import Config, ConfigError, parse_config
from monitor.decode import EventDecoder
from monitor.origins import Origins
from monitor.versions import MAX_VERSIONS, VersionStreams, model_of, version_of


def _config(reference: dict[str, Any], **model: Any) -> Config:
    return parse_config(
        {
            "kafka": {"bootstrap_servers": "unused:9092"},
            "models": {
                "fraud": {
                    "reference": reference,
                    "window": {"events": 100},
                    "features": {"amount": "numeric"},
                    **model,
                },
                "churn": {
                    "reference": {"from_stream": 10},
                    "window": {"events": 100},
                    "features": {"amount": "numeric"},
                },
            },
        }
    )


def _batch(config: Config, versions: list[Any], model: str = "fraud") -> Any:
    values = [
        json.dumps(
            {"model": model, "model_version": v, "features": {"amount": float(i)}}
            if v is not None
            else {"model": model, "features": {"amount": float(i)}}
        ).encode()
        for i, v in enumerate(versions)
    ]
    return EventDecoder(config).decode(values, Origins.of_lines("test", len(values), 0.0))


def test_each_version_with_a_reference_is_a_stream_of_its_own_rows() -> None:
    config = _config({"by_version": {"3": "v3.jsonl", "4": "v4.jsonl"}})
    streams = VersionStreams(config, {})
    decoded = _batch(config, ["3", "4", "3", 4])

    routed = streams.route(decoded)

    assert sorted(decoded.models) == ["fraud/version=3", "fraud/version=4"]
    v3 = decoded.models["fraud/version=3"]
    assert v3.model == "fraud/version=3"
    assert v3.numeric["amount"].tolist() == [0.0, 2.0]
    assert v3.positions.tolist() == [0, 2]
    assert decoded.models["fraud/version=4"].numeric["amount"].tolist() == [1.0, 3.0]
    assert routed.new_streams == []  # both were known from the config
    assert streams.models["fraud/version=4"].reference.path == "v4.jsonl"
    assert sorted(streams.config.models) == ["churn", "fraud/version=3", "fraud/version=4"]


def test_a_version_without_reference_is_skipped_and_counted_or_dead_lettered() -> None:
    skipping = _config({"by_version": {"3": "v3.jsonl"}})
    decoded = _batch(skipping, ["3", "4", "4", None])
    routed = VersionStreams(skipping, {}).route(decoded)
    assert routed.unknown == {"fraud": 3}
    assert decoded.dead_letters == []
    assert decoded.models["fraud/version=3"].rows == 1

    dead = _config({"by_version": {"3": "v3.jsonl"}, "unknown_version": "dead_letter"})
    decoded = _batch(dead, ["3", "4", "4", None])
    routed = VersionStreams(dead, {}).route(decoded)
    assert routed.unknown == {}
    assert sorted((d.index, d.reason) for d in decoded.dead_letters) == [
        (1, "unknown_version"),
        (2, "unknown_version"),
        (3, "unknown_version"),
    ]
    details = {d.index: d.detail for d in decoded.dead_letters}
    assert details[1] == "model 'fraud' has no reference for model_version '4'"
    assert details[3] == "model 'fraud' is monitored per version; the event names none"


def test_a_version_without_reference_file_warms_up_from_its_own_first_events() -> None:
    config = _config({"by_version": {"3": "v3.jsonl"}, "from_stream": 500})
    streams = VersionStreams(config, {})
    routed = streams.route(_batch(config, ["5", "5"]))
    (stream,) = routed.new_streams
    assert stream.name == "fraud/version=5"
    assert (stream.reference.path, stream.reference.from_stream) == (None, 500)
    assert routed.unknown == {}


def test_a_path_naming_the_version_is_its_reference_when_that_file_exists(
    tmp_path: Path,
) -> None:
    (tmp_path / "fraud-7.jsonl").write_text("{}\n")
    config = _config({"path": str(tmp_path / "fraud-{model_version}.jsonl")})
    streams = VersionStreams(config, {})
    routed = streams.route(_batch(config, ["7", "8", "../fraud-7"]))
    assert [s.reference.path for s in routed.new_streams] == [str(tmp_path / "fraud-7.jsonl")]
    assert routed.unknown == {"fraud": 2}  # no file for 8; a path is no version name


def test_versions_registered_in_redis_are_streams_from_the_start() -> None:
    config = _config({"by_version": {"3": "v3.jsonl"}, "from_stream": 500})
    streams = VersionStreams(config, {"fraud": ["5"]})
    assert sorted(streams.models) == ["churn", "fraud/version=3", "fraud/version=5"]
    assert streams.versions() == {"fraud": ["3", "5"]}


def test_a_model_has_at_most_a_bounded_number_of_version_streams() -> None:
    config = _config({"by_version": {"3": "v3.jsonl"}, "from_stream": 500})
    streams = VersionStreams(config, {"fraud": [str(v) for v in range(MAX_VERSIONS - 1)]})
    routed = streams.route(_batch(config, ["new", "newer"]))
    assert [s.name for s in routed.new_streams] == ["fraud/version=new"]
    assert routed.unknown == {"fraud": 1}


def test_an_unversioned_model_is_left_as_it_is() -> None:
    config = _config({"by_version": {"3": "v3.jsonl"}})
    decoded = _batch(config, ["1", "2"], model="churn")
    VersionStreams(config, {}).route(decoded)
    assert list(decoded.models) == ["churn"]


def test_a_model_monitored_per_version_may_have_a_task() -> None:
    config = _config({"by_version": {"3": "v3.jsonl"}}, task="binary")
    assert config.models["fraud"].task == "binary"


def test_a_stream_names_its_model_and_version() -> None:
    assert (model_of("fraud/version=4"), version_of("fraud/version=4")) == ("fraud", "4")
    assert (model_of("fraud"), version_of("fraud")) == ("fraud", None)


@pytest.mark.parametrize(
    ("reference", "model", "problem"),
    [
        (
            {"by_version": {"3": "a.jsonl"}, "path": "b.jsonl"},
            {},
            "'by_version' and 'path' exclude each other",
        ),
        ({"path": "a.jsonl", "unknown_version": "skip"}, {}, "only applies to references per"),
        (
            {"by_version": {"3": "a.jsonl"}, "from_stream": 9, "unknown_version": "skip"},
            {},
            "warms up from its own first events",
        ),
    ],
)
def test_a_reference_per_version_that_cannot_work_is_refused(
    reference: dict[str, Any], model: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        _config(reference, **model)
    assert problem in str(refused.value)


def _compared(compare: list[str], **model: Any) -> Config:
    reference = {"by_version": {"3": "v3.jsonl", "4": "v4.jsonl"}}
    window = model.pop("window", {"seconds": 60})
    return _config(reference, window=window, compare_versions=compare, **model)


def test_champion_and_challenger_are_two_versions_with_reference_files() -> None:
    assert _compared(["3", "4"]).models["fraud"].compare_versions == ("3", "4")


@pytest.mark.parametrize(
    ("compare", "model", "problem"),
    [
        (["3"], {}, "compare_versions: names the champion and the challenger, two versions; got 1"),
        (["3", "3"], {}, "compare_versions[1]: '3' is listed twice"),
        (
            ["3", "5"],
            {},
            "compare_versions[1]: version '5' has no reference file "
            "(versions in reference.by_version: 3, 4)",
        ),
        (["3", "4"], {"window": {"events": 100}}, "set window.seconds"),
    ],
)
def test_versions_that_cannot_be_compared_are_refused(
    compare: list[str], model: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        _compared(compare, **model)
    assert problem in str(refused.value)


def test_comparing_versions_needs_a_reference_per_version() -> None:
    with pytest.raises(ConfigError) as refused:
        _config({"path": "ref.jsonl"}, compare_versions=["3", "4"])
    assert "compare_versions: compares model versions, so needs a reference per version" in str(
        refused.value
    )


def test_a_compared_version_named_by_a_path_needs_its_file(tmp_path: Path) -> None:
    (tmp_path / "ref-3.jsonl").write_text("{}\n")
    path = str(tmp_path / "ref-{model_version}.jsonl")
    with pytest.raises(ConfigError) as refused:
        _config({"path": path}, window={"seconds": 60}, compare_versions=["3", "4"])
    assert f"compare_versions[1]: version '4' has no reference file at {path}" in str(refused.value)
