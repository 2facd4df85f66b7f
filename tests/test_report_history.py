"""The kept counts of closed windows (bounded, idempotent) and the report's empty states.

Real Redis; no Kafka (the report reads Redis alone).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import redis

from detectors.window import WindowLayout
from monitor.config import Config
from monitor.embedded import RedisServer
from monitor.keys import Keys
from monitor.reference import build_profile_from_file
from monitor.report import build, history
from monitor.store import StateStore, StoredWindow
from monitor.synthetic import SyntheticModel
from tests.daemon_harness import pipeline_config, write_reference

pytestmark = pytest.mark.integration

MODEL = SyntheticModel(name="m<b>", numeric=2, categorical=1)


def _config(redis_url: str, tmp_path: Path) -> Config:
    return pipeline_config(
        bootstrap="127.0.0.1:9",
        redis_url=redis_url,
        topic="t",
        group="report",
        model=MODEL,
        reference=write_reference(tmp_path / "reference.jsonl", MODEL, events=2000),
    )


def _layout(config: Config) -> WindowLayout:
    model = config.models[MODEL.name]
    assert model.reference.path is not None
    return WindowLayout(build_profile_from_file(config, model, Path(model.reference.path)))


def _window(layout: WindowLayout, window_id: int) -> StoredWindow:
    counts = layout.empty()
    counts.events = 100 + window_id
    counts.ints[:] = np.arange(layout.int_size) + window_id
    counts.floats[:] = np.linspace(0.0, 1.0, layout.float_size) * window_id
    return StoredWindow(
        window_id, counts, 10.0 * window_id, 10.0 * window_id + 9, layout.profile.id, "v1"
    )


def test_kept_counts_round_trip_are_bounded_and_idempotent(
    redis_server: RedisServer, redis_client: redis.Redis, tmp_path: Path
) -> None:
    layout = _layout(_config(redis_server.url, tmp_path))
    store = StateStore(redis_client, Keys("t"), history_size=3)
    for window_id in range(5):
        history.record(store, MODEL.name, _window(layout, window_id))
    history.record(store, MODEL.name, _window(layout, 4))  # evaluated again after a crash
    history.record(store, MODEL.name, _window(layout, 0))  # older than every kept one: dropped
    kept = history.read(store, MODEL.name)
    assert [w.window_id for w in kept] == [2, 3, 4]
    assert redis_client.hlen(store.keys.count_history(MODEL.name)) == 3
    newest = kept[-1]
    expected = _window(layout, 4)
    assert newest.counts.events == 104
    assert np.array_equal(newest.counts.ints, expected.counts.ints)
    assert np.array_equal(newest.counts.floats, expected.counts.floats)
    assert (newest.start_ts, newest.end_ts, newest.model_version) == (40.0, 49.0, "v1")
    assert history.fitting(kept, layout) == kept
    assert [w.window_id for w in history.read(store, MODEL.name, 2)] == [3, 4]


def test_a_report_without_a_reference_or_windows_says_so(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    config = _config(redis_server.url, tmp_path)
    client = redis.Redis.from_url(redis_server.url)
    store = StateStore(client, Keys(config.redis.key_prefix), history_size=10)
    page = build(config, store)
    assert "No reference profile in Redis yet" in page
    assert "m&lt;b&gt;" in page
    assert "model m&lt;b&gt;</h2>" in page
    store.store_reference(_layout(config).profile)
    page = build(config, store)
    assert "No closed window with kept counts yet; the first closes after 5,000 events" in page
    assert "the model has no <code>task</code>" in page
