"""The daemon's run loop: one micro-batch at a time, in checkpoint order.

For each batch:

1. Consume up to ``kafka.batch_size`` messages.
2. Decode them into per-model numpy columns; undecodable ones become dead letters.
   (A model server's format, ``payload.format``, reads them as request and response
   halves instead; their rows are decoded in step 4, once paired.)
3. Produce the dead letters and flush: they are in Kafka before the offsets
   that skip them move (at least once; a crash here can repeat one).
4. Pair the halves with those waiting in Redis and decode the pairs' rows (model
   server formats only; ``monitor.payloads``), then plan each model's window changes
   from its cursor, in memory.
5. Apply state changes, the pairing's and partition offsets in one Redis script. On
   ``conflict`` (another instance moved a model, or the waiting halves) reload the
   cursors and go back to 4; on ``stale`` (another consumer already applied these offsets) seek to
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
import operator
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import compress, repeat
from typing import Any

import numpy as np
import redis
from confluent_kafka import Message
from prometheus_client import CollectorRegistry

from detectors.window import WindowLayout
from monitor.alerts.outbox import Outbox
from monitor.alerts.plan import AlertPlan
from monitor.alerts.records import AlertRecords
from monitor.alerts.routing import refreshed_sinks
from monitor.alerts.sinks.registry import build_sinks
from monitor.alerts.worker import DeliveryWorker
from monitor.bad_event_log import BadEventLog
from monitor.batch_data import Detection, JoinPlan, ModelCursor
from monitor.batch_planning import plan_batch, reads_for_batch
from monitor.config import Config, ModelConfig
from monitor.decode import DecodedBatch, EventDecoder
from monitor.errors import DriftMonitorError, ServiceUnavailable
from monitor.evaluation import WindowEvaluator, WindowReport
from monitor.healthcheck import RedisPing
from monitor.http import HealthServer
from monitor.keys import Keys
from monitor.labels.decode import DecodedLabels, LabelDecoder
from monitor.labels.quality_evaluator import QualityEvaluator
from monitor.metrics import Metrics
from monitor.origins import Origins
from monitor.payloads.halves import Letter
from monitor.payloads.stage import Arrivals, PairedBatch, PayloadStage
from monitor.readiness import ReadinessLog
from monitor.reconciliation import EstimateRecords, EstimatorHealth
from monitor.reference import load_or_build_references
from monitor.reload import merge_reload
from monitor.report.live import live_pages
from monitor.source import Batch, DeadLetterProducer, KafkaSource, message_source
from monitor.store import StateStore
from monitor.topics import daemon_topics
from monitor.versions import Routed, VersionStreams, model_of, version_of
from monitor.windowing import Plan

log = logging.getLogger(__name__)

HEARTBEAT_TTL_SECONDS = 30
QUALITY_JUDGE_SECONDS = 1.0
MAX_PLAN_ATTEMPTS = 50


@dataclass
class _Work:
    """One batch's messages split by topic (kept for their dead letters), decoded, and
    (once applied) what its write did."""

    predictions: list[Message]
    decoded: DecodedBatch
    label_messages: list[Message]
    labels: DecodedLabels
    routed: Routed = field(default_factory=Routed)
    """What the batch did to model versions: streams seen first, events of unknown ones."""
    joins: dict[str, JoinPlan] = field(default_factory=dict)
    detections: list[Detection] = field(default_factory=list)
    late: dict[str, int] = field(default_factory=dict)
    arrivals: Arrivals | None = None
    """A model server's format: the messages read as requests and responses."""
    paired: PairedBatch | None = None
    """A model server's format: the pairing as the applied plan made it."""

    def payload_letters(self) -> list[Letter]:
        """A model server's messages dead-lettered by this batch (as applied)."""
        arrived = [] if self.arrivals is None else self.arrivals.letters
        return [*arrived, *([] if self.paired is None else self.paired.letters)]


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
        self.payloads = (
            PayloadStage(config, self.store, self.decoder)
            if config.payload.from_model_server
            else None
        )
        self.label_decoder = LabelDecoder(
            list(config.models), config.kafka.max_message_bytes, config.payload
        )
        self._redis_client = redis_client
        self.estimates = EstimateRecords(
            redis_client, self.store.keys, keep=config.redis.history_size
        )
        # The models planned and evaluated: each version of a model monitored per version is
        # one (monitor.versions); the versions Redis knows are added when state loads.
        self.streams = VersionStreams(config, {})
        self.evaluator = self._build_evaluator(self.streams.config)
        self.quality_evaluator = self._build_quality_evaluator(self.streams.config)
        self.delivery = self._build_delivery(config)
        self._reload_request: Callable[[], Config] | None = None
        self.status = DaemonStatus()
        self._on_window = on_window
        self._layouts: dict[str, WindowLayout] = {}
        self._cursors: dict[str, ModelCursor] = {}
        self._next_offsets: dict[tuple[str, int], int] = {}
        self._last_heartbeat = 0.0
        self._quality_judged_at = float("-inf")
        self._redis_ping = RedisPing(redis_client, key=self.store.keys.heartbeat)
        self._bad_event_log = BadEventLog(log)
        self._readiness_log = ReadinessLog(log)
        # Readiness is computed when scraped, so the gauge is right even if nothing probes /readyz.
        self.metrics.ready.set_function(lambda: 0.0 if self.not_ready_reasons() else 1.0)
        self.http = (
            HealthServer(
                config.http.host,
                config.http.port,
                self.metrics.registry,
                self.readiness,
                pages=live_pages(lambda: self.config, self.store),
            )
            if serve_http
            else None
        )

    def _build_evaluator(self, config: Config) -> WindowEvaluator:
        return WindowEvaluator(
            self.store,
            config.models,
            self.instance,
            alerts=AlertRecords(self._redis_client, self.store.keys),
            refresh_sinks=refreshed_sinks(config),
            audit_size=config.alerting.audit_size,
            counts_history_size=config.redis.counts_history_size,
            estimates=self.estimates,
        )

    def _build_quality_evaluator(self, config: Config) -> QualityEvaluator:
        return QualityEvaluator(
            self.store,
            config.models,
            alerts=AlertRecords(self._redis_client, self.store.keys),
            refresh_sinks=refreshed_sinks(config),
            audit_size=config.alerting.audit_size,
            estimates=self.estimates,
        )

    def _build_delivery(self, config: Config) -> DeliveryWorker:
        return DeliveryWorker(
            Outbox(
                self._redis_client,
                self.store.keys,
                dead_letter_size=config.alerting.dead_letter_size,
            ),
            build_sinks(config),
            config.sinks,
            self.metrics,
            consumer=self.instance,
            claim_idle_seconds=config.alerting.claim_idle_seconds,
        )

    def request_reload(self, load: Callable[[], Config]) -> None:
        """Reload decision settings, alert rules and sinks after the current batch (SIGHUP)."""
        self._reload_request = load

    def _reload(self, load: Callable[[], Config]) -> None:
        """Swap in the reloadable parts, or nothing: sinks are built (their secrets read from
        the environment) before anything running is replaced."""
        try:
            merged, ignored = merge_reload(self.config, load())
            delivery = self._build_delivery(merged)
        except DriftMonitorError as error:
            log.error("reload refused; keeping the running config", extra={"error": str(error)})
            return
        self.config = merged
        self.streams = VersionStreams(merged, self.streams.versions())
        self.evaluator = self._build_evaluator(self.streams.config)
        self.evaluator.prepare(self._layouts)
        self.quality_evaluator = self._build_quality_evaluator(self.streams.config)
        self.delivery.stop()
        self.delivery = delivery
        self.delivery.start()
        log.info(
            "config reloaded: thresholds, methods, alert rules, routes, retraining and sinks",
            extra={"not_reloaded_needs_restart": ignored},
        )

    def readiness(self) -> tuple[list[str], dict[str, str | float] | None]:
        """Why the daemon is not ready, and since when (``/readyz``; logged when due)."""
        reasons = self.not_ready_reasons()
        return reasons, self._readiness_log.observe(reasons)

    def not_ready_reasons(self) -> list[str]:
        """Why ``/readyz`` says no; empty when ready.

        Redis counts as reachable only if the run loop's last call succeeded *and*
        a PING (at most one a second, short timeout) answers now: the loop alone
        notices an outage only when it next touches Redis.
        """
        reasons = []
        if not self.status.redis_ok or not self._redis_ping.ok():
            reasons.append("redis unreachable")
        if not self.status.state_loaded:
            reasons.append("state not loaded")
        kafka = self.config.kafka
        if self.source.unreachable is not None:
            reasons.append(f"kafka unreachable: {self.source.unreachable}")
        elif self.source.missing_topics:
            reasons.append(
                f"kafka topics missing: {', '.join(self.source.missing_topics)} "
                f"(create them, or set kafka.create_topics: true)"
            )
        elif not self.source.subscribed:
            topics = ", ".join(daemon_topics(self.config))
            reasons.append(f"asking Kafka at {kafka.bootstrap_servers} for {topics}")
        elif not self.source.assignment_received:
            reasons.append(
                f"no partition assignment yet for group {kafka.group_id!r} on "
                f"{', '.join(self.source.topics)}: the group is joining or rebalancing; a "
                "previous member that was killed holds its partitions until its "
                "session.timeout.ms runs out, and a group that stays stuck may need a new "
                "group_id (its offsets are in Redis, so none are lost)"
            )
        return reasons

    def stop(self) -> None:
        self.stop_event.set()

    def run(self) -> None:
        """Run until :meth:`stop`; the current batch is always finished and checkpointed."""
        if self.http is not None:
            self.http.start()
        try:
            self._load_state()
            self.delivery.start()
            self.source.start()
            while not self.stop_event.is_set():
                self.run_once()
                load, self._reload_request = self._reload_request, None
                if load is not None:
                    self._reload(load)
        except BatchAbandoned as reason:
            log.warning(
                "batch abandoned unapplied; it is consumed again on restart",
                extra={"reason": str(reason)},
            )
        finally:
            self.delivery.stop()
            self.source.close()
            self.dead_letters.close()
            if self.http is not None:
                self.http.stop()
            log.info("stopped", extra={"instance": self.instance})

    def _load_state(self) -> None:
        while not self.stop_event.is_set():
            try:
                registered = {
                    name: self.store.versions(name)
                    for name, model in self.config.models.items()
                    if model.reference.per_version
                }
                self.streams = VersionStreams(self.config, registered)
                self.evaluator = self._build_evaluator(self.streams.config)
                self.quality_evaluator = self._build_quality_evaluator(self.streams.config)
                profiles = load_or_build_references(self.config, self.store, self.streams.models)
                self._layouts = {name: WindowLayout(p) for name, p in profiles.items()}
                self.evaluator.prepare(self._layouts)
                self._cursors = self.store.cursors(list(self.streams.models))
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
        self.readiness()
        if not batch.messages:
            self._evaluate()
            self._evaluate_quality(busy=False)
            return 0
        started = time.perf_counter()
        work = self._decode(batch)
        if self._with_retry(lambda: self._checkpoint(batch, work)):
            self.source.commit(batch.offsets)
            self._next_offsets.update({key: after for key, (_, after) in batch.offsets.items()})
        self._count(work)
        self._evaluate()
        self._look_early()
        self._evaluate_quality(busy=True)
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        self.metrics.batch_events.observe(len(batch.messages))
        self.metrics.record_lag(self.source.lag(self._next_offsets))
        self.status.last_batch_at = time.time()
        return len(batch.messages)

    def _decode(self, batch: Batch) -> _Work:
        """Step 2: prediction and label messages into columns and labels, in one place each."""
        labels_topic = self.config.kafka.labels_topic
        predictions, label_messages = batch.messages, []
        if labels_topic is not None:
            # By C-level maps: a batch has thousands of messages.
            is_label = list(
                map(operator.eq, map(Message.topic, batch.messages), repeat(labels_topic))
            )
            predictions = list(compress(batch.messages, map(operator.not_, is_label)))
            label_messages = list(compress(batch.messages, is_label))
        arrivals = None
        if self.payloads is not None:  # the rows come with the pairing, in the checkpoint
            arrivals = self.payloads.read(predictions)
            decoded = DecodedBatch({}, [], arrivals.origins)
        else:
            decoded = self.decoder.decode(
                list(map(Message.value, predictions)), Origins.of_messages(predictions)
            )
        labels = self.label_decoder.decode(
            [m.value() for m in label_messages], Origins.of_messages(label_messages)
        )
        routed = self.streams.route(decoded)
        return _Work(predictions, decoded, label_messages, labels, routed, arrivals=arrivals)

    def _checkpoint(self, batch: Batch, work: _Work) -> bool:
        """Steps 3 to 5: dead letters durable, then state, joins and offsets in one script.

        False when the batch was refused as already applied elsewhere: its offsets
        are then not committed to Kafka, where they would move the group backwards.
        """
        for dead in work.decoded.dead_letters:
            self.dead_letters.send(work.predictions[dead.index], dead.reason, dead.detail)
        for dead in work.labels.dead_letters:
            self.dead_letters.send(work.label_messages[dead.index], dead.reason, dead.detail)
        if work.arrivals is not None:
            self._send_letters(work.arrivals.letters)
        self.dead_letters.flush()
        self._admit(work.routed.new_streams)
        assigned = self._assigned_predictions()
        config = self.streams.config
        for _ in range(MAX_PLAN_ATTEMPTS):
            if self.payloads is not None and work.arrivals is not None:
                work.paired = self.payloads.pair(work.arrivals, time.time())
                work.decoded = work.paired.decoded
                work.routed = self.streams.route(work.decoded)
                self._admit(work.routed.new_streams)
                self._send_letters(work.paired.letters)
                self.dead_letters.flush()
            reads = reads_for_batch(
                config,
                self._cursors,
                self._layouts,
                work.decoded,
                work.labels,
                bases=self.config.models,
            )
            plan = plan_batch(
                config,
                self._cursors,
                self._layouts,
                work.decoded,
                work.labels,
                self.store.read_for_batch(reads),
                batch.offsets,
                now=time.time(),
                assigned=assigned,
                unknown_versions=work.routed.unknown,
                bases=self.config.models,
            )
            if work.paired is not None:
                plan.write.pairs = work.paired.write
                plan.write.dead_letters = Counter(plan.write.dead_letters) + Counter(
                    letter.reason for letter in work.payload_letters()
                )
            outcome = self.store.apply(plan.write)
            if outcome.status == "ok":
                self._adopt(plan.windows)
                writes = plan.write.models
                work.joins = {w.model: w.join for w in writes if w.join is not None}
                work.late = {w.model: w.late for w in writes if w.late}
                work.detections = [
                    d for w in writes if w.sequential for d in w.sequential.detections
                ]
                return True
            if outcome.status == "conflict":
                self.metrics.state_conflicts.labels("conflict").inc()
                self._cursors = self.store.cursors(list(self.streams.models))
                continue
            self.metrics.state_conflicts.labels("stale").inc()
            log.warning(
                "batch refused: offsets already applied elsewhere; re-seeking",
                extra={"partition": outcome.subject, "stored_offset": outcome.stored},
            )
            self.source.rewind(batch.offsets)
            work.decoded.models.clear()
            work.decoded.dead_letters.clear()
            work.labels.models.clear()
            work.labels.dead_letters.clear()
            work.arrivals = work.paired = None
            return False
        raise ServiceUnavailable(f"state kept moving for {MAX_PLAN_ATTEMPTS} attempts")

    def _admit(self, streams: list[ModelConfig]) -> None:
        """Model versions seen for the first time: registered in Redis (so a restart loads
        them), their reference loaded or built from its file, their cursor read. Safe to
        repeat: a retried batch admits the same streams again."""
        if not streams:
            return
        for stream in streams:
            version = version_of(stream.name)
            assert version is not None  # only versions are admitted
            self.store.register_version(model_of(stream.name), version)
        profiles = load_or_build_references(
            self.config, self.store, {stream.name: stream for stream in streams}
        )
        self._layouts.update({name: WindowLayout(p) for name, p in profiles.items()})
        self._cursors.update(self.store.cursors([stream.name for stream in streams]))
        self.evaluator = self._build_evaluator(self.streams.config)
        self.evaluator.prepare({name: self._layouts[name] for name in profiles})
        self.quality_evaluator = self._build_quality_evaluator(self.streams.config)
        log.info(
            "model version monitored apart",
            extra={
                "streams": [stream.name for stream in streams],
                "references": {name: p.id for name, p in profiles.items()},
            },
        )

    def _send_letters(self, letters: list[Letter]) -> None:
        for letter in letters:
            m = letter.message
            self.dead_letters.send_copy(
                m.value, m.key, m.headers, m.source, letter.reason, letter.detail
            )

    def _assigned_predictions(self) -> frozenset[int]:
        topic = self.config.kafka.predictions_topic
        return frozenset(p for t, p in self.source.assigned if t == topic)

    def _adopt(self, plans: dict[str, Plan]) -> None:
        for name, plan in plans.items():
            self._cursors[name] = plan.cursor
            if plan.layout is not None and name not in self._layouts:
                self._layouts[name] = plan.layout
                self.evaluator.prepare({name: plan.layout})
                log.info(
                    "reference built from stream",
                    extra={"model": name, "reference_id": plan.layout.profile.id},
                )

    def _count(self, work: _Work) -> None:
        for messages, dead_letters in (
            (work.predictions, work.decoded.dead_letters),
            (work.label_messages, work.labels.dead_letters),
        ):
            for dead in dead_letters:
                self.metrics.bad_events.labels(dead.reason).inc()
                source = message_source(messages[dead.index])
                self._bad_event_log.record(dead.reason, dead.detail, source)
        for letter in work.payload_letters():
            self.metrics.bad_events.labels(letter.reason).inc()
            self._bad_event_log.record(letter.reason, letter.detail, letter.message.source)
        if work.paired is not None:
            self.metrics.payload_pairs.inc(work.paired.pairs)
            self.metrics.payload_waiting.set(work.paired.waiting)
            self.metrics.payload_skipped.inc(work.paired.write.counts.get("skipped", 0))
        for name, late in work.late.items():
            self.metrics.late_events.labels(name).inc(late)
        for name, skipped in work.routed.unknown.items():
            self.metrics.unknown_version_events.labels(name).inc(skipped)
        for name, columns in work.decoded.models.items():
            self.metrics.events.labels(name).inc(columns.rows)
            for signal, mask in columns.mismatches.items():
                self.metrics.type_mismatches.labels(name, signal).inc(int(np.count_nonzero(mask)))
        for detection in work.detections:
            self.metrics.sequential_detections.labels(
                detection.model, detection.detector, detection.signal
            ).inc()
            log.warning("sequential detector found a change", extra=detection.to_dict())
        for name, join in work.joins.items():
            self.metrics.record_joins(name, join.labels_received, join.joined, join.label_lags)

    def _evaluate_quality(self, *, busy: bool) -> None:
        """Judge the quality of windows that received labels, against the reference's.

        While batches keep coming (``busy``), at most every ``QUALITY_JUDGE_SECONDS``:
        labels 0 to 10 minutes late touch a dozen windows per batch, and judging them all
        after every batch cost a tenth of the label path. Windows stay dirty until judged,
        so a verdict is at most that much later; an idle poll judges at once.
        """
        if self.config.kafka.labels_topic is None:
            return
        now = time.monotonic()
        if busy and now - self._quality_judged_at < QUALITY_JUDGE_SECONDS:
            return
        self._quality_judged_at = now
        for report in self._with_retry(lambda: self.quality_evaluator.run(self._layouts)):
            self.metrics.record_quality(report)
            for verdict, _ in report.verdicts:
                if verdict.drifted:
                    log.warning(
                        "model quality degraded",
                        extra={"model": report.model, "result": verdict.to_dict()},
                    )
            self._estimator_health(report.model, report.estimator)
            if report.delivered:
                self.delivery.wake()

    def _estimator_health(self, model: str, health: EstimatorHealth | None) -> None:
        """Export how the estimates compared with the labels; log a stale estimator."""
        if health is None:
            return
        self.metrics.record_estimator_health(model, health)
        if health.stale:
            log.warning(
                "performance estimator stale",
                extra={"model": model, "estimation": health.to_dict()},
            )

    def _evaluate(self) -> None:
        reports = self._with_retry(lambda: self.evaluator.run(self._layouts))
        for report in reports:
            self.metrics.record_results(report.model, report.whole, report.end_ts)
            if report.segments:
                self.metrics.record_segments(report.model, report.segments, report.results)
            self._estimator_health(report.model, report.estimator)
            if report.budget is not None:
                self.metrics.record_budget(report.model, report.budget)
            if report.drifted:
                log.warning(
                    "window closed with drift",
                    extra={
                        "model": report.model,
                        "window": report.window_dict(),
                        "drifted": sorted({r.key for r in report.drifted}),
                    },
                )
            if report.alerts is not None:
                self._planned(report.model, report.alerts)
            if self._on_window is not None:
                self._on_window(report)

    def _look_early(self) -> None:
        """Checkpoint looks at the open count windows (``drift.checkpoints``)."""
        for report in self._with_retry(lambda: self.evaluator.look_early(self._layouts)):
            if report.alerts is not None:
                self._planned(report.model, report.alerts, look=True)

    def _planned(self, model: str, plan: AlertPlan, *, look: bool = False) -> None:
        """Count, log and send what recording a window (or a look at one) did to alerts."""
        for change in plan.transitions:
            self.metrics.alert_transitions.labels(model, change.status).inc()
            log.log(
                logging.WARNING if change.notify else logging.INFO,
                "alert transition",
                extra={
                    "key": change.dedup_key,
                    "from": change.previous,
                    "to": change.status,
                    "episode": change.episode,
                    "reason": change.reason,
                    **({"look": plan.version} if look else {}),
                },
            )
        if plan.trigger is not None:
            self.metrics.retrain_triggers.labels(model).inc()
        if plan.outbox:
            self.delivery.wake()

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
                self._redis_up()
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

    def _redis_up(self) -> None:
        """Closes the pair "service unavailable; pausing" opened, whichever call noticed."""
        if not self.status.redis_ok:
            log.info("redis reachable again; resuming")
        self.status.redis_ok = True
        self.metrics.redis_up.set(1)

    def _redis_down(self, error: Exception) -> None:
        if self.status.redis_ok:
            log.error("service unavailable; pausing", extra={"error": str(error)})
        self.status.redis_ok = False
        self.metrics.redis_up.set(0)
        self._last_heartbeat = 0.0  # beat again as soon as Redis answers

    def _beat(self) -> None:
        now = time.monotonic()
        if now - self._last_heartbeat < HEARTBEAT_TTL_SECONDS / 3:
            return
        try:
            self.store.heartbeat(self.instance, HEARTBEAT_TTL_SECONDS)
            self._redis_up()
            self._last_heartbeat = now
        except ServiceUnavailable as error:
            self._redis_down(error)
