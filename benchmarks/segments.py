"""Segments at speed: a segmented model's rate against the same model unsegmented, in one run.

Run::

    .venv/bin/python benchmarks/segments.py [--events N] [--warmup W] [--window-events E]
        [--profile FILE]

The script starts its own Tansu broker and two redis-servers
(``monitor.tooling.embedded``), writes ``benchmarks/throughput.py``'s reference (20k
events, seed 1) and produces its stream (seed 2: 20 numeric and 3 categorical features,
a numeric score, a ``segment`` tag of 20 uniform values) into one one-partition topic.
Two daemons read it, each with its own redis-server and consumer group, with
``throughput.py``'s settings (batches of 5,000, count windows of 5,000, so a window
closes in every batch: the harshest case for segments, whose cost is mostly in
judging and recording a window's 21 parts; ``--window-events`` sets another size,
and windows of ``k`` batches divide that cost by ``k``):

``unsegmented``
    The model as ``throughput.py``'s e2e runs it.
``segmented``
    The same model segmented by ``tags.segment`` (README, "Segments"): each batch also
    counts 20 segment windows of ~250 events, and each window judges 21 parts (2,987
    results against 142) in one family of tests.

**Same moments.** ``throughput.py`` runs the two one after the other, so the ratio it
prints moves with whatever else the machine does meanwhile (0.36 to 0.54 in runs of
one quiet evening). Here the daemons are stepped in turn, one ``run_once()`` at a
time, the one behind in the stream first (``benchmarks/labels.py``'s runners), and only
the time inside ``run_once()`` counts, from the end of the first ``--warmup`` events
(default 50,000: ten windows, while the no-drift levels of the segments' new window
sizes are first computed). Redis is then checked: every event counted once.

Printed per daemon: events, seconds, batches, events/s, Redis round trips and server
commands per batch, and milliseconds per batch in each step of the loop; ``evaluate``
is split into ``judge`` (reading the window and computing its results), ``latest``
(the latest-results fields), ``alert_plan`` and ``finalize`` (recording it all in
one script).

**Bound.** The ``bound:`` line takes the segmented run's extra time per batch over
the unsegmented one's, split into counting (``plan`` and ``apply``: the segments'
counts, written by the same script) and judging and recording (``evaluate``), and says
what the ratio would be if judging and recording the segments cost nothing: the
ceiling the counting alone sets.

``--profile FILE`` runs the segmented timed section under cProfile (its rate is then
slowed), prints the top functions and dumps the stats to FILE.

The machine may be shared: compare figures of one run only. Last line::

    segmented_ratio=<segmented events/s over unsegmented events/s>
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import logging
import sys
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import redis

if __package__ in (None, ""):  # run as a script: the repository root is not on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.labels import NESTED, STEPS, Run, Runner, print_profile, step_in_turn
from benchmarks.throughput import (
    DLQ_TOPIC,
    WINDOW_EVENTS,
    bench_config,
    blas_line,
    delete_topic,
    for_topic,
    load_average,
    produce_round,
    write_reference,
)
from monitor.blas_threads import limit_blas_threads
from monitor.config import KafkaConfig
from monitor.logs import configure_logging
from monitor.tooling.embedded import KafkaBroker, RedisServer

BATCH_SIZE = KafkaConfig().batch_size
"""The daemon's default, as ``throughput.py`` and ``labels.py`` run it."""

#: ``benchmarks/labels.py``'s steps, with the window's evaluation split in four.
SEGMENT_STEPS = (
    *STEPS,
    ("judge", "evaluator", "_evaluate"),
    ("latest", "evaluation", "latest_fields"),
    ("alert_plan", "evaluator", "_plan"),
    ("finalize", "store", "finalize"),
)

#: Steps timed inside ``evaluate``, beside those inside ``plan``.
SEGMENT_NESTED = NESTED | {"judge", "latest", "alert_plan", "finalize"}

#: The steps of the counting: the segments' counts are made in ``plan`` and written in
#: ``apply``, with the model's.
COUNTING_STEPS = ("plan", "apply")


