"""`drift-monitor check` against the reference that `reference build` stored in a real Redis."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from monitor.cli import main
from monitor.tooling.embedded import RedisServer
from tests.unit import test_check_against_a_reference_file as by_file
from tests.unit.test_check_against_a_reference_file import _check

files = by_file.files  # the fixture: a config, a reference, a calm and a drifted input


def test_check_judges_against_the_reference_stored_by_reference_build(
    files: dict[str, Path], redis_server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = yaml.safe_load(files["config"].read_text())
    config["redis"] = {"url": redis_server.url, "key_prefix": "check"}
    files["config"].write_text(yaml.safe_dump(config))
    built = ["reference", "build", "-c", str(files["config"]), "--model", "fraud"]
    assert main([*built, "--input", str(files["reference"])]) == 0
    stored_id = capsys.readouterr().out.split("stored reference ")[1].split()[0]

    calm, drifted = _check(files, "calm", "--json"), _check(files, "drifted", "--json")

    assert (calm.returncode, drifted.returncode) == (0, 1), calm.stderr + drifted.stderr
    assert json.loads(calm.stdout)["reference"]["id"] == stored_id
    assert json.loads(drifted.stdout)["drifted_signals"] == ["cat_0", "num_2"]


def test_check_without_a_stored_reference_exits_2_and_says_how_to_get_one(
    files: dict[str, Path], redis_server: RedisServer
) -> None:
    config = yaml.safe_load(files["config"].read_text())
    config["redis"] = {"url": redis_server.url, "key_prefix": "empty"}
    files["config"].write_text(yaml.safe_dump(config))
    result = _check(files, "calm")
    assert result.returncode == 2
    assert result.stderr == (
        f"drift-monitor: Redis at {redis_server.url} holds no reference for model 'fraud'; "
        "build one with `drift-monitor reference build`, or pass --reference FILE\n"
    )
