"""A high-cardinality window summed in a real Redis, batch by batch, as the daemon counts it."""

from __future__ import annotations

import numpy as np
import pytest
import redis

from detectors.window import WindowLayout
from monitor.batch_data import BatchWrite, ModelWrite, WindowDelta
from monitor.keys import Keys
from monitor.store import StateStore
from tests.unit import test_high_cardinality as high_cardinality
from tests.unit.test_high_cardinality import BOT, SEED, count, merchants

layout = high_cardinality.layout  # the module fixture: the 100,000-event reference's layout


@pytest.mark.integration
def test_redis_adds_up_sketches_and_names_as_the_window_counts_do(
    layout: WindowLayout, redis_client: redis.Redis
) -> None:
    """apply_batch.lua sums the sketch with the other counters and merges the names as
    ``merge_names`` does (ties by code point, whatever the server's locale), so the window
    read back is the sum of its batches, names included, odd values too."""
    store = StateStore(redis_client, Keys("hicard-test"), history_size=10)
    odd = ["", "1", "Zürich", 'quote"d', "ünïcode-✓", "a b", "true"]
    rng = np.random.default_rng([SEED, 9])
    batches = [
        count(layout, merchants(rng, 800) + odd * (1 + seed) + [BOT] * (50 * seed), batch=10**6)
        for seed in range(5)
    ]
    events = 0
    for offset, delta in enumerate(batches):
        write = ModelWrite(
            model="shop",
            expected_events=events,
            events=delta.events,
            reference_id=layout.profile.id,
            windows=[WindowDelta(0, delta, start_ts=1.0, end_ts=2.0)],
        )
        assert store.apply(BatchWrite({("t", 0): (offset, offset + 1)}, [write])).status == "ok"
        events += delta.events
    stored = store.window("shop", 0, layout).counts
    whole = batches[0]
    for delta in batches[1:]:
        whole = whole + delta
    np.testing.assert_array_equal(stored.ints, whole.ints)
    assert stored.names == whole.names
    assert list(stored.names["merchant"].items()) == list(whole.names["merchant"].items())
    assert next(iter(stored.names["merchant"])) == BOT
