"""Labels at speed: the labelled stream's rate against the prediction-only rate, in one run.

Run::

    .venv/bin/python benchmarks/labels.py [--predictions N] [--warmup W] [--profile FILE]

The script starts its own Tansu broker and redis-servers (``monitor.tooling.embedded``;
:func:`measure_label_ratio` can be given the broker and one redis-server), and
measures two daemons on the same prediction events (seed 2 of
``monitor.tooling.synthetic``: 20 numeric and 3 categorical features, a numeric score,
``event_id``, event times 100 events per second apart), each with its own
redis-server, a fresh consumer group and the default batch settings, driven by
``Daemon.run_once()`` as ``Daemon.run()`` drives it:

``predictions_only``
    The model as ``task: binary`` with no labels topic: the prediction path.
``labelled``
    The same model reading a labels topic too: 90% of the predictions get one
    label ``{"event_id", "model", "label", "ts"}`` (binary, calibrated on the
    score), whose event time is its prediction's plus a delay drawn uniformly
    from 0 to 10 minutes (0 to 60,000 predictions of this stream later).

**Live order.** Both topics are produced before the clocks run, so the
consumer's fetches alone would decide how the topics interleave (labels are
8 times smaller, so a fetch brings them far ahead of their predictions). The
daemon's source is therefore wrapped (:class:`LiveOrderSource`): it fetches as
the daemon's ``KafkaSource`` does and hands the daemon batches of
``kafka.batch_size`` messages in the order they would have arrived live, by
event time, a prediction before a label of the same instant. So every label
reaches the daemon 0 to 10 minutes (of event time) after its prediction, and
each batch carries the labels that arrived during its predictions, about 0.9
labels per prediction once the first 10 minutes are past. Labels that would
arrive after the last prediction are not produced (the run ends there).

**Steady state, same moments.** The two daemons are stepped in turn, one
``run_once()`` at a time, the one behind in the stream first, so a shared
machine's load falls on both alike; only the time inside ``run_once()`` counts,
from the end of the first ``--warmup`` predictions (default 60,000, the first
10 minutes, while fewer labels are due) until every message of both topics is
consumed and applied. Redis is then checked: every prediction counted once,
every label received and joined once, none waiting, the unlabelled predictions
waiting.

The rates are predictions per second of that time; a batch of the labelled run
carries about half as many predictions as one of the prediction-only run, since
its labels take the rest (messages/s are printed too, and their ratio). Also
printed: batches, Redis round trips per batch (client side), the server's
commands and time per batch (``INFO commandstats``, each daemon on its own
redis-server), and milliseconds per batch in each step of the loop.

**Bound.** The labelled run consumes and decodes about twice the messages per
prediction, so even a free join leaves it below the prediction-only rate. The
``bound:`` line says how far below, from the per-step milliseconds of this run:
the labelled batch's join work is ``batch_reads`` (the ids to look up),
``batch_read`` (the waiting entries read), ``join_keys`` and ``join_plan`` (the
keyed predictions and the join planned, both inside ``plan``), ``judge_quality``,
and its share of ``apply`` (taken as the labelled run's apply time per batch less
the prediction-only run's: both write their windows, only the labelled one writes
joins); with that time taken out of each labelled batch, the labelled rate over the
prediction-only rate is the ceiling that consuming and decoding alone set. The
per-batch figures of the rest (poll, decodes, the windows' planning and apply,
evaluate) are the labelled run's own.

``--profile FILE`` runs the labelled timed section under cProfile (its rate is
then slowed), prints the top functions and dumps the stats to FILE.

The machine may be shared: compare figures of one run only. Last line::

    label_ratio=<labelled predictions/s over predictions_only predictions/s>
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import logging
import operator
import pstats
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import compress, repeat
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import redis
from confluent_kafka import Message, TopicPartition
from numpy.typing import NDArray

if __package__ in (None, ""):  # run as a script: the repository root is not on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.throughput import (
    DLQ_TOPIC,
    KAFKA_CONSUMER,
    LABEL_NEVER,
    LABEL_SEED,
    MODEL,
    STALL_SECONDS,
    STREAM_SEED,
    CountingConnection,
    blas_line,
    counting_client,
    delete_topic,
    load_average,
    model_config,
    write_labelled_reference,
)
from monitor.batch_planning import plan_batch
from monitor.blas_threads import limit_blas_threads
from monitor.config import Config, parse_config
from monitor.daemon import Daemon
from monitor.logs import configure_logging
from monitor.replay import produce_lines
from monitor.source import Batch, KafkaSource
from monitor.tooling.embedded import KafkaBroker, RedisServer
from monitor.tooling.synthetic import blocks

EVENTS_PER_SECOND = 100.0  # of event time, as monitor.tooling.synthetic spaces the stream
MAX_LABEL_DELAY = 600.0  # seconds of event time: labels 0 to 10 minutes behind
GENERATOR_BLOCK = 10_000


# --------------------------------------------------------------------------------------------
# The stream
# --------------------------------------------------------------------------------------------


class Scored(msgspec.Struct):
    event_id: str
    prediction: float
    ts: float


@dataclass(slots=True)
class Stream:
    """Predictions and their labels, each with its live arrival time (its event time)."""

    predictions: list[bytes]
    prediction_arrivals: NDArray[np.float64]
    labels: list[bytes]
    label_arrivals: NDArray[np.float64]


def make_stream(count: int) -> Stream:
    """``count`` predictions, and labels 0 to 10 minutes behind 90% of them, in arrival order."""
    rng = np.random.default_rng([LABEL_SEED, 10])
    decode = msgspec.json.Decoder(Scored).decode
    encode = msgspec.json.Encoder().encode
    predictions: list[bytes] = []
    arrivals: list[float] = []
    pending: list[tuple[float, bytes]] = []
    for block in blocks(MODEL, count, block=GENERATOR_BLOCK, seed=STREAM_SEED):
        fate = rng.random(len(block)).tolist()
        draw = rng.random(len(block)).tolist()
        delay = (rng.random(len(block)) * MAX_LABEL_DELAY).tolist()
        for i, raw in enumerate(block):
            event = decode(raw)
            predictions.append(raw)
            arrivals.append(event.ts)
            if fate[i] < LABEL_NEVER:
                continue
            ts = event.ts + delay[i]
            label = {
                "event_id": event.event_id,
                "model": MODEL.name,
                "label": int(draw[i] < event.prediction),
                "ts": ts,
            }
            pending.append((ts, encode(label)))
    last = arrivals[-1]
    pending = sorted(p for p in pending if p[0] <= last)  # the rest would come after the run
    return Stream(
        predictions,
        np.asarray(arrivals, dtype=np.float64),
        [value for _, value in pending],
        np.asarray([ts for ts, _ in pending], dtype=np.float64),
    )


# --------------------------------------------------------------------------------------------
# The daemon's source, in live order
# --------------------------------------------------------------------------------------------


class LiveOrderSource(KafkaSource):
    """The daemon's Kafka source, handing out batches in the messages' live arrival order.

    ``arrivals`` gives, per topic (one partition each), every message's arrival
    time by offset. The merged order is computed up front; each poll fetches (as
    ``KafkaSource.poll`` does, pausing a topic that already has enough buffered)
    until it holds the next ``batch_size`` messages of that order, and returns them.
    """

    def __init__(self, *args: Any, arrivals: dict[str, NDArray[np.float64]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._names = list(arrivals)
        times = np.concatenate([arrivals[t] for t in self._names])
        which = np.concatenate(
            [np.full(arrivals[t].size, i, dtype=np.int8) for i, t in enumerate(self._names)]
        )
        # Stable: on equal times the earlier topic (predictions) comes first.
        self._order = which[np.argsort(times, kind="stable")]
        self._given = 0
        self._buffers: dict[str, list[Message]] = {t: [] for t in self._names}
        self._paused: set[str] = set()
        self.given = dict.fromkeys(self._names, 0)
        """Messages handed to the daemon so far, per topic."""

    def poll(self) -> Batch:
        size = self._config.kafka.batch_size
        order = self._order[self._given : self._given + size]
        if not order.size:
            return KafkaSource.poll(self)  # nothing more is due: behave as an idle source
        need = {t: int(np.count_nonzero(order == i)) for i, t in enumerate(self._names)}
        deadline = time.monotonic() + 10.0
        while any(len(self._buffers[t]) < n for t, n in need.items()):
            self._pause_satisfied(need)
            fetched = KafkaSource.poll(self)
            if len(self._names) == 1:
                self._buffers[self._names[0]] += fetched.messages
            else:
                # C-level maps, as the daemon's own split by topic: the harness's work is
                # timed as the source's poll.
                topics = list(map(Message.topic, fetched.messages))
                for topic, buffer in self._buffers.items():
                    buffer += compress(fetched.messages, map(operator.eq, topics, repeat(topic)))
            if time.monotonic() > deadline:
                return Batch([], {})  # not assigned yet, or the broker is slow: try again
        # Within a batch the daemon splits the messages by topic anyway: each topic's part,
        # in offset order, one after the other.
        messages: list[Message] = []
        offsets: dict[tuple[str, int], tuple[int, int]] = {}
        for topic, count in need.items():
            if not count:
                continue
            buffer = self._buffers[topic]
            part, self._buffers[topic] = buffer[:count], buffer[count:]
            messages += part
            first, last = part[0].offset(), part[-1].offset()
            assert first is not None  # consumed messages have offsets
            assert last is not None
            offsets[(topic, 0)] = (first, last + 1)
            self.given[topic] += count
        self._given += len(messages)
        return Batch(messages, offsets)

    def _pause_satisfied(self, need: dict[str, int]) -> None:
        """Pause a topic far ahead, resume it when it runs low: with a wide gap between
        the two, pausing is rare (each resume restarts that partition's fetching)."""
        consumer = self._require()
        size = self._config.kafka.batch_size
        for topic, count in need.items():
            held = len(self._buffers[topic])
            if held >= max(count, 8 * size) and topic not in self._paused:
                consumer.pause([TopicPartition(topic, 0)])
                self._paused.add(topic)
            elif held < count + 2 * size and topic in self._paused:
                consumer.resume([TopicPartition(topic, 0)])
                self._paused.discard(topic)


# --------------------------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------------------------


#: Steps timed inside another (``plan``): left out of the sum that ``rest`` is left from.
NESTED = frozenset({"join_keys", "join_plan"})


@dataclass(slots=True)
class Run:
    """One daemon's timed section."""

    name: str
    predictions: int = 0
    labels: int = 0
    seconds: float = 0.0
    batches: int = 0
    round_trips: int = 0
    commands: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Per command: calls and server microseconds in the timed section."""
    steps: dict[str, float] = field(default_factory=dict)
    """Seconds in each of ``STEPS`` in the timed section."""
    nested: frozenset[str] = NESTED
    """The steps timed inside another, left out of the sum that ``rest`` is left from."""

    @property
    def rate(self) -> float:
        return self.predictions / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        per = max(self.batches, 1)
        calls = sum(c for c, _ in self.commands.values())
        top = sorted(self.commands.items(), key=lambda kv: -kv[1][1])[:6]
        return (
            f"{self.name}: {self.predictions:,} predictions + {self.labels:,} labels in "
            f"{self.seconds:.2f} s, {self.batches} batches: {self.rate:,.0f} predictions/s, "
            f"{(self.predictions + self.labels) / max(self.seconds, 1e-9):,.0f} messages/s; "
            f"per batch {self.round_trips / per:.1f} round trips, {calls / per:,.0f} commands "
            "(server: "
            + ", ".join(f"{k} {c / per:,.0f}x {us / per / 1000:.2f} ms" for k, (c, us) in top)
            + ")\n  ms per batch: "
            + ", ".join(f"{k} {v / per * 1000:.1f}" for k, v in self.steps.items())
            + f", rest {(self.seconds - self.outer_seconds) / per * 1000:.1f}"
        )

    @property
    def outer_seconds(self) -> float:
        """Seconds in the timed steps, a nested step counted once (in its outer step)."""
        return sum(v for k, v in self.steps.items() if k not in self.nested)

    def ms_per_batch(self, step: str) -> float:
        return self.steps.get(step, 0.0) / max(self.batches, 1) * 1000

    def share_of(self, base: Run, saved_ms_per_batch: float = 0.0) -> float:
        """This run's rate over ``base``'s, had each of its batches taken
        ``saved_ms_per_batch`` less (NaN when nothing would be left, or ``base`` ran none)."""
        seconds = self.seconds - saved_ms_per_batch / 1000 * self.batches
        if seconds <= 0 or not base.rate:
            return float("nan")
        return self.predictions / seconds / base.rate


@dataclass(frozen=True, slots=True)
class LabelRatio:
    predictions_only: Run
    labelled: Run

    @property
    def ratio(self) -> float:
        return self.labelled.share_of(self.predictions_only)

    def join_bound(self) -> tuple[float, float]:
        """(ms of join work per labelled batch, the ratio the labelled run would reach if
        that work cost nothing): see the module's docstring, "Bound"."""
        labelled, plain = self.labelled, self.predictions_only
        apply_share = max(labelled.ms_per_batch("apply") - plain.ms_per_batch("apply"), 0.0)
        join_ms = sum(labelled.ms_per_batch(step) for step in JOIN_STEPS) + apply_share
        return join_ms, labelled.share_of(plain, join_ms)


def server_stats(admin: redis.Redis) -> dict[str, tuple[int, int]]:
    stats = admin.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"]))
        for name, v in stats.items()
    }


