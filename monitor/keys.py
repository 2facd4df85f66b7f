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
    def models(self) -> str:
        """Set of model names that have state."""
        return f"{self._tag}:models"

    @property
    def heartbeat(self) -> str:
        """String with a TTL, refreshed by a live daemon."""
        return f"{self._tag}:heartbeat"

    def meta(self, model: str) -> str:
        """Hash: events, watermark, late, windows_closed, reference_collected."""
        return f"{self._tag}:m:{model}:meta"

    def reference(self, model: str) -> str:
        """String: the reference profile as versioned JSON."""
        return f"{self._tag}:m:{model}:reference"

    def reference_buffer(self, model: str) -> str:
        """List of JSON column chunks while a reference is collected from the stream."""
        return f"{self._tag}:m:{model}:refbuf"

    def window(self, model: str, window_id: int) -> str:
        """Hash: n, start, end, ref, ``i:<slot>`` counts and ``f:<slot>`` sums of one window."""
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

    def latest(self, model: str) -> str:
        """Hash: ``signal/method`` → latest result as JSON."""
        return f"{self._tag}:m:{model}:latest"

    def history(self, model: str) -> str:
        """List (newest first, bounded): one JSON summary per closed window."""
        return f"{self._tag}:m:{model}:history"
