"""Wide models side by side: drift-monitor end to end, its decode-only ceiling, and Evidently.

Run::

    .venv/bin/python benchmarks/wide.py [--events N] [--round-events R]
        [--evidently-windows W] [--evidently-python PATH] [--profile FILE]

Issue 12, item 1 and "Side by side". The model has 1,000 features (900 numeric,
100 categorical: ``monitor.tooling.synthetic``, ~27 KB of JSON per event) and a numeric
prediction; 5,000-event count windows; the reference is 10,000 events (seed 1).
The stream (seed 2) shifts ``num_1``, ``num_500`` and ``num_899`` by one standard
deviation from its middle on, so both tools have something to find.

The script starts its own Tansu broker and redis-server (``monitor.tooling.embedded``).
Events are produced in rounds of ``--round-events`` (default 50,000, ~1.4 GB in
the in-memory broker), each into its own one-partition topic that is deleted
after the round, by a child process so that producing never counts in this
process's RSS and is never timed. On each round's events, one after the other:

``wide_e2e``
    The daemon (``Daemon(config, redis, serve_http=False)``, fresh group and key
    prefix, driven by ``run_once()`` as ``Daemon.run()`` drives it): Kafka,
    decode, windows, Redis state and offsets in one Lua script, evaluation of
    each closed window. Timed from the first batch (the group join excluded) to
    the last event counted; Redis's event counter is checked (exactly once).
``wide_decode_only``
    A plain assigned consumer that only decodes each batch into columns
    (``EventDecoder``): the ceiling of the daemon's path.
``consume_only``
    The same consumer taking each message's value and nothing else.
``evidently``
    ``Report([DataDriftPreset()])`` of Evidently (installed from PyPI into
    ``.venv-evidently`` with ``pandas<3``: evidently 0.7.23 fails to import under
    pandas 3; never a runtime dependency) over the last
    ``--evidently-windows`` windows of the same stream (default 1, after the
    shift), against the same reference events, in a subprocess
    (``benchmarks/wide_evidently.py``). Only its report computation is timed,
    not reading its input: that favours it. It takes minutes per window of
    1,000 columns (about 5 minutes for 2,000 rows on the shared 2-core machine),
    so on the full 3 million events it would run for days: it always runs on this
    slice, and the output says so and extrapolates.

Printed as well: the RSS of this process after each round (memory flat over
the run), the time ``evaluate_parts`` took on each closed window of 1,000+
signals (median, p95, max; the goal is under 100 ms), batches and the Redis
round trips per batch, and the load average, because the machine may be shared.
``--profile FILE`` runs the e2e sections under cProfile (which slows them),
prints the top functions and dumps the stats to FILE.

Last line::

    wide_e2e=<ev/s> wide_decode_only=<ev/s> evidently=<ev/s> ratio=<e2e/evidently>
        peak_rss_mb=<MB> label_ratio=<...> alert_p99_ms=<...>

(one line), with ``n/a`` and the reason printed above it for what is not measured.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import itertools
import json
import logging
import multiprocessing
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
import redis

if __package__ in (None, ""):  # run as a script: the repository root is not on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import monitor.evaluation
from benchmarks.throughput import (
    E2E,
    KAFKA_CONSUMER,
    RssSampler,
    Timed,
    blas_line,
    counting_client,
    delete_topic,
    load_average,
    peak_rss_mb,
    redis_line,
    rss_mb,
    run_consume_only,
    run_decode_only,
    run_e2e_round,
)
from monitor.blas_threads import limit_blas_threads
from monitor.config import Config, parse_config
from monitor.daemon import Daemon
from monitor.logs import configure_logging
from monitor.replay import produce_lines
from monitor.tooling.embedded import KafkaBroker, RedisServer
from monitor.tooling.synthetic import Shift, SyntheticModel, blocks, generate

MODEL = SyntheticModel(name="wide", numeric=900, categorical=100)
REFERENCE_EVENTS = 10_000  # the joint profile needs 5 complete rows per numeric feature
REFERENCE_SEED = 1
STREAM_SEED = 2
WINDOW_EVENTS = 5_000
GENERATOR_BLOCK = 10_000
SHIFTED = {"num_1": 1.0, "num_500": 1.0, "num_899": 1.0}
DLQ_TOPIC = "wide-predictions.dlq"
STALL_SECONDS = 120.0
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True, slots=True)
class Settings:
    events: int
    round_events: int
    batch_size: int
    evidently_windows: int
    evidently_python: Path
    profile: Path | None
    side_measures: bool

    def rounds(self) -> list[tuple[int, int]]:
        return [
            (start, min(self.round_events, self.events - start))
            for start in range(0, self.events, self.round_events)
        ]

    @property
    def shift(self) -> Shift:
        return Shift(self.events // 2 // WINDOW_EVENTS * WINDOW_EVENTS, SHIFTED)


def parse_args(argv: Sequence[str] | None) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="e2e and decode_only events")
    parser.add_argument("--round-events", type=int, default=50_000, help="events per round")
    parser.add_argument("--batch-size", type=int, default=5_000, help="messages per consume")
    parser.add_argument(
        "--evidently-windows", type=int, default=1, help="windows Evidently runs on (0: skip)"
    )
    parser.add_argument(
        "--evidently-python",
        type=Path,
        default=HERE.parent / ".venv-evidently" / "bin" / "python",
        help="the python of a virtualenv with evidently installed",
    )
    parser.add_argument("--profile", type=Path, help="run e2e under cProfile, dump stats here")
    parser.add_argument(
        "--no-side-measures",
        action="store_true",
        help="skip label_ratio (benchmarks/labels.py) and alert_p99_ms "
        "(benchmarks/alert_latency.py)",
    )
    args = parser.parse_args(argv)
    if args.events < WINDOW_EVENTS or args.events % WINDOW_EVENTS:
        parser.error(f"--events must be a positive multiple of {WINDOW_EVENTS}")
    if args.round_events < GENERATOR_BLOCK or args.round_events % GENERATOR_BLOCK:
        parser.error(f"--round-events must be a positive multiple of {GENERATOR_BLOCK}")
    return Settings(
        events=args.events,
        round_events=args.round_events,
        batch_size=args.batch_size,
        evidently_windows=max(0, min(args.evidently_windows, args.events // WINDOW_EVENTS)),
        evidently_python=args.evidently_python,
        profile=args.profile,
        side_measures=not args.no_side_measures,
    )


def bench_config(broker: KafkaBroker, redis_url: str, reference: Path, batch_size: int) -> Config:
    run = uuid.uuid4().hex[:8]
    return parse_config(
        {
            "kafka": {
                "bootstrap_servers": broker.bootstrap_servers,
                "group_id": f"wide-{run}",
                "dead_letter_topic": DLQ_TOPIC,
                "batch_size": batch_size,
                "consumer": KAFKA_CONSUMER,
            },
            "redis": {"url": redis_url, "key_prefix": f"wide-{run}"},
            "http": {"port": 0},
            "models": {
                MODEL.name: {
                    "reference": {"path": str(reference)},
                    "window": {"events": WINDOW_EVENTS},
                    "features": MODEL.features(),
                    "prediction": "numeric",
                }
            },
        }
    )


def for_topic(config: Config, topic: str, index: int) -> Config:
    kafka = replace(
        config.kafka, predictions_topic=topic, group_id=f"{config.kafka.group_id}-r{index}"
    )
    return replace(config, kafka=kafka)


# --------------------------------------------------------------------------------------------
# Producing, in a child process
# --------------------------------------------------------------------------------------------


def _produce(config: Config, start: int, count: int, shift: Shift) -> None:
    stream = itertools.chain.from_iterable(
        blocks(MODEL, count, block=GENERATOR_BLOCK, seed=STREAM_SEED, shift=shift, start=start)
    )
    result = produce_lines(config, stream)
    if result.delivered != count:
        raise SystemExit(f"produced {result.delivered} of {count} events ({result.failed} failed)")


def produce_round(config: Config, start: int, count: int, shift: Shift) -> float:
    """Events ``start .. start+count-1``, produced by a forked child; untimed."""
    began = time.perf_counter()
    child = multiprocessing.get_context("fork").Process(
        target=_produce, args=(config, start, count, shift)
    )
    child.start()
    child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"the producing child exited with {child.exitcode}")
    return time.perf_counter() - began


def window_events(settings: Settings, window: int) -> list[bytes]:
    """Window ``window``'s events exactly as the stream's blocks produced them."""
    first = window * WINDOW_EVENTS
    block_start = first // GENERATOR_BLOCK * GENERATOR_BLOCK
    size = min(GENERATOR_BLOCK, settings.events - block_start)
    block = generate(MODEL, block_start, size, seed=STREAM_SEED, shift=settings.shift)
    return block[first - block_start : first - block_start + WINDOW_EVENTS]


# --------------------------------------------------------------------------------------------
# drift-monitor
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class EvaluationTimes:
    """Wall time of every ``evaluate_parts`` call (one per closed window)."""

    seconds: list[float] = field(default_factory=list)
    signals: int = 0
    _original: Any = None

    def install(self) -> None:
        original = self._original = getattr(monitor.evaluation, "evaluate_parts")  # noqa: B009

        def timed(parts: Any, settings: Any) -> Any:
            started = time.perf_counter()
            results = original(parts, settings)
            self.seconds.append(time.perf_counter() - started)
            self.signals = sum(len(part.layout.signals) for part in parts)
            return results

        setattr(monitor.evaluation, "evaluate_parts", timed)  # noqa: B010

    def uninstall(self) -> None:
        """Stop timing: the side measures' 23-feature windows are not this benchmark's."""
        setattr(monitor.evaluation, "evaluate_parts", self._original)  # noqa: B010

    def line(self) -> str:
        if not self.seconds:
            return "evaluate_parts: no window closed"
        ms = sorted(s * 1000 for s in self.seconds)
        p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
        return (
            f"evaluate_parts of {self.signals} signals over {len(ms)} windows: median "
            f"{statistics.median(ms):.1f} ms, p95 {p95:.1f} ms, max {ms[-1]:.1f} ms "
            f"(first: {self.seconds[0] * 1000:.1f} ms; the reference side is built at load)"
        )


# --------------------------------------------------------------------------------------------
# Evidently
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class EvidentlyResult:
    events: int = 0
    seconds: float = 0.0
    windows: int = 0
    version: str = ""
    peak_rss_mb: float = 0.0
    drifted: list[dict[str, Any]] = field(default_factory=list)
    skipped: str = ""

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def frame_table(values: list[bytes]) -> pa.Table:
    """Events as a table of one column per feature (and ``prediction``), as Evidently takes."""
    decode = msgspec.json.Decoder(dict[str, Any]).decode
    events = [decode(v) for v in values]
    columns: dict[str, Any] = {}
    for name in MODEL.numeric_names:
        columns[name] = pa.array([e["features"].get(name) for e in events], pa.float64())
    for name in MODEL.categorical_names:
        columns[name] = pa.array([e["features"].get(name) for e in events], pa.string())
    columns["prediction"] = pa.array([e["prediction"] for e in events], pa.float64())
    return pa.table(columns)


def run_evidently(settings: Settings, reference: list[bytes], workdir: Path) -> EvidentlyResult:
    count = settings.evidently_windows
    if count == 0:
        return EvidentlyResult(skipped="--evidently-windows 0")
    if not settings.evidently_python.exists():
        return EvidentlyResult(
            skipped=f"no {settings.evidently_python}: python3 -m venv .venv-evidently && "
            ".venv-evidently/bin/pip install evidently 'pandas<3'"
        )
    directory = workdir / "evidently"
    directory.mkdir()
    total = settings.events // WINDOW_EVENTS
    chosen = range(total - count, total)  # the last windows: after the shift
    pq.write_table(frame_table(reference), directory / "reference.parquet")
    for window in chosen:
        table = frame_table(window_events(settings, window))
        pq.write_table(table, directory / f"window-{window:06d}.parquet")
    numeric = [*MODEL.numeric_names, "prediction"]
    columns = {"numeric": numeric, "categorical": MODEL.categorical_names}
    (directory / "columns.json").write_text(json.dumps(columns))
    done = subprocess.run(
        [str(settings.evidently_python), str(HERE / "wide_evidently.py"), str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-5:]
        return EvidentlyResult(skipped="the Evidently worker failed: " + " | ".join(tail))
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return EvidentlyResult(
        events=out["events"],
        seconds=out["seconds"],
        windows=out["windows"],
        version=out["version"],
        peak_rss_mb=out["peak_rss_mb"],
        drifted=out["drifted"],
    )


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Totals:
    e2e: Timed = field(default_factory=Timed)
    decode_only: Timed = field(default_factory=Timed)
    consume_only: Timed = field(default_factory=Timed)
    produce_seconds: float = 0.0
    rss: list[float] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    """ru_maxrss when drift-monitor's sections are done, before Evidently's input is built."""
    drifted: dict[int, list[str]] = field(default_factory=dict)
    """The signals drifted in each closed window."""
    redis: str = ""
    scripts: str = ""
    """Redis-side time of the apply and finalize scripts (SLOWLOG), per call."""

    def on_window(self, report: monitor.evaluation.WindowReport) -> None:
        self.drifted[report.window_id] = sorted({r.signal for r in report.drifted})


def run_rounds(
    settings: Settings,
    broker: KafkaBroker,
    redis_server: RedisServer,
    reference: Path,
    profiler: cProfile.Profile | None,
    evaluations: EvaluationTimes,
) -> Totals:
    base = bench_config(broker, redis_server.url, reference, settings.batch_size)
    broker.create_topics([DLQ_TOPIC], partitions=1)
    totals = Totals()
    with (
        contextlib.closing(counting_client(redis_server.url)) as client,
        contextlib.closing(redis.Redis.from_url(redis_server.url)) as admin,
    ):
        daemon = Daemon(base, client, serve_http=False, on_window=totals.on_window)
        # Every command into the slow log, to time the scripts inside Redis.
        admin.config_set("slowlog-log-slower-than", 0)
        admin.config_set("slowlog-max-len", 1_000_000)
        admin.slowlog_reset()
        services = {"broker": broker.pid, "redis": redis_server.pid}
        e2e = E2E(daemon, RssSampler(settings.events, services), admin, profiler)
        try:
            began = time.perf_counter()
            daemon._load_state()  # what Daemon.run() does first: the reference profile
            print(f"reference profile built in {time.perf_counter() - began:.1f} s", flush=True)
            totals.rss.append(rss_mb())
            print(f"rss before e2e: {totals.rss[-1]:.0f} MB", flush=True)
            rounds = settings.rounds()
            for index, (start, count) in enumerate(rounds):
                label = f"round {index + 1}/{len(rounds)}"
                config = for_topic(base, f"wide-predictions-r{index}", index)
                broker.create_topics([config.kafka.predictions_topic], partitions=1)
                produced = produce_round(config, start, count, settings.shift)
                totals.produce_seconds += produced
                timed = run_e2e_round(e2e, config, start + count, MODEL.name)
                totals.e2e.add(timed)
                decode = run_decode_only(config, count, settings.batch_size)
                totals.decode_only.add(decode)
                consume = run_consume_only(config, count, settings.batch_size)
                totals.consume_only.add(consume)
                delete_topic(broker, config.kafka.predictions_topic)
                totals.rss.append(rss_mb())
                print(
                    f"{label}: produced {count:,} in {produced:.1f} s (untimed); "
                    f"e2e {timed.rate:,.0f} ev/s ({timed.seconds:.1f} s)  "
                    f"decode_only {decode.rate:,.0f} ev/s  consume_only {consume.rate:,.0f} ev/s"
                    f"  rss {totals.rss[-1]:.0f} MB (broker {rss_mb(broker.pid or 0):.0f} MB)  "
                    f"{load_average()}",
                    flush=True,
                )
        finally:
            daemon.dead_letters.close()
        totals.scripts = script_times(admin, daemon)
    totals.peak_rss_mb = peak_rss_mb()
    totals.redis = redis_line(e2e.load, totals.e2e.batches)
    return totals


def script_times(admin: redis.Redis, daemon: Daemon) -> str:
    """Median and max Redis-side time of apply_batch.lua and finalize_window.lua per call."""
    names = {daemon.store._apply.sha: "apply_batch.lua", daemon.store._finalize.sha: "finalize"}
    seconds: dict[str, list[float]] = {name: [] for name in names.values()}
    for entry in admin.slowlog_get(1_000_000):
        command = entry["command"]  # the blobs in it are binary: split before decoding
        words = (command if isinstance(command, bytes) else command.encode()).split(maxsplit=2)
        sha = words[1].decode() if len(words) > 1 else ""
        if words and words[0].upper() == b"EVALSHA" and sha in names:
            seconds[names[sha]].append(entry["duration"] / 1000)  # microseconds
    return "  redis-side script time per call: " + ", ".join(
        f"{name} median {statistics.median(ms):.0f} ms max {max(ms):.0f} ms ({len(ms)} calls)"
        for name, ms in seconds.items()
        if ms
    )


@dataclass(frozen=True, slots=True)
class SideMeasures:
    """Issue 12's items 3 and 4, measured by their own benchmarks (on the throughput
    benchmark's 23-feature model) so this one's last line carries every figure."""

    label_ratio: str = "n/a"
    alert_p99_ms: str = "n/a"


def _quiet(*_: object) -> None:
    """Their own progress lines would drown this report's."""


