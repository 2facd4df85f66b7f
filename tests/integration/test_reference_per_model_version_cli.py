"""`reference build | list | show | use` and `check` with `--model-version`, through the real CLI
and a real redis-server, no daemon running: a model version's reference is stored under its
stream (``fraud/version=4``), built from the version's file as the config names it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from monitor.keys import Keys
from monitor.redis_client import connect
from monitor.store import StateStore
from monitor.tooling.embedded import RedisServer
from monitor.tooling.synthetic import Shift
from tests.integration.test_reference_versions import _events, _stored_id
from tests.unit.test_check_a_model_version import as_version, config_file

pytestmark = pytest.mark.integration

PREFIX = "pv"
V4_SHIFT = Shift(start=0, numeric={"num_0": 1.5})


@pytest.fixture
def refs(tmp_path: Path) -> dict[str, Path]:
    """Version 3's and version 4's reference files, version 4's traffic elsewhere."""
    return {
        "3": _events(tmp_path / "fraud-3.jsonl", 2000, seed=1),
        "4": _events(tmp_path / "fraud-4.jsonl", 2000, seed=2, shift=V4_SHIFT),
    }


def _config(tmp_path: Path, redis_server: RedisServer, reference: dict[str, Any]) -> Path:
    return config_file(tmp_path, reference, {"url": redis_server.url, "key_prefix": PREFIX})


def _by_version(tmp_path: Path, redis_server: RedisServer, refs: dict[str, Path]) -> Path:
    return _config(tmp_path, redis_server, {"by_version": {v: str(p) for v, p in refs.items()}})


def _store(redis_server: RedisServer) -> StateStore:
    return StateStore(connect(redis_server.url), Keys(PREFIX), history_size=10)


def _reference(*argv: str) -> int:
    return main(["reference", *argv])


