"""Reference versions through the real CLI and a real redis-server: build keeps the previous
versions (bounded) and asks before replacing the one in use; list, show, diff and use; the
input file is checked before any progress is drawn; thin bins are warned about."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.cli import main
from monitor.config import load_config
from monitor.keys import Keys
from monitor.redis_client import connect
from monitor.replay import produce_lines
from monitor.store import StateStore
from monitor.tooling.embedded import KafkaBroker, RedisServer
from monitor.tooling.synthetic import Shift, generate
from tests.daemon_harness import model_status, running_daemon, wait_until
from tests.integration.test_cli_reference_replay_and_status import _services
from tests.unit.test_cli_config_and_inputs import MODEL, _config_file

pytestmark = pytest.mark.integration

PREFIX = "refs"


def _events(path: Path, rows: int, seed: int, shift: Shift | None = None) -> Path:
    path.write_bytes(b"\n".join(generate(MODEL, 0, rows, seed=seed, shift=shift)) + b"\n")
    return path


def _config(tmp_path: Path, redis_server: RedisServer, **sections: Any) -> Path:
    return _config_file(tmp_path, redis={"url": redis_server.url, "key_prefix": PREFIX}, **sections)


def _build(config: Path, source: Path, *extra: str) -> int:
    argv = ["reference", "build", "-c", str(config), "--model", "fraud", "--input", str(source)]
    return main([*argv, *extra])


def _first(
    tmp_path: Path,
    redis_server: RedisServer,
    capsys: pytest.CaptureFixture[str],
    name: str,
    rows: int,
) -> tuple[Path, str]:
    """A config and the id of the first reference built with it (seed 1)."""
    config = _config(tmp_path, redis_server)
    assert _build(config, _events(tmp_path / f"{name}.jsonl", rows, seed=1)) == 0
    return config, _stored_id(capsys.readouterr().out)


def _stored_id(output: str) -> str:
    return output.split("stored reference ")[1].split()[0]


def _versions(redis_server: RedisServer, prefix: str = PREFIX) -> tuple[list[str], str | None]:
    store = StateStore(connect(redis_server.url), Keys(prefix), history_size=10)
    versions, in_use = store.reference_versions("fraud")
    return [p.id for p in versions], in_use


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    """The console command in a child process, stdin not a terminal."""
    return subprocess.run(
        [sys.executable, "-m", "monitor", *argv],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def _fits(text: str) -> bool:
    """Every line fits 80 columns, but for a lone word no wrapper can break: the temporary
    path of a reference file, longer under pytest-xdist (``popen-gw0/``) or another user."""
    return all(len(line) <= 80 or " " not in line for line in text.splitlines())


def test_build_twice_keeps_both_versions_and_list_shows_the_newer_in_use(
    redis_server: RedisServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, first = _first(tmp_path, redis_server, capsys, "first", 2000)
    assert _build(config, _events(tmp_path / "second.jsonl", 3000, seed=2), "--yes") == 0
    second = _stored_id(capsys.readouterr().out)

    assert main(["reference", "list", "-c", str(config)]) == 0
    listing = capsys.readouterr().out
    assert main(["reference", "list", "-c", str(config), "--model", "fraud", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["fraud"]

    assert [(v["id"], v["in_use"], v["rows"]) for v in report] == [
        (second, True, 3000),
        (first, False, 2000),
    ]
    assert report[1]["source"] == str(tmp_path / "first.jsonl")
    lines = listing.splitlines()
    assert lines[0] == "fraud: 2 versions  (* in use: what the daemon loads when it starts)"
    assert lines[1].startswith(f"  * {second}  ")
    assert lines[1].endswith("3,000 rows")
    assert lines[3].startswith(f"    {first}  ")
    assert _fits(listing)


def test_build_over_a_profile_in_use_without_yes_on_a_non_tty_refuses_and_changes_nothing(
    redis_server: RedisServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, first = _first(tmp_path, redis_server, capsys, "first", 2000)
    before = _versions(redis_server)

    second = _events(tmp_path / "second.jsonl", 2000, seed=2)
    result = _cli(
        "reference", "build", "-c", str(config), "--model", "fraud", "--input", str(second)
    )

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(
        f"drift-monitor: model fraud already has a reference in use, {first}"
    )
    assert "Pass --yes to replace it" in result.stderr
    assert "building" not in result.stderr  # refused before reading the file
    assert _fits(result.stderr)
    assert _versions(redis_server) == before == ([first], first)


def test_on_a_terminal_build_asks_and_a_no_changes_nothing(
    redis_server: RedisServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config, first = _first(tmp_path, redis_server, capsys, "first", 2000)
    asked: list[str] = []
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: asked.append(prompt) or "n")

    assert _build(config, _events(tmp_path / "second.jsonl", 2000, seed=2)) == 1

    assert len(asked) == 1
    assert asked[0].startswith(f"replace {first} (2,000 rows, built ")
    assert asked[0].endswith("? [y/N] ")
    assert "nothing changed" in capsys.readouterr().err
    assert _versions(redis_server) == ([first], first)


def test_use_switches_back_and_only_a_restarted_daemon_loads_it(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = unique_name("reference-use")
    kafka_broker.create_topics([name, f"{name}.dlq"], partitions=1)
    path = _config_file(tmp_path, **_services(kafka_broker, redis_server, name))
    assert _build(path, _events(tmp_path / "a.jsonl", 3000, seed=1)) == 0
    a = _stored_id(capsys.readouterr().out)
    assert _build(path, _events(tmp_path / "b.jsonl", 3000, seed=2), "--yes") == 0
    b = _stored_id(capsys.readouterr().out)
    config = load_config(path)

    def windows_closed(count: int) -> list[str]:
        wait_until(
            lambda: model_status(config, "fraud")["windows_closed"] == count, 60, f"{count} windows"
        )
        windows = model_status(config, "fraud")["windows"]
        return [w["reference_id"] for w in sorted(windows, key=lambda w: w["window"]["id"])]

    with running_daemon(config):
        produce_lines(config, generate(MODEL, 0, 500, seed=7))
        assert windows_closed(1) == [b]
        assert main(["reference", "use", "-c", str(path), "--model", "fraud", a[-12:]]) == 0
        said = capsys.readouterr().out
        produce_lines(config, generate(MODEL, 500, 500, seed=7))
        assert windows_closed(2) == [b, b]  # the running daemon keeps what it loaded
    with running_daemon(config):
        produce_lines(config, generate(MODEL, 1000, 500, seed=7))
        assert windows_closed(3) == [b, b, a]

    assert said.startswith(f"model fraud now uses reference {a} (3,000 rows)\n")
    assert f"A running daemon keeps judging against {b} until it restarts" in said
    assert "recorded but not judged" in said
    assert _fits(said)
    assert _versions(redis_server, name) == ([b, a], a)


def test_diff_names_the_shifted_feature_first(
    redis_server: RedisServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, calm = _first(tmp_path, redis_server, capsys, "calm", 5000)
    shifted = _events(tmp_path / "shifted.jsonl", 5000, seed=2, shift=Shift(0, {"num_2": 1.0}))
    assert _build(config, shifted, "--yes") == 0
    moved = _stored_id(capsys.readouterr().out)

    argv = ["reference", "diff", "-c", str(config), "--model", "fraud", calm, moved]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert main([*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)

    signals = report["signals"]
    assert [s["signal"] for s in signals if s["moved"]] == ["num_2"]
    assert signals[0]["signal"] == "num_2"
    assert signals[0]["scores"]["wasserstein"] == pytest.approx(1.0, abs=0.1)
    assert all(s["scores"]["psi"] < 0.1 for s in signals[1:])
    rows = text.splitlines()
    assert "1 of 5 signals moved from A to B" in text
    table = rows[rows.index(next(r for r in rows if r.startswith("signal"))) + 1 :]
    assert table[0].startswith("num_2 ")
    assert table[0].endswith(" moved")
    assert _fits(text)


def test_the_bounded_history_drops_the_oldest(
    redis_server: RedisServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, redis_server)
    built, said = [], []
    for seed in range(4):
        source = _events(tmp_path / f"ref{seed}.jsonl", 1000, seed=seed)
        assert _build(config, source, "--yes", "--keep", "3") == 0
        said.append(capsys.readouterr().out)
        built.append(_stored_id(said[-1]))
    assert all("dropped" not in out for out in said[:3])
    assert f"dropped the oldest (over --keep 3): {built[0]}\n" in said[3]

    versions, in_use = _versions(redis_server)
    assert versions == built[:0:-1]  # the newest three, newest first
    assert in_use == built[3]
    assert main(["reference", "use", "-c", str(config), "--model", "fraud", built[0]]) == 1
    assert "has no reference version" in capsys.readouterr().err


def test_a_reference_too_thin_for_its_bins_is_warned_about_with_the_rows_that_would_do(
    redis_server: RedisServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, redis_server)
    assert _build(config, _events(tmp_path / "small.jsonl", 200, seed=1)) == 0
    err = capsys.readouterr().err
    assert "warning: reference fraud@" in err
    assert "200 values of num_0 over 50 bins, 4.0 a bin" in " ".join(err.split())
    assert "1,000 rows would do (20 a bin)" in " ".join(err.split())
    assert _fits(err)

    assert _build(config, _events(tmp_path / "enough.jsonl", 1000, seed=1), "--yes") == 0
    assert "warning" not in capsys.readouterr().err


def test_a_missing_input_fails_with_one_clear_line_before_any_progress(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    config = _config(tmp_path, redis_server)
    result = _cli(
        "reference", "build", "-c", str(config), "--model", "fraud", "--input", "nope.csv"
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == "drift-monitor: reference file nope.csv does not exist\n"
    assert _versions(redis_server) == ([], None)


def test_show_summarises_each_signal_within_80_columns(
    redis_server: RedisServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, stored = _first(tmp_path, redis_server, capsys, "reference", 5000)
    assert main(["reference", "show", "-c", str(config), "--model", "fraud"]) == 0
    text = capsys.readouterr().out
    assert main(["reference", "show", "-c", str(config), "--model", "fraud", stored, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)

    assert text.startswith(f"{stored}  (in use)\n")
    assert "num_2  numeric, 50 bins, 0.0% missing" in text
    assert "cat_0  categorical, 8 categories, 0.0% missing" in text
    assert _fits(text)
    num_2 = next(s for s in summary["signals"] if s["signal"] == "num_2")
    # num_2 is normal with mean 50 and sd 10 in monitor.tooling.synthetic.
    assert num_2["mean"] == pytest.approx(50, abs=0.5)
    assert num_2["p50"] == pytest.approx(50, abs=0.6)
    assert num_2["p95"] - num_2["p5"] == pytest.approx(2 * 1.645 * 10, rel=0.05)


def test_an_unknown_model_or_version_is_named(
    redis_server: RedisServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, redis_server)
    assert main(["reference", "show", "-c", str(config), "--model", "fraud"]) == 1
    assert capsys.readouterr().err == (
        "drift-monitor: model 'fraud' has no reference in use; name a version\n"
    )
    assert main(["reference", "list", "-c", str(config), "--model", "frod"]) == 1
    assert capsys.readouterr().err == "drift-monitor: model 'frod' is not in the config (fraud)\n"
    assert _build(config, _events(tmp_path / "reference.jsonl", 1000, seed=1)) == 0
    stored = _stored_id(capsys.readouterr().out)
    assert main(["reference", "diff", "-c", str(config), "--model", "fraud", stored, "abc"]) == 1
    assert capsys.readouterr().err == (
        f"drift-monitor: model 'fraud' has no reference version 'abc'; it has:\n  {stored}\n"
    )


def test_use_refuses_a_version_whose_signals_the_config_no_longer_declares(
    redis_server: RedisServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, old = _first(tmp_path, redis_server, capsys, "old", 1000)
    narrower = yaml.safe_load(config.read_text())
    del narrower["models"]["fraud"]["features"]["cat_0"]
    config.write_text(yaml.safe_dump(narrower))
    assert _build(config, tmp_path / "old.jsonl", "--yes") == 0
    new = _stored_id(capsys.readouterr().out)

    assert main(["reference", "use", "-c", str(config), "--model", "fraud", old]) == 1
    assert "but the config declares" in capsys.readouterr().err
    assert _versions(redis_server) == ([new, old], new)


def test_build_progress_counts_bytes_once_their_rows_are_decoded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor import reference
    from monitor.decode import EventDecoder

    source = _events(tmp_path / "reference.jsonl", 2500, seed=1)
    steps: list[str | int] = []
    decode = EventDecoder.decode

    def decoding(self: EventDecoder, *args: Any, **kwargs: Any) -> Any:
        steps.append("decoded")
        return decode(self, *args, **kwargs)

    monkeypatch.setattr(reference, "_CHUNK_LINES", 1000)
    monkeypatch.setattr(EventDecoder, "decode", decoding)
    config = load_config(_config_file(tmp_path))
    reference.read_columns(config, config.models["fraud"], source, steps.append)

    assert len(steps) == 6
    assert steps[::2] == ["decoded"] * 3
    assert sum(step for step in steps[1::2] if isinstance(step, int)) == source.stat().st_size


def test_long_model_and_signal_names_stay_whole_within_80_columns() -> None:
    import numpy as np

    from detectors.profile import SignalSpec, build_reference_profile
    from monitor.reference_view import diff_lines, diff_profiles, list_lines, show_lines

    model = "a_model_whose_name_is_far_longer_than_usual"
    names = ["a_numeric_feature_with_a_name_longer_than_thirty", "c" * 60]
    rng = np.random.default_rng(0)

    def profile(shift: float, at: float) -> Any:
        columns = {
            names[0]: rng.normal(shift, 1.0, 3000),
            names[1]: np.array([f"value_{'x' * 30}_{i % 9}" for i in range(3000)], dtype=object),
        }
        specs = [
            SignalSpec(names[0], "numeric", "feature"),
            SignalSpec(names[1], "categorical", "feature"),
        ]
        return build_reference_profile(
            model,
            specs,
            columns,
            bins=50,
            max_categories=5,
            created_at=at,
            source="/" + "d/" * 60 + "f.csv",
        )

    old, new = profile(0.0, 1.0e9), profile(1.0, 1.0e9 + 60)
    text = "\n".join(
        [
            *list_lines(model, [new, old], new.id, 1.0e9 + 120),
            *show_lines(new, True, 1.0e9 + 120),
            *diff_lines(old, new, diff_profiles(old, new), 1.0e9 + 120),
        ]
    )
    assert _fits(text)
    words = set(text.split())
    assert {*names, old.id, new.id} <= words  # names and ids whole, never cut