def side_measures(settings: Settings) -> SideMeasures:
    if not settings.side_measures:
        print("label_ratio, alert_p99_ms: n/a: skipped (--no-side-measures)")
        return SideMeasures()
    from benchmarks.alert_latency import measure_alert_latency
    from benchmarks.labels import measure_label_ratio

    labels = measure_label_ratio(say=_quiet)
    print(
        f"label_ratio (benchmarks/labels.py, labels 0-10 min behind, interleaved): "
        f"{labels.ratio:.2f}"
    )
    latency = measure_alert_latency(cycles=30, say=_quiet)
    print(
        f"alert latency (benchmarks/alert_latency.py, default batch settings): "
        f"p50 {latency.percentile(50):.0f} ms, p99 {latency.percentile(99):.0f} ms"
    )
    return SideMeasures(f"{labels.ratio:.2f}", f"{latency.percentile(99):.0f}")


def report(
    settings: Settings,
    totals: Totals,
    evaluations: EvaluationTimes,
    evidently: EvidentlyResult,
    side: SideMeasures,
) -> None:
    run, decode, consume = totals.e2e, totals.decode_only, totals.consume_only
    print(
        f"wide_e2e:         {run.events:,} events in {run.seconds:.1f} s, {run.rate:,.0f} ev/s "
        f"({run.batches} batches)"
    )
    print(totals.redis)
    print(totals.scripts)
    print(f"wide_decode_only: {decode.events:,} events in {decode.seconds:.1f} s")
    print(
        f"consume_only:     {consume.events:,} events in {consume.seconds:.1f} s, "
        f"{consume.rate:,.0f} ev/s"
    )
    print(evaluations.line())
    shift = settings.shift.start // WINDOW_EVENTS
    flagged = {
        w: [s for s in signals if s != "features"] for w, signals in sorted(totals.drifted.items())
    }
    wrong = {
        w: s for w, s in flagged.items() if sorted(s) != (sorted(SHIFTED) if w >= shift else [])
    }
    print(
        f"drift-monitor flagged {sorted(SHIFTED)} from window {shift} on (the shift's first): "
        + ("exactly, in every window" if not wrong else f"NOT exactly; windows {wrong}")
    )
    print(
        f"rss before e2e, then after each round (MB): {' '.join(f'{r:.0f}' for r in totals.rss)}; "
        f"peak (ru_maxrss, producing in a child, not counted) {totals.peak_rss_mb:.0f} MB"
    )
    print(f"producing (untimed, child process): {totals.produce_seconds:.1f} s")
    if evidently.skipped:
        print(f"evidently: n/a: {evidently.skipped}")
    else:
        full_hours = settings.events / evidently.rate / 3600 if evidently.rate else float("nan")
        print(
            f"evidently {evidently.version}: DataDriftPreset on a SLICE of {evidently.windows} "
            f"windows ({evidently.events:,} events, the stream's last) in "
            f"{evidently.seconds:.1f} s, {evidently.rate:,.0f} ev/s (report computation only, "
            f"its input read untimed); the whole {settings.events:,} events would take "
            f"{full_hours:.2f} h; its peak RSS {evidently.peak_rss_mb:.0f} MB"
        )
        for entry in evidently.drifted:
            print(f"  evidently {entry['window']}: drifted {sorted(entry['drifted'])}")
    ratio = f"{run.rate / evidently.rate:.1f}" if evidently.rate else "n/a"
    print(
        f"e2e/decode_only={run.rate / decode.rate if decode.rate else float('nan'):.2f} "
        f"machine: cpus={os.cpu_count()} {load_average()} (shared with other work)"
    )
    evidently_rate = f"{evidently.rate:.0f}" if evidently.rate else "n/a"
    print(
        f"wide_e2e={run.rate:.0f} wide_decode_only={decode.rate:.0f} evidently={evidently_rate} "
        f"ratio={ratio} peak_rss_mb={totals.peak_rss_mb:.0f} label_ratio={side.label_ratio} "
        f"alert_p99_ms={side.alert_p99_ms}",
        flush=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_args(argv)
    configure_logging("text", "WARNING")
    print(blas_line(limit_blas_threads()))
    logging.getLogger("monitor.tooling.embedded").setLevel(logging.ERROR)
    logging.getLogger("monitor").setLevel(logging.ERROR)  # drift and alert lines: summed up below
    profiler = cProfile.Profile() if settings.profile else None
    evaluations = EvaluationTimes()
    evaluations.install()
    began = time.monotonic()
    print(
        f"events={settings.events:,} features={MODEL.numeric}+{MODEL.categorical} "
        f"rounds={len(settings.rounds())} batch_size={settings.batch_size} "
        f"window={WINDOW_EVENTS} cpus={os.cpu_count()} {load_average()}",
        flush=True,
    )
    try:
        with tempfile.TemporaryDirectory(prefix="dm-wide-") as name:
            workdir = Path(name)
            reference = workdir / "reference.jsonl"
            reference.write_bytes(
                b"\n".join(generate(MODEL, 0, REFERENCE_EVENTS, seed=REFERENCE_SEED))
            )
            with KafkaBroker() as broker, RedisServer() as redis_server:
                totals = run_rounds(
                    settings, broker, redis_server, reference, profiler, evaluations
                )
            # After every drift-monitor section: its peak RSS is its own.
            reference_events = reference.read_bytes().split(b"\n")
            evidently = run_evidently(settings, reference_events, workdir)
        evaluations.uninstall()
        side = side_measures(settings)
    except KeyboardInterrupt:
        print("interrupted; local broker and redis-server stopped", file=sys.stderr)
        return 130
    print(f"wall time: {time.monotonic() - began:.1f} s")
    if profiler is not None and settings.profile is not None:
        profiler.dump_stats(settings.profile)
        print(f"cProfile of the e2e loop (rates above are slowed by it), in {settings.profile}:")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    report(settings, totals, evaluations, evidently, side)
    return 0


if __name__ == "__main__":
    sys.exit(main())
