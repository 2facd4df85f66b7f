"""Delayed labels on a real broker and Redis: joined in any order, judged against the baseline."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from sklearn import metrics as skm

from monitor.config import Config, load_config, parse_config
from monitor.keys import Keys
from monitor.redis_client import connect
from monitor.store import StateStore
from monitor.tooling.embedded import KafkaBroker, RedisServer
from monitor.tooling.synthetic import SyntheticModel, generate
from tests.daemon_harness import (
    model_status,
    running_daemon,
    start_daemon_process,
    wait_until,
)
from tests.helpers import KAFKA_TEST_SETTINGS, produce_json

pytestmark = pytest.mark.integration

MODEL = SyntheticModel(name="fraud", numeric=4, categorical=1)
EVENTS = 40_000
WINDOW = 5_000
FLIP_FROM = 30_000  # labels are flipped with probability FLIP from here: the error rate rises
FLIP = 0.35


def _labelled(start: int, count: int, seed: int) -> tuple[list[dict[str, Any]], list[int]]:
    """Events and their labels: calibrated on the score, then partly flipped after FLIP_FROM."""
    events = [json.loads(raw) for raw in generate(MODEL, start, count, seed=seed)]
    rng = np.random.default_rng([seed, start, 7])
    labels = []
    for i, event in enumerate(events):
        label = int(rng.random() < event["prediction"])
        if start + i >= FLIP_FROM and rng.random() < FLIP:
            label = 1 - label
        labels.append(label)
    return events, labels


def _reference(path: Path) -> Path:
    events, labels = _labelled(0, 20_000, seed=1)
    with path.open("w") as handle:
        for event, label in zip(events, labels, strict=True):
            handle.write(json.dumps({**event, "label": label}) + "\n")
    return path


def _config_dict(broker: KafkaBroker, redis_url: str, name: str, reference: Path) -> dict[str, Any]:
    return {
        "kafka": {
            "bootstrap_servers": broker.bootstrap_servers,
            "group_id": name,
            "predictions_topic": name,
            "labels_topic": f"{name}.labels",
            "dead_letter_topic": f"{name}.dlq",
            "batch_size": 2000,
            "consumer": dict(KAFKA_TEST_SETTINGS),
        },
        "redis": {"url": redis_url, "key_prefix": name},
        "http": {"host": "127.0.0.1", "port": 0},
        "logging": {"format": "json", "level": "INFO"},
        "models": {
            MODEL.name: {
                "reference": {"path": str(reference)},
                "window": {"events": WINDOW},
                "features": MODEL.features(),
                "prediction": "numeric",
                "task": "binary",
                "labels": {"min_labels": 500},
                "sequential": {"errors": {"signal": "error", "detector": "ddm"}},
                "alert_rules": {"quality": {"kinds": ["performance"], "for_windows": 1}},
            }
        },
    }


def _stream(broker: KafkaBroker, config: Config) -> dict[str, int]:
    """Predictions, and labels for 90% of them: most 2,000 events late, 5% before their
    prediction, 10% never. Returns event_id -> label of the labels sent, in the order they
    were sent (a label's offset in the labels topic)."""
    events, labels = _labelled(0, EVENTS, seed=2)
    rng = np.random.default_rng(11)
    fate = rng.random(EVENTS)  # < 0.10 never labelled, < 0.15 labelled early, else late
    sent: dict[str, int] = {}

    def label_of(i: int) -> dict[str, Any]:
        sent[events[i]["event_id"]] = labels[i]
        return {
            "event_id": events[i]["event_id"],
            "model": MODEL.name,
            "label": labels[i],
            "ts": events[i]["ts"] + 60.0,
        }

    topic, labels_topic = config.kafka.predictions_topic, config.kafka.labels_topic
    assert labels_topic is not None
    for chunk in range(0, EVENTS, 1000):
        early = [label_of(i) for i in range(chunk, chunk + 1000) if 0.10 <= fate[i] < 0.15]
        produce_json(broker.bootstrap_servers, labels_topic, early, partition_key=None)
        produce_json(
            broker.bootstrap_servers, topic, events[chunk : chunk + 1000], partition_key=None
        )
        late_from = chunk - 2000
        if late_from >= 0:
            late = [label_of(i) for i in range(late_from, late_from + 1000) if fate[i] >= 0.15]
            produce_json(broker.bootstrap_servers, labels_topic, late, partition_key=None)
    tail = [label_of(i) for i in range(EVENTS - 2000, EVENTS) if fate[i] >= 0.15]
    produce_json(broker.bootstrap_servers, labels_topic, tail, partition_key=None)
    return sent


def _event_of(detection: dict[str, Any], config: Config, labels_in_order: list[str]) -> int:
    """The stream position of the event whose join a detection was made at: predictions
    are produced in event order; labels in the order ``_stream`` sent them."""
    offset = int(detection["offset"])
    if detection["topic"] == config.kafka.predictions_topic:
        return offset
    event_id = labels_in_order[offset]
    return next(
        i for i, e in enumerate(_labelled(0, EVENTS, seed=2)[0]) if e["event_id"] == event_id
    )


def _quality_status(config: Config) -> dict[str, Any]:
    return model_status(config, MODEL.name)


def test_late_and_early_labels_are_joined_and_the_error_rise_is_judged_degraded(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    name = unique_name("labels")
    kafka_broker.create_topics([name, f"{name}.labels", f"{name}.dlq"], partitions=1)
    config = parse_config(
        _config_dict(kafka_broker, redis_server.url, name, _reference(tmp_path / "ref.jsonl"))
    )
    sent = _stream(kafka_broker, config)
    with running_daemon(config) as daemon:
        wait_until(
            lambda: _quality_status(config)["labels"]["joined"] == len(sent), 120, "every join"
        )
        coverage = daemon.metrics.join_coverage.labels(MODEL.name)
        wait_until(
            lambda: coverage._value.get() == pytest.approx(len(sent) / EVENTS),
            10,
            "the coverage gauge",
        )
    status = _quality_status(config)
    assert status["labels"]["received"] == len(sent)
    assert status["labels"]["labels_waiting"] == 0
    assert status["labels"]["predictions_waiting"] == EVENTS - len(sent)
    assert status["labels"]["coverage"] == pytest.approx(len(sent) / EVENTS)
    # DDM on the error stream finds the change at a join of a flipped event: whether the
    # label or the prediction completed a join depends on how the topics interleave.
    found = status["sequential"]["detections"]
    assert found, "DDM found no change in the error stream"
    assert all(_event_of(d, config, list(sent)) >= FLIP_FROM for d in found), found
    performance = status["signals"]["performance/error_rate"]
    assert (performance["drifted"], performance["kind"]) == (True, "performance")
    # The degraded windows went through the alert state machine as kind performance.
    from monitor.alerts.records import AlertRecords

    alerts = AlertRecords(connect(redis_server.url), Keys(name)).read(MODEL.name).states
    episode = alerts[f"{MODEL.name}/performance/error_rate"]
    assert episode.status == "firing"
    assert performance["window"]["id"] >= FLIP_FROM // WINDOW
    events, labels = _labelled(0, EVENTS, seed=2)
    # The episode began in the events' time (the window the verdict is about), not at the
    # wall-clock time the labels were judged.
    assert events[FLIP_FROM]["ts"] - 60 <= episode.since_ts <= events[-1]["ts"]
    # Each window's counters give exactly scikit-learn's metrics on the same pairs.
    store = StateStore(connect(redis_server.url), Keys(name), history_size=1000)
    from detectors.quality import quality_metrics

    for window in range(EVENTS // WINDOW):
        rows = [
            i
            for i in range(window * WINDOW, (window + 1) * WINDOW)
            if events[i]["event_id"] in sent
        ]
        y = [labels[i] for i in rows]
        scores = [events[i]["prediction"] for i in rows]
        got = quality_metrics("binary", store.quality_counts(MODEL.name, window))
        predicted = (np.asarray(scores) >= 0.5).astype(int)
        assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, predicted), abs=1e-12)
        assert got["f1"] == pytest.approx(skm.f1_score(y, predicted), abs=1e-12)
        assert got["log_loss"] == pytest.approx(skm.log_loss(y, scores), rel=1e-9)
        assert got["brier"] == pytest.approx(skm.brier_score_loss(y, scores), rel=1e-9)
        assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, scores), abs=0.005)
        judged = window >= FLIP_FROM // WINDOW
        assert (got["error_rate"] > 0.4) is judged, (window, got["error_rate"])


