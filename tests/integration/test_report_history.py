"""The kept counts of closed windows (bounded, idempotent) and the report's empty states.

Real Redis; no Kafka (the report reads Redis alone).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
import redis

from detectors.evaluate import SignalResult
from detectors.quality import accumulate_pairs
from detectors.window import WindowLayout
from monitor.cli import main
from monitor.config import Config
from monitor.keys import Keys
from monitor.reference import build_profile_from_file
from monitor.report import build, history
from monitor.store import StateStore, StoredWindow
from monitor.tooling.embedded import RedisServer
from monitor.tooling.kept_windows import keep_windows
from monitor.tooling.synthetic import SyntheticModel, generate
from tests.daemon_harness import pipeline_config, write_config_file, write_reference

pytestmark = pytest.mark.integration

MODEL = SyntheticModel(name="m<b>", numeric=2, categorical=1)


def _config(
    redis_url: str, tmp_path: Path, model: SyntheticModel = MODEL, events: int = 2000
) -> Config:
    """A config of this Redis (no Kafka: the report reads Redis alone), with a reference."""
    return pipeline_config(
        bootstrap="127.0.0.1:9",
        redis_url=redis_url,
        topic="t",
        group=f"report-{model.name}",
        model=model,
        reference=write_reference(tmp_path / "reference.jsonl", model, events=events),
    )


def _layout(config: Config, name: str = MODEL.name) -> WindowLayout:
    model = config.models[name]
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
        history.record(store, MODEL.name, _window(layout, window_id), layout, keep=3)
    verdict = SignalResult("num_0", "feature", "ks", 0.3, 1e-9, 0.3, 0.1, 0.2, True, "critical")
    history.record(
        store, MODEL.name, _window(layout, 4), layout, [verdict], keep=3
    )  # again, as recorded
    history.record(
        store, MODEL.name, _window(layout, 0), layout, keep=3
    )  # older than every kept one: dropped
    kept = history.read(store, MODEL.name)
    assert [w.window_id for w in kept] == [2, 3, 4]
    assert redis_client.hlen(store.keys.count_history(MODEL.name)) == 3
    newest = kept[-1]
    expected = _window(layout, 4)
    assert newest.counts.events == 104
    assert np.array_equal(newest.counts.ints, expected.counts.ints)
    assert np.array_equal(newest.counts.floats, expected.counts.floats)
    assert (newest.start_ts, newest.end_ts, newest.model_version) == (40.0, 49.0, "v1")
    assert newest.results == (verdict,)
    assert kept[0].results is None  # kept without results: the report recomputes them
    assert history.fitting(kept, layout) == kept
    assert [w.window_id for w in history.read(store, MODEL.name, 2)] == [3, 4]
    redis_client.hset(store.keys.count_history(MODEL.name), "3", b"garbage")
    assert [w.window_id for w in history.read(store, MODEL.name)] == [2, 4]


def test_a_counts_history_of_zero_keeps_no_window(
    redis_server: RedisServer, redis_client: redis.Redis, tmp_path: Path
) -> None:
    layout = _layout(_config(redis_server.url, tmp_path))
    store = StateStore(redis_client, Keys("t"), history_size=3)
    history.record(store, MODEL.name, _window(layout, 0), layout, keep=0)
    assert history.read(store, MODEL.name) == []


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


def test_a_report_of_25_signals_by_200_windows_fits_the_budget(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """The issue's budget: at most 3 MB, quick to build (render time in Chromium:
    benchmarks/report_size.py, figures in the README)."""
    model = SyntheticModel(name="budget", numeric=21, categorical=3)
    config = _config(redis_server.url, tmp_path, model, 5000)
    layout = _layout(config, model.name)
    assert len(layout.profile.signals) == 25
    store = StateStore(
        redis.Redis.from_url(redis_server.url), Keys(config.redis.key_prefix), history_size=1000
    )
    store.store_reference(layout.profile)
    keep_windows(store, config, layout, 200, "num_2")
    started = time.perf_counter()
    page = build(config, store, windows=200)
    took = time.perf_counter() - started
    size = len(page.encode())
    print(f"25 signals x 200 windows: {size / 1e6:.2f} MB, built in {took:.2f} s")
    assert size < 3_000_000
    assert took < 5.0  # 0.7 s measured; generous for a loaded CI machine
    assert "data-signal='num_2' data-method=" in page
    assert "num_2</span> from window 100" in page


def test_joint_sums_of_a_wide_model_are_not_kept(
    redis_server: RedisServer, redis_client: redis.Redis, tmp_path: Path
) -> None:
    model = SyntheticModel(name="wide", numeric=history.JOINT_KEPT_FEATURES + 1, categorical=0)
    config = _config(redis_server.url, tmp_path, model, 1000)
    layout = _layout(config, model.name)
    assert layout.joint is not None
    store = StateStore(redis_client, Keys(config.redis.key_prefix), history_size=5)
    keep_windows(store, config, layout, 2, "num_0")
    kept = history.read(store, model.name)
    assert [w.counts.floats.size for w in kept] == [layout.joint.sums.start] * 2
    drawn = history.fitting(kept, layout)
    assert [w.counts.floats.size for w in drawn] == [layout.float_size] * 2
    assert [int(w.counts.ints[layout.joint.rows]) for w in drawn] == [0, 0]
    assert history.bytes_per_window(layout) == 8 * (layout.int_size + layout.joint.sums.start)
    store.store_reference(layout.profile)
    page = build(config, store)
    assert f"joint sums of {model.numeric} numeric features are not kept" in page
    assert page.count("<svg") - page.count("class='histogram'") == 60  # timelines, at most
    assert "num_0</span> from window 1" in page
    # 65 features, the prediction and the joint timeline (from the recorded results): 67
    assert "7 more signals did not drift in these windows and are not drawn" in page


def _labelled(redis_url: str, tmp_path: Path, rng: np.random.Generator) -> Config:
    """A binary model whose reference has labels, windows needing 200 of them."""
    reference = tmp_path / "labelled.jsonl"
    events = [json.loads(raw) for raw in generate(MODEL, 0, 2000, seed=1)]
    with reference.open("w") as handle:
        for event in events:
            handle.write(json.dumps({**event, "label": int(rng.random() < event["prediction"])}))
            handle.write("\n")
    return pipeline_config(
        bootstrap="127.0.0.1:9",
        redis_url=redis_url,
        topic="t",
        group="report-labels",
        model=MODEL,
        reference=reference,
        extra_model={"task": "binary", "labels": {"min_labels": 200}},
        kafka_extra={"labels_topic": "t.labels"},
    )


def test_a_report_of_a_model_whose_labels_have_not_come_says_so(
    redis_server: RedisServer, redis_client: redis.Redis, tmp_path: Path
) -> None:
    config = _labelled(redis_server.url, tmp_path, np.random.default_rng(4))
    layout = _layout(config)
    store = StateStore(redis_client, Keys(config.redis.key_prefix), history_size=10)
    store.store_reference(layout.profile)
    keep_windows(store, config, layout, 2, "num_0")
    page = build(config, store)
    assert "<b>labels joined</b>0" in page
    assert "no window has enough joined labels yet (a window needs 200)" in page
    assert "data-signal='error_rate'" not in page
    assert "timelines: windows 0 to 1" in page  # the rest of the report is drawn


def test_quality_from_labels_has_its_timeline_against_the_reference_baseline(
    redis_server: RedisServer, redis_client: redis.Redis, tmp_path: Path
) -> None:
    """Windows whose labels disagree with the scores more than the reference's did are
    drawn drifted on an ``error_rate`` timeline."""
    rng = np.random.default_rng(4)
    config = _labelled(redis_server.url, tmp_path, rng)
    layout = _layout(config)
    assert layout.profile.quality is not None
    store = StateStore(redis_client, Keys(config.redis.key_prefix), history_size=10)
    store.store_reference(layout.profile)
    keep_windows(store, config, layout, 4, "num_0")
    for window_id in range(4):
        scores = rng.random(500)
        labels = (rng.random(500) < scores).astype(int)
        if window_id >= 2:  # labels flipped: the error rate rises
            labels = 1 - labels
        counts = accumulate_pairs("binary", scores.tolist(), labels.tolist())
        fields = {f"i:{k}": v for k, v in counts.ints.items()}
        fields.update({f"f:{k}": repr(v) for k, v in counts.floats.items()})
        redis_client.hset(store.keys.quality(MODEL.name, window_id), mapping=fields)
        redis_client.zadd(store.keys.quality_windows(MODEL.name), {str(window_id): window_id})
    page = build(config, store)
    found = re.search(
        r"data-signal='error_rate' data-method='[a-z_]+' data-drifted='([^']*)'", page
    )
    assert found is not None
    assert found.group(1) == "2 3"
    assert "Quality from labels" not in page  # nothing to excuse: the timeline is there


def test_report_refuses_a_model_or_signal_the_config_does_not_name(
    redis_server: RedisServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config_file(
        tmp_path / "config.yaml",
        bootstrap="127.0.0.1:9",
        redis_url=redis_server.url,
        topic="t",
        group="report-cli",
        model=MODEL,
    )
    out = tmp_path / "r.html"
    assert main(["report", "-c", str(path), "--model", "nope", "--out", str(out)]) == 1
    assert "no model 'nope'" in capsys.readouterr().err
    assert main(["report", "-c", str(path), "--signal", "num_9", "--out", str(out)]) == 1
    assert "no signal 'num_9'" in capsys.readouterr().err
    assert not out.exists()
    assert main(["report", "-c", str(path), "--signal", "num_1", "--out", str(out)]) == 0
    assert "No reference profile in Redis yet" in out.read_text()