def test_build_with_a_model_version_stores_the_versions_file_under_its_stream(
    redis_server: RedisServer,
    tmp_path: Path,
    refs: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = _by_version(tmp_path, redis_server, refs)

    assert _reference("build", "-c", str(config), "--model", "fraud", "--model-version", "4") == 0

    out = capsys.readouterr().out
    store = _store(redis_server)
    stored = store.reference("fraud/version=4")
    assert stored is not None
    assert _stored_id(out) == stored.id
    assert out.startswith(f"stored reference {stored.id} for model fraud/version=4 (2000 events)")
    assert stored.source == str(refs["4"])
    assert store.reference("fraud") is None
    assert store.reference("fraud/version=3") is None


def test_list_of_a_model_monitored_per_version_shows_each_versions_stream(
    redis_server: RedisServer,
    tmp_path: Path,
    refs: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = _by_version(tmp_path, redis_server, refs)
    assert _reference("build", "-c", str(config), "--model", "fraud", "--model-version", "4") == 0
    capsys.readouterr()

    assert _reference("list", "-c", str(config), "--json") == 0
    every = json.loads(capsys.readouterr().out)
    assert _reference("list", "-c", str(config), "--model", "fraud", "--model-version", "4") == 0
    one = capsys.readouterr().out

    assert list(every) == ["fraud/version=3", "fraud/version=4"]
    assert every["fraud/version=3"] == []
    assert [(v["source"], v["in_use"]) for v in every["fraud/version=4"]] == [
        (str(refs["4"]), True)
    ]
    assert one.splitlines()[0].startswith("fraud/version=4: 1 version  ")


def test_use_with_a_model_version_goes_back_on_that_version_only(
    redis_server: RedisServer,
    tmp_path: Path,
    refs: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = _by_version(tmp_path, redis_server, refs)
    version = ["-c", str(config), "--model", "fraud", "--model-version", "4"]
    assert _reference("build", *version) == 0
    first = _stored_id(capsys.readouterr().out)
    retrained = _events(tmp_path / "fraud-4-retrained.jsonl", 3000, seed=3, shift=V4_SHIFT)
    assert _reference("build", *version, "--input", str(retrained), "--yes") == 0
    capsys.readouterr()

    assert _reference("use", *version, first.split("@")[1][:8]) == 0

    assert capsys.readouterr().out.startswith(
        f"model fraud/version=4 now uses reference {first} (2,000 rows)"
    )
    store = _store(redis_server)
    versions, in_use = store.reference_versions("fraud/version=4")
    assert (len(versions), in_use) == (2, first)
    assert store.reference_versions("fraud/version=3") == ([], None)
    assert _reference("show", *version, "--json") == 0
    assert json.loads(capsys.readouterr().out)["id"] == first
    assert _reference("diff", *version, first, versions[0].id, "--json") == 0
    assert json.loads(capsys.readouterr().out)["b"] == versions[0].id != first


def test_a_version_built_from_the_path_template_is_registered_so_status_lists_its_stream(
    redis_server: RedisServer,
    tmp_path: Path,
    refs: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = _config(
        tmp_path, redis_server, {"path": str(tmp_path / "fraud-{model_version}.jsonl")}
    )

    assert _reference("build", "-c", str(config), "--model", "fraud", "--model-version", "3") == 0
    capsys.readouterr()

    assert _store(redis_server).versions("fraud") == ["3"]
    assert main(["status", "-c", str(config), "--json"]) == 0
    assert list(json.loads(capsys.readouterr().out)) == ["fraud", "fraud/version=3"]


def test_check_with_a_model_version_judges_against_the_versions_stored_reference(
    redis_server: RedisServer,
    tmp_path: Path,
    refs: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = _by_version(tmp_path, redis_server, refs)
    version = ["-c", str(config), "--model", "fraud", "--model-version", "4"]
    assert _reference("build", *version, "--input", str(refs["3"])) == 0
    stored = _stored_id(capsys.readouterr().out)
    traffic = _events(tmp_path / "today.jsonl", 2000, seed=4, shift=V4_SHIFT)
    traffic.write_bytes(b"\n".join(as_version(traffic.read_bytes().splitlines(), "4")) + b"\n")

    code = main(["check", *version, "--input", str(traffic), "--json"])

    report = json.loads(capsys.readouterr().out)
    assert (report["reference"]["id"], report["reference"]["source"]) == (stored, str(refs["3"]))
    assert (code, report["model"], report["drifted_signals"][0]) == (1, "fraud/version=4", "num_0")


def test_build_for_a_version_the_config_gives_no_reference_stores_nothing(
    redis_server: RedisServer,
    tmp_path: Path,
    refs: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = _by_version(tmp_path, redis_server, refs)
    argv = ["build", "-c", str(config), "--model", "fraud", "--model-version", "5"]

    assert _reference(*argv, "--input", str(refs["3"])) == 1

    assert capsys.readouterr().err == (
        "drift-monitor: model 'fraud' has no reference for model_version '5' "
        "(reference.by_version has 3, 4; no from_stream), so the daemon does not monitor it\n"
    )
    assert _store(redis_server).client.keys("*") == []


def test_build_without_model_version_on_a_model_monitored_per_version_names_the_versions(
    redis_server: RedisServer,
    tmp_path: Path,
    refs: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = _by_version(tmp_path, redis_server, refs)

    assert (
        _reference("build", "-c", str(config), "--model", "fraud", "--input", str(refs["3"])) == 1
    )

    assert capsys.readouterr().err == (
        "drift-monitor: model 'fraud' is monitored per model version: name one with "
        "--model-version (known: 3, 4)\n"
    )
    assert _store(redis_server).reference("fraud") is None


def test_a_version_warmed_up_from_the_stream_needs_an_input_to_build(
    redis_server: RedisServer,
    tmp_path: Path,
    refs: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = _config(
        tmp_path, redis_server, {"by_version": {"3": str(refs["3"])}, "from_stream": 2000}
    )
    argv = ["build", "-c", str(config), "--model", "fraud", "--model-version", "4"]

    assert _reference(*argv) == 1
    assert capsys.readouterr().err == (
        "drift-monitor: the config names no reference file for fraud/version=4 (it warms up "
        "from its first from_stream events); pass --input FILE\n"
    )
    assert _reference(*argv, "--input", str(refs["4"])) == 0
    assert _store(redis_server).versions("fraud") == ["4"]
