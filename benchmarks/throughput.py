"""Throughput of drift-monitor against its own limit and against a naive per-event monitor.

Run::

    .venv/bin/python benchmarks/throughput.py [--events N] [--naive-events M]
        [--label-events L] [--batch-size B] [--round-events R] [--profile FILE]
        [--profile-segmented FILE]

The script starts its own Tansu broker and redis-server (``monitor.tooling.embedded``),
writes a 20k-event reference file (seed 1) to a temporary directory, and
produces the stream (seed 2, same distribution: 20 numeric and 3 categorical
features, a numeric prediction and a ``segment`` tag, ~720 bytes per event) into a one-partition
topic. Producing is never timed. Then, on those same messages, it measures:

``e2e``
    The real daemon path: ``Daemon(config, redis, serve_http=False)`` with a
    fresh consumer group and a fresh Redis key prefix, driven by
    ``run_once()`` exactly as ``Daemon.run()`` drives it: consume a batch,
    decode to columns, plan windows, apply state and offsets in one Redis
    script, commit to Kafka, evaluate the windows that closed (5000 events
    each, so with the default batch one closes in every batch). The clock
    starts when the first batch arrives (the consumer-group join, ~3 s on
    Tansu, is excluded) and stops when the daemon has counted every event;
    Redis's event counter is checked afterwards (exactly once).
``e2e_estimated``
    The same path with estimated performance on, right after e2e on the same
    topic: a second ``Daemon`` (fresh consumer group, fresh Redis key prefix)
    whose model is ``task: binary`` with ``estimation`` of all five metrics,
    its reference the labelled one (below), so every batch also counts the
    estimator's score segments and every window also estimates. Timed as e2e;
    ``estimated/e2e`` is what estimation costs the hot path. The two alternate
    as the first reader of each round's topic (e2e first in odd rounds), so run
    an even number of rounds (``--round-events``) for a fair ratio.
``e2e_segmented``
    The same path with segments, after e2e and e2e_estimated on the same topic:
    a further ``Daemon`` (fresh consumer group and key prefix) whose model is
    segmented by ``tags.segment``: every event carries one of 20 segments
    (``s00`` .. ``s19``, uniform), each judged against its own reference rows
    (README, "Segments"), so each batch also counts 20 segment windows and each
    window evaluates 21 parts as one family of tests. Its reference (21
    profiles, about 10 s) is built before the clock runs. Printed with its rate
    as a share of e2e's and both Redis loads per batch; the goal is at least 0.7.
``decode_only``
    The limit of that path: a plain consumer (``assign()`` to partition 0 at
    offset 0, ``consume(num_messages=B)``) that only decodes each batch into
    columns with ``EventDecoder``. Same consumer settings, same batch size,
    clock started at the first batch too. e2e/decode_only is the share of the
    path's ceiling the daemon reaches.
``consume_only``
    The floor under every path: the same plain consumer taking each message's
    value and nothing else. Printed with how many times naive it is, because a
    monitor fed by this consumer cannot beat that ratio whatever it does.
``naive``
    What the design avoids: per event ``json.loads``, ``river`` ADWIN
    ``update`` for each numeric feature, and two un-pipelined Redis writes
    (``HINCRBY`` of the event count, ``SET`` of the last offset), i.e. two
    round trips per event. It runs on the first ``--naive-events`` messages
    of the last round's topic (the first messages of the stream when there is
    one round), consumed the same way, because it is slow. It favours the
    naive side: no categorical features, no prediction, no windows, no tests,
    no exactly-once. ``river`` is imported only then, after every e2e and
    decode_only section, so their Python heap (which the cyclic garbage
    collector walks) is the daemon's own, not swollen by the baseline's import.
``e2e_labels``
    The label path, after e2e and decode_only (and before naive): a second,
    fresh ``Daemon`` (fresh consumer group, fresh Redis key prefix) whose model
    is ``task: binary`` with ``prediction: numeric`` and a labelled reference
    (the same 20k reference events, each carrying ``"label"``), so the quality
    baseline exists. It consumes the first ``--label-events`` (default 200,000)
    of the same prediction events (they carry ``event_id``) and, from a
    one-partition labels topic, one label event ``{"event_id", "model",
    "label", "ts"}`` for 90% of them, binary and calibrated on the score. The
    labels topic is laid out as tests/integration/test_labels.py produces it: in chunks of
    1000 predictions, 5% of the predictions' labels just before their chunk and
    85% after the chunk 2,000 predictions later, 10% never. Both topics are
    produced before the clock runs (when the predictions are not the whole
    topic e2e just read, they are produced again into their own topic). The
    clock starts at the first batch and stops when, every message of both
    topics consumed, Redis (read through an uncounted client, once) reports
    every prediction counted and every label joined
    (``model_status(...)["labels"]["joined"]``); then it must report exactly
    that: every label received and joined once, no label waiting, the
    unlabelled 10% of predictions waiting. Printed: predictions/s, labels/s and
    messages/s on the same seconds, batches, Redis round trips per batch
    (client side, counted as for e2e), commands per batch (server side, as for
    e2e, plus the one status read), and how far the consumed label position
    trailed the prediction position after each batch: both topics are already
    full, so that is set by how the consumer interleaves their fetches, not by
    the order they were produced in. Label events are about 8 times smaller
    than predictions, so each fetch brings far more of them: in practice most
    labels are consumed well before their prediction and wait for it in Redis,
    i.e. the joins mostly run from the label side.

``e2e_payloads``
    The model-server formats, after e2e_labels (and before naive): for each of
    ``kserve-cloudevents`` and ``open-inference``, the first ``--payload-events``
    (default 100,000) events of the stream as a model server logs them, a request
    and a response CloudEvent per event (``benchmarks/payload_stream.py``: binary
    mode as a Knative Kafka sink writes KServe's logger's events; each response 250
    requests after its request), produced into a one-partition topic of their own
    (untimed), then consumed by a fresh ``Daemon`` (fresh group and key prefix, the
    same model, reference and windows, ``payload.format`` set) from its first batch
    until every message is consumed. Redis must then hold every event counted once,
    every request paired once and nothing waiting. Printed per format: events/s
    (each event is two messages) and messages/s, and its share of e2e's rate.

All four run in one process, one after the other (never overlapping), on the
same machine, against the same broker and redis-server, on the same bytes:
that is what makes the ratios fair. The rates are events per second of wall
time on the timed section.

Also printed: batches and Redis round trips per batch of e2e (counted on the
daemon's Redis connection; a pipeline or script call is one round trip) and
the commands Redis executed per batch (``INFO commandstats``, including those
run inside the Lua scripts); the process's RSS before e2e, at every 25% of the
e2e stream and after it, with the broker's and redis-server's RSS beside it;
the process's peak RSS (``ru_maxrss``, which is process-wide and includes
producing); and the load average, because the machine may be shared.

Long runs (``--events 10000000``): the stream is produced and consumed in
rounds of ``--round-events`` (default 1,000,000). Each round produces its
events into a new topic, block by block from ``monitor.tooling.synthetic.blocks`` (so
the generator never holds more than 10k events), lets the same daemon consume
it (its Kafka source is replaced by one on the new topic and a new consumer
group; the Daemon object, its Redis state, windows and counters carry on),
runs decode_only on it, and deletes the topic. Tansu keeps topics in memory
and frees them on delete, so the broker holds at most one round (~700 MB)
instead of 7 GB, and this process holds at most one block plus the consumer's
fetch queue. Rates are summed over rounds: total events / total timed
seconds. The RSS samples at 25% steps span the whole run, which is what shows
memory staying flat. e2e_labels runs once, after the last round's e2e and
decode_only, on the first ``--label-events`` events of the stream (at most the
first round's), produced again into their own topic, so a long run spends at
most 200,000 predictions (by default) on the label path.

``--profile FILE`` runs the e2e timed sections under cProfile (which roughly
halves their rate), prints the top functions and dumps the stats to FILE;
``--profile-segmented FILE`` does the same for e2e_segmented's.
e2e_labels is not profiled.

On a 2-core machine the default run takes about 25 s, most of it producing,
group joins and the naive section; ``--events 10000000`` about 3 minutes, of
which producing takes 70 s and the timed e2e section 40 s.

The last lines are the ratios, then the label path's summary::

    labels: e2e_labels=<predictions/s> labels_per_s=<labels/s> round_trips_per_batch=<n>

then estimation's, segments' and the model-server formats'::

    estimated: e2e_estimated=<ev/s> estimated/e2e=<ratio>
    segments: e2e_segmented=<ev/s> segmented/e2e=<ratio> commands_per_batch=<n>
        unsegmented_commands_per_batch=<n>
    payloads: e2e_kserve_cloudevents=<events/s> e2e_open_inference=<events/s>

then, always last::

    e2e=<ev/s> decode_only=<ev/s> naive=<ev/s> peak_rss_mb=<MB>
"""

