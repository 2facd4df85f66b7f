"""`drift-monitor check` against a reference file: judged as the daemon judges a window.

Data comes from ``monitor.tooling.synthetic``: a reference drawn with one seed, an input drawn
like it with another seed, and an input whose ``num_2`` moves by one standard deviation
and whose ``cat_0`` skews (``Shift``), so each test knows which signals must be flagged.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
import yaml

from detectors.evaluate import evaluate_window
from detectors.window import WindowLayout
from monitor import check, check_file, check_frame
from monitor.batch_data import ModelCursor
from monitor.cli import main
from monitor.config import load_config
from monitor.decode import EventDecoder
from monitor.evaluation import decision_settings
from monitor.origins import Origins
from monitor.reference import build_profile_from_file
from monitor.tooling.synthetic import Shift, SyntheticModel, blocks
from monitor.windowing import plan_model_write

MODEL = SyntheticModel(name="fraud", numeric=3, categorical=1)
SHIFT = Shift(start=0, numeric={"num_2": 1.0}, categorical=("cat_0",))
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def _events(events: int, seed: int, shift: Shift | None = None) -> list[bytes]:
    return [line for block in blocks(MODEL, events, seed=seed, shift=shift) for line in block]


def _write_jsonl(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _as_table(lines: list[bytes]) -> pa.Table:
    """One column per feature and ``prediction``, as a Parquet input holds them."""
    events = [json.loads(line) for line in lines]
    columns = {name: [e["features"][name] for e in events] for name in MODEL.features()}
    return pa.table({**columns, "prediction": [e["prediction"] for e in events]})


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A config naming no Kafka and an unreachable Redis, a reference, a calm and a drifted
    input."""
    config = {
        "redis": {"url": UNREACHABLE_REDIS},
        "models": {
            MODEL.name: {
                "reference": {"path": str(tmp_path / "reference.jsonl")},
                "window": {"events": 1000},
                "features": MODEL.features(),
                "prediction": "numeric",
            }
        },
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    return {
        "config": tmp_path / "config.yaml",
        "reference": _write_jsonl(tmp_path / "reference.jsonl", _events(20_000, seed=1)),
        "calm": _write_jsonl(tmp_path / "calm.jsonl", _events(5_000, seed=2)),
        "drifted": _write_jsonl(tmp_path / "drifted.jsonl", _events(5_000, seed=3, shift=SHIFT)),
    }


def _drift_monitor(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The console script as a CI job runs it."""
    return subprocess.run(
        [sys.executable, "-m", "monitor", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _check(
    files: dict[str, Path], input_name: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    return _drift_monitor(
        "check", "-c", files["config"], "--model", "fraud", "--input", files[input_name], *extra
    )


def test_check_exits_0_for_a_file_drawn_like_the_reference(files: dict[str, Path]) -> None:
    result = _check(files, "calm", "--reference", str(files["reference"]))
    assert result.returncode == 0, result.stderr
    assert "fraud: no drift in 6 signals" in result.stdout
    assert "DRIFT" not in result.stdout


def test_check_exits_1_for_a_shifted_file_and_lists_the_drifted_signals_first(
    files: dict[str, Path],
) -> None:
    result = _check(files, "drifted", "--reference", str(files["reference"]))
    assert result.returncode == 1, result.stderr
    assert "fraud: DRIFT in 2 of 6 signals: cat_0, num_2" in result.stdout
    rows = _rows(result.stdout)
    verdicts = ["DRIFT" in row for row in rows]
    assert verdicts == sorted(verdicts, reverse=True)  # every drifted row before any other
    assert {row.split()[0] for row in rows if "DRIFT" in row} == {"cat_0", "num_2"}


def test_a_score_at_the_float_limit_reads_in_four_digits(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    events = [json.loads(line) for line in files["calm"].read_bytes().splitlines()]
    events[0]["features"]["num_0"] = events[1]["features"]["num_0"] = 1.7976931348623157e308
    _write_jsonl(files["calm"], [json.dumps(event).encode() for event in events])
    monkeypatch.setenv("COLUMNS", "80")
    result = _check(files, "calm", "--reference", str(files["reference"]))
    (wasserstein,) = [
        row for row in _rows(result.stdout) if row.split()[:2] == ["num_0", "wasserstein"]
    ]
    assert re.fullmatch(r"\d\.\d{3}e\+30\d", wasserstein.split()[2])
    assert all(len(line) <= 80 or " " not in line.strip() for line in result.stdout.splitlines())


def _rows(output: str) -> list[str]:
    """The table's rows: the lines after its header, less the notes indented under it."""
    lines = output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("signal "))
    return [line for line in lines[header + 1 :] if line and not line[0].isspace()]


def test_check_output_fits_the_width_and_never_cuts_a_name(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    result = _check(files, "drifted", "--reference", str(files["reference"]))
    json_report = _check(files, "drifted", "--reference", str(files["reference"]), "--json")
    # But for a lone word no wrapper can break: the temporary path of the input.
    lines = result.stdout.splitlines()
    assert all(len(line) <= 60 or " " not in line.strip() for line in lines), result.stdout
    shown = {tuple(row.split()[:2]) for row in _rows(result.stdout)}
    assert shown == {(r["signal"], r["method"]) for r in json.loads(json_report.stdout)["results"]}


def test_check_json_parses_and_names_the_drifted_signals(files: dict[str, Path]) -> None:
    result = _check(files, "drifted", "--reference", str(files["reference"]), "--json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["drifted"] is True
    assert report["drifted_signals"] == ["cat_0", "num_2"]
    assert report["events"] == 5000
    assert report["reference"]["events"] == 20_000
    drifted = {(r["signal"], r["method"]) for r in report["results"] if r["drifted"]}
    assert ("num_2", "ks") in drifted
    assert ("cat_0", "chi2") in drifted


def test_check_with_redis_unreachable_and_no_reference_file_exits_2_naming_the_way_out(
    files: dict[str, Path],
) -> None:
    result = _check(files, "calm")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("drift-monitor: cannot read the stored reference of model")
    assert "pass --reference FILE to check without Redis" in result.stderr


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr.strip()


def test_check_of_a_missing_input_file_exits_2_with_one_line(files: dict[str, Path]) -> None:
    files["calm"].unlink()
    error = _one_line_error(_check(files, "calm", "--reference", str(files["reference"])))
    assert error == f"drift-monitor: input file {files['calm']} does not exist"


def test_check_of_an_unknown_model_exits_2_with_one_line(files: dict[str, Path]) -> None:
    result = _drift_monitor(
        "check", "-c", files["config"], "--model", "churn", "--input", files["calm"]
    )
    error = _one_line_error(result)
    assert error == "drift-monitor: model 'churn' is not in the config (fraud)"


def test_check_of_an_unreadable_parquet_file_exits_2_with_one_line(
    files: dict[str, Path], tmp_path: Path
) -> None:
    garbage = tmp_path / "current.parquet"
    garbage.write_bytes(b"not parquet at all\n" * 50)
    result = _drift_monitor(
        "check", "-c", files["config"], "--model", "fraud", "--input", garbage,
        "--reference", files["reference"],
    )  # fmt: skip
    error = _one_line_error(result)
    assert error.startswith(f"drift-monitor: input file {garbage}: ")
    assert "Parquet" in error


def test_check_of_a_jsonl_file_with_no_valid_event_exits_2_with_one_line(
    files: dict[str, Path],
) -> None:
    files["calm"].write_bytes(b"\x00\xff garbage\n{not json\n")
    error = _one_line_error(_check(files, "calm", "--reference", str(files["reference"])))
    assert f"input file {files['calm']} holds no valid events of model 'fraud'" in error


def test_check_of_a_broken_config_exits_2_with_one_line(files: dict[str, Path]) -> None:
    files["config"].write_text("models: {fraud: {features: {a: numeric}, windw: {events: 5}}}\n")
    error = _one_line_error(_check(files, "calm", "--reference", str(files["reference"])))
    assert error.startswith("drift-monitor: invalid configuration: ")
    assert "models.fraud.windw: unknown key; did you mean 'window'?" in error


def test_check_of_a_csv_file_with_a_column_twice_exits_2_with_one_line(
    files: dict[str, Path], tmp_path: Path
) -> None:
    table = _as_table(files["calm"].read_bytes().splitlines())
    twice = tmp_path / "current.csv"
    pa_csv.write_csv(table.append_column("num_0", table.column("num_0")), twice)
    error = _one_line_error(
        _check({**files, "twice": twice}, "twice", "--reference", str(files["reference"]))
    )
    assert error == f"drift-monitor: input file {twice} has more than one column named num_0"


def test_a_check_that_fails_unexpectedly_exits_2_not_1_which_means_drift(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("a bug")

    monkeypatch.setattr(check, "check_file", broken)
    argv = ["check", "-c", str(files["config"]), "--model", "fraud", "--input", str(files["calm"])]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        "drift-monitor: the check failed, a bug to report: KeyError: 'a bug'\n"
    )


def _verdicts(report: dict[str, Any]) -> dict[tuple[str, str], tuple[bool, str, float]]:
    return {
        (r["signal"], r["method"]): (r["drifted"], r["severity"], r["score"])
        for r in report["results"]
    }


@pytest.mark.parametrize("input_name", ["calm", "drifted"])
def test_the_python_api_gives_the_cli_verdicts_on_the_same_file(
    files: dict[str, Path], input_name: str
) -> None:
    cli = _check(files, input_name, "--reference", str(files["reference"]), "--json")
    result = check_file(files["config"], "fraud", files[input_name], reference=files["reference"])
    assert result.drifted is (cli.returncode == 1)
    assert _verdicts(result.to_dict()) == _verdicts(json.loads(cli.stdout))


def test_a_parquet_file_a_csv_file_and_a_frame_of_the_same_rows_get_the_jsonl_verdicts(
    files: dict[str, Path], tmp_path: Path
) -> None:
    lines = files["drifted"].read_bytes().splitlines()
    pq.write_table(_as_table(lines), tmp_path / "drifted.parquet")
    pa_csv.write_csv(_as_table(lines), tmp_path / "drifted.csv")
    config = load_config(files["config"])
    reference = build_profile_from_file(config, config.models["fraud"], files["reference"])

    from_jsonl = check_file(config, "fraud", files["drifted"], reference=reference)
    from_parquet = check_file(config, "fraud", tmp_path / "drifted.parquet", reference=reference)
    from_csv = check_file(config, "fraud", tmp_path / "drifted.csv", reference=reference)
    from_frame = check_frame(config, "fraud", _as_table(lines).to_pydict(), reference=reference)

    assert from_jsonl.drifted_signals == ["cat_0", "num_2"]
    assert from_parquet.results == from_jsonl.results
    assert from_csv.results == from_jsonl.results
    assert from_frame.results == from_jsonl.results


def test_check_gives_the_results_the_daemon_gives_a_window_of_the_same_events(
    files: dict[str, Path],
) -> None:
    config = load_config(files["config"])
    model = config.models["fraud"]  # count windows of 1000 events
    reference = build_profile_from_file(config, model, files["reference"])
    lines = files["drifted"].read_bytes().splitlines()[:1000]
    decoded = EventDecoder(config).decode(lines, Origins.of_lines("drifted", len(lines), 0.0))
    layout = WindowLayout(reference)
    plan = plan_model_write(
        model,
        ModelCursor(events=0, watermark=None, reference_collected=0, open_windows=frozenset()),
        layout,
        decoded.models["fraud"],
        (),
        now=0.0,
    )
    assert plan.write.close == [0]  # the batch filled and closed window 0
    daemon = evaluate_window(layout, plan.write.windows[0].counts, decision_settings(model))

    _write_jsonl(files["calm"], lines)
    assert check_file(config, "fraud", files["calm"], reference=reference).results == daemon


@pytest.mark.parametrize(("name", "verdict"), [("calm", 0), ("drifted", 1)])
def test_check_piped_into_a_reader_that_has_left_keeps_its_verdict(
    files: dict[str, Path], name: str, verdict: int
) -> None:
    command = (
        f"{sys.executable} -m monitor check -c {files['config']} --model fraud "
        f"--input {files[name]} --reference {files['reference']} | true; "
        'exit "${PIPESTATUS[0]}"'
    )
    result = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == verdict, result.stderr
    assert "Traceback" not in result.stderr
