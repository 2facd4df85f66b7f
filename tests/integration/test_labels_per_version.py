"""Labels of a model monitored per version, end to end: real broker, real Redis.

Versions 3 and 4 are live at once, their predictions interleaved. Labels name the model
and the event, never the version; each is joined, exactly once, to the prediction of
whichever version made it, and counted in that version's stream's quality windows and
error detectors (README, "References per model version").
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from monitor.config import Config, load_config, parse_config
from monitor.keys import Keys
from monitor.redis_client import connect
from monitor.store import StateStore
from monitor.tooling.embedded import KafkaBroker, RedisServer
from monitor.tooling.synthetic import SyntheticModel
from tests.daemon_harness import (
    kill_9_when,
    model_status,
    pipeline_config_dict,
    running_daemon,
    start_daemon_process,
    wait_until,
)
from tests.helpers import produce_json
from tests.segment_traffic import FEATURES, regions, segmented_events, write_events

pytestmark = pytest.mark.integration

WINDOW = 1_000
PER_VERSION = 4_000
CHUNK = 500
KILLED_PER_VERSION = 16_000
VERSIONS = ("3", "4")
SHARES = dict.fromkeys(regions(2), 0.5)


def _events(version: str, count: int, seed: int, first: int = 0) -> list[dict[str, Any]]:
    raw = segmented_events(SHARES, count, seed=seed, first=first, versions=((0, version),))
    return [json.loads(line) for line in raw]


def _label(event: dict[str, Any]) -> int:
    """A label that agrees with the score most of the time, the same on every call."""
    number = int(event["event_id"][1:])
    return int(np.random.default_rng([number, 5]).random() < event["prediction"])


def _reference(folder: Path, version: str) -> Path:
    events = _events(version, 5_000, seed=1)
    lines = [json.dumps({**e, "label": _label(e)}).encode() for e in events]
    return write_events(folder / f"fraud-{version}.jsonl", lines)


def _config_data(broker: KafkaBroker, redis_url: str, name: str, folder: Path) -> dict[str, Any]:
    return pipeline_config_dict(
        bootstrap=broker.bootstrap_servers,
        redis_url=redis_url,
        topic=name,
        group=name,
        model=SyntheticModel(name="fraud"),
        kafka_extra={"labels_topic": f"{name}.labels"},
        extra_model={
            "features": FEATURES,
            "reference": {"by_version": {v: str(_reference(folder, v)) for v in VERSIONS}},
            "window": {"events": WINDOW},
            "task": "binary",
            "labels": {"min_labels": 100},
            "sequential": {"errors": {"signal": "error", "detector": "ddm"}},
        },
        logging={"format": "text", "level": "WARNING"},
    )


def _interleaved(per_version: int) -> list[dict[str, Any]]:
    """Version 3's and version 4's predictions, one of each in turn; version 4's event ids
    follow version 3's (``e<per_version>`` on), so they never collide."""
    v3, v4 = (
        _events(v, per_version, seed=2, first=i * per_version) for i, v in enumerate(VERSIONS)
    )
    return [event for pair in zip(v3, v4, strict=True) for event in pair]