from __future__ import annotations

import argparse
import array
import contextlib
import cProfile
import itertools
import json
import logging
import os
import pstats
import resource
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import msgspec
import numpy as np
import redis
import redis.connection
from confluent_kafka import Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from threadpoolctl import threadpool_info

if __package__ in (None, ""):  # run as a script: the repository root is not on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.payload_stream import PAYLOAD_FORMATS, payload_mapping, payload_messages
from monitor.blas_threads import limit_blas_threads
from monitor.config import Config, parse_config
from monitor.daemon import Daemon
from monitor.decode import EventDecoder
from monitor.keys import Keys
from monitor.logs import configure_logging
from monitor.origins import Origins
from monitor.redis_client import connect
from monitor.replay import produce_lines
from monitor.source import Batch, KafkaSource, consumer_settings, producer_settings
from monitor.store import StateStore
from monitor.tooling.embedded import KafkaBroker, RedisServer
from monitor.tooling.synthetic import SyntheticModel, blocks, generate

MODEL = SyntheticModel(name="fraud", numeric=20, categorical=3, segments=20)
SEGMENT_KEY = "tags.segment"
REFERENCE_EVENTS = 20_000
REFERENCE_SEED = 1
STREAM_SEED = 2
WINDOW_EVENTS = 5_000
GENERATOR_BLOCK = 10_000
DLQ_TOPIC = "bench-predictions.dlq"
LABELLED_TOPIC = "bench-labelled-predictions"  # when e2e_labels cannot reuse e2e's topic
LABELS_TOPIC = "bench-labels"
LABEL_SEED = 11
LABEL_NEVER = 0.10  # a prediction's fate below this: never labelled
LABEL_EARLY = 0.15  # below this: labelled before its prediction; else 2,000 predictions late
LABEL_CHUNK = 1_000
LABEL_LATE_EVENTS = 2_000
LABEL_DELAY_SECONDS = 60.0  # a label's ts after its prediction's
STALL_SECONDS = 60.0
MIB = 1 << 20

#: Tansu needs the short session and fetch wait (docs/architecture.md, "Testing against the
#: local broker"); the fetch sizes let one fetch carry a whole batch (5000 x ~700 B)
#: instead of librdkafka's 1 MiB per partition.
KAFKA_CONSUMER: dict[str, Any] = {
    "session.timeout.ms": 6000,
    "heartbeat.interval.ms": 1000,
    "fetch.wait.max.ms": 50,
    "fetch.max.bytes": 64 * MIB,
    "max.partition.fetch.bytes": 16 * MIB,
}


# --------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Timed:
    """Events processed in a timed section, and for how long."""

    events: int = 0
    seconds: float = 0.0
    batches: int = 0
    tail_wait: float = 0.0
    """Of ``seconds``, how long the last, partial batch waited out ``batch_timeout_ms``."""

    def add(self, other: Timed) -> None:
        self.events += other.events
        self.seconds += other.seconds
        self.batches += other.batches
        self.tail_wait += other.tail_wait

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


@dataclass(slots=True)
class RedisLoad:
    """Redis traffic of the e2e timed sections: client round trips and server commands."""

    round_trips: int = 0
    commands: dict[str, int] = field(default_factory=dict)

    def add(self, round_trips: int, commands: dict[str, int]) -> None:
        self.round_trips += round_trips
        for name, calls in commands.items():
            self.commands[name] = self.commands.get(name, 0) + calls


class CountingConnection(redis.connection.Connection):
    """A Redis connection that counts round trips: one per packed send (command or pipeline)."""

    sent: ClassVar[int] = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.sent += 1
        super().send_packed_command(command, check_health)  # type: ignore[no-untyped-call]


