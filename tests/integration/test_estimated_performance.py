"""Estimated performance through the real daemon: Tansu, redis-server, labels that come late.

The model scores three standard-normal features by ``z = 2 x0 - x1`` (x2 does not
matter), overconfidently: ``sigmoid(3 z)``, while the label is positive with
probability ``sigmoid(z)``. Its reference therefore needs calibrating, and a
shift of the features leaves P(label | score) as it was: the covariate shifts
below are exactly those CBPE assumes, and the concept drift the one it cannot see.
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

from detectors.estimation import BinaryEstimator
from detectors.profile import ReferenceProfile
from monitor.alerts.records import AlertRecords
from monitor.config import Config, parse_config
from monitor.keys import Keys
from monitor.redis_client import connect
from monitor.report import history
from monitor.store import StateStore
from monitor.tooling.embedded import KafkaBroker, RedisServer
from tests.daemon_harness import (
    kill_9_when,
    model_status,
    running_daemon,
    start_daemon_process,
    wait_until,
)
from tests.helpers import KAFKA_TEST_SETTINGS, produce_json

pytestmark = pytest.mark.integration

MODEL = "scorer"
WINDOW = 1000
ACCURACY_KEY = f"{MODEL}/estimated_performance/accuracy"


class Scorer:
    """Rows, the model's scores and labels, seeded."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.serial = 0

    def rows(
        self,
        n: int,
        *,
        scale: tuple[float, float, float] = (1.0, 1.0, 1.0),
        shift: tuple[float, float, float] = (0.0, 0.0, 0.0),
        flip: float = 0.0,
    ) -> tuple[list[dict[str, Any]], list[int]]:
        """``n`` prediction events and their labels; ``flip``: that share of labels inverted."""
        x = self.rng.normal(0.0, 1.0, (n, 3)) * np.asarray(scale) + np.asarray(shift)
        z = 2 * x[:, 0] - x[:, 1]
        score = 1 / (1 + np.exp(-3 * z))
        label = (self.rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
        label = np.where(self.rng.random(n) < flip, 1 - label, label)
        events = []
        for row, p in zip(x.tolist(), score.tolist(), strict=True):
            self.serial += 1
            events.append(
                {
                    "event_id": f"e{self.serial}",
                    "model": MODEL,
                    "ts": 1_800_000_000.0 + self.serial,
                    "features": {"x0": row[0], "x1": row[1], "x2": row[2]},
                    "prediction": p,
                }
            )
        return events, label.tolist()


def _reference(path: Path) -> Path:
    events, labels = Scorer(1).rows(5000)
    with path.open("w") as handle:
        for event, label in zip(events, labels, strict=True):
            handle.write(json.dumps({**event, "label": label}) + "\n")
    return path


def _config_dict(
    broker: KafkaBroker, redis_url: str, name: str, reference: Path, **estimation: Any
) -> dict[str, Any]:
    return {
        "kafka": {
            "bootstrap_servers": broker.bootstrap_servers,
            "group_id": name,
            "predictions_topic": name,
            "labels_topic": f"{name}.labels",
            "dead_letter_topic": f"{name}.dlq",
            "batch_size": 500,
            "consumer": dict(KAFKA_TEST_SETTINGS),
        },
        "redis": {"url": redis_url, "key_prefix": name},
        "http": {"host": "127.0.0.1", "port": 0},
        "models": {
            MODEL: {
                "reference": {"path": str(reference)},
                "window": {"events": WINDOW},
                "features": {"x0": "numeric", "x1": "numeric", "x2": "numeric"},
                "prediction": "numeric",
                "task": "binary",
                "labels": {"min_labels": 500},
                "estimation": {"metrics": ["accuracy", "roc_auc"], **estimation},
                "alert_rules": {"drift": {"for_windows": 1}},
            }
        },
    }


def _pipeline(
    broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
    *,
    partitions: int = 1,
    **estimation: Any,
) -> Config:
    """Topics of the test's own, and a config for them, also written to config.yaml."""
    name = unique_name("estimated")
    broker.create_topics([name, f"{name}.labels", f"{name}.dlq"], partitions=partitions)
    reference = _reference(tmp_path / "reference.jsonl")
    raw = _config_dict(broker, redis_server.url, name, reference, **estimation)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(raw))
    return parse_config(raw)


def _labels(events: list[dict[str, Any]], labels: list[int]) -> list[dict[str, Any]]:
    return [
        {"event_id": e["event_id"], "model": MODEL, "label": y, "ts": e["ts"] + 3600.0}
        for e, y in zip(events, labels, strict=True)
    ]