def bench_config(
    broker: KafkaBroker, redis_url: str, reference: Path, topic: str, labels: str | None
) -> Config:
    run = f"bench-labels-{uuid.uuid4().hex[:8]}"
    kafka: dict[str, Any] = {
        "bootstrap_servers": broker.bootstrap_servers,
        "group_id": run,
        "predictions_topic": topic,
        "dead_letter_topic": DLQ_TOPIC,
        "consumer": KAFKA_CONSUMER,
    }
    if labels is not None:
        kafka["labels_topic"] = labels
    return parse_config(
        {
            "kafka": kafka,
            "redis": {"url": redis_url, "key_prefix": run},
            "http": {"port": 0},
            "models": {MODEL.name: {**model_config(reference), "task": "binary"}},
        }
    )


#: Steps of the daemon's loop timed in every run (a clock read around each call): a
#: method of the daemon (owner ""), of one of its attributes, a function the daemon's
#: module calls (owner "module"), or one ``monitor.batch_planning`` calls (owner
#: "planning": parts of ``plan``, listed in ``NESTED``).
STEPS = (
    ("poll", "source", "poll"),
    ("decode_predictions", "decoder", "decode"),
    ("decode_labels", "label_decoder", "decode"),
    ("batch_reads", "module", "reads_for_batch"),
    ("batch_read", "store", "read_for_batch"),
    ("plan", "module", "plan_batch"),
    ("join_keys", "planning", "keyed_predictions"),
    ("join_plan", "planning", "plan_joins"),
    ("apply", "store", "apply"),
    ("commit", "source", "commit"),
    ("evaluate", "", "_evaluate"),
    ("look_early", "", "_look_early"),
    ("judge_quality", "", "_evaluate_quality"),
    ("metrics", "", "_count"),
)