def rss_mb(pid: int | str = "self") -> float:
    """Resident set size now, from /proc/PID/statm."""
    with open(f"/proc/{pid}/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / MIB


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class RssSampler:
    """Prints the RSS of this process, the broker and redis-server at every 25% of e2e."""

    def __init__(self, total: int, services: dict[str, int | None]) -> None:
        self._marks = [total * q // 4 for q in (1, 2, 3, 4)]
        self._services = {name: pid for name, pid in services.items() if pid is not None}

    def line(self, label: str) -> str:
        others = "".join(f"  {name} {rss_mb(pid):6.0f} MB" for name, pid in self._services.items())
        return f"  rss {label:>14}: process {rss_mb():6.0f} MB{others}"

    def observe(self, counted: int) -> None:
        while self._marks and counted >= self._marks[0]:
            mark = self._marks.pop(0)
            print(self.line(f"{mark:,} ev"), flush=True)


class QuietSampler(RssSampler):
    """e2e_estimated's and e2e_segmented's sampler: their RSS is e2e's process's, already
    printed by e2e's."""

    def observe(self, counted: int) -> None:
        return


def blas_line(limited: bool) -> str:
    """What the daemon's BLAS runs on: one thread, as the command line sets it, unless the
    environment sized it (monitor.blas_threads); set OPENBLAS_NUM_THREADS to compare."""
    pools = threadpool_info()
    threads = sorted({pool["num_threads"] for pool in pools if pool["user_api"] == "blas"})
    how = "limited as the command line does" if limited else "sized by the environment"
    return f"blas threads: {', '.join(map(str, threads))} ({how})"


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"loadavg={one:.2f}/{five:.2f} (1/5 min)"


def command_calls(admin: redis.Redis) -> dict[str, int]:
    """Calls per command since the server started (INFO commandstats)."""
    stats = admin.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


# --------------------------------------------------------------------------------------------
# Set-up
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Settings:
    events: int
    naive_events: int
    label_events: int
    payload_events: int
    batch_size: int
    round_events: int
    profile: Path | None
    profile_segmented: Path | None

    def rounds(self) -> list[tuple[int, int]]:
        """(first event, count) of each produce-and-consume round."""
        return [
            (start, min(self.round_events, self.events - start))
            for start in range(0, self.events, self.round_events)
        ]


def parse_args(argv: Sequence[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000, help="e2e and decode_only events")
    parser.add_argument("--naive-events", type=int, default=20_000, help="naive slice")
    parser.add_argument(
        "--label-events",
        type=int,
        default=200_000,
        help="predictions of e2e_labels (at most the first round's)",
    )
    parser.add_argument(
        "--payload-events",
        type=int,
        default=100_000,
        help="events of e2e_payloads per format (each a request and a response message)",
    )
    parser.add_argument("--batch-size", type=int, default=5_000, help="messages per consume")
    parser.add_argument(
        "--round-events",
        type=int,
        default=1_000_000,
        help="events produced per round (bounds the in-memory broker)",
    )
    parser.add_argument("--profile", type=Path, help="run e2e under cProfile, dump stats here")
    parser.add_argument(
        "--profile-segmented", type=Path, help="run e2e_segmented under cProfile, stats here"
    )
    args = parser.parse_args(argv)
    for name in (
        "events",
        "naive_events",
        "label_events",
        "payload_events",
        "batch_size",
        "round_events",
    ):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    settings = Settings(
        events=args.events,
        naive_events=args.naive_events,
        label_events=args.label_events,
        payload_events=args.payload_events,
        batch_size=args.batch_size,
        round_events=args.round_events,
        profile=args.profile,
        profile_segmented=args.profile_segmented,
    )
    rounds = settings.rounds()
    _, first_round = rounds[0]  # e2e_labels reads the first round's events
    _, last_round = rounds[-1]  # the naive slice is taken from the last round
    return replace(
        settings,
        naive_events=min(settings.naive_events, last_round),
        label_events=min(settings.label_events, first_round),
    )


def bench_config(
    broker: KafkaBroker,
    redis_url: str,
    reference: Path,
    batch_size: int,
    *,
    segmented: bool = False,
    window_events: int = WINDOW_EVENTS,
) -> Config:
    """The daemon's config: one model, count windows of ``window_events``, fresh group and
    key prefix; ``segmented``: the model segmented by :data:`SEGMENT_KEY` (e2e_segmented's).

    Each round uses it through :func:`for_topic`, which names the round's topic.
    """
    run = ("segmented-" if segmented else "") + uuid.uuid4().hex[:8]
    model = {**model_config(reference), "window": {"events": window_events}}
    if segmented:
        model["segments"] = [SEGMENT_KEY]
    return parse_config(
        {
            "kafka": {
                "bootstrap_servers": broker.bootstrap_servers,
                "group_id": f"bench-{run}",
                "dead_letter_topic": DLQ_TOPIC,
                "batch_size": batch_size,
                "consumer": KAFKA_CONSUMER,
            },
            "redis": {"url": redis_url, "key_prefix": f"bench-{run}"},
            "http": {"port": 0},
            "models": {MODEL.name: model},
        }
    )


def model_config(reference: Path) -> dict[str, Any]:
    return {
        "reference": {"path": str(reference)},
        "window": {"events": WINDOW_EVENTS},
        "features": MODEL.features(),
        "prediction": "numeric",
    }


def labels_config(
    broker: KafkaBroker, redis_url: str, reference: Path, batch_size: int, topic: str
) -> Config:
    """e2e_labels' config: the same model as ``task: binary``, reading ``topic`` and the
    labels topic, with a fresh group and key prefix."""
    return run_config(
        broker,
        redis_url,
        f"bench-labels-{uuid.uuid4().hex[:8]}",
        {"predictions_topic": topic, "labels_topic": LABELS_TOPIC, "batch_size": batch_size},
        {"models": {MODEL.name: {**model_config(reference), "task": "binary"}}},
    )


def estimated_config(
    broker: KafkaBroker, redis_url: str, reference: Path, batch_size: int
) -> Config:
    """e2e_estimated's config: e2e's, with the model as ``task: binary`` estimating all five
    metrics from a labelled reference, and a fresh group and key prefix."""
    metrics = ["accuracy", "precision", "recall", "f1", "roc_auc"]
    model = {**model_config(reference), "task": "binary", "estimation": {"metrics": metrics}}
    return run_config(
        broker,
        redis_url,
        f"bench-estimated-{uuid.uuid4().hex[:8]}",
        {"batch_size": batch_size},
        {"models": {MODEL.name: model}},
    )


def payload_config(
    broker: KafkaBroker, redis_url: str, reference: Path, batch_size: int, payload_format: str
) -> Config:
    """e2e_payloads' config: the same model, read from a model server's requests and
    responses in ``payload_format``, on a topic, group and key prefix of its own."""
    run = f"bench-{payload_format}-{uuid.uuid4().hex[:8]}"
    mapping = payload_mapping(MODEL, payload_format)
    return run_config(
        broker,
        redis_url,
        run,
        {"predictions_topic": run, "batch_size": batch_size},
        {
            "payload": {"format": payload_format},
            "models": {MODEL.name: {**model_config(reference), "payload": mapping}},
        },
    )


def run_config(
    broker: KafkaBroker,
    redis_url: str,
    run: str,
    kafka: dict[str, Any],
    sections: dict[str, Any],
) -> Config:
    """A config whose consumer group and Redis key prefix are ``run``, on the benchmark's
    broker, dead-letter topic and consumer settings."""
    return parse_config(
        {
            "kafka": {
                "bootstrap_servers": broker.bootstrap_servers,
                "group_id": run,
                "dead_letter_topic": DLQ_TOPIC,
                "consumer": KAFKA_CONSUMER,
                **kafka,
            },
            "redis": {"url": redis_url, "key_prefix": run},
            "http": {"port": 0},
            **sections,
        }
    )


def for_topic(config: Config, topic: str, round_index: int) -> Config:
    """The same config on another topic, with its own consumer group."""
    kafka = replace(
        config.kafka,
        predictions_topic=topic,
        group_id=f"{config.kafka.group_id}-r{round_index}",
    )
    return replace(config, kafka=kafka)


def write_reference(directory: Path) -> Path:
    path = directory / "reference.jsonl"
    path.write_bytes(b"\n".join(generate(MODEL, 0, REFERENCE_EVENTS, seed=REFERENCE_SEED)))
    return path


def write_labelled_reference(directory: Path) -> Path:
    """The same reference events, each with a binary ``label`` calibrated on its score."""
    rng = np.random.default_rng([REFERENCE_SEED, LABEL_SEED])
    lines = []
    for raw in generate(MODEL, 0, REFERENCE_EVENTS, seed=REFERENCE_SEED):
        event = msgspec.json.decode(raw, type=dict[str, Any])
        event["label"] = int(rng.random() < event["prediction"])
        lines.append(msgspec.json.encode(event))
    path = directory / "reference-labelled.jsonl"
    path.write_bytes(b"\n".join(lines))
    return path


class Scored(msgspec.Struct):
    """What a label needs of its prediction event."""

    event_id: str
    prediction: float
    ts: float


class LabelStream:
    """Label events for predictions ``0 .. count-1``, in the labels topic's order.

    As tests/integration/test_labels.py produces them, per chunk of 1000 predictions: the
    labels that come early (5% of predictions), then the late labels (85%) of the
    chunk 2,000 predictions back; 10% of predictions get none. Iterate once;
    ``prediction_index[i]`` is then the prediction the label at offset ``i`` is for.
    """

    def __init__(self, count: int) -> None:
        self.count = count
        self.prediction_index = array.array("q")

    def __iter__(self) -> Iterator[bytes]:
        rng = np.random.default_rng(LABEL_SEED)
        decode = msgspec.json.Decoder(Scored).decode
        encode = msgspec.json.Encoder().encode
        late: deque[list[tuple[int, bytes]]] = deque()
        first = 0
        for block in blocks(MODEL, self.count, block=GENERATOR_BLOCK, seed=STREAM_SEED):
            fate, draw = rng.random(len(block)).tolist(), rng.random(len(block)).tolist()
            for chunk in range(0, len(block), LABEL_CHUNK):
                early: list[tuple[int, bytes]] = []
                later: list[tuple[int, bytes]] = []
                for i in range(chunk, min(chunk + LABEL_CHUNK, len(block))):
                    if fate[i] < LABEL_NEVER:
                        continue
                    event = decode(block[i])
                    label = {
                        "event_id": event.event_id,
                        "model": MODEL.name,
                        "label": int(draw[i] < event.prediction),
                        "ts": event.ts + LABEL_DELAY_SECONDS,
                    }
                    (early if fate[i] < LABEL_EARLY else later).append((first + i, encode(label)))
                yield from self._emit(early)
                if len(late) == LABEL_LATE_EVENTS // LABEL_CHUNK:
                    yield from self._emit(late.popleft())
                late.append(later)
            first += len(block)
        while late:
            yield from self._emit(late.popleft())

    def _emit(self, labels: list[tuple[int, bytes]]) -> Iterator[bytes]:
        for index, value in labels:
            self.prediction_index.append(index)
            yield value


def produce_round(config: Config, start: int, count: int) -> float:
    """Generate and produce events ``start .. start+count-1`` block by block; untimed."""
    began = time.perf_counter()
    stream = itertools.chain.from_iterable(
        blocks(MODEL, count, block=GENERATOR_BLOCK, seed=STREAM_SEED, start=start)
    )
    result = produce_lines(config, stream)
    if result.delivered != count:
        raise RuntimeError(
            f"produced {result.delivered} of {count} events ({result.failed} failed)"
        )
    return time.perf_counter() - began


def delete_topic(broker: KafkaBroker, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    for future in admin.delete_topics([topic], operation_timeout=30).values():
        future.result()


@contextlib.contextmanager
def assigned_consumer(config: Config) -> Iterator[Consumer]:
    """A consumer on partition 0 of the predictions topic from offset 0, without a group join."""
    consumer = Consumer(
        {
            **consumer_settings(config, client_id="bench-plain"),
            "group.id": f"bench-plain-{uuid.uuid4().hex[:8]}",
        }
    )
    try:
        consumer.assign([TopicPartition(config.kafka.predictions_topic, 0, 0)])
        yield consumer
    finally:
        consumer.close()


def consume_values(consumer: Consumer, batch_size: int) -> list[Message]:
    timeout = 0.2
    return [m for m in consumer.consume(num_messages=batch_size, timeout=timeout) if not m.error()]


# --------------------------------------------------------------------------------------------
# The three measurements
# --------------------------------------------------------------------------------------------


class FirstBatchSource(KafkaSource):
    """The daemon's Kafka source, calling ``on_first_batch`` when the first messages arrive."""

    def __init__(self, *args: Any, on_first_batch: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_first_batch: Callable[[], None] | None = on_first_batch

    last_poll_seconds = 0.0

    def poll(self) -> Batch:
        started = time.perf_counter()
        batch = super().poll()
        self.last_poll_seconds = time.perf_counter() - started
        if batch.messages and self._on_first_batch is not None:
            self._on_first_batch()
            self._on_first_batch = None
        return batch


@dataclass(slots=True)
class E2E:
    """The daemon under test and what watches it across rounds."""

    daemon: Daemon
    sampler: RssSampler
    admin: redis.Redis  # a second client, for INFO: not counted, not the daemon's
    profiler: cProfile.Profile | None
    load: RedisLoad = field(default_factory=RedisLoad)
    # Set when a round's first batch arrives, just before its clock starts:
    started: float = 0.0
    round_trips: int = 0
    commands: dict[str, int] = field(default_factory=dict)

    def first_batch(self) -> None:
        self.round_trips = CountingConnection.sent
        self.commands = command_calls(self.admin)
        if self.profiler is not None:
            self.profiler.enable()
        self.started = time.perf_counter()

    def round_done(self) -> float:
        """Stops the clock; returns the round's timed seconds and adds up its Redis load."""
        seconds = time.perf_counter() - self.started
        if self.profiler is not None:
            self.profiler.disable()
        after = command_calls(self.admin)
        commands = {
            name: delta
            for name, calls in after.items()
            if name != "info" and (delta := calls - self.commands.get(name, 0))
        }
        self.load.add(CountingConnection.sent - self.round_trips, commands)
        return seconds


def run_e2e_round(e2e: E2E, config: Config, target: int, model: str = MODEL.name) -> Timed:
    """Let the daemon consume this round's topic until it has counted ``target`` events
    of ``model`` (benchmarks/wide.py runs it on its own model)."""
    daemon = e2e.daemon
    source = daemon.source = FirstBatchSource(
        config,
        daemon.store,
        client_id=daemon.instance,
        stop=daemon.stop_event,
        on_first_batch=e2e.first_batch,
    )
    result = Timed()
    counted = before = int(daemon.store.model_status(model)["events"])
    last_progress = time.monotonic()
    try:
        daemon.source.start()
        while counted < target:
            processed = daemon.run_once()
            if processed:
                counted += processed
                result.batches += 1
                last_progress = time.monotonic()
                e2e.sampler.observe(counted)
            elif time.monotonic() - last_progress > STALL_SECONDS:
                raise RuntimeError(f"e2e made no progress for {STALL_SECONDS:.0f} s")
        result.seconds = e2e.round_done()
        if processed < config.kafka.batch_size:
            result.tail_wait = source.last_poll_seconds
    finally:
        daemon.source.close()
    check_counted_once(daemon, counted, target, model)
    result.events = counted - before
    return result


def check_counted_once(daemon: Daemon, counted: int, target: int, model: str = MODEL.name) -> None:
    """Redis's event counter must equal what was consumed: every event counted exactly once."""
    stored = int(daemon.store.model_status(model)["events"])
    if not stored == counted == target:
        raise RuntimeError(f"Redis counted {stored} events, the loop {counted}, expected {target}")


class LabelledSource(FirstBatchSource):
    """The first-batch source, also noting each topic's next offset after every batch
    (from the batch's offset ranges: a few dict entries, not a pass over the messages)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.positions: list[dict[str, int]] = []

    def poll(self) -> Batch:
        batch = super().poll()
        if batch.messages:
            self.positions.append({t: after for (t, _), (_, after) in batch.offsets.items()})
        return batch


@dataclass(slots=True)
class LabelledResult(Timed):
    """e2e_labels: ``events`` are predictions; labels, Redis load and label trailing beside."""

    labels: int = 0
    load: RedisLoad = field(default_factory=RedisLoad)
    positions: list[dict[str, int]] = field(default_factory=list)
    """Each topic's next offset after each batch."""

    @property
    def messages(self) -> int:
        return self.events + self.labels

    @property
    def label_rate(self) -> float:
        return self.labels / self.seconds if self.seconds > 0 else 0.0

    @property
    def message_rate(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


def run_e2e_labels(
    settings: Settings, broker: KafkaBroker, reference: Path, round_config: Config, e2e: E2E
) -> LabelledResult:
    """Produce the labelled stream, let a fresh daemon consume it, time it, check Redis."""
    count = settings.label_events
    began = time.perf_counter()
    reuse = settings.rounds() == [(0, count)]  # e2e's one topic holds exactly these events
    topic = round_config.kafka.predictions_topic if reuse else LABELLED_TOPIC
    url = round_config.redis.url
    config = labels_config(broker, url, reference, settings.batch_size, topic)
    broker.create_topics([LABELS_TOPIC] if reuse else [LABELS_TOPIC, topic], partitions=1)
    if not reuse:
        produce_round(config, 0, count)
    stream = LabelStream(count)
    produced = produce_lines(config, stream, topic=LABELS_TOPIC)
    labels = len(stream.prediction_index)
    if produced.delivered != labels:
        raise RuntimeError(f"produced {produced.delivered} of {labels} labels")
    again = "" if reuse else f" (and the {count:,} predictions again)"
    print(
        f"e2e_labels: produced {labels:,} labels for {count:,} predictions{again} "
        f"in {time.perf_counter() - began:.1f} s (untimed)",
        flush=True,
    )
    print(e2e.sampler.line("before labels"), flush=True)
    try:
        with contextlib.closing(counting_client(url)) as client:
            result = consume_labelled(config, client, e2e, count, labels)
    finally:
        delete_topic(broker, LABELS_TOPIC)
        if not reuse:
            delete_topic(broker, topic)
    print(e2e.sampler.line("after labels"), flush=True)
    trailing = label_trailing(result.positions, stream.prediction_index, topic)
    if trailing:
        low, mid, high = np.percentile(trailing, [0, 50, 100]).tolist()
        print(
            "  after each batch, the last label consumed was for the prediction this many "
            f"predictions back: min {low:,.0f} median {mid:,.0f} max {high:,.0f} "
            "(negative: ahead of it)",
            flush=True,
        )
    return result


def label_trailing(
    positions: list[dict[str, int]], prediction_index: array.array[int], topic: str
) -> list[int]:
    """Per batch (once labels flow): predictions consumed after the last consumed label's."""
    predictions = labels = 0
    trailing = []
    for batch in positions:
        predictions = batch.get(topic, predictions)
        labels = batch.get(LABELS_TOPIC, labels)
        if labels:
            trailing.append(predictions - (prediction_index[labels - 1] + 1))
    return trailing


def consume_labelled(
    config: Config, client: redis.Redis, e2e: E2E, count: int, labels: int
) -> LabelledResult:
    """A fresh daemon on both topics, from the first batch until Redis reports all joined."""
    daemon = Daemon(config, client, serve_http=False)
    watch = StateStore(e2e.admin, Keys(config.redis.key_prefix), history_size=1)  # uncounted
    timing = E2E(daemon, e2e.sampler, e2e.admin, profiler=None)
    result = LabelledResult(labels=labels)
    try:
        daemon._load_state()  # the labelled reference's profile and quality baseline into Redis
        source = LabelledSource(
            config,
            daemon.store,
            client_id=daemon.instance,
            stop=daemon.stop_event,
            on_first_batch=timing.first_batch,
        )
        daemon.source = source
        source.start()

        def done(consumed: int) -> bool:
            if consumed < count + labels:
                return False
            status = watch.model_status(MODEL.name)
            return bool(status["events"] >= count and status["labels"]["joined"] >= labels)

        consumed = drive(daemon, result, done, "e2e_labels")
        result.seconds = timing.round_done()
        result.load = timing.load
        result.positions = source.positions
    finally:
        daemon.source.close()
        daemon.dead_letters.close()
    check_labelled(daemon, consumed, count, labels)
    result.events = count
    return result


def drive(daemon: Daemon, result: Timed, done: Callable[[int], bool], what: str) -> int:
    """Run the daemon batch by batch until ``done(messages consumed)``, counting its batches
    into ``result``; how many messages it consumed."""
    consumed, last_progress = 0, time.monotonic()
    while not done(consumed):
        processed = daemon.run_once()
        if processed:
            consumed += processed
            result.batches += 1
            last_progress = time.monotonic()
        elif time.monotonic() - last_progress > STALL_SECONDS:
            raise RuntimeError(f"{what} made no progress for {STALL_SECONDS:.0f} s")
    return consumed


def check_labelled(daemon: Daemon, consumed: int, count: int, labels: int) -> None:
    """Every message consumed once, every prediction counted once, every label joined once."""
    status = daemon.store.model_status(MODEL.name)
    joins = status["labels"]
    got = {
        "consumed": consumed,
        "events": status["events"],
        "received": joins["received"],
        "joined": joins["joined"],
        "labels_waiting": joins["labels_waiting"],
        "predictions_waiting": joins["predictions_waiting"],
    }
    expected = {
        "consumed": count + labels,
        "events": count,
        "received": labels,
        "joined": labels,
        "labels_waiting": 0,
        "predictions_waiting": count - labels,
    }
    if got != expected:
        raise RuntimeError(f"e2e_labels: Redis and the loop report {got}, expected {expected}")
    quality = status["quality"] or {}
    metrics = quality.get("metrics", {})
    flagged = sorted(
        name
        for name, signal in status["signals"].items()
        if name.startswith("performance/") and signal.get("drifted")
    )
    print(
        f"labelled daemon state: events={status['events']:,} labels received="
        f"{joins['received']:,} joined={joins['joined']:,} predictions_waiting="
        f"{joins['predictions_waiting']:,} labels_waiting={joins['labels_waiting']} "
        f"windows_closed={status['windows_closed']}; window {quality.get('window')} quality "
        + " ".join(f"{k}={metrics[k]:.3f}" for k in ("accuracy", "roc_auc") if k in metrics)
        + f" on {quality.get('labels', 0):,} labels; performance drift: "
        + (", ".join(flagged) or "none"),
        flush=True,
    )


@dataclass(slots=True)
class PayloadResult(Timed):
    """e2e_payloads for one format: ``events`` are rows (each a request and a response)."""

    payload_format: str = ""
    messages: int = 0
    load: RedisLoad = field(default_factory=RedisLoad)

    @property
    def message_rate(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


def run_e2e_payloads(
    settings: Settings, broker: KafkaBroker, redis_url: str, reference: Path, e2e: E2E
) -> list[PayloadResult]:
    """Each model-server format in turn: produce its messages, time a fresh daemon on them."""
    results = []
    for payload_format in PAYLOAD_FORMATS:
        config = payload_config(broker, redis_url, reference, settings.batch_size, payload_format)
        topic = config.kafka.predictions_topic
        broker.create_topics([topic], partitions=1)
        began = time.perf_counter()
        messages = produce_messages(
            config,
            payload_messages(MODEL, payload_format, settings.payload_events, seed=STREAM_SEED),
        )
        print(
            f"e2e_payloads {payload_format}: produced {messages:,} messages for "
            f"{settings.payload_events:,} events in {time.perf_counter() - began:.1f} s (untimed)",
            flush=True,
        )
        try:
            with contextlib.closing(counting_client(redis_url)) as client:
                result = consume_payloads(config, client, e2e, messages, settings.payload_events)
        finally:
            delete_topic(broker, topic)
        result.payload_format = payload_format
        print(
            f"e2e_payloads {payload_format}: {result.rate:,.0f} ev/s, {result.message_rate:,.0f} "
            f"messages/s ({result.batches} batches, {result.seconds:.2f} s)",
            flush=True,
        )
        results.append(result)
    return results


def produce_messages(config: Config, messages: Iterable[tuple[bytes, list[Any]]]) -> int:
    """Produce (value, headers) messages, flushed; how many."""
    producer = Producer({**producer_settings(config), "linger.ms": 20})
    count = 0
    for value, headers in messages:
        while True:
            try:
                producer.produce(config.kafka.predictions_topic, value=value, headers=headers)
                break
            except BufferError:
                producer.poll(0.1)
        count += 1
    if producer.flush(60):
        raise RuntimeError("e2e_payloads: messages still undelivered after 60 s")
    return count


def consume_payloads(
    config: Config, client: redis.Redis, e2e: E2E, messages: int, events: int
) -> PayloadResult:
    """A fresh daemon from its first batch until every message is consumed; then Redis must
    hold every event counted once and every request paired once."""
    daemon = Daemon(config, client, serve_http=False)
    timing = E2E(daemon, e2e.sampler, e2e.admin, profiler=None)
    result = PayloadResult(events=events, messages=messages)
    try:
        daemon._load_state()
        daemon.source = FirstBatchSource(
            config,
            daemon.store,
            client_id=daemon.instance,
            stop=daemon.stop_event,
            on_first_batch=timing.first_batch,
        )
        daemon.source.start()
        drive(daemon, result, lambda consumed: consumed >= messages, "e2e_payloads")
        result.seconds = timing.round_done()
        result.load = timing.load
    finally:
        daemon.source.close()
        daemon.dead_letters.close()
    counted = daemon.store.model_status(MODEL.name)["events"]
    pairing = daemon.store.pairing_status()
    if (counted, pairing["paired"], pairing["waiting"]) != (events, events, 0):
        raise RuntimeError(
            f"e2e_payloads: Redis counted {counted} events, paired {pairing['paired']}, "
            f"{pairing['waiting']} waiting; expected {events} events, each paired once"
        )
    return result


def run_decode_only(config: Config, count: int, batch_size: int) -> Timed:
    """Consume ``count`` messages and decode them into columns; nothing else."""
    decoder = EventDecoder(config)

    def decode(messages: list[Message]) -> None:
        decoded = decoder.decode([m.value() for m in messages], Origins.of_messages(messages))
        if decoded.events != len(messages):
            raise RuntimeError(f"{len(messages) - decoded.events} events did not decode")

    return run_plain_consumer(config, count, batch_size, decode)


def run_consume_only(config: Config, count: int, batch_size: int) -> Timed:
    """Consume ``count`` messages and take their values: the floor under every path."""
    return run_plain_consumer(config, count, batch_size, lambda ms: [m.value() for m in ms])


def run_plain_consumer(
    config: Config, count: int, batch_size: int, handle: Callable[[list[Message]], object]
) -> Timed:
    """``handle`` each batch of ``count`` messages, timed from the first batch on."""
    result = Timed()
    started = 0.0
    with assigned_consumer(config) as consumer:
        while result.events < count:
            messages = consume_values(consumer, min(batch_size, count - result.events))
            if not messages:
                continue
            if not started:
                started = time.perf_counter()
            handle(messages)
            result.events += len(messages)
            result.batches += 1
        result.seconds = time.perf_counter() - started
    return result


@dataclass(slots=True)
class NaiveResult(Timed):
    redis_seconds: float = 0.0


def run_naive(config: Config, count: int, batch_size: int, redis_url: str) -> NaiveResult:
    """Per event: json.loads, one ADWIN update per numeric feature, two Redis round trips."""
    from river.drift import ADWIN  # here, not at the top: see the module docstring

    client = redis.Redis.from_url(redis_url)
    detectors = {name: ADWIN() for name in MODEL.numeric_names}  # type: ignore[no-untyped-call]
    counts_key, offset_key = "naive:fraud:counts", "naive:fraud:offset"
    result = NaiveResult()
    started = 0.0
    clock = time.perf_counter
    try:
        with assigned_consumer(config) as consumer:
            while result.events < count:
                messages = consume_values(consumer, min(batch_size, count - result.events))
                if messages and not started:
                    started = clock()
                for message in messages:
                    event = json.loads(message.value())  # type: ignore[arg-type]
                    features = event["features"]
                    for name, detector in detectors.items():
                        value = features.get(name)
                        if value is not None:
                            detector.update(value)  # type: ignore[no-untyped-call]
                    before = clock()
                    client.hincrby(counts_key, "events", 1)
                    client.set(offset_key, message.offset() + 1)  # type: ignore[operator]
                    result.redis_seconds += clock() - before
                result.events += len(messages)
                result.batches += bool(messages)
            result.seconds = clock() - started
    finally:
        client.close()
    return result


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Totals:
    e2e: Timed = field(default_factory=Timed)
    e2e_estimated: Timed = field(default_factory=Timed)
    e2e_segmented: Timed = field(default_factory=Timed)
    segmented_load: RedisLoad = field(default_factory=RedisLoad)
    decode_only: Timed = field(default_factory=Timed)
    consume_only: Timed = field(default_factory=Timed)
    naive: NaiveResult = field(default_factory=NaiveResult)
    load: RedisLoad = field(default_factory=RedisLoad)
    labels: LabelledResult = field(default_factory=LabelledResult)
    payloads: list[PayloadResult] = field(default_factory=list)
    produce_seconds: float = 0.0


def counting_client(url: str) -> redis.Redis:
    """The daemon's own Redis client (``monitor.store.connect``), counting its round trips."""
    client = connect(url)
    # redis-py opens connections lazily, on the first command: every one of them counts.
    client.connection_pool.connection_class = CountingConnection
    return client


def run_round(
    settings: Settings,
    e2e: E2E,
    estimated: E2E,
    segmented: E2E,
    broker: KafkaBroker,
    index: int,
    totals: Totals,
    labelled_reference: Path,
) -> None:
    """Produce one round into its own topic, measure e2e, e2e_estimated, e2e_segmented and
    decode_only on it, delete it.

    After the last round's, e2e_labels and then naive.
    """
    start, count = settings.rounds()[index]
    label = f"round {index + 1}/{len(settings.rounds())}"
    topic = f"bench-predictions-r{index}"
    base = e2e.daemon.config
    config = for_topic(base, topic, index)
    broker.create_topics([config.kafka.predictions_topic], partitions=1)
    produced = produce_round(config, start, count)
    totals.produce_seconds += produced
    print(f"{label}: produced {count:,} events in {produced:.1f} s (untimed)", flush=True)
    if index == 0:
        print(e2e.sampler.line("before e2e"), flush=True)
    # Which of the two reads the round's topic first alternates, round by round: the first
    # reader of a topic measured 24% slower in one run on a loaded machine.
    estimated_config = for_topic(estimated.daemon.config, topic, index)
    if index % 2:
        with_estimates = run_e2e_round(estimated, estimated_config, start + count)
    timed = run_e2e_round(e2e, config, start + count)
    if not index % 2:
        with_estimates = run_e2e_round(estimated, estimated_config, start + count)
    by_segment = run_e2e_round(
        segmented, for_topic(segmented.daemon.config, topic, index), start + count
    )
    totals.e2e.add(timed)
    totals.e2e_estimated.add(with_estimates)
    totals.e2e_segmented.add(by_segment)
    decode = run_decode_only(config, count, settings.batch_size)
    totals.decode_only.add(decode)
    consume = run_consume_only(config, count, settings.batch_size)
    totals.consume_only.add(consume)
    print(
        f"{label}: e2e {timed.rate:,.0f} ev/s ({timed.batches} batches, {timed.seconds:.2f} s)"
        f"  e2e_estimated {with_estimates.rate:,.0f} ev/s ({with_estimates.seconds:.2f} s)"
        f"  e2e_segmented {by_segment.rate:,.0f} ev/s ({by_segment.seconds:.2f} s)"
        f"  decode_only {decode.rate:,.0f} ev/s ({decode.seconds:.2f} s)"
        f"  consume_only {consume.rate:,.0f} ev/s  rss {rss_mb():.0f} MB",
        flush=True,
    )
    if index == len(settings.rounds()) - 1:
        totals.labels = run_e2e_labels(settings, broker, labelled_reference, config, e2e)
        url = base.redis.url
        reference = Path(str(base.models[MODEL.name].reference.path))
        totals.payloads = run_e2e_payloads(settings, broker, url, reference, e2e)
        totals.naive = run_naive(config, settings.naive_events, settings.batch_size, url)
    delete_topic(broker, config.kafka.predictions_topic)


def run_rounds(
    settings: Settings,
    broker: KafkaBroker,
    redis_server: RedisServer,
    reference: Path,
    labelled_reference: Path,
    profiler: cProfile.Profile | None,
    segmented_profiler: cProfile.Profile | None,
) -> Totals:
    """Every round on one daemon whose Redis state carries on from round to round."""
    redis_url = redis_server.url
    base = bench_config(broker, redis_url, reference, settings.batch_size)
    with_estimates = estimated_config(broker, redis_url, labelled_reference, settings.batch_size)
    by_segment = bench_config(broker, redis_url, reference, settings.batch_size, segmented=True)
    broker.create_topics([DLQ_TOPIC], partitions=1)
    totals = Totals()
    with (
        contextlib.closing(counting_client(redis_url)) as client,
        contextlib.closing(counting_client(redis_url)) as estimating_client,
        contextlib.closing(counting_client(redis_url)) as segmenting_client,
        contextlib.closing(redis.Redis.from_url(redis_url)) as admin,
    ):
        daemon = Daemon(base, client, serve_http=False)
        estimating = Daemon(with_estimates, estimating_client, serve_http=False)
        segmenting = Daemon(by_segment, segmenting_client, serve_http=False)
        try:
            daemon._load_state()  # what Daemon.run() does first: the reference profile into Redis
            estimating._load_state()
            began = time.perf_counter()
            segmenting._load_state()
            print(
                f"e2e_segmented: reference of {MODEL.segments} segments built in "
                f"{time.perf_counter() - began:.1f} s (untimed)",
                flush=True,
            )
            services = {"broker": broker.pid, "redis": redis_server.pid}
            e2e = E2E(daemon, RssSampler(settings.events, services), admin, profiler)
            estimated = E2E(estimating, QuietSampler(settings.events, services), admin, None)
            segmented = E2E(
                segmenting, QuietSampler(settings.events, services), admin, segmented_profiler
            )
            for index in range(len(settings.rounds())):
                run_round(
                    settings, e2e, estimated, segmented, broker, index, totals, labelled_reference
                )
            totals.load = e2e.load
            totals.segmented_load = segmented.load
            print(e2e.sampler.line("after all"), flush=True)
            status = daemon.store.model_status(MODEL.name)
            print(
                f"daemon state: events={status['events']:,} "
                f"windows_closed={status['windows_closed']}",
                flush=True,
            )
        finally:
            daemon.dead_letters.close()
            estimating.dead_letters.close()
            segmenting.dead_letters.close()
    return totals


def report(totals: Totals) -> None:
    e2e, decode, naive, load = totals.e2e, totals.decode_only, totals.naive, totals.load
    labelled = totals.labels
    print(
        f"e2e:         {e2e.events:,} events in {e2e.seconds:.2f} s, {e2e.batches} batches "
        f"({e2e.tail_wait:.2f} s of it the stream's last, partial batch waiting out "
        "batch_timeout_ms)"
    )
    print(redis_line(load, e2e.batches))
    segmented = totals.e2e_segmented
    print(
        f"e2e_segmented: {segmented.events:,} events in {segmented.seconds:.2f} s, "
        f"{segmented.batches} batches, {MODEL.segments} segments of {SEGMENT_KEY}"
    )
    print(redis_line(totals.segmented_load, segmented.batches))
    print(
        f"e2e_labels:  {labelled.events:,} predictions + {labelled.labels:,} labels "
        f"({labelled.messages:,} messages) in {labelled.seconds:.2f} s, "
        f"{labelled.batches} batches"
    )
    print(
        f"  rates: {labelled.rate:,.0f} predictions/s ({ratio(labelled.rate, e2e.rate):.2f} of "
        f"e2e), {labelled.label_rate:,.0f} labels/s, {labelled.message_rate:,.0f} messages/s"
    )
    print(redis_line(labelled.load, labelled.batches))
    for result in totals.payloads:
        print(
            f"e2e_payloads {result.payload_format}: {result.events:,} events ({result.messages:,} "
            f"messages) in {result.seconds:.2f} s, {result.batches} batches: "
            f"{result.rate:,.0f} events/s ({ratio(result.rate, e2e.rate):.2f} of e2e), "
            f"{result.message_rate:,.0f} messages/s"
        )
        print(redis_line(result.load, result.batches))
    print(f"decode_only: {decode.events:,} events in {decode.seconds:.2f} s")
    consume = totals.consume_only
    print(
        f"consume_only: {consume.events:,} events in {consume.seconds:.2f} s, "
        f"{consume.rate:,.0f} ev/s: no path can be faster "
        f"({ratio(consume.rate, naive.rate):.0f} times naive)"
    )
    share = naive.redis_seconds / naive.seconds if naive.seconds else 0.0
    print(
        f"naive:       {naive.events:,} events in {naive.seconds:.2f} s"
        f" ({share:.0%} of it in the 2 Redis round trips per event)"
    )
    print(f"producing (untimed): {totals.produce_seconds:.1f} s")
    print(
        f"ratios: e2e/decode_only={ratio(e2e.rate, decode.rate):.2f} "
        f"e2e/naive={ratio(e2e.rate, naive.rate):.1f}"
    )
    print(
        f"labels: e2e_labels={labelled.rate:.0f} labels_per_s={labelled.label_rate:.0f} "
        f"round_trips_per_batch={labelled.load.round_trips / max(labelled.batches, 1):.2f}"
    )
    estimated = totals.e2e_estimated
    print(
        f"estimated: e2e_estimated={estimated.rate:.0f} "
        f"estimated/e2e={ratio(estimated.rate, e2e.rate):.3f}"
    )
    print(
        f"segments: e2e_segmented={segmented.rate:.0f} "
        f"segmented/e2e={ratio(segmented.rate, e2e.rate):.2f} "
        f"commands_per_batch={commands_per_batch(totals.segmented_load, segmented.batches):.0f} "
        f"unsegmented_commands_per_batch={commands_per_batch(load, e2e.batches):.0f}"
    )
    print(
        "payloads: "
        + " ".join(
            f"e2e_{result.payload_format.replace('-', '_')}={result.rate:.0f}"
            for result in totals.payloads
        )
    )
    print(
        f"e2e={e2e.rate:.0f} decode_only={decode.rate:.0f} naive={naive.rate:.0f} "
        f"peak_rss_mb={peak_rss_mb():.0f}",
        flush=True,
    )


def commands_per_batch(load: RedisLoad, batches: int) -> float:
    return sum(load.commands.values()) / max(batches, 1)


def redis_line(load: RedisLoad, batches: int) -> str:
    per = max(batches, 1)
    top = sorted(load.commands.items(), key=lambda kv: -kv[1])[:6]
    return (
        f"  redis: {load.round_trips / per:.2f} round trips per batch (client side); "
        f"{sum(load.commands.values()) / per:,.0f} commands per batch (server side, "
        "incl. inside scripts): " + ", ".join(f"{k} {v / per:.1f}" for k, v in top)
    )


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def print_profile(profiler: cProfile.Profile, path: Path, section: str) -> None:
    profiler.dump_stats(path)
    print(f"cProfile of the {section} loop (rates above are slowed by it), stats in {path}:")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_args(argv)
    configure_logging("text", "WARNING")
    print(blas_line(limit_blas_threads()))
    logging.getLogger("monitor.tooling.embedded").setLevel(logging.ERROR)
    profiler = cProfile.Profile() if settings.profile else None
    segmented_profiler = cProfile.Profile() if settings.profile_segmented else None
    began = time.monotonic()
    print(
        f"events={settings.events:,} naive_events={settings.naive_events:,} "
        f"label_events={settings.label_events:,} payload_events={settings.payload_events:,} "
        f"batch_size={settings.batch_size} "
        f"rounds={len(settings.rounds())} "
        f"window={WINDOW_EVENTS} cpus={os.cpu_count()} {load_average()}",
        flush=True,
    )
    try:
        with (
            tempfile.TemporaryDirectory(prefix="dm-bench-") as workdir,
            KafkaBroker() as broker,
            RedisServer() as redis_server,
        ):
            reference = write_reference(Path(workdir))
            labelled = write_labelled_reference(Path(workdir))
            totals = run_rounds(
                settings, broker, redis_server, reference, labelled, profiler, segmented_profiler
            )
    except KeyboardInterrupt:
        print("interrupted; local broker and redis-server stopped", file=sys.stderr)
        return 130
    print(f"wall time: {time.monotonic() - began:.1f} s, {load_average()}")
    if profiler is not None and settings.profile is not None:
        print_profile(profiler, settings.profile, "e2e")
    if segmented_profiler is not None and settings.profile_segmented is not None:
        print_profile(segmented_profiler, settings.profile_segmented, "e2e_segmented")
    report(totals)
    return 0


if __name__ == "__main__":
    sys.exit(main())
