"""The commands that reach Kafka, Redis or a running daemon: reference build, replay, status."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from monitor.cli import main
from monitor.tooling.embedded import KafkaBroker, RedisServer
from monitor.tooling.synthetic import generate
from tests.daemon_harness import model_status, running_daemon, wait_until, write_reference
from tests.helpers import KAFKA_TEST_SETTINGS, consume_messages
from tests.unit.test_cli_config_and_inputs import MODEL, _config_file, _table


def _services(broker: KafkaBroker, redis_server: RedisServer, name: str) -> dict[str, Any]:
    return {
        "kafka": {
            "bootstrap_servers": broker.bootstrap_servers,
            "group_id": name,
            "predictions_topic": name,
            "dead_letter_topic": f"{name}.dlq",
            "consumer": dict(KAFKA_TEST_SETTINGS),
        },
        "redis": {"url": redis_server.url, "key_prefix": name},
        "http": {"host": "127.0.0.1", "port": 0},
    }


@pytest.mark.parametrize("suffix", ["jsonl", "csv", "parquet"])
def test_reference_build_stores_the_same_profile_from_jsonl_csv_and_parquet(
    suffix: str,
    redis_server: RedisServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = tmp_path / f"input.{suffix}"
    if suffix == "jsonl":
        write_reference(source, MODEL, events=3000)
    elif suffix == "csv":
        pa_csv.write_csv(_table(3000), source)
    else:
        pq.write_table(_table(3000), source)
    config = _config_file(tmp_path, redis={"url": redis_server.url, "key_prefix": "cli"})
    assert (
        main(["reference", "build", "-c", str(config), "--model", "fraud", "--input", str(source)])
        == 0
    )
    output = capsys.readouterr().out
    assert "stored reference fraud@" in output
    from monitor.config import load_config
    from monitor.keys import Keys
    from monitor.redis_client import connect
    from monitor.store import StateStore

    store = StateStore(connect(redis_server.url), Keys("cli"), history_size=10)
    profile = store.reference("fraud")
    assert profile is not None
    assert profile.events == 3000
    declared = load_config(config).models["fraud"].features
    assert [s.name for s in profile.signals] == [*declared, "prediction"]


def test_reference_build_rejects_a_table_without_a_declared_column(
    redis_server: RedisServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "input.csv"
    pa_csv.write_csv(_table(100).drop(["num_1"]), source)
    config = _config_file(tmp_path, redis={"url": redis_server.url})
    assert (
        main(["reference", "build", "-c", str(config), "--model", "fraud", "--input", str(source)])
        == 1
    )
    assert "lacks columns ['num_1']" in capsys.readouterr().err


def test_replay_produces_every_line_of_a_jsonl_file(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = unique_name("replay")
    kafka_broker.create_topics([name], partitions=1)
    events = tmp_path / "events.jsonl"
    write_reference(events, MODEL, events=1500, seed=4)
    config = _config_file(tmp_path, **_services(kafka_broker, redis_server, name))
    assert main(["replay", "-c", str(config), str(events), "--rate", "5000"]) == 0
    output = capsys.readouterr()
    summary = json.loads(output.out)  # the progress bar is on stderr, in messages
    assert "1500/1500 messages" in output.err
    assert summary["delivered"] == 1500
    assert summary["seconds"] >= 0.25  # 1500 events at 5000/s cannot take less than 0.3 s
    messages = consume_messages(kafka_broker.bootstrap_servers, name, 1500)
    assert [m.value() for m in messages] == events.read_bytes().splitlines()


def test_replay_into_a_missing_topic_says_how_to_create_it(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = unique_name("absent")
    events = tmp_path / "events.jsonl"
    write_reference(events, MODEL, events=10, seed=4)
    config = _config_file(tmp_path, **_services(kafka_broker, redis_server, name))
    assert main(["replay", "-c", str(config), str(events)]) == 1
    err = capsys.readouterr().err
    assert f"topic {name} does not exist" in err
    assert f"--create --topic {name} " in err


def test_status_prints_latest_results_as_json_and_as_a_table(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = unique_name("status")
    kafka_broker.create_topics([name, f"{name}.dlq"], partitions=1)
    write_reference(tmp_path / "reference.jsonl", MODEL, events=3000)
    path = _config_file(tmp_path, **_services(kafka_broker, redis_server, name))
    from monitor.config import load_config
    from monitor.replay import produce_lines

    config = load_config(path)
    produce_lines(config, generate(MODEL, 0, 1000, seed=2))
    with running_daemon(config):
        wait_until(lambda: model_status(config, "fraud")["windows_closed"] == 2, 60, "2 windows")
    capsys.readouterr()
    assert main(["status", "-c", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["fraud"]
    assert report["events"] == 1000
    psi = report["signals"]["num_0/psi"]
    assert set(psi) >= {"method", "score", "threshold", "drifted", "severity", "window", "p_value"}
    assert psi["window"]["events"] == 500
    assert main(["status", "-c", str(path), "--all"]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[1].split()[:3] == ["fraud", "1,000", "2"]
    assert "num_0" in table
    assert "psi" in table