#: The labelled run's join work, all of these steps (and its share of ``apply``, see
#: :func:`join_bound`): what the bound line supposes free.
JOIN_STEPS = ("batch_reads", "batch_read", "join_keys", "join_plan", "judge_quality")


#: The seconds of the daemon now inside ``run_once()``: a module's function is shared by
#: both daemons, so its timer adds to whichever runs.
ACTIVE: list[dict[str, float]] = [{}]


#: The modules whose functions a step may name as its owner (see ``STEPS``).
STEP_MODULES = {
    "module": Daemon.__module__,
    "planning": plan_batch.__module__,
    "evaluation": "monitor.evaluation",
}


def time_steps(
    daemon: Daemon, seconds: dict[str, float], steps: Sequence[tuple[str, str, str]] = STEPS
) -> None:
    """Wrap the daemon's ``steps`` so each adds its wall time to ``seconds``
    (a module's function: to ``ACTIVE``'s, wrapped once for all daemons)."""
    for label, owner_name, method in steps:
        owner: Any = daemon
        if owner_name in STEP_MODULES:
            owner = sys.modules[STEP_MODULES[owner_name]]
        elif owner_name:
            owner = getattr(daemon, owner_name)
        inner = getattr(owner, method)
        if getattr(inner, "timed_step", False):
            continue
        into = None if owner_name in STEP_MODULES else seconds

        def timed(
            *args: Any,
            _inner: Any = inner,
            _label: str = label,
            _into: dict[str, float] | None = into,
            **kwargs: Any,
        ) -> Any:
            began = time.perf_counter()
            try:
                return _inner(*args, **kwargs)
            finally:
                total = ACTIVE[0] if _into is None else _into
                total[_label] = total.get(_label, 0.0) + time.perf_counter() - began

        timed.timed_step = True  # type: ignore[attr-defined]
        setattr(owner, method, timed)


