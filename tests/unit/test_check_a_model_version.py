"""`drift-monitor check --model-version V`: a file judged as version V's stream against V's
reference, offline (the config's Redis is unreachable).

Version 4 was trained on other data than version 3 (``num_2`` one standard deviation
higher, ``cat_0`` skewed: ``SHIFT``), so version 4's traffic drifts from version 3's
reference and not from its own: which reference a check used shows in its verdict.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor import check_file
from monitor.cli import main
from monitor.errors import ServiceUnavailable
from tests.unit.test_check_against_a_reference_file import (
    MODEL,
    SHIFT,
    UNREACHABLE_REDIS,
    _events,
    _write_jsonl,
)


def config_file(
    tmp_path: Path, reference: dict[str, Any], redis: dict[str, Any] | None = None
) -> Path:
    """A config of the one model with ``reference``; Redis unreachable unless given."""
    config = {
        "redis": redis or {"url": UNREACHABLE_REDIS},
        "models": {
            MODEL.name: {
                "reference": reference,
                "window": {"events": 1000},
                "features": MODEL.features(),
                "prediction": "numeric",
            }
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def unversioned(lines: list[bytes]) -> list[bytes]:
    """The events without their ``model_version`` (an export that does not keep it), so a
    check of any version keeps them all."""
    return [line.replace(b',"model_version":"1"', b"") for line in lines]


def as_version(lines: list[bytes], version: str) -> list[bytes]:
    return [
        line.replace(b'"model_version":"1"', f'"model_version":"{version}"'.encode())
        for line in lines
    ]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """References of versions 3 and 4, a config naming them by version, and version 4's
    traffic."""
    v3 = _write_jsonl(tmp_path / "fraud-3.jsonl", _events(20_000, seed=1))
    v4 = _write_jsonl(tmp_path / "fraud-4.jsonl", _events(20_000, seed=4, shift=SHIFT))
    return {
        "3": v3,
        "4": v4,
        "config": config_file(tmp_path, {"by_version": {"3": str(v3), "4": str(v4)}}),
        "traffic": _write_jsonl(
            tmp_path / "today.jsonl", unversioned(_events(5_000, seed=5, shift=SHIFT))
        ),
    }


def _check(
    capsys: pytest.CaptureFixture[str], config: Path, traffic: Path, *extra: str
) -> tuple[int, str, str]:
    code = main(["check", "-c", str(config), "--model", "fraud", "--input", str(traffic), *extra])
    out, err = capsys.readouterr()
    return code, out, err


def test_check_with_a_model_version_judges_against_its_file_from_by_version_without_redis(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _check(capsys, files["config"], files["traffic"], "--model-version", "4")
    assert code == 0, err
    assert out.startswith("fraud/version=4: no drift in 6 signals (5000 events of")


def test_the_same_traffic_checked_as_the_other_version_drifts_from_that_versions_file(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _check(
        capsys, files["config"], files["traffic"], "--model-version", "3", "--json"
    )
    report = json.loads(out)
    assert code == 1
    assert report["model"] == "fraud/version=3"
    assert report["reference"]["source"] == str(files["3"])
    assert report["drifted_signals"] == ["cat_0", "num_2"]


def test_check_with_a_model_version_and_reference_builds_that_file_for_the_versions_stream(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _check(
        capsys,
        files["config"],
        files["traffic"],
        "--model-version", "3", "--reference", str(files["4"]), "--json",
    )  # fmt: skip
    report = json.loads(out)
    assert code == 0, err
    assert report["reference"]["id"].startswith("fraud/version=3@")
    assert report["reference"]["source"] == str(files["4"])


def test_a_path_template_gives_a_version_the_file_named_after_it(
    files: dict[str, Path], tmp_path: Path
) -> None:
    template = str(tmp_path / "fraud-{model_version}.jsonl")
    config = config_file(tmp_path, {"path": template})
    result = check_file(config, "fraud", files["traffic"], model_version="4")
    assert (result.model, result.reference_source, result.drifted) == (
        "fraud/version=4",
        str(files["4"]),
        False,
    )


def test_a_version_the_config_gives_no_reference_exits_2_with_one_line(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _check(capsys, files["config"], files["traffic"], "--model-version", "5")
    assert (code, out) == (2, "")
    assert err == (
        "drift-monitor: model 'fraud' has no reference for model_version '5' "
        "(reference.by_version has 3, 4; no from_stream), so the daemon does not monitor it\n"
    )


def test_a_model_version_of_a_model_not_monitored_per_version_exits_2_with_one_line(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_file(tmp_path, {"path": str(files["3"])})
    code, _, err = _check(capsys, config, files["traffic"], "--model-version", "4")
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith("drift-monitor: model 'fraud' is not monitored per model version")
    assert err.endswith("drop --model-version\n")


def test_a_version_warmed_up_from_the_stream_has_no_file_to_check_against_offline(
    files: dict[str, Path], tmp_path: Path
) -> None:
    config = config_file(tmp_path, {"by_version": {"3": str(files["3"])}, "from_stream": 5000})
    with pytest.raises(ServiceUnavailable, match="cannot read the stored reference") as raised:
        check_file(config, "fraud", files["traffic"], model_version="4")
    assert "'fraud/version=4'" in str(raised.value)


def test_a_check_of_one_version_leaves_out_the_events_of_the_others(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mixed = _write_jsonl(
        tmp_path / "mixed.jsonl",
        as_version(_events(3_000, seed=6), "3")
        + as_version(_events(2_000, seed=7, shift=SHIFT), "4"),
    )

    code, out, err = _check(capsys, files["config"], mixed, "--model-version", "4", "--json")

    report = json.loads(out)
    assert code == 0, err  # version 3's unshifted events would have made version 4 drift
    assert (report["events"], report["skipped"]) == (2_000, {"other_model_version": 3_000})
