"""Labels of a model monitored per version, end to end: real broker, real Redis.

Versions 3 and 4 are live at once, their predictions interleaved. Labels name the model
and the event, never the version; each is joined, exactly once, to the prediction of
whichever version made it, and counted in that version's stream's quality windows and
error detectors (README, "References per model version").
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from monitor.config import Config, parse_config
from monitor.keys import Keys
from monitor.redis_client import connect
from monitor.store import StateStore
from monitor.tooling.embedded import KafkaBroker, RedisServer
from monitor.tooling.synthetic import SyntheticModel
from tests.daemon_harness import model_status, pipeline_config_dict, running_daemon, wait_until
from tests.helpers import produce_json
from tests.segment_traffic import FEATURES, regions, segmented_events, write_events

pytestmark = pytest.mark.integration

WINDOW = 1_000
PER_VERSION = 4_000
CHUNK = 500
VERSIONS = {"3": 0, "4": PER_VERSION}
"""Each version's first event number: their event ids never collide."""
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


def _config(broker: KafkaBroker, redis_url: str, name: str, folder: Path) -> Config:
    data = pipeline_config_dict(
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
    return parse_config(data, environ={})


def _interleaved() -> list[dict[str, Any]]:
    """Version 3's and version 4's predictions, one of each in turn."""
    v3, v4 = (_events(v, PER_VERSION, seed=2, first=first) for v, first in VERSIONS.items())
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


def test_labels_join_the_prediction_of_whichever_version_made_it(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    name = unique_name("versionlabels")
    kafka_broker.create_topics([name, f"{name}.labels", f"{name}.dlq"], partitions=1)
    config = _config(kafka_broker, redis_server.url, name, tmp_path)
    events = _interleaved()
    labels = _Labels(kafka_broker, config, events)
    labels.produce(labels.early)
    with running_daemon(config):
        wait_until(
            lambda: model_status(config, "fraud")["labels"]["labels_waiting"] == len(labels.early),
            60,
            "the early labels waiting for their predictions",
        )
        chunks = len(events) // CHUNK
        for chunk in range(chunks + 4):
            if chunk < chunks:
                batch = events[chunk * CHUNK : (chunk + 1) * CHUNK]
                produce_json(kafka_broker.bootstrap_servers, name, batch, partition_key=None)
            labels.produce(labels.due(chunk))
        sent = labels.sent
        wait_until(
            lambda: model_status(config, "fraud")["labels"]["joined"] == len(sent),
            120,
            "every label joined",
        )
    model = model_status(config, "fraud")
    assert model["labels"]["received"] == len(sent)
    assert model["labels"]["labels_waiting"] == 0
    assert model["labels"]["predictions_waiting"] == 2 * PER_VERSION - len(sent)
    store = StateStore(connect(redis_server.url), Keys(config.redis.key_prefix), history_size=10)
    for version, first in VERSIONS.items():
        stream = f"fraud/version={version}"
        labelled = [int(event_id[1:]) - first for event_id, of in sent.items() if of == version]
        status = model_status(config, stream)
        assert status["labels"]["joined"] == len(labelled)
        assert status["labels"]["predictions_with_id"] == PER_VERSION
        # Each window of the version counted exactly its own predictions' labels.
        expected = np.bincount(np.asarray(labelled) // WINDOW, minlength=PER_VERSION // WINDOW)
        counted = [
            store.quality_counts(stream, window).pairs for window in range(PER_VERSION // WINDOW)
        ]
        assert counted == expected.tolist(), version
        # Its error detectors saw each of its joins once (on the partition that completed it).
        detectors = status["sequential"]["detectors"].values()
        assert sum(d["n_seen"] for d in detectors) == len(labelled)
