"""Every Redis key drift-monitor uses, in one place.

All keys share one hash tag, ``{key_prefix}``, because a micro-batch changes
offsets and several models' windows in one atomic script, and Redis Cluster
runs a script only on keys of a single slot.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names under one prefix."""

    prefix: str

    @property
    def _tag(self) -> str:
        return "{" + self.prefix + "}"

    @property
    def offsets(self) -> str:
        """Hash: ``topic/partition`` → next offset to consume (the exactly-once cursor)."""
        return f"{self._tag}:offsets"

    @property
    def topic_ids(self) -> str:
        """Hash: topic → the Kafka topic id its offsets in :attr:`offsets` belong to."""
        return f"{self._tag}:topic_ids"

    @property
    def heartbeat(self) -> str:
        """String with a TTL, refreshed by a live daemon."""
        return f"{self._tag}:heartbeat"

    @property
    def dead_letter_counts(self) -> str:
        """Hash: dead-letter reason -> messages, written with the batch that dead-lettered them."""
        return f"{self._tag}:dead_letters"

    @property
    def waiting_halves(self) -> str:
        """Hash: CloudEvent id → the message (a blob) of a model server's request or response
        waiting for its other half (``monitor.payloads``)."""
        return f"{self._tag}:pairs:waiting"

    @property
    def waiting_half_times(self) -> str:
        """Sorted set: the waiting halves' ids by event time (for the TTL and the size cap)."""
        return f"{self._tag}:pairs:waiting:by-time"

    @property
    def pairing_counts(self) -> str:
        """Hash: requests, responses, paired, skipped: what the pairing has read so far."""
        return f"{self._tag}:pairs:counts"

    def meta(self, model: str) -> str:
        """Hash: events, watermark, late, windows_closed, reference_collected."""
        return f"{self._tag}:m:{model}:meta"

    def versions(self, model: str) -> str:
        """Set: the versions of a model monitored per version that have a stream of their own
        (``monitor.versions``), registered when first seen."""
        return f"{self._tag}:m:{model}:versions"

    def reference(self, model: str) -> str:
        """String: the reference profile as versioned JSON."""
        return f"{self._tag}:m:{model}:reference"

    def reference_versions(self, model: str) -> str:
        """Hash: version id → profile JSON, the kept versions (the one in use among them once
        ``reference build`` or ``reference use`` has run; a daemon-built one joins later)."""
        return f"{self._tag}:m:{model}:refs"

    def reference_built(self, model: str) -> str:
        """Sorted set: the kept version ids by build time (``created_at``), oldest first."""
        return f"{self._tag}:m:{model}:refs:built"

    def reference_buffer(self, model: str) -> str:
        """List of JSON column chunks while a reference is collected from the stream."""
        return f"{self._tag}:m:{model}:refbuf"

    def window(self, model: str, window_id: int) -> str:
        """Hash: n, start, end, ref, and ``ints`` / ``floats``, the window's counters packed as
        little-endian int64 / float64 vectors (see apply_batch.lua)."""
        return f"{self._tag}:m:{model}:w:{window_id}"

    def open_windows(self, model: str) -> str:
        """Sorted set of window ids with counts that are not yet closed."""
        return f"{self._tag}:m:{model}:open"

    def closing_windows(self, model: str) -> str:
        """Sorted set of window ids that are complete and wait for evaluation."""
        return f"{self._tag}:m:{model}:closing"

    def lease(self, model: str, window_id: int) -> str:
        """String with a TTL: who is evaluating a closing window."""
        return f"{self._tag}:m:{model}:lease:{window_id}"

    def pending_predictions(self, model: str) -> str:
        """Hash: event_id → [window, prediction, ts] of predictions waiting for their label."""
        return f"{self._tag}:m:{model}:join:predictions"

    def pending_prediction_times(self, model: str) -> str:
        """Sorted set: event_id by arrival time (for the TTL and the size cap)."""
        return f"{self._tag}:m:{model}:join:predictions:by-time"

    def pending_labels(self, model: str) -> str:
        """Hash: event_id → [label, ts] of labels that arrived before their prediction."""
        return f"{self._tag}:m:{model}:join:labels"

    def pending_label_times(self, model: str) -> str:
        """Sorted set: event_id by arrival time (for the TTL and the size cap)."""
        return f"{self._tag}:m:{model}:join:labels:by-time"

    def quality(self, model: str, window_id: int) -> str:
        """Hash: quality counters of one prediction window: the task's packed vectors
        (``pi:<task>:<n>``, ``pf:<task>:<n>``) and ``i:<name>`` / ``f:<name>`` single ones."""
        return f"{self._tag}:m:{model}:q:{window_id}"

    def quality_dirty(self, model: str) -> str:
        """Set of window ids whose quality counters changed since they were last judged."""
        return f"{self._tag}:m:{model}:q:dirty"

    def quality_windows(self, model: str) -> str:
        """Sorted set of window ids that have quality counters (bounded by history_size)."""
        return f"{self._tag}:m:{model}:q:windows"

    def sequential_states(self, model: str) -> str:
        """Hash: ``detector/topic/partition`` → the detector's saved state (JSON)."""
        return f"{self._tag}:m:{model}:seq:states"

    def sequential_detections(self, model: str) -> str:
        """List (newest first, bounded): detections with their partition and offset."""
        return f"{self._tag}:m:{model}:seq:detections"

    def quality_alerted(self, model: str) -> str:
        """Set of window ids whose quality verdict has been given to the alert rules."""
        return f"{self._tag}:m:{model}:q:alerted"

    def early_look(self, model: str) -> str:
        """String: the latest checkpoint look applied to the alert rules, as
        ``window id * 1000 + look`` (see apply_early_alert.lua)."""
        return f"{self._tag}:m:{model}:early"

    def count_history(self, model: str) -> str:
        """Hash: window id → a closed window's packed counts, for the report
        (``monitor.report.history``; the last ``redis.counts_history_size`` windows)."""
        return f"{self._tag}:m:{model}:counts"

    def count_history_ids(self, model: str) -> str:
        """Sorted set of the window ids in ``count_history``, scored by id."""
        return f"{self._tag}:m:{model}:counts:ids"

    def estimates(self, model: str) -> str:
        """Hash: window id → the window's estimated metrics as JSON, kept until its labels
        come (``monitor.reconciliation``; the last ``history_size`` windows)."""
        return f"{self._tag}:m:{model}:est"

    def estimate_ids(self, model: str) -> str:
        """Sorted set of the window ids in ``estimates``, scored by id."""
        return f"{self._tag}:m:{model}:est:ids"

    def reconciled(self, model: str) -> str:
        """Hash: window id → its estimated and realized metrics side by side, as JSON."""
        return f"{self._tag}:m:{model}:est:reconciled"

    def reconciled_ids(self, model: str) -> str:
        """Sorted set of the window ids in ``reconciled``, scored by id."""
        return f"{self._tag}:m:{model}:est:reconciled:ids"

    def latest(self, model: str) -> str:
        """Hash: ``signal/method`` → latest result as JSON; ``@<segment>`` → a segment's
        results (``monitor.latest_results``)."""
        return f"{self._tag}:m:{model}:latest"

    def history(self, model: str) -> str:
        """List (newest first, bounded): one JSON summary per closed window."""
        return f"{self._tag}:m:{model}:history"

    def alert_states(self, model: str) -> str:
        """Hash: dedup key → alert state (JSON), ``_retrain`` → retrain state, ``_version`` →
        id of the last window applied (the compare-and-set version)."""
        return f"{self._tag}:m:{model}:alerts"

    @property
    def alert_audit(self) -> str:
        """Stream (bounded): every alert transition and retrain trigger, with its evidence."""
        return f"{self._tag}:alerts:audit"

    @property
    def outbox(self) -> str:
        """Stream: notifications waiting for delivery (deleted once delivered or dead)."""
        return f"{self._tag}:outbox"

    @property
    def outbox_depth(self) -> str:
        """Hash: sink name → messages in the outbox for it."""
        return f"{self._tag}:outbox:depth"

    @property
    def outbox_attempts(self) -> str:
        """Hash: outbox entry id → failed attempts, next attempt time and last error (JSON)."""
        return f"{self._tag}:outbox:attempts"

    @property
    def outbox_dead(self) -> str:
        """List (newest first, bounded): messages given up after their last attempt (JSON)."""
        return f"{self._tag}:outbox:dead"
