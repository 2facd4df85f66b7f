"""The delivery worker: a thread that empties the outbox into the sinks.

One pass, in order:

1. Every ``claim_idle_seconds / 2``: take over entries idle longer than
   ``claim_idle_seconds`` (their worker died: kill -9, lost host).
2. Move new entries into this worker's pending list (``XREADGROUP >``).
3. Read the own pending list in stream order, with each entry's attempt record,
   and note the alerts with an older entry pending under another worker: their
   newer messages wait, so a resolve never overtakes its firing.
4. For each entry whose sink is not backing off: deliver. Success settles it
   (ack + delete). A retryable failure schedules the next attempt
   (exponential backoff with jitter, at least the receiver's Retry-After) and
   holds back the rest of that sink's entries until then, so a sink that is
   down is probed by one message, not hammered by all, and its messages keep
   their order. A permanent failure, or the last allowed attempt, moves the
   entry to the dead-letter list.
5. Export per-sink metrics; sleep until woken (a window recorded new
   messages) or ``poll_seconds``.

A worker that dies between a sink's 2xx and the acknowledgement leaves the
entry pending; whoever claims it delivers it again with the same idempotency
key. That is the one case of a repeat, and the key lets the receiver drop it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import redis

from monitor.alerts.backoff import next_delay
from monitor.alerts.outbox import Attempts, Entry, Outbox
from monitor.alerts.sinks.base import DeliveryResult, Sink
from monitor.config import SinkConfig
from monitor.errors import ServiceUnavailable
from monitor.metrics import Metrics

log = logging.getLogger(__name__)

READ_COUNT = 500


@dataclass(frozen=True, slots=True)
class PassReport:
    """What one pass did (for tests and logs)."""

    delivered: int = 0
    retried: int = 0
    dead: int = 0


class DeliveryWorker:
    """Delivers outbox entries; start/stop from the daemon, or call ``run_once`` directly."""

    def __init__(
        self,
        outbox: Outbox,
        sinks: Mapping[str, Sink],
        sink_configs: Mapping[str, SinkConfig],
        metrics: Metrics,
        *,
        consumer: str,
        claim_idle_seconds: float,
        poll_seconds: float = 0.2,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._outbox = outbox
        self._sinks = sinks
        self._configs = sink_configs
        self._metrics = metrics
        self.consumer = consumer
        self._claim_idle = claim_idle_seconds
        self._poll = poll_seconds
        self._rng = rng or random.Random()
        self._clock = clock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_claim = float("-inf")
        self._group_ready = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="drift-monitor-delivery")
        self._thread.start()

    def wake(self) -> None:
        """New entries are waiting: skip the rest of the current sleep."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the current delivery, then stop; pending entries stay for the next start."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        for sink in self._sinks.values():
            try:
                sink.close()
            except Exception:
                log.exception("closing a sink failed", extra={"sink": sink.name})

    def _run(self) -> None:
        delay = 0.2
        paused_at: float | None = None
        while not self._stop.is_set():
            # Cleared before the pass, not after the sleep: a wake() that lands between the
            # sleep's timeout and a clear() would be lost, and its messages would wait a
            # whole poll_seconds. One that lands during the pass makes the sleep return at once.
            self._wake.clear()
            try:
                self.run_once()
                delay = 0.2
                if paused_at is not None:
                    log.info(
                        "outbox reachable; delivery resumed",
                        extra={"paused_seconds": round(time.monotonic() - paused_at, 1)},
                    )
                    paused_at = None
            except ServiceUnavailable as error:
                # One line per outage, not one per retry; "resumed" closes it.
                if paused_at is None:
                    log.warning("outbox unreachable; delivery paused", extra={"error": str(error)})
                    paused_at = time.monotonic()
                self._stop.wait(delay)
                delay = min(delay * 2, 5.0)
                continue
            except redis.exceptions.ResponseError as error:
                if "NOGROUP" not in str(error):
                    log.exception("delivery pass failed; retrying")
                else:
                    # Redis came back empty (no persistence): the stream and its group are
                    # gone with the entries; the next pass creates them again.
                    log.warning("outbox consumer group missing; creating it again")
                    self._group_ready = False
                    continue
                self._stop.wait(delay)
                delay = min(delay * 2, 5.0)
                continue
            except Exception:
                log.exception("delivery pass failed; retrying")
                self._stop.wait(delay)
                delay = min(delay * 2, 5.0)
                continue
            self._wake.wait(self._poll)

    def run_once(self) -> PassReport:
        """One pass over the outbox (see the module docstring)."""
        if not self._group_ready:
            self._outbox.ensure_group()
            self._group_ready = True
        now = self._clock()
        if now - self._last_claim >= self._claim_idle / 2:
            claimed = self._outbox.claim_stale(self.consumer, self._claim_idle)
            self._last_claim = now
            if claimed:
                log.info("took over outbox entries of a stopped worker", extra={"count": claimed})
        self._outbox.read_new(self.consumer, READ_COUNT)
        entries = self._outbox.read_own(self.consumer, READ_COUNT)
        records = self._outbox.attempts(e.id for e in entries)
        held = self._outbox.held_elsewhere(self.consumer, READ_COUNT) if entries else {}
        blocked: dict[str, float] = {}
        retrying: dict[str, int] = dict.fromkeys(self._configs, 0)
        delivered = retried = dead = 0
        for entry in entries:
            if self._stop.is_set():
                break
            sink_name = entry.message.sink
            record = records.get(entry.id, Attempts())
            now = self._clock()
            if record.count:
                retrying[sink_name] = retrying.get(sink_name, 0) + 1
            if blocked.get(sink_name, 0.0) > now or record.next_at > now:
                blocked[sink_name] = max(blocked.get(sink_name, 0.0), record.next_at)
                continue
            older = held.get((sink_name, entry.message.subject))
            if older is not None and older < entry.stream_id:
                continue  # an older message of this alert waits for a worker to take it over
            sink = self._sinks.get(sink_name)
            if sink is None:
                gone = Attempts(record.count, now, f"sink {sink_name!r} is not configured")
                self._give_up(entry, gone)
                dead += 1
                continue
            result = self._attempt(sink, entry)
            if result.ok:
                if self._outbox.delivered(entry):
                    self._metrics.sink_sent.labels(sink_name).inc()
                    self._metrics.sink_latency.labels(sink_name).observe(
                        max(self._clock() - entry.created_at, 0.0)
                    )
                if record.count:
                    retrying[sink_name] -= 1
                delivered += 1
                continue
            attempts = record.count + 1
            config = self._configs[sink_name]
            if not result.retryable or attempts >= config.max_attempts:
                self._give_up(entry, Attempts(attempts, now, result.detail))
                if record.count:
                    retrying[sink_name] -= 1
                dead += 1
                continue
            delay = next_delay(
                attempts,
                config.backoff_initial_seconds,
                config.backoff_max_seconds,
                result.retry_after,
                self._rng,
            )
            self._outbox.record_failure(entry, Attempts(attempts, now + delay, result.detail))
            blocked[sink_name] = now + delay
            if not record.count:
                retrying[sink_name] = retrying.get(sink_name, 0) + 1
            self._metrics.sink_retries.labels(sink_name).inc()
            retried += 1
            log.warning(
                "delivery failed; will retry",
                extra={
                    "sink": sink_name,
                    "key": entry.message.key,
                    "attempt": attempts,
                    "retry_in_seconds": round(delay, 3),
                    "error": result.detail,
                },
            )
        self._export(retrying)
        return PassReport(delivered, retried, dead)

    def _attempt(self, sink: Sink, entry: Entry) -> DeliveryResult:
        try:
            return sink.deliver(entry.message)
        except Exception as error:  # a sink bug must not stop delivery to the others
            log.exception("sink raised", extra={"sink": sink.name})
            return DeliveryResult(False, f"sink raised {type(error).__name__}: {error}")

    def _give_up(self, entry: Entry, attempts: Attempts) -> None:
        if self._outbox.give_up(entry, attempts, self._clock()):
            self._metrics.sink_failed.labels(entry.message.sink).inc()
        log.error(
            "delivery given up; message moved to the dead-letter list",
            extra={
                "sink": entry.message.sink,
                "key": entry.message.key,
                "attempts": attempts.count,
                "error": attempts.error,
            },
        )

    def _export(self, retrying: Mapping[str, int]) -> None:
        for sink, count in retrying.items():
            self._metrics.sink_retrying.labels(sink).set(max(count, 0))
        depth = self._outbox.depth()
        for sink in {*self._configs, *depth}:
            self._metrics.outbox_depth.labels(sink).set(depth.get(sink, 0))