class _Labels:
    """Labels for 90% of the interleaved predictions, 0 to 3 minutes after them in event
    time: a tenth before any prediction is produced (they wait for theirs in Redis), the
    rest with their prediction's chunk or up to three chunks later."""

    def __init__(self, broker: KafkaBroker, config: Config, events: list[dict[str, Any]]):
        self._broker, self._events = broker.bootstrap_servers, events
        assert config.kafka.labels_topic is not None
        self._topic = config.kafka.labels_topic
        self._rng = np.random.default_rng(17)
        fate = self._rng.random(len(events))  # < 0.10 never labelled, < 0.19 early
        lag = self._rng.integers(0, 4, size=len(events))  # chunks after its prediction's
        self.early = [i for i in range(len(events)) if 0.10 <= fate[i] < 0.19]
        self._due: dict[int, list[int]] = {}
        for i in np.flatnonzero(fate >= 0.19).tolist():
            self._due.setdefault(i // CHUNK + int(lag[i]), []).append(i)
        self.sent: dict[str, str] = {}
        """event_id -> the version whose prediction a label was sent for."""

    def produce(self, indices: list[int]) -> None:
        out = []
        for i in indices:
            event = self._events[i]
            self.sent[event["event_id"]] = event["model_version"]
            out.append(
                {
                    "event_id": event["event_id"],
                    "model": "fraud",
                    "label": _label(event),
                    "ts": event["ts"] + float(self._rng.uniform(0.0, 180.0)),
                }
            )
        produce_json(self._broker, self._topic, out, partition_key=None)

    def due(self, chunk: int) -> list[int]:
        return self._due.get(chunk, [])


def _produce_predictions(
    broker: KafkaBroker, topic: str, events: list[dict[str, Any]], labels: _Labels
) -> None:
    """The predictions a chunk at a time, each chunk followed by the labels then due."""
    chunks = len(events) // CHUNK
    for chunk in range(chunks + 4):
        if chunk < chunks:
            batch = events[chunk * CHUNK : (chunk + 1) * CHUNK]
            produce_json(broker.bootstrap_servers, topic, batch, partition_key=None)
        labels.produce(labels.due(chunk))


def _joined(config: Config) -> int:
    return int(model_status(config, "fraud")["labels"]["joined"])


def _check_each_version_got_its_own(
    config: Config, sent: dict[str, str], per_version: int
) -> StateStore:
    """Every label joined once, in the stream of the version whose prediction it is: its
    joined count, quality windows and error detectors. Returns the store to look further."""
    model = model_status(config, "fraud")
    assert model["labels"]["joined"] == len(sent)
    assert model["labels"]["received"] == len(sent)
    assert model["labels"]["labels_waiting"] == 0
    assert model["labels"]["predictions_waiting"] == 2 * per_version - len(sent)
    store = StateStore(connect(config.redis.url), Keys(config.redis.key_prefix), history_size=10)
    for version in VERSIONS:
        stream = f"fraud/version={version}"
        labelled = sum(of == version for of in sent.values())
        status = model_status(config, stream)
        assert status["labels"]["joined"] == labelled
        assert status["labels"]["predictions_with_id"] == per_version
        windows = range(per_version // WINDOW)
        assert sum(store.quality_counts(stream, w).pairs for w in windows) == labelled
        # Its error detectors saw each of its joins once (on the partition that completed it).
        detectors = status["sequential"]["detectors"].values()
        assert sum(d["n_seen"] for d in detectors) == labelled
    return store


def test_labels_join_the_prediction_of_whichever_version_made_it(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    name = unique_name("versionlabels")
    kafka_broker.create_topics([name, f"{name}.labels", f"{name}.dlq"], partitions=1)
    config = parse_config(_config_data(kafka_broker, redis_server.url, name, tmp_path), environ={})
    events = _interleaved(PER_VERSION)
    labels = _Labels(kafka_broker, config, events)
    labels.produce(labels.early)
    with running_daemon(config):
        wait_until(
            lambda: model_status(config, "fraud")["labels"]["labels_waiting"] == len(labels.early),
            60,
            "the early labels waiting for their predictions",
        )
        _produce_predictions(kafka_broker, name, events, labels)
        wait_until(lambda: _joined(config) == len(labels.sent), 120, "every label joined")
    store = _check_each_version_got_its_own(config, labels.sent, PER_VERSION)
    for version, first in zip(VERSIONS, (0, PER_VERSION), strict=True):
        # One partition: each window of the version counted exactly its own predictions'.
        labelled = [int(e[1:]) - first for e, of in labels.sent.items() if of == version]
        expected = np.bincount(np.asarray(labelled) // WINDOW, minlength=PER_VERSION // WINDOW)
        stream = f"fraud/version={version}"
        counted = [store.quality_counts(stream, w).pairs for w in range(PER_VERSION // WINDOW)]
        assert counted == expected.tolist(), version


@pytest.mark.slow
def test_kill_9_during_labels_of_two_versions_loses_and_doubles_no_join(
    fresh_kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    name = unique_name("versionlabels")
    fresh_kafka_broker.create_topics([name, f"{name}.labels", f"{name}.dlq"], partitions=2)
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(_config_data(fresh_kafka_broker, redis_server.url, name, tmp_path))
    )
    config = load_config(path)
    events = _interleaved(KILLED_PER_VERSION)
    labels = _Labels(fresh_kafka_broker, config, events)
    labels.produce(labels.early)
    _produce_predictions(fresh_kafka_broker, name, events, labels)
    log = tmp_path / "daemon.log"
    for kill_after in (8_000, 20_000):
        kill_9_when(
            path, log, lambda k=kill_after: _joined(config) >= k, 120, f"{kill_after} joins"
        )
    daemon = start_daemon_process(path, log)
    try:
        wait_until(lambda: _joined(config) >= len(labels.sent), 120, "every join")
        wait_until(
            lambda: (
                sum(model_status(config, f"fraud/version={v}")["events"] for v in VERSIONS)
                == len(events)
            ),
            60,
            "every event",
        )
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
    _check_each_version_got_its_own(config, labels.sent, KILLED_PER_VERSION)