def _send(config: Config, events: list[dict[str, Any]], *, labels: bool = False) -> None:
    topic = config.kafka.labels_topic if labels else config.kafka.predictions_topic
    assert topic is not None
    produce_json(config.kafka.bootstrap_servers or "", topic, events, partition_key=None)


def _firing(config: Config) -> set[str]:
    """The dedup keys of the model's firing alerts."""
    client = connect(config.redis.url)
    try:
        states = AlertRecords(client, Keys(config.redis.key_prefix)).read(MODEL).states
    finally:
        client.close()
    return {key for key, state in states.items() if state.status == "firing"}


def _estimate_alerts(config: Config) -> set[str]:
    return {key for key in _firing(config) if key.startswith(f"{MODEL}/estimated_performance/")}


def _reconciled(config: Config) -> dict[int, dict[str, dict[str, Any]]]:
    """Reconciled windows: window id → metric → estimated beside realized."""
    estimation = model_status(config, MODEL)["estimation"]
    out: dict[int, dict[str, dict[str, Any]]] = {}
    for row in estimation["reconciled"]:
        out.setdefault(row["window"], {})[row["metric"]] = row
    return out


def test_a_covariate_shift_that_hurts_alerts_on_the_estimate_before_any_label(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    config = _pipeline(kafka_broker, redis_server, unique_name, tmp_path)
    scorer = Scorer(2)
    calm, calm_labels = scorer.rows(3 * WINDOW)
    crowded, crowded_labels = scorer.rows(2 * WINDOW, scale=(0.3, 0.3, 1.0))
    _send(config, calm + crowded)
    with running_daemon(config) as daemon:
        wait_until(lambda: ACCURACY_KEY in _firing(config), 60, "the estimated-accuracy alert")
        assert model_status(config, MODEL)["labels"]["received"] == 0  # before any label
        estimates = model_status(config, MODEL)["estimation"]["estimates"]
        assert estimates["accuracy"]["baseline"] - estimates["accuracy"]["value"] > 0.1
        assert estimates["accuracy"]["drifted"]
        gauge = daemon.metrics.estimated.labels(MODEL, "accuracy", "value")._value.get()
        assert gauge == pytest.approx(estimates["accuracy"]["value"])
        # The labels come later and confirm it.
        _send(config, _labels(calm + crowded, calm_labels + crowded_labels), labels=True)
        wait_until(lambda: len(_reconciled(config)) == 5, 60, "five reconciled windows")
        reconciled = _reconciled(config)
        stale = daemon.metrics.estimator_stale.labels(MODEL)._value.get()
    baseline = estimates["accuracy"]["baseline"]
    for window in (3, 4):
        row = reconciled[window]["accuracy"]
        assert baseline - row["realized"] > 0.1, row
        assert not row["missed"], row  # the estimate was right
    for window in (0, 1, 2):
        assert abs(reconciled[window]["accuracy"]["realized"] - baseline) < 0.05
    assert stale == 0
    fired = [e for e in _audit(config) if e["key"] == ACCURACY_KEY and e["to"] == "firing"]
    evidence = json.loads(fired[0]["evidence"])[0]
    assert evidence["kind"] == "estimated_performance"
    assert evidence["estimate"]["value"] == pytest.approx(estimates["accuracy"]["value"], abs=0.05)


def _audit(config: Config) -> list[dict[str, str]]:
    """The alert audit stream's entries, oldest first."""
    client = connect(config.redis.url)
    try:
        entries = client.xrange(Keys(config.redis.key_prefix).alert_audit)
    finally:
        client.close()
    return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in entries]


