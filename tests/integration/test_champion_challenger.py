"""Champion and challenger, end to end: two versions live at once on the same traffic.

Every event is scored by version 3 (the champion) and by version 4 (a shadow), as two
messages on one topic, each version against a reference drawn like its own traffic, so
neither drifts from its own reference. ``compare_versions: ["3", "4"]`` compares the two
over the same event-time windows: the same predictions on the same traffic raise nothing;
a challenger predicting higher on the same traffic, or fed traffic with one feature moved,
is a ``version_comparison`` alert naming that signal.
"""

from __future__ import annotations

import json
import math
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
from tests.segment_traffic import FEATURES, RATE, segmented_events, write_events

pytestmark = pytest.mark.integration

WINDOW_SECONDS = 10.0
EVENTS = int(4 * WINDOW_SECONDS * RATE) + 100
"""Four full windows of each version, and the first events of a fifth to close them."""
CHAMPION = "fraud/version=3"

Challenger = Callable[[dict[str, Any]], dict[str, Any]]


def _same(event: dict[str, Any]) -> dict[str, Any]:
    return event


def _predicting_higher(event: dict[str, Any]) -> dict[str, Any]:
    """Version 4 scores the same event higher: its logit half a unit up."""
    p = event["prediction"]
    event["prediction"] = 1.0 / (1.0 + math.exp(-(math.log(p / (1.0 - p)) + 0.5)))
    return event


def _fed_other_traffic(event: dict[str, Any]) -> dict[str, Any]:
    """Version 4 sees ``num_1`` one deviation higher (a feature its prediction ignores)."""
    event["features"]["num_1"] += 2.0
    return event


def _champion(count: int, seed: int) -> list[bytes]:
    return segmented_events({"r00": 1.0}, count, seed=seed, versions=((0, "3"),))


def _as_challenger(message: bytes, challenger: Challenger) -> bytes:
    event = challenger(json.loads(message))
    event["model_version"] = "4"
    event["event_id"] += "-v4"
    return json.dumps(event).encode()


def _shadow(challenger: Challenger) -> list[bytes]:
    """Each event scored by the champion, then by the challenger."""
    out = []
    for message in _champion(EVENTS, seed=2):
        out += [message, _as_challenger(message, challenger)]
    return out


@pytest.fixture
def team() -> Iterator[Receiver]:
    with receiver() as webhook:
        yield webhook


Deploy = Callable[[Challenger], Config]


@pytest.fixture
def deploy(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    team: Receiver,
    tmp_path: Path,
) -> Deploy:
    """``deploy(challenger)``: both versions' references, a config comparing them, and the
    shadow traffic produced to a topic of the test's own."""

    def deployed(challenger: Challenger) -> Config:
        reference = _champion(10_000, seed=1)
        files = {
            "3": write_events(tmp_path / "fraud-3.jsonl", reference),
            "4": write_events(
                tmp_path / "fraud-4.jsonl", [_as_challenger(m, challenger) for m in reference]
            ),
        }
        topic = unique_name("predictions")
        kafka_broker.create_topics([topic, f"{topic}.dlq"])
        data = pipeline_config_dict(
            bootstrap=kafka_broker.bootstrap_servers,
            redis_url=redis_server.url,
            topic=topic,
            group=unique_name("g"),
            model=SyntheticModel(name="fraud"),
            extra_model={
                "features": FEATURES,
                "reference": {"by_version": {v: str(p) for v, p in files.items()}},
                "window": {"seconds": WINDOW_SECONDS},
                "compare_versions": ["3", "4"],
                "alerts": ["team"],
                "drift": {"false_alarms_per_week": 1},
            },
            logging={"format": "text", "level": "WARNING"},
        )
        data["sinks"] = {"team": {"type": "webhook", "url": team.url}}
        produce_json(kafka_broker.bootstrap_servers, topic, _shadow(challenger), None)
        return parse_config(data, environ={})

    return deployed


def _compared(config: Config) -> list[dict[str, Any]]:
    """The champion's closed windows, once four have closed, oldest first."""
    with running_daemon(config):
        wait_until(
            lambda: model_status(config, CHAMPION)["windows_closed"] == 4,
            120,
            "four windows of the champion closed",
        )
        time.sleep(1.0)  # any delivery
    return list(reversed(model_status(config, CHAMPION)["windows"]))


def _alerts(team: Receiver) -> list[dict[str, Any]]:
    return [r.json() for r in team.accepted() if r.json()["status"] == "firing"]


def _only_flagged(windows: list[dict[str, Any]], team: Receiver, signal: str) -> None:
    """Every window's comparison flags ``signal`` and nothing else, and so do the alerts."""
    for window in windows:
        drifted = window["segments"]["4 vs 3"]["drifted"]
        assert {key.split("/")[0] for key in drifted} == {signal}
    assert {(a["kind"], a["feature"]) for a in _alerts(team)} == {("version_comparison", signal)}


def test_the_same_predictions_on_the_same_traffic_raise_nothing(
    deploy: Deploy, team: Receiver
) -> None:
    windows = _compared(deploy(_same))

    assert [w["segments"]["4 vs 3"]["events"] for w in windows] == [1000] * 4
    assert [w["segments"]["4 vs 3"]["drifted"] for w in windows] == [[]] * 4
    assert [w["drifted"] for w in windows] == [[]] * 4
    assert team.accepted() == []


def test_a_challenger_predicting_differently_is_flagged_and_named(
    deploy: Deploy, team: Receiver
) -> None:
    windows = _compared(deploy(_predicting_higher))

    _only_flagged(windows, team, "prediction")
    alert = _alerts(team)[0]
    assert alert["dedup_key"] == "fraud/version=3/version_comparison/prediction@4 vs 3"
    assert alert["segments"] == ["4 vs 3"]
    assert alert["model_version"] == "3"


def test_a_challenger_fed_other_traffic_has_that_feature_flagged(
    deploy: Deploy, team: Receiver
) -> None:
    _only_flagged(_compared(deploy(_fed_other_traffic)), team, "num_1")
