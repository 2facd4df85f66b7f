"""Segments end to end: real broker, real Redis, the daemon in a thread, a real webhook.

Traffic is tagged with one of twenty regions, 5% each (``tests/segment_traffic.py``);
the model is segmented by ``tags.region``, so each region is judged against the
reference rows of that region, in the same windows and the same family of tests as the
whole model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis

from detectors.profile import ReferenceProfile
from monitor.config import Config, parse_config
from monitor.keys import Keys
from monitor.reference import build_profile_from_file
from monitor.status_view import StatusQuery, render
from monitor.store import StateStore
from monitor.tooling.embedded import KafkaBroker, RedisServer
from monitor.tooling.synthetic import SyntheticModel
from tests.alert_receivers import Receiver, receiver
from tests.daemon_harness import model_status, pipeline_config_dict, running_daemon, wait_until
from tests.helpers import produce_json
from tests.segment_traffic import FEATURES, SegmentShift, regions, segmented_events, write_events

pytestmark = pytest.mark.integration

WINDOW = 4_000
SHARES = dict.fromkeys(regions(20), 0.05)
DRIFTING = "r07"


def _model(reference: Path, **segments: Any) -> dict[str, Any]:
    return {
        "reference": {"path": str(reference)},
        "window": {"events": WINDOW},
        "features": FEATURES,
        "prediction": "numeric",
        "alerts": ["team"],
        "drift": {"false_alarms_per_week": 1},
        "segments": {"keys": ["tags.region"], "min_events": 100, **segments},
    }


def _config(
    broker: KafkaBroker, redis_url: str, name: Callable[[str], str], team: Receiver, model: Any
) -> tuple[str, Config]:
    topic, group = name("predictions"), name("g")
    broker.create_topics([topic, f"{topic}.dlq"])
    data = pipeline_config_dict(
        bootstrap=broker.bootstrap_servers,
        redis_url=redis_url,
        topic=topic,
        group=group,
        model=SyntheticModel(name="fraud"),
        extra_model=model,
        logging={"format": "text", "level": "WARNING"},
    )
    data["sinks"] = {"team": {"type": "webhook", "url": team.url}}
    return topic, parse_config(data, environ={})


@pytest.fixture(scope="module")
def reference_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("segments") / "reference.jsonl"
    return write_events(path, segmented_events(SHARES, 20_000, seed=1))


@pytest.fixture(scope="module")
def reference_profile(reference_file: Path) -> ReferenceProfile:
    """Built once for the module (twenty segment profiles take a few seconds), then stored
    in each test's Redis before its daemon starts, as ``reference build`` would."""
    model = {**_model(reference_file), "alerts": []}
    config = parse_config(
        {"kafka": {"bootstrap_servers": "unused:9092"}, "models": {"fraud": model}}
    )
    return build_profile_from_file(config, config.models["fraud"], reference_file)


@pytest.fixture
def team() -> Iterator[Receiver]:
    with receiver() as webhook:
        yield webhook


def _store_reference(config: Config, profile: ReferenceProfile) -> None:
    client = redis.Redis.from_url(config.redis.url)
    try:
        StateStore(client, Keys(config.redis.key_prefix), history_size=100).store_reference(profile)
    finally:
        client.close()


def _run(config: Config, topic: str, broker: KafkaBroker, events: list[bytes]) -> dict[str, Any]:
    produce_json(broker.bootstrap_servers, topic, events, partition_key=None)
    windows = len(events) // WINDOW
    with running_daemon(config):
        wait_until(
            lambda: model_status(config, "fraud")["windows_closed"] == windows,
            120,
            f"{windows} windows closed",
        )
        time.sleep(1.0)  # the last deliveries
    return model_status(config, "fraud")


def _firing(team: Receiver) -> list[dict[str, Any]]:
    return [r.json() for r in team.accepted() if r.json()["status"] == "firing"]


