"""A high-cardinality feature end to end: real broker, real Redis, the daemon in a thread.

``merchant`` has about 50,000 distinct values in the reference and brings thousands of
new ones in every window (see ``tests/unit/test_high_cardinality.py`` for the distribution).
Its window state in Redis is a fixed-size vector and at most ``WINDOW_NAMES`` names;
three windows like the reference raise nothing; the fourth, where one new value takes a
fifth of the traffic, is flagged and the value named in the stored result.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis

from detectors.sketch import SKETCH_DEPTH, SKETCH_WIDTH, WINDOW_NAMES
from monitor.keys import Keys
from monitor.status_view import StatusQuery, render
from monitor.tooling.embedded import KafkaBroker, RedisServer
from monitor.tooling.synthetic import SyntheticModel
from tests.daemon_harness import model_status, new_pipeline, running_daemon, wait_until
from tests.helpers import produce_json
from tests.unit.test_high_cardinality import BOT, N_REF, SEED, merchants, with_bot

pytestmark = pytest.mark.integration

MODEL = SyntheticModel(name="shop", numeric=1, categorical=0)
WINDOW = 5_000
WINDOWS = 4


def _events(values: list[str], first: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    amounts = rng.normal(50.0, 10.0, len(values)).tolist()
    return [
        {
            "event_id": str(first + i),
            "model": MODEL.name,
            "ts": 1_764_000_000.0 + first + i,
            "features": {"merchant": value, "num_0": amount},
            "prediction": 0.5,
        }
        for i, (value, amount) in enumerate(zip(values, amounts, strict=True))
    ]


@pytest.fixture(scope="module")
def reference_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ref") / "reference.jsonl"
    rng = np.random.default_rng([SEED, 10])
    events = _events(merchants(rng, N_REF), 0, rng)
    path.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    return path


def test_a_new_dominant_value_is_named_end_to_end_with_state_bounded_in_redis(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    reference_file: Path,
) -> None:
    topic, config = new_pipeline(
        kafka_broker,
        redis_server.url,
        unique_name,
        MODEL,
        reference=reference_file,
        extra_model={"features": {"merchant": "categorical", "num_0": "numeric"}},
    )
    rng = np.random.default_rng([SEED, 11])
    stream = merchants(rng, WINDOW * WINDOWS)
    stream[-WINDOW:] = with_bot(stream[-WINDOW:], 0.2, seed=12)
    events = _events(stream, 0, rng)
    client = redis.Redis.from_url(redis_server.url)
    window_key = Keys(config.redis.key_prefix).window(MODEL.name, 0)
    with running_daemon(config):
        # Most of window 0, still open: its state in Redis, after several batches.
        produce_json(kafka_broker.bootstrap_servers, topic, events[:4_000], partition_key=None)
        wait_until(lambda: model_status(config, MODEL.name)["events"] == 4_000, 60, "4,000 events")
        stored = client.hgetall(window_key)
        produce_json(kafka_broker.bootstrap_servers, topic, events[4_000:], partition_key=None)
        wait_until(
            lambda: model_status(config, MODEL.name)["windows_closed"] == WINDOWS,
            120,
            "every window to close",
        )
    status = model_status(config, MODEL.name)
    client.close()

    # Counters: num_0 (50 bins + 4), prediction (bins + 4), merchant (100 + 4 + sketch).
    merchant_counters = 100 + 2 + 2 + SKETCH_WIDTH * SKETCH_DEPTH
    assert len(stored[b"ints"]) < (merchant_counters + 2 * 54) * 8
    tails = json.loads(stored[b"tails"])
    assert 0 < len(tails["merchant"]) <= WINDOW_NAMES

    drifted = {
        entry["window"]["id"]: {name for name in entry["drifted"] if name.startswith("merchant")}
        for entry in status["windows"]
    }
    assert drifted[0] == drifted[1] == drifted[2] == set()
    assert {"merchant/dominant_value", "merchant/unseen_rate"} <= drifted[3]
    dominant = status["signals"]["merchant/dominant_value"]
    assert dominant["drifted"]
    assert dominant["window"]["id"] == 3
    (named,) = dominant["values"]
    assert named["value"] == BOT
    assert named["unseen"]
    assert named["share"] == pytest.approx(0.2, abs=0.02)
    lines = [
        line.plain
        for line in render({MODEL.name: status}, {MODEL.name: 0}, StatusQuery(), width=80, now=0)
    ]
    assert (
        f"  merchant: {BOT!r} is {named['share']:.1%} of the window (never in the reference)"
        in (lines)
    )
