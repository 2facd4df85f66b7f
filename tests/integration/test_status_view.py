"""``drift-monitor status`` and ``alerts`` on a 30-feature model, read at 80 columns.

The state is real: the daemon consumes a stream through Kafka (Tansu) into its own
redis-server, two numeric features and a categorical one shift half-way, windows
close and alerts fire. Feature names are scikit-learn's breast-cancer ones, the
data set of the report that asked for this (issue 10), so they are long.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sklearn.datasets import load_breast_cancer

from monitor.cli import main
from monitor.config import load_config
from monitor.replay import produce_lines
from monitor.tooling.embedded import KafkaBroker, RedisServer
from monitor.tooling.synthetic import Shift, SyntheticModel, generate
from tests.daemon_harness import model_status, pipeline_config_dict, running_daemon, wait_until

pytestmark = pytest.mark.integration

WIDTH = 80
SYNTHETIC = SyntheticModel(name="cancer", numeric=28, categorical=2)
NAMES = [str(name).replace(" ", "_") for name in load_breast_cancer().feature_names]
# Categorical first, so the longest name (worst_fractal_dimension) is a numeric one that drifts.
RENAME = dict(zip(SYNTHETIC.categorical_names + SYNTHETIC.numeric_names, NAMES, strict=True))
SHIFT = Shift(start=1000, numeric={"num_5": 2.0, "num_27": 2.0}, categorical=("cat_0",))
SHIFTED = {"mean_concave_points", "worst_fractal_dimension", "mean_radius"}
WINDOWS = 5


def _renamed(lines: list[bytes]) -> list[bytes]:
    events = [json.loads(line) for line in lines]
    for event in events:
        event["features"] = {RENAME[k]: v for k, v in event["features"].items()}
    return [json.dumps(event).encode() for event in events]


@pytest.fixture(scope="module")
def config_path(
    kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """A config file whose Redis holds 5 closed windows of the 30-feature model, 3 drifted."""
    directory = tmp_path_factory.mktemp("status")
    reference = directory / "reference.jsonl"
    reference.write_bytes(b"\n".join(_renamed(generate(SYNTHETIC, 0, 3000, seed=1))) + b"\n")
    name = f"status-view-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topics([name, f"{name}.dlq"], partitions=1)
    with RedisServer() as redis_server:
        data = pipeline_config_dict(
            bootstrap=kafka_broker.bootstrap_servers,
            redis_url=redis_server.url,
            topic=name,
            group=name,
            model=SYNTHETIC,
            reference=reference,
            window={"events": 500},
        )
        data["models"]["cancer"]["features"] = {
            RENAME[k]: kind for k, kind in SYNTHETIC.features().items()
        }
        path = directory / "config.yaml"
        path.write_text(yaml.safe_dump(data))
        config = load_config(path)
        produce_lines(config, _renamed(generate(SYNTHETIC, 0, 500 * WINDOWS, seed=2, shift=SHIFT)))
        with running_daemon(config):
            wait_until(
                lambda: model_status(config, "cancer")["windows_closed"] == WINDOWS,
                60,
                f"{WINDOWS} windows",
            )
        yield path


def _output(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *argv: str,
    width: int = WIDTH,
) -> list[str]:
    """What a command prints on a terminal ``width`` columns wide."""
    monkeypatch.setenv("COLUMNS", str(width))
    capsys.readouterr()
    assert main(list(argv)) == 0
    return capsys.readouterr().out.splitlines()


def _status(
    path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str
) -> list[str]:
    return _output(capsys, monkeypatch, "status", "-c", str(path), *args)


def _json(path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["status", "-c", str(path), "--json", *args]) == 0
    report: dict[str, Any] = json.loads(capsys.readouterr().out)["cancer"]
    return report


def _rows(lines: list[str]) -> set[tuple[str, str]]:
    """(signal, method) of each result row: the lines after the results table's header, less
    the indented notes under it (what a joint result names, folded to the width)."""
    header = next(i for i, line in enumerate(lines) if line.startswith("signal "))
    rows = [line.split() for line in lines[header + 1 :] if line and not line[0].isspace()]
    return {(row[0], row[1]) for row in rows}


def test_status_output_for_30_features_fits_80_columns(
    config_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for args in (
        (),
        ("--all",),
        ("--signal", "worst_fractal_dimension"),
        ("--model", "cancer", "--all"),
        ("--method", "jensen_shannon", "--all"),
    ):
        lines = _status(config_path, capsys, monkeypatch, *args)
        too_wide = [line for line in lines if len(line) > WIDTH]
        assert not too_wide, too_wide


def test_status_never_truncates_signal_or_method_names(
    config_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = _status(config_path, capsys, monkeypatch, "--all")
    rows = _rows(lines)
    assert {signal for signal, _ in rows} == {*NAMES, "prediction", "features"}
    assert {method for _, method in rows} >= {"jensen_shannon", "wasserstein", "missing_rate"}
    assert not any("…" in line for line in lines), "\n".join(lines)


def test_status_lists_only_the_drifted_results_by_default(
    config_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    drifted = {
        (r["signal"], r["method"])
        for r in _json(config_path, capsys)["signals"].values()
        if r["drifted"]
    }
    assert {signal for signal, _ in drifted} >= SHIFTED
    assert _rows(_status(config_path, capsys, monkeypatch)) == drifted


def test_status_starts_with_a_summary_of_events_windows_drifted_signals_and_open_alerts(
    config_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    report = _json(config_path, capsys)
    drifted_signals = {r["signal"] for r in report["signals"].values() if r["drifted"]}
    assert report["open_alerts"] > 0
    header, summary = _status(config_path, capsys, monkeypatch)[:2]
    assert header.split() == [
        "model",
        "events",
        "windows",
        "drifted",
        "open",
        "alerts",
        "last",
        "window",
    ]
    assert summary.split()[:6] == [
        "cancer",
        "2,500",
        str(WINDOWS),
        str(len(drifted_signals)),
        "of",
        "32",
    ]
    assert summary.split()[6] == str(report["open_alerts"])


def test_status_json_shows_each_distribution_score_with_its_no_drift_level(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = _json(config_path, capsys, "--all")["signals"]
    distribution = {"psi", "jensen_shannon", "wasserstein", "ks", "chi2"}
    for key, result in results.items():
        if result["method"] in distribution:
            assert 0.0 <= result["no_drift"] < result["threshold"], key
        else:
            assert "no_drift" not in result, key


def test_status_table_shows_the_no_drift_level_beside_the_score_at_80_columns(
    config_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    level = _json(config_path, capsys)["signals"]["mean_concave_points/ks"]["no_drift"]
    lines = _status(config_path, capsys, monkeypatch)
    header = next(line for line in lines if line.startswith("signal "))
    assert header.split()[:5] == ["signal", "method", "score", "no", "drift"]
    (row,) = [line.split() for line in lines if line.split()[:2] == ["mean_concave_points", "ks"]]
    assert row[3] == f"{level:.4f}"


def test_status_shows_the_last_window_as_a_local_date_and_how_long_ago(
    config_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = _output(capsys, monkeypatch, "status", "-c", str(config_path), width=100)[1]
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  \(\d+ days ago\)$", summary), summary


def test_status_signal_filter_shows_that_signal_drifted_or_not(
    config_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _rows(_status(config_path, capsys, monkeypatch, "--signal", "mean_smoothness"))
    assert {signal for signal, _ in rows} == {"mean_smoothness"}
    assert len(rows) == len(
        [
            r
            for r in _json(config_path, capsys)["signals"].values()
            if r["signal"] == "mean_smoothness"
        ]
    )


def test_status_method_filter_keeps_only_that_methods_drifted_results(
    config_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _rows(_status(config_path, capsys, monkeypatch, "--method", "wasserstein"))
    assert {signal for signal, _ in rows} == {"mean_concave_points", "worst_fractal_dimension"}
    assert {method for _, method in rows} == {"wasserstein"}


def test_status_json_applies_the_filters_and_keeps_its_keys(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    everything = _json(config_path, capsys)
    report = _json(config_path, capsys, "--signal", "mean_radius", "--method", "chi2")
    assert list(report["signals"]) == ["mean_radius/chi2"]
    assert set(report) == set(everything)
    assert report["signals"]["mean_radius/chi2"]["drifted"] is True


def test_status_model_filter_refuses_a_model_not_in_the_config(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "-c", str(config_path), "--model", "cancre"]) == 1
    assert "no model 'cancre' in the config (cancer)" in capsys.readouterr().err


def test_status_names_the_closest_signal_to_a_misspelt_one(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "-c", str(config_path), "--signal", "worst_fractal_dimensoin"]) == 1
    assert "did you mean 'worst_fractal_dimension'?" in capsys.readouterr().err


def test_alerts_output_fits_80_columns_and_every_dedup_key_reads_whole(
    config_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    report = json.loads(
        "\n".join(_output(capsys, monkeypatch, "alerts", "-c", str(config_path), "--json"))
    )
    keys = [alert["dedup_key"] for alert in report["active"]]
    assert len(keys) >= 2
    lines = _output(capsys, monkeypatch, "alerts", "-c", str(config_path))
    assert all(len(line) <= WIDTH for line in lines), "\n".join(lines)
    title = lines[0]
    prefix = title.removeprefix("active alerts (dedup keys after ").removesuffix(")")
    shown = {line.split()[0] for line in lines[2 : 2 + len(keys)]}
    assert {prefix + key for key in shown} == set(keys) or shown == set(keys)
    assert not any("…" in line.split("  ")[0] for line in lines)


def test_alerts_show_times_as_local_dates_not_epochs(
    config_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    output = "\n".join(_output(capsys, monkeypatch, "alerts", "-c", str(config_path), width=200))
    assert not re.search(r"\d{9,10}\.\d", output), output
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +\((now|\d+ \w+ ago)\)", output), output