class Runner:
    """One daemon on its own redis-server, stepped one batch at a time.

    Only the time inside ``Daemon.run_once()`` after the warm-up counts, so two
    runners stepped in turn are measured under the same load of a shared machine.
    """

    def __init__(
        self,
        name: str,
        config: Config,
        admin: redis.Redis,
        arrivals: dict[str, NDArray[np.float64]],
        warmup: int,
        profiler: cProfile.Profile | None,
        steps: Sequence[tuple[str, str, str]] = STEPS,
        nested: frozenset[str] = NESTED,
    ) -> None:
        self.result = Run(name, nested=nested)
        self.config = config
        self._admin = admin
        self._arrivals = arrivals
        self._warmup = warmup
        self._profiler = profiler
        self._total = sum(a.size for a in arrivals.values())
        self._stack = contextlib.ExitStack()
        client = self._stack.enter_context(contextlib.closing(counting_client(config.redis.url)))
        self.daemon = daemon = Daemon(config, client, serve_http=False)
        daemon._load_state()
        self.source = LiveOrderSource(
            config, daemon.store, client_id=daemon.instance, stop=daemon.stop_event,
            arrivals=arrivals,
        )  # fmt: skip
        daemon.source = self.source
        self._stack.callback(self.source.close)
        self._stack.callback(daemon.dead_letters.close)
        self._steps: dict[str, float] = {}
        self._step_names = steps
        time_steps(daemon, self._steps, steps)
        self.consumed = 0
        self.timed = False
        self._before: dict[str, tuple[int, int]] = {}
        self._last_progress = time.monotonic()
        self.source.start()

    @property
    def predictions(self) -> int:
        return self.source.given[self.config.kafka.predictions_topic]

    @property
    def done(self) -> bool:
        return self.consumed >= self._total

    def step(self) -> None:
        """One ``run_once``, timed once the warm-up is consumed."""
        result = self.result
        if not self.timed and self.predictions >= self._warmup:
            self.timed = True
            self._before = server_stats(self._admin)
            result.predictions = -self.predictions
            result.labels = -(self.consumed - self.predictions)
            self._steps.clear()
        sent = CountingConnection.sent
        if self.timed and self._profiler is not None:
            self._profiler.enable()
        ACTIVE[0] = self._steps
        began = time.perf_counter()
        processed = self.daemon.run_once()
        took = time.perf_counter() - began
        if self.timed and self._profiler is not None:
            self._profiler.disable()
        if self.timed:
            result.seconds += took
            result.round_trips += CountingConnection.sent - sent
            result.batches += bool(processed)
        if processed:
            self.consumed += processed
            self._last_progress = time.monotonic()
        elif time.monotonic() - self._last_progress > STALL_SECONDS:
            raise RuntimeError(f"{result.name} made no progress for {STALL_SECONDS:.0f} s")

    def finish(self) -> Run:
        """Stop the daemon, check Redis, and return the timed figures."""
        try:
            result = self.result
            result.steps = {k: self._steps.get(k, 0.0) for k, _, _ in self._step_names}
            after = server_stats(self._admin)
            result.commands = {
                k: (c - self._before.get(k, (0, 0))[0], us - self._before.get(k, (0, 0))[1])
                for k, (c, us) in after.items()
                if k != "info" and c != self._before.get(k, (0, 0))[0]
            }
            result.predictions += self.predictions
            result.labels += self.consumed - self.predictions
            check(self.daemon, self.config, self._arrivals)
            return result
        finally:
            self.close()

    def close(self) -> None:
        self._stack.close()