@dataclass(frozen=True, slots=True)
class SegmentRatio:
    unsegmented: Run
    segmented: Run

    @property
    def ratio(self) -> float:
        return self.segmented.share_of(self.unsegmented)

    def extra_ms(self, steps: Sequence[str]) -> float:
        """The segmented run's milliseconds per batch in ``steps`` beyond the other's."""
        return sum(self.segmented.ms_per_batch(s) - self.unsegmented.ms_per_batch(s) for s in steps)

    def counting_bound(self) -> float:
        """The ratio if judging and recording the segments cost nothing: the segmented
        batches less their extra ``evaluate`` time (see the module's docstring, "Bound")."""
        return self.segmented.share_of(self.unsegmented, self.extra_ms(("evaluate",)))


def measure_segment_ratio(
    events: int = 250_000,
    warmup: int = 50_000,
    *,
    window_events: int = WINDOW_EVENTS,
    profile: Path | None = None,
    say: Any = print,
) -> SegmentRatio:
    """Both daemons on the same stream, each on its own redis-server."""
    with contextlib.ExitStack() as stack:
        broker = stack.enter_context(KafkaBroker())
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dm-segments-")))
        reference = write_reference(workdir)
        topic = f"bench-segments-{uuid.uuid4().hex[:8]}"
        broker.create_topics([topic, DLQ_TOPIC], partitions=1)
        stack.callback(delete_topic, broker, topic)
        servers = [stack.enter_context(RedisServer()) for _ in range(2)]
        bench = partial(
            bench_config,
            broker,
            reference=reference,
            batch_size=BATCH_SIZE,
            window_events=window_events,
        )
        configs = [
            for_topic(bench(server.url, segmented=by), topic, 0)
            for server, by in zip(servers, (False, True), strict=True)
        ]
        seconds = produce_round(configs[0], 0, events)
        say(
            f"produced {events:,} events in {seconds:.1f} s (untimed); warm-up {warmup:,} "
            f"events; {load_average()}"
        )
        profiler = cProfile.Profile() if profile is not None else None
        arrivals = {topic: np.arange(events, dtype=np.float64)}
        runners = []
        for name, config, server, profiled in (
            ("unsegmented", configs[0], servers[0], None),
            ("segmented", configs[1], servers[1], profiler),
        ):
            admin = stack.enter_context(contextlib.closing(redis.Redis.from_url(server.url)))
            runner = Runner(
                name, config, admin, arrivals, warmup, profiled, SEGMENT_STEPS, SEGMENT_NESTED
            )
            stack.callback(runner.close)
            runners.append(runner)
        unsegmented, segmented = step_in_turn(runners)
        say(unsegmented.line())
        say(segmented.line())
        if profiler is not None and profile is not None:
            print_profile(profiler, profile, "segmented", say)
        return SegmentRatio(unsegmented, segmented)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=250_000)
    parser.add_argument("--warmup", type=int, default=50_000, help="events not timed")
    parser.add_argument(
        "--window-events",
        type=int,
        default=WINDOW_EVENTS,
        help="events per count window (default: a window closing in every batch)",
    )
    parser.add_argument("--profile", type=Path, help="cProfile the segmented run into FILE")
    args = parser.parse_args(argv)
    if not 0 <= args.warmup < args.events:
        parser.error("--warmup must be below --events")
    configure_logging("text", "WARNING")
    logging.getLogger("monitor.tooling.embedded").setLevel(logging.ERROR)
    print(blas_line(limit_blas_threads()))
    result = measure_segment_ratio(
        args.events, args.warmup, window_events=args.window_events, profile=args.profile
    )
    segmented = result.segmented
    batch_ms = segmented.seconds / max(segmented.batches, 1) * 1000
    print(
        f"bound: segments add {result.extra_ms(COUNTING_STEPS):.1f} ms of counting and "
        f"{result.extra_ms(('evaluate',)):.1f} ms of judging and recording to a "
        f"{batch_ms:.1f} ms segmented batch; with judging and recording free, "
        f"segmented_ratio would be {result.counting_bound():.2f}"
    )
    print(f"{load_average()}; the machine may be shared: compare figures of one run only")
    print(f"segmented_ratio={result.ratio:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