def test_a_covariate_shift_that_does_not_hurt_flags_input_drift_but_no_estimate(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    config = _pipeline(kafka_broker, redis_server, unique_name, tmp_path)
    scorer = Scorer(3)
    calm, _ = scorer.rows(2 * WINDOW)
    moved, _ = scorer.rows(2 * WINDOW, shift=(0.0, 0.0, 2.0))  # x2: the score ignores it
    _send(config, calm + moved)
    with running_daemon(config):
        wait_until(lambda: model_status(config, MODEL)["windows_closed"] == 4, 60, "four windows")
    status = model_status(config, MODEL)
    assert status["signals"]["x2/ks"]["drifted"]
    assert f"{MODEL}/feature_drift/x2" in _firing(config)
    estimate = status["estimation"]["estimates"]["accuracy"]
    assert not estimate["drifted"]
    assert abs(estimate["value"] - estimate["baseline"]) < estimate["upper"] - estimate["value"]
    assert not _estimate_alerts(config)


def test_concept_drift_leaves_the_estimate_and_makes_the_estimator_stale(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    config = _pipeline(kafka_broker, redis_server, unique_name, tmp_path, stale_windows=2)
    scorer = Scorer(4)
    calm, calm_labels = scorer.rows(2 * WINDOW)
    drifted, drifted_labels = scorer.rows(2 * WINDOW, flip=0.3)  # same inputs, other labels
    events = calm + drifted
    _send(config, events)
    with running_daemon(config) as daemon:
        wait_until(lambda: model_status(config, MODEL)["windows_closed"] == 4, 60, "four windows")
        _send(config, _labels(events, calm_labels + drifted_labels), labels=True)
        wait_until(lambda: len(_reconciled(config)) == 4, 60, "four reconciled windows")
        stale = daemon.metrics.estimator_stale.labels(MODEL)._value.get()
        error = daemon.metrics.estimation_error.labels(MODEL, "accuracy")._value.get()
    status = model_status(config, MODEL)
    assert not _estimate_alerts(config)
    reconciled = _reconciled(config)
    for window in (0, 1):
        assert not reconciled[window]["accuracy"]["missed"]
    for window in (2, 3):
        row = reconciled[window]["accuracy"]
        assert abs(row["estimated"] - reconciled[0]["accuracy"]["estimated"]) < row["band"]
        assert row["realized"] < row["estimated"] - 0.1
        assert row["missed"]
    assert status["estimation"]["stale"]
    assert stale == 1
    assert error < -0.1
    page = _report(config)
    assert "estimated performance" in page
    assert "The estimator is stale" in page
    realized = reconciled[3]["accuracy"]["realized"]
    assert f"<td class='n'>{realized:.4f}</td>" in page  # beside its estimate


def _report(config: Config) -> str:
    from monitor import report

    client = connect(config.redis.url)
    try:
        return report.build(
            config, StateStore(client, Keys(config.redis.key_prefix), history_size=1000)
        )
    finally:
        client.close()


def test_kill_9_with_delayed_labels_counts_every_segment_and_join_exactly(
    fresh_kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    config = _pipeline(fresh_kafka_broker, redis_server, unique_name, tmp_path, partitions=2)
    path = tmp_path / "config.yaml"
    scorer = Scorer(5)
    events, labels = scorer.rows(8 * WINDOW)
    late = _labels(events, labels)
    for start in range(0, len(events), WINDOW):  # labels two windows behind their predictions
        _send(config, events[start : start + WINDOW])
        if start >= 2 * WINDOW:
            _send(config, late[start - 2 * WINDOW : start - WINDOW], labels=True)
    _send(config, late[-2 * WINDOW :], labels=True)
    log = tmp_path / "daemon.log"
    kill_9_when(
        path, log, lambda: model_status(config, MODEL)["events"] >= 3 * WINDOW, 60, "3 windows"
    )
    daemon = start_daemon_process(path, log)
    try:
        wait_until(
            lambda: model_status(config, MODEL)["labels"]["joined"] == len(events), 90, "joins"
        )
        wait_until(lambda: len(_reconciled(config)) == 8, 60, "eight reconciled windows")
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
    status = model_status(config, MODEL)
    assert status["events"] == len(events)
    assert status["labels"]["joined"] == len(events)
    client = connect(config.redis.url)
    try:
        store = StateStore(client, Keys(config.redis.key_prefix), history_size=1000)
        profile = store.reference(MODEL)
        assert isinstance(profile, ReferenceProfile)
        assert profile.estimator is not None
        kept = {w.window_id: w for w in history.read(store, MODEL, 100)}
    finally:
        client.close()
    from detectors.window import WindowLayout

    slots = WindowLayout(profile).estimator
    assert slots is not None
    estimator: BinaryEstimator = slots.estimator
    # Two partitions: a count window mixes them, so the windows' sum is what is exact.
    expected = estimator.accumulate(np.array([e["prediction"] for e in events]))
    states = [slots.state(kept[window].counts) for window in range(8)]
    assert all(state.events == WINDOW for state in states)
    np.testing.assert_array_equal(sum(state.counts for state in states), expected.counts)
    np.testing.assert_allclose(sum(state.sums for state in states), expected.sums, rtol=1e-9)
