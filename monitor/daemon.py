"""The daemon's run loop: one micro-batch at a time, in checkpoint order.

For each batch:

1. Consume up to ``kafka.batch_size`` messages.
2. Decode them into per-model numpy columns; undecodable ones become dead letters.
3. Produce the dead letters and flush: they are in Kafka before the offsets
   that skip them move (at least once; a crash here can repeat one).
4. Plan each model's window changes from its cursor, in memory.
5. Apply state changes and partition offsets in one Redis script. On
   ``conflict`` (another instance moved a model) reload the cursors and go back
   to 4; on ``stale`` (another consumer already applied these offsets) seek to
   Redis's offsets and drop the batch.
6. Commit the offsets to Kafka, asynchronously: Redis is the truth, Kafka's
   copy serves lag tooling.
7. Evaluate windows that closed and record their results once; export metrics.

Redis or Kafka outages in steps 3 to 5 pause consumption and retry the same
in-memory batch with backoff: nothing is committed until it is applied, so an
outage delays events but never drops or doubles them.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import redis
from confluent_kafka import Message
from numpy.typing import NDArray
from prometheus_client import CollectorRegistry

from detectors.window import WindowLayout
from monitor.config import Config
from monitor.decode import DecodedBatch, EventDecoder
from monitor.errors import ServiceUnavailable
from monitor.evaluation import WindowEvaluator, WindowReport
from monitor.http import HealthServer
from monitor.keys import Keys
from monitor.metrics import Metrics
from monitor.reference import load_or_build_references
from monitor.source import Batch, DeadLetterProducer, KafkaSource
from monitor.store import BatchWrite, ModelCursor, StateStore
from monitor.windowing import Plan, plan_model_write

log = logging.getLogger(__name__)

HEARTBEAT_TTL_SECONDS = 30
MAX_PLAN_ATTEMPTS = 50


class BatchAbandoned(Exception):
    """A stop arrived while a batch could not be applied; nothing of it was written."""


@dataclass
class DaemonStatus:
    """What the readiness probe and the heartbeat look at."""

    redis_ok: bool = False
    state_loaded: bool = False
    last_batch_at: float = 0.0
    problems: list[str] = field(default_factory=list)


class Daemon:
    """One drift-monitor instance: consumes, counts, evaluates and exports."""

    def __init__(
        self,
        config: Config,
        redis_client: redis.Redis,
        *,
        registry: CollectorRegistry | None = None,
        on_window: Callable[[WindowReport], None] | None = None,
        serve_http: bool = True,
    ) -> None:
        self.config = config
        self.instance = f"{config.kafka.group_id}-{uuid.uuid4().hex[:8]}"
        self.stop_event = threading.Event()
        self.metrics = Metrics(registry or CollectorRegistry())
        self.store = StateStore(
            redis_client, Keys(config.redis.key_prefix), history_size=config.redis.history_size
        )
        self.source = KafkaSource(config, self.store, client_id=self.instance, stop=self.stop_event)
        self.dead_letters = DeadLetterProducer(config)
        self.decoder = EventDecoder(config)
        self.evaluator = WindowEvaluator(self.store, config.models, self.instance)
        self.status = DaemonStatus()
        self._on_window = on_window
        self._layouts: dict[str, WindowLayout] = {}
        self._cursors: dict[str, ModelCursor] = {}
        self._next_offsets: dict[int, int] = {}
        self._last_heartbeat = 0.0
        self.http = (
            HealthServer(
                config.http.host, config.http.port, self.metrics.registry, self.not_ready_reasons
            )
            if serve_http
            else None
        )

    def not_ready_reasons(self) -> list[str]:
        reasons = []
        if not self.status.redis_ok:
            reasons.append("redis unreachable")
        if not self.status.state_loaded:
            reasons.append("state not loaded")
        if not self.source.assignment_received:
            reasons.append("no partition assignment yet")
        self.metrics.ready.set(0 if reasons else 1)
        return reasons

    def stop(self) -> None:
        self.stop_event.set()

    def run(self) -> None:
        """Run until :meth:`stop`; the current batch is always finished and checkpointed."""
        if self.http is not None:
            self.http.start()
        try:
            self._load_state()
            self.source.start()
            while not self.stop_event.is_set():
                self.run_once()
        except BatchAbandoned as reason:
            log.warning(
                "batch abandoned unapplied; it is consumed again on restart",
                extra={"reason": str(reason)},
            )
        finally:
            self.source.close()
            self.dead_letters.close()
            if self.http is not None:
                self.http.stop()
            log.info("stopped", extra={"instance": self.instance})

    def _load_state(self) -> None:
        while not self.stop_event.is_set():
            try:
                profiles = load_or_build_references(self.config, self.store)
                self._layouts = {name: WindowLayout(p) for name, p in profiles.items()}
                self._cursors = {name: self.store.cursor(name) for name in self.config.models}
                self.status.redis_ok = True
                self.status.state_loaded = True
                # Everything built so far (imports, profiles, clients) lives as long as the
                # process: freezing it keeps the cyclic GC from rescanning it after every
                # batch, which measured about a third of the e2e rate.
                gc.freeze()
                self.metrics.redis_up.set(1)
                log.info(
                    "state loaded",
                    extra={
                        "models": {n: c.events for n, c in self._cursors.items()},
                        "references": {n: p.id for n, p in profiles.items()},
                    },
                )
                return
            except ServiceUnavailable as error:
                self._redis_down(error)

    def run_once(self) -> int:
        """Consume and fully process one batch; returns the number of messages."""
        batch = self.source.poll()
        self._beat()
        if not batch.messages:
            self._evaluate()
            return 0
        started = time.perf_counter()
        decoded = self.decoder.decode(
            [m.value() for m in batch.messages], _timestamps(batch.messages)
        )
        self._with_retry(lambda: self._checkpoint(batch, decoded))
        self.source.commit(batch.offsets)
        self._next_offsets.update({p: after for p, (_, after) in batch.offsets.items()})
        self._count(decoded)
        self._evaluate()
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        self.metrics.batch_events.observe(len(batch.messages))
        self.metrics.record_lag(self.source.topic, self.source.lag(self._next_offsets))
        self.status.last_batch_at = time.time()
        return len(batch.messages)

    def _checkpoint(self, batch: Batch, decoded: DecodedBatch) -> None:
        """Steps 3 to 5: dead letters durable, then state and offsets in one script."""
        for dead in decoded.dead_letters:
            self.dead_letters.send(batch.messages[dead.index], dead.reason, dead.detail)
        self.dead_letters.flush()
        for _ in range(MAX_PLAN_ATTEMPTS):
            plans = {
                name: plan_model_write(
                    self.config.models[name],
                    self._cursors[name],
                    self._layouts.get(name),
                    columns,
                    lambda name=name: self.store.reference_chunks(name),  # type: ignore[misc]
                    time.time(),
                )
                for name, columns in decoded.models.items()
            }
            write = BatchWrite(
                topic=self.source.topic,
                offsets=batch.offsets,
                models=[plan.write for plan in plans.values()],
            )
            outcome = self.store.apply(write, self._layouts)
            if outcome.status == "ok":
                self._adopt(plans)
                return
            if outcome.status == "conflict":
                self.metrics.state_conflicts.labels("conflict").inc()
                self._cursors = {name: self.store.cursor(name) for name in self.config.models}
                continue
            self.metrics.state_conflicts.labels("stale").inc()
            log.warning(
                "batch refused: offsets already applied elsewhere; re-seeking",
                extra={"partition": outcome.subject, "stored_offset": outcome.stored},
            )
            self.source.rewind(batch.offsets)
            decoded.models.clear()
            decoded.dead_letters.clear()
            return
        raise ServiceUnavailable(f"state kept moving for {MAX_PLAN_ATTEMPTS} attempts")

    def _adopt(self, plans: dict[str, Plan]) -> None:
        for name, plan in plans.items():
            self._cursors[name] = plan.cursor
            if plan.layout is not None and name not in self._layouts:
                self._layouts[name] = plan.layout
                log.info(
                    "reference built from stream",
                    extra={"model": name, "reference_id": plan.layout.profile.id},
                )

    def _count(self, decoded: DecodedBatch) -> None:
        for dead in decoded.dead_letters:
            self.metrics.bad_events.labels(dead.reason).inc()
        for name, columns in decoded.models.items():
            self.metrics.events.labels(name).inc(columns.rows)
            for signal, mask in columns.mismatches.items():
                self.metrics.type_mismatches.labels(name, signal).inc(int(np.count_nonzero(mask)))

    def _evaluate(self) -> None:
        reports = self._with_retry(lambda: self.evaluator.run(self._layouts))
        for report in reports:
            self.metrics.record_results(report.model, report.results, report.end_ts)
            if report.drifted:
                log.warning(
                    "window closed with drift",
                    extra={
                        "model": report.model,
                        "window": report.window_dict(),
                        "drifted": sorted({f"{r.signal}/{r.method}" for r in report.drifted}),
                    },
                )
            if self._on_window is not None:
                self._on_window(report)

    def _with_retry(self, step: Callable[[], Any]) -> Any:
        """Run a step until Redis (or Kafka) lets it through, pausing consumption meanwhile.

        A stop requested during an outage abandons the batch: nothing of it was
        applied, so the next start consumes it again from Redis's offsets.
        """
        delay = 0.1
        paused = False
        try:
            while True:
                try:
                    result = step()
                except ServiceUnavailable as error:
                    if not paused:
                        self.source.pause()
                        paused = True
                    self._redis_down(error)
                    if self._wait_paused(delay):
                        raise BatchAbandoned("stopped during an outage") from error
                    delay = min(delay * 2, 5.0)
                    continue
                if not self.status.redis_ok:
                    log.info("redis reachable again")
                self.status.redis_ok = True
                self.metrics.redis_up.set(1)
                return result
        finally:
            if paused:
                self.source.resume()

    def _wait_paused(self, seconds: float) -> bool:
        """Wait out a backoff while keeping the group membership; True if a stop came."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.source.keep_alive()
            if self.stop_event.wait(min(0.2, max(deadline - time.monotonic(), 0))):
                return True
        return False

    def _redis_down(self, error: Exception) -> None:
        if self.status.redis_ok:
            log.error("service unavailable; pausing", extra={"error": str(error)})
        self.status.redis_ok = False
        self.metrics.redis_up.set(0)

    def _beat(self) -> None:
        now = time.monotonic()
        if now - self._last_heartbeat < HEARTBEAT_TTL_SECONDS / 3:
            return
        try:
            self.store.heartbeat(self.instance, HEARTBEAT_TTL_SECONDS)
            self.status.redis_ok = True
            self._last_heartbeat = now
        except ServiceUnavailable as error:
            self._redis_down(error)


def _timestamps(messages: list[Message]) -> Callable[[NDArray[np.intp]], NDArray[np.float64]]:
    """Kafka message timestamps (seconds) for the events that carry no ``ts``."""

    def lookup(indices: NDArray[np.intp]) -> NDArray[np.float64]:
        stamps = [messages[int(i)].timestamp()[1] for i in indices]
        return np.array([s / 1000.0 if s >= 0 else np.nan for s in stamps], dtype=np.float64)

    return lookup
