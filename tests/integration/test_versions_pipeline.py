"""A rollout from model version 3 to 4, end to end: real broker, real Redis, a webhook.

Version 4 sees other data than version 3 (``num_0`` one and a half deviations higher):
judged against version 3's reference it would drift. With a reference per version each
version is its own stream of windows against its own reference, so the switch raises
nothing; with version 3's reference only, version 4 is reported as a version without a
reference, its events counted, never judged against the wrong reference.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.config import Config, parse_config
from monitor.tooling.embedded import KafkaBroker, RedisServer
from monitor.tooling.synthetic import SyntheticModel
from tests.alert_receivers import Receiver, receiver
from tests.daemon_harness import model_status, pipeline_config_dict, running_daemon, wait_until
from tests.helpers import produce_json
from tests.segment_traffic import FEATURES, SegmentShift, regions, segmented_events, write_events

pytestmark = pytest.mark.integration

WINDOW = 2_000
SHARES = dict.fromkeys(regions(4), 0.25)
V3_EVENTS, V4_EVENTS = 5_000, 6_000
V4_SHIFT = SegmentShift(None, 1.5)


def _version(version: str, count: int, seed: int, first: int = 0) -> list[bytes]:
    shift = V4_SHIFT if version == "4" else None
    return segmented_events(
        SHARES, count, seed=seed, first=first, shift=shift, versions=((0, version),)
    )


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("versions")
    return {
        version: write_events(folder / f"fraud-{version}.jsonl", _version(version, 10_000, 1))
        for version in ("3", "4")
    }


@pytest.fixture
def team() -> Iterator[Receiver]:
    with receiver() as webhook:
        yield webhook


def _rolled_out(
    broker: KafkaBroker,
    redis_url: str,
    name: Callable[[str], str],
    team: Receiver,
    reference: dict[str, Any],
) -> Config:
    """A config of the model with ``reference``, and the rollout produced to its topic."""
    topic = name("predictions")
    broker.create_topics([topic, f"{topic}.dlq"])
    data = pipeline_config_dict(
        bootstrap=broker.bootstrap_servers,
        redis_url=redis_url,
        topic=topic,
        group=name("g"),
        model=SyntheticModel(name="fraud"),
        extra_model={
            "features": FEATURES,
            "reference": reference,
            "window": {"events": WINDOW},
            "alerts": ["team"],
            "drift": {"false_alarms_per_week": 1},
        },
        logging={"format": "text", "level": "WARNING"},
    )
    data["sinks"] = {"team": {"type": "webhook", "url": team.url}}
    produce_json(broker.bootstrap_servers, topic, _rollout(), partition_key=None)
    return parse_config(data, environ={})


RollOut = Callable[[dict[str, Any]], Config]


@pytest.fixture
def roll_out(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    team: Receiver,
) -> RollOut:
    """``roll_out(reference)``: the rollout produced to a topic of the test's own, and a
    config of the model with ``reference`` reading it."""
    return lambda reference: _rolled_out(
        kafka_broker, redis_server.url, unique_name, team, reference
    )


def _rollout() -> list[bytes]:
    """Version 3's events, then version 4's: the switch falls inside a window's worth."""
    return [*_version("3", V3_EVENTS, 2), *_version("4", V4_EVENTS, 3, first=V3_EVENTS)]


def test_a_rollout_with_a_reference_per_version_raises_nothing_at_the_switch(
    roll_out: RollOut, references: dict[str, Path], team: Receiver
) -> None:
    by_version = {"by_version": {v: str(p) for v, p in references.items()}}
    config = roll_out(by_version)
    with running_daemon(config):
        wait_until(
            lambda: (
                model_status(config, "fraud/version=4")["windows_closed"] == 3
                and model_status(config, "fraud/version=3")["windows_closed"] == 2
            ),
            120,
            "every full window of both versions closed",
        )
        time.sleep(1.0)  # any delivery
    v3, v4 = (model_status(config, f"fraud/version={v}") for v in ("3", "4"))

    assert (v3["events"], v4["events"]) == (V3_EVENTS, V4_EVENTS)
    assert v3["reference_id"].startswith("fraud/version=3@")
    assert v4["reference_id"].startswith("fraud/version=4@")
    for status in (v3, v4):
        assert [w["drifted"] for w in status["windows"]] == [[]] * len(status["windows"])
    assert team.accepted() == []


def test_a_version_without_its_reference_is_reported_as_such_not_as_drift(
    roll_out: RollOut, references: dict[str, Path], team: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    only_3 = {"by_version": {"3": str(references["3"])}}
    config = roll_out(only_3)
    with caplog.at_level(logging.WARNING, logger="monitor.versions"), running_daemon(config):
        wait_until(
            lambda: model_status(config, "fraud")["unknown_version_events"] == V4_EVENTS,
            120,
            "version 4's events counted as a version without reference",
        )
        time.sleep(1.0)  # any delivery
    v3 = model_status(config, "fraud/version=3")

    assert v3["events"] == V3_EVENTS
    assert [w["drifted"] for w in v3["windows"]] == [[], []]
    assert model_status(config, "fraud/version=4")["events"] == 0
    assert team.accepted() == []
    warned = [r for r in caplog.records if r.getMessage() == "model version without reference"]
    assert len(warned) == 1  # logged once, however many batches
    assert warned[0].__dict__["model_version"] == "4"


def test_the_same_rollout_against_one_reference_for_all_versions_drifts_at_the_switch(
    roll_out: RollOut, references: dict[str, Path], team: Receiver
) -> None:
    """The control: what a reference per version keeps from happening."""
    one = {"path": str(references["3"])}
    config = roll_out(one)
    with running_daemon(config):
        wait_until(
            lambda: model_status(config, "fraud")["windows_closed"] == 5, 120, "five windows"
        )
    drifted = [bool(w["drifted"]) for w in reversed(model_status(config, "fraud")["windows"])]
    assert drifted == [False, False, True, True, True]  # the window of the switch on


def test_a_version_without_reference_file_warms_up_from_its_own_first_events(
    roll_out: RollOut, references: dict[str, Path], team: Receiver
) -> None:
    warm_up = {"by_version": {"3": str(references["3"])}, "from_stream": WINDOW}
    config = roll_out(warm_up)
    with running_daemon(config):
        wait_until(
            lambda: model_status(config, "fraud/version=4")["windows_closed"] == 2,
            120,
            "version 4's reference from its first events, then two windows",
        )
        time.sleep(1.0)  # any delivery
    v4 = model_status(config, "fraud/version=4")

    assert v4["reference_collected"] == WINDOW
    assert v4["reference_id"].startswith("fraud/version=4@")
    assert [w["drifted"] for w in v4["windows"]] == [[], []]
    assert model_status(config, "fraud")["unknown_version_events"] == 0
    assert team.accepted() == []