def test_drift_in_one_segment_of_five_percent_is_flagged_and_named_while_the_whole_stays_quiet(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    reference_file: Path,
    reference_profile: ReferenceProfile,
    team: Receiver,
) -> None:
    topic, config = _config(
        kafka_broker, redis_server.url, unique_name, team, _model(reference_file)
    )
    _store_reference(config, reference_profile)
    events = segmented_events(SHARES, 3 * WINDOW, seed=2, shift=SegmentShift(DRIFTING, 1.0))

    status = _run(config, topic, kafka_broker, events)

    for entry in status["windows"]:
        assert not [name for name in entry["drifted"] if "@" not in name], entry
        flagged = {name for name, s in entry["segments"].items() if s["drifted"]}
        assert flagged == {f"region={DRIFTING}"}, entry
        assert "num_0/ks" in entry["segments"][f"region={DRIFTING}"]["drifted"]
        assert len(entry["segments"]) == 21  # twenty regions and __other__
    assert status["signals"][f"num_0/ks@region={DRIFTING}"]["drifted"]
    assert not status["signals"]["num_0/ks"]["drifted"]
    firing = _firing(team)
    assert firing, "the segment's drift was not alerted"
    for alert in firing:
        assert alert["dedup_key"].endswith("@region"), alert
        assert alert["segments"] == [f"region={DRIFTING}"], alert
        assert alert["segment"] == f"region={DRIFTING}"
        assert f"in region={DRIFTING}" in alert["message"]
    assert "fraud/feature_drift/num_0@region" in {a["dedup_key"] for a in firing}
    lines = [
        line.plain
        for line in render({"fraud": status}, {"fraud": 0}, StatusQuery(), width=80, now=0)
    ]
    assert any(
        line.startswith(f"  segments: 20 of 21 judged in window 2; drifted: region={DRIFTING} (")
        for line in lines
    ), "\n".join(lines)


def test_a_segment_that_disappears_from_traffic_is_alerted_as_segment_share_drift(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    reference_file: Path,
    reference_profile: ReferenceProfile,
    team: Receiver,
) -> None:
    topic, config = _config(
        kafka_broker, redis_server.url, unique_name, team, _model(reference_file)
    )
    _store_reference(config, reference_profile)
    without = {region: share for region, share in SHARES.items() if region != DRIFTING}

    status = _run(config, topic, kafka_broker, segmented_events(without, 2 * WINDOW, seed=3))

    latest = status["windows"][0]
    assert latest["segments"][f"region={DRIFTING}"]["events"] == 0
    assert latest["segments"][f"region={DRIFTING}"]["skipped"] == (
        "0 events, fewer than min_events 100"
    )
    assert {"tags.region/psi", "tags.region/jensen_shannon"} <= set(latest["drifted"])
    assert not [name for name in latest["drifted"] if not name.startswith("tags.region/")]
    firing = _firing(team)
    assert {a["dedup_key"] for a in firing} == {"fraud/segment_share_drift/tags.region"}
    assert firing[0]["kind"] == "segment_share_drift"


def test_a_thousand_distinct_segment_values_keep_state_and_metric_series_to_the_top_k(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
    team: Receiver,
) -> None:
    heavy = {f"h{i:02d}": 0.04 for i in range(20)}  # 80% of traffic, the top 20 of the reference

    def tags(count: int, seed: int, prefix: str) -> list[str]:
        """80% one of the heavy values, 20% one of a thousand others named by ``prefix``."""
        rng = np.random.default_rng(seed)
        top = rng.choice(sorted(heavy), size=count).tolist()
        light = [f"{prefix}{i}" for i in rng.integers(0, 1_000, size=count)]
        return [t if x < 0.8 else v for t, v, x in zip(top, light, rng.random(count), strict=True)]

    reference = write_events(
        tmp_path / "reference.jsonl",
        segmented_events(heavy, 20_000, seed=4, extra_tags=tags(20_000, 5, "old-")),
    )
    topic, config = _config(
        kafka_broker, redis_server.url, unique_name, team, _model(reference, top=20)
    )
    live = segmented_events(heavy, 3 * WINDOW + 2_000, seed=6, extra_tags=tags(14_000, 7, "new-"))
    produce_json(kafka_broker.bootstrap_servers, topic, live, partition_key=None)
    with running_daemon(config) as daemon:
        wait_until(
            lambda: (
                model_status(config, "fraud")["windows_closed"] == 3
                and model_status(config, "fraud")["events"] == len(live)
            ),
            120,
            "three windows closed and the fourth half full",
        )
        series = {
            sample.labels["segment"]
            for metric in daemon.metrics.registry.collect()
            if metric.name.startswith("drift_monitor_segment_")
            for sample in metric.samples
        }
    client = redis.Redis.from_url(config.redis.url)
    try:
        open_window = client.hgetall(Keys(config.redis.key_prefix).window("fraud", 3))
    finally:
        client.close()
    status = model_status(config, "fraud")

    names = {f"region={v}" for v in heavy} | {"region=__other__"}
    assert series == names
    assert set(status["windows"][0]["segments"]) == names
    segment_fields = {field.split(b"@", 1)[1] for field in open_window if b"@" in field}
    assert {name.decode() for name in segment_fields} == names
    assert int(open_window[b"n@region=__other__"]) > 0  # a thousand values, one segment