@pytest.mark.slow
def test_kill_9_during_a_labelled_stream_loses_and_doubles_no_join(
    fresh_kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    name = unique_name("labels")
    fresh_kafka_broker.create_topics([name, f"{name}.labels", f"{name}.dlq"], partitions=2)
    raw = _config_dict(fresh_kafka_broker, redis_server.url, name, _reference(tmp_path / "r.jsonl"))
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    config = load_config(path)
    sent = _stream(fresh_kafka_broker, config)
    log = tmp_path / "daemon.log"

    def start() -> subprocess.Popen[bytes]:
        return start_daemon_process(path, log)

    for kill_after in (8_000, 20_000):
        daemon = start()
        try:
            wait_until(
                lambda kill_after=kill_after: (
                    _quality_status(config)["labels"]["joined"] >= kill_after
                ),
                120,
                f"{kill_after} joins",
            )
        finally:
            os.kill(daemon.pid, signal.SIGKILL)
            daemon.wait()
    daemon = start()
    try:
        wait_until(
            lambda: _quality_status(config)["labels"]["joined"] >= len(sent), 120, "every join"
        )
        wait_until(lambda: _quality_status(config)["events"] == EVENTS, 60, "every event")
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
    status = _quality_status(config)
    assert status["labels"]["joined"] == len(sent)
    assert status["labels"]["received"] == len(sent)
    assert status["labels"]["labels_waiting"] == 0
    store = StateStore(connect(redis_server.url), Keys(name), history_size=1000)
    pairs = sum(store.quality_counts(MODEL.name, w).pairs for w in range(EVENTS // WINDOW))
    assert pairs == len(sent)