def check(daemon: Daemon, config: Config, arrivals: dict[str, NDArray[np.float64]]) -> None:
    """Every prediction counted once; every label received and joined once, none waiting."""
    status = daemon.store.model_status(MODEL.name)
    predictions = arrivals[config.kafka.predictions_topic].size
    got: dict[str, int] = {"events": status["events"]}
    expected: dict[str, int] = {"events": predictions}
    if config.kafka.labels_topic is not None:
        labels = arrivals[config.kafka.labels_topic].size
        joins = status["labels"]
        got |= {k: joins[k] for k in ("received", "joined", "labels_waiting")}
        got["predictions_waiting"] = joins["predictions_waiting"]
        expected |= {
            "received": labels,
            "joined": labels,
            "labels_waiting": 0,
            "predictions_waiting": predictions - labels,
        }
    if got != expected:
        raise RuntimeError(f"Redis reports {got}, expected {expected}")


def measure_label_ratio(
    predictions: int = 260_000,
    warmup: int = 60_000,
    *,
    broker: KafkaBroker | None = None,
    redis_server: RedisServer | None = None,
    profile: Path | None = None,
    say: Any = print,
) -> LabelRatio:
    """Both daemons on the same stream; starts a broker and redis-server unless given them."""
    with contextlib.ExitStack() as stack:
        if broker is None:
            broker = stack.enter_context(KafkaBroker())
        if redis_server is None:
            redis_server = stack.enter_context(RedisServer())
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dm-labels-")))
        reference = write_labelled_reference(workdir)
        run = uuid.uuid4().hex[:8]
        topic, labels_topic = f"bench-lp-{run}", f"bench-ll-{run}"
        broker.create_topics([topic, labels_topic, DLQ_TOPIC], partitions=1)
        stack.callback(delete_topic, broker, topic)
        stack.callback(delete_topic, broker, labels_topic)
        began = time.perf_counter()
        stream = make_stream(predictions)
        plain_redis = stack.enter_context(RedisServer())
        base = bench_config(broker, plain_redis.url, reference, topic, None)
        for values, into in ((stream.predictions, topic), (stream.labels, labels_topic)):
            produced = produce_lines(base, values, topic=into)
            if produced.delivered != len(values):
                raise RuntimeError(f"produced {produced.delivered} of {len(values)} to {into}")
        say(
            f"produced {len(stream.predictions):,} predictions and {len(stream.labels):,} labels "
            f"(0-{MAX_LABEL_DELAY / 60:.0f} min behind) in {time.perf_counter() - began:.1f} s "
            f"(untimed); warm-up {warmup:,} predictions; {load_average()}"
        )
        labelled_config = bench_config(broker, redis_server.url, reference, topic, labels_topic)
        profiler = cProfile.Profile() if profile is not None else None
        runners = []
        for name, config, server, arrivals, profiled in (
            ("predictions_only", base, plain_redis, {topic: stream.prediction_arrivals}, None),
            (
                "labelled",
                labelled_config,
                redis_server,
                {topic: stream.prediction_arrivals, labels_topic: stream.label_arrivals},
                profiler,
            ),
        ):
            admin = stack.enter_context(contextlib.closing(redis.Redis.from_url(server.url)))
            runner = Runner(name, config, admin, arrivals, warmup, profiled)
            stack.callback(runner.close)
            runners.append(runner)
        plain, labelled = step_in_turn(runners)
        say(plain.line())
        say(labelled.line())
        if profiler is not None and profile is not None:
            print_profile(profiler, profile, "labelled", say)
        return LabelRatio(plain, labelled)


def step_in_turn(runners: Sequence[Runner]) -> list[Run]:
    """Step the runners in turn, the one behind in the stream first, so that all see the
    machine's same moments; then finish each (its figures, Redis checked)."""
    while not all(r.done for r in runners):
        min((r for r in runners if not r.done), key=lambda r: r.predictions).step()
    return [r.finish() for r in runners]


def print_profile(profiler: cProfile.Profile, path: Path, run: str, say: Any) -> None:
    """Dump the profiled run's stats to ``path`` and print its top functions."""
    profiler.dump_stats(path)
    say(f"cProfile of the {run} run (its rate is slowed by it), stats in {path}:")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--predictions", type=int, default=260_000)
    parser.add_argument("--warmup", type=int, default=60_000, help="predictions not timed")
    parser.add_argument("--profile", type=Path, help="cProfile the labelled run into FILE")
    args = parser.parse_args(argv)
    if not 0 <= args.warmup < args.predictions:
        parser.error("--warmup must be below --predictions")
    configure_logging("text", "WARNING")
    logging.getLogger("monitor.tooling.embedded").setLevel(logging.ERROR)
    print(blas_line(limit_blas_threads()))
    result = measure_label_ratio(args.predictions, args.warmup, profile=args.profile)
    plain, labelled = result.predictions_only, result.labelled
    messages = (labelled.predictions + labelled.labels) / max(labelled.seconds, 1e-9)
    print(
        f"messages/s of the labelled run over predictions/s of the other: "
        f"{messages / max(plain.rate, 1e-9):.2f}"
    )
    join_ms, bound = result.join_bound()
    batch_ms = labelled.seconds / max(labelled.batches, 1) * 1000
    print(
        f"bound: join work {join_ms:.1f} ms of {batch_ms:.1f} ms per labelled batch; "
        f"without it label_ratio would be {bound:.2f}"
    )
    print(f"{load_average()}; the machine may be shared: compare figures of one run only")
    print(f"label_ratio={result.ratio:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
