"""Redis state of the daemon: the batch read, the batch write, windows, references.

A micro-batch is read and written in one round trip each (docs/architecture.md, "The
data path"): :meth:`StateStore.read_for_batch` reads, in one pipeline, everything the
planners need, and :meth:`StateStore.apply` writes what they planned with one Lua script
(``apply_batch.lua``) that writes window counts, model counters and partition offsets
together, so Redis never holds a batch's counts without its offsets or the reverse. A
closed window's results are recorded by a second script (``finalize_window.lua``) that
only the first evaluator gets through. The planners' inputs and outputs are the plain
data of :mod:`monitor.batch_data`; this module imports no planner.

Other modules read and write Redis too, each its own keys: the alert records and outbox
(``monitor.alerts``), and the report's history (``monitor.report``). Nothing read back
is unpickled: window counters are packed little-endian int64/float64 vectors
(``numpy.frombuffer``), other counters are integers and floats, profiles and results
are JSON.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from types import EllipsisType
from typing import Any, Literal

import numpy as np
import redis
import redis.exceptions
from numpy.typing import NDArray

from detectors.profile import ReferenceProfile
from detectors.quality import QualityCounts, QualityTask
from detectors.sketch import WINDOW_NAMES, merge_names
from detectors.window import WindowCounts, WindowLayout
from monitor import bulk_json, lua
from monitor.batch_data import (
    BatchWrite,
    JoinPlan,
    JoinView,
    ModelCursor,
    ModelReads,
    ModelState,
    PairWrite,
    PendingView,
    WindowDelta,
)
from monitor.errors import ReferenceDataError, StateError
from monitor.keys import Keys
from monitor.latest_results import segment_entries
from monitor.quality_packing import pack_quality, unpack_quality
from monitor.redis_client import UNAVAILABLE, as_bytes, redis_errors

KEEP_REFERENCE_VERSIONS = 5
"""Reference versions kept per model by default, the one in use included."""


@dataclass(frozen=True, slots=True)
class ApplyOutcome:
    """``ok``; or ``stale`` (a partition moved past this batch); or ``conflict`` (a model moved)."""

    status: Literal["ok", "stale", "conflict"]
    subject: str = ""
    stored: int = 0


@dataclass(frozen=True, slots=True)
class JoinCounters:
    """A model's label-join totals: predictions with an id, joins, labels never matched."""

    predictions_keyed: int
    joined: int
    labels_unmatched: int

    @property
    def coverage(self) -> float | None:
        return self.joined / self.predictions_keyed if self.predictions_keyed else None


@dataclass(frozen=True, slots=True)
class StoredWindow:
    """A closing window read back for evaluation."""

    window_id: int
    counts: WindowCounts
    start_ts: float
    end_ts: float
    reference_id: str
    model_version: str | None = None
    segment_events: Mapping[str, int] = field(default_factory=dict)
    """Every segment's events in the window, judged or not (``monitor.segmenting``)."""
    segments: Mapping[str, WindowCounts] = field(default_factory=dict)
    """The counts of the segments read with a layout, as the window holds them."""


_PACKED_INT = "<i8"
_PACKED_FLOAT = "<f8"
"""Window counters travel to and live in Redis as packed little-endian vectors."""

FinalizeOutcome = Literal["recorded", "duplicate", "later", "conflict"]
_FINALIZE_OUTCOMES: dict[int, FinalizeOutcome] = {
    1: "recorded",
    0: "duplicate",
    -1: "later",
    -2: "conflict",
}

QualityAlertOutcome = Literal["applied", "already_alerted", "conflict"]
_QUALITY_ALERT_OUTCOMES: dict[int, QualityAlertOutcome] = {
    1: "applied",
    0: "already_alerted",
    -2: "conflict",
}


class StateStore:
    """Reads and writes drift-monitor state in Redis through an injected client."""

    def __init__(self, client: redis.Redis, keys: Keys, *, history_size: int) -> None:
        self.client = client
        self.keys = keys
        self.history_size = history_size
        self._apply = client.register_script(lua.source("steps.lua", "apply_batch.lua"))
        self._finalize = client.register_script(
            lua.source("steps.lua", "alert_plan.lua", "finalize_window.lua")
        )
        self._apply_early_alert = client.register_script(
            lua.source("steps.lua", "alert_plan.lua", "apply_early_alert.lua")
        )
        self._apply_alert_plan = client.register_script(
            lua.source("steps.lua", "alert_plan.lua", "apply_alert_plan.lua")
        )
        self._join_view = client.register_script(
            lua.source("steps.lua", "lookup.lua", "join_view.lua")
        )
        self._pending_halves = client.register_script(
            lua.source("steps.lua", "lookup.lua", "pending_halves.lua")
        )
        self._forget_recreated = client.register_script(
            lua.source("steps.lua", "forget_recreated_topics.lua")
        )

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except (*UNAVAILABLE, redis.exceptions.RedisError):
            return False

    def offsets(self, partitions: Sequence[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """Next offset to consume per (topic, partition), for those partitions Redis knows."""
        if not partitions:
            return {}
        with redis_errors():
            values = self.client.hmget(self.keys.offsets, [f"{t}/{p}" for t, p in partitions])
        return {key: int(v) for key, v in zip(partitions, values, strict=True) if v is not None}

    def forget_recreated(self, topic_ids: Mapping[str, str]) -> list[str]:
        """Drop the offsets of the topics whose Kafka topic id changed since they were stored.

        Offsets are positions in one incarnation of a topic: after the topic is deleted and
        created again, they would skip as many of the new topic's messages (or wait past its
        end). ``topic_ids`` maps each topic to its id now; a topic seen for the first time has
        its id recorded and keeps its offsets. Returns the topics found recreated.
        """
        if not topic_ids:
            return []
        with redis_errors():
            reply = self._forget_recreated(
                keys=[self.keys.topic_ids, self.keys.offsets],
                args=[value for pair in sorted(topic_ids.items()) for value in pair],
            )
        return [as_bytes(topic).decode() for topic in reply]

    def cursors(self, models: Sequence[str]) -> dict[str, ModelCursor]:
        """Every model's cursor, read in one round trip (after a conflict, all are stale)."""
        with redis_errors():
            pipe = self.client.pipeline(transaction=True)
            for model in models:
                self._queue_cursor(pipe, model)
            replies = pipe.execute()
        return {
            model: _cursor(replies[2 * i], replies[2 * i + 1]) for i, model in enumerate(models)
        }

    def cursor(self, model: str) -> ModelCursor:
        return self.cursors([model])[model]

    def _queue_cursor(self, pipe: Any, model: str) -> None:
        pipe.hmget(
            self.keys.meta(model),
            ["events", "watermark", "reference_collected", "partition_marks"],
        )
        pipe.zrange(self.keys.open_windows(model), 0, -1)

    def read_for_batch(self, reads: Mapping[str, ModelReads]) -> dict[str, ModelState]:
        """Everything the planners asked for, per model, in one pipelined round trip.

        Not a transaction: what the plan is made from is checked when it is written
        (the apply script refuses a plan made from a cursor or a join version that
        moved meanwhile, and the batch is planned again).
        """
        wanted = {model: ask for model, ask in reads.items() if _asks_anything(ask)}
        if not wanted:
            return {model: ModelState() for model in reads}
        with redis_errors():
            try:
                replies = iter(self._read_pipeline(wanted))
            except redis.exceptions.NoScriptError:  # Redis restarted or flushed its scripts
                self.client.script_load(self._join_view.script)
                replies = iter(self._read_pipeline(wanted))
        states = {model: ModelState() for model in reads}
        for model, ask in wanted.items():
            chunks = [as_bytes(c) for c in next(replies)] if ask.reference_chunks else []
            join = _join_view(ask, next(replies)) if ask.joins else ModelState().join
            detectors = {}
            if ask.detector_fields:
                values = next(replies)
                detectors = {
                    name: None if value is None else as_bytes(value)
                    for name, value in zip(ask.detector_fields, values, strict=True)
                }
            states[model] = ModelState(chunks, join, detectors)
        return states

    def _read_pipeline(self, wanted: Mapping[str, ModelReads]) -> list[Any]:
        """The reads of :meth:`read_for_batch`, sent together. The join view goes by its
        SHA alone: a script object in a pipeline would first ask SCRIPT EXISTS, a second
        round trip in every batch."""
        pipe = self.client.pipeline(transaction=False)
        for model, ask in wanted.items():
            if ask.reference_chunks:
                pipe.lrange(self.keys.reference_buffer(model), 0, -1)
            if ask.joins:
                pipe.evalsha(
                    self._join_view.sha,
                    3,
                    self.keys.meta(model),
                    self.keys.pending_labels(model),
                    self.keys.pending_predictions(model),
                    bulk_json.encode(list(ask.prediction_ids)),
                    bulk_json.encode(list(ask.label_ids)),
                )
            if ask.detector_fields:
                pipe.hmget(self.keys.sequential_states(model), list(ask.detector_fields))
        return list(pipe.execute())

    def reference(self, model: str) -> ReferenceProfile | None:
        with redis_errors():
            raw = self.client.get(self.keys.reference(model))
        if raw is None:
            return None
        return self._parse_reference(model, raw, "in use")

    def store_reference(
        self,
        profile: ReferenceProfile,
        *,
        keep: int = KEEP_REFERENCE_VERSIONS,
        replacing: str | EllipsisType | None = ...,
    ) -> list[str]:
        """Make ``profile`` the model's reference, keeping it and the one it replaces as versions.

        ``keep`` bounds the versions kept (the oldest built go first; the new one always
        stays). ``replacing``: the id of the profile the caller expects in use (None: none),
        checked atomically; StateError if another is in use by then. Returns the ids dropped.
        """
        if keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep}")
        return self._switch_reference(profile.model, profile, keep, replacing)

    def use_reference(self, model: str, version: str) -> ReferenceProfile:
        """Make a kept version the one in use again; ReferenceDataError if there is no such one."""
        profile = self.reference_version(model, version)
        self._switch_reference(model, profile, None, ...)
        return profile

    def reference_versions(self, model: str) -> tuple[list[ReferenceProfile], str | None]:
        """The kept versions, newest built first, and the id of the one in use (None: none).

        The one in use is listed even when it is not kept as a version yet (collected from
        the stream, built by the daemon at start-up, or stored by an older drift-monitor).
        """
        with redis_errors():
            pipe = self.client.pipeline(transaction=True)
            pipe.get(self.keys.reference(model))
            pipe.hgetall(self.keys.reference_versions(model))
            current_raw, kept = pipe.execute()
        versions = {}
        for version, raw in kept.items():
            profile = self._parse_reference(model, raw, f"version {as_bytes(version).decode()}")
            versions[profile.id] = profile
        current = None
        if current_raw is not None:
            current = self._parse_reference(model, current_raw, "in use")
            versions.setdefault(current.id, current)
        ordered = sorted(versions.values(), key=lambda p: (p.created_at, p.id), reverse=True)
        return ordered, None if current is None else current.id

    def reference_version(self, model: str, version: str) -> ReferenceProfile:
        """A kept version by its id, the id's hash part, or a unique prefix of either."""
        versions, _ = self.reference_versions(model)
        if not versions:
            raise ReferenceDataError(f"model {model!r} has no reference stored")
        wanted = version.strip()
        if "@" not in wanted:
            wanted = f"{model}@{wanted}"
        found = [p for p in versions if p.id == wanted] or [
            p for p in versions if p.id.startswith(wanted) and len(wanted) > len(model) + 1
        ]
        if len(found) == 1:
            return found[0]
        known = "".join(f"\n  {p.id}" for p in versions)
        if found:
            raise ReferenceDataError(
                f"{version!r} matches several reference versions of model {model!r}: "
                f"{', '.join(p.id for p in found)}; give more of the id"
            )
        raise ReferenceDataError(
            f"model {model!r} has no reference version {version!r}; it has:{known}"
        )

    def _parse_reference(self, model: str, raw: Any, what: str) -> ReferenceProfile:
        try:
            return ReferenceProfile.from_json(raw)
        except (ValueError, KeyError, TypeError) as error:
            raise StateError(
                f"the reference profile of model {model!r} ({what}) in Redis is unreadable "
                f"({error}); rebuild it with `drift-monitor reference build`"
            ) from error

    def _switch_reference(
        self,
        model: str,
        profile: ReferenceProfile,
        keep: int | None,
        replacing: str | EllipsisType | None,
    ) -> list[str]:
        """One optimistic transaction: the profile in use and the kept versions move together."""
        current_key, versions_key = self.keys.reference(model), self.keys.reference_versions(model)
        built_key = self.keys.reference_built(model)
        with redis_errors(), self.client.pipeline(transaction=True) as pipe:
            for _ in range(10):
                try:
                    pipe.watch(current_key, versions_key, built_key)  # type: ignore[no-untyped-call]
                    dropped = self._plan_switch(pipe, model, profile, keep, replacing)
                    pipe.execute()
                    return dropped
                except redis.exceptions.WatchError:
                    continue
                finally:
                    pipe.reset()
        raise StateError(f"the reference of model {model!r} kept changing; try again")

    def _plan_switch(
        self,
        pipe: Any,
        model: str,
        profile: ReferenceProfile,
        keep: int | None,
        replacing: str | EllipsisType | None,
    ) -> list[str]:
        keys = self.keys
        current_raw = pipe.get(keys.reference(model))
        current = None
        if current_raw is not None:
            try:
                current = ReferenceProfile.from_json(current_raw)
            except (ValueError, KeyError, TypeError):
                current = None  # unreadable: replaced, not kept
        current_id = None if current is None else current.id
        if replacing is not ... and replacing != current_id:
            raise StateError(
                f"the reference of model {model!r} changed meanwhile (now {current_id}); "
                "nothing was stored: run the command again"
            )
        built = {
            as_bytes(version).decode(): float(at)
            for version, at in pipe.zrange(keys.reference_built(model), 0, -1, withscores=True)
        }
        pipe.multi()
        if current is not None and current.id not in built:
            pipe.hset(keys.reference_versions(model), current.id, current_raw)
            pipe.zadd(keys.reference_built(model), {current.id: current.created_at})
            built[current.id] = current.created_at
        text = profile.to_json()
        pipe.hset(keys.reference_versions(model), profile.id, text)
        pipe.zadd(keys.reference_built(model), {profile.id: profile.created_at})
        built[profile.id] = profile.created_at
        pipe.set(keys.reference(model), text)
        pipe.hset(keys.meta(model), "reference_id", profile.id)
        if keep is None:
            return []
        newest_first = sorted(built, key=lambda v: (built[v], v), reverse=True)
        kept = {profile.id, *[v for v in newest_first if v != profile.id][: keep - 1]}
        dropped = [v for v in newest_first if v not in kept]
        if dropped:
            pipe.hdel(keys.reference_versions(model), *dropped)
            pipe.zrem(keys.reference_built(model), *dropped)
        return dropped

    def store_reference_if_absent(self, profile: ReferenceProfile) -> ReferenceProfile:
        """Store a profile unless one exists (another instance won the race); return the stored."""
        with redis_errors():
            if self.client.set(self.keys.reference(profile.model), profile.to_json(), nx=True):
                self.client.hset(self.keys.meta(profile.model), "reference_id", profile.id)
                return profile
        stored = self.reference(profile.model)
        if stored is None:
            raise StateError(f"reference of model {profile.model!r} vanished while it was stored")
        return stored

    def register_version(self, model: str, version: str) -> None:
        """Note that ``version`` of ``model`` has a stream of its own (``monitor.versions``)."""
        with redis_errors():
            self.client.sadd(self.keys.versions(model), version)

    def versions(self, model: str) -> list[str]:
        """The versions of ``model`` registered so far, sorted."""
        with redis_errors():
            members = self.client.smembers(self.keys.versions(model))
        return sorted(as_bytes(v).decode() for v in members)

    def dead_letter_counts(self) -> dict[str, int]:
        """Messages dead-lettered so far, by reason, over every instance and restart."""
        with redis_errors():
            raw = self.client.hgetall(self.keys.dead_letter_counts)
        return {as_bytes(reason).decode(): int(as_bytes(count)) for reason, count in raw.items()}

    def apply(self, batch: BatchWrite) -> ApplyOutcome:
        """Write a batch's state and offsets in one atomic step."""
        keys: list[str] = [self.keys.offsets]
        blobs: list[bytes | str] = []

        def key(name: str) -> int:
            keys.append(name)
            return len(keys)

        def blob(value: bytes | str) -> int:
            blobs.append(value)
            return len(blobs) + 1

        models = []
        for write in batch.models:
            name = write.model
            entry: dict[str, Any] = {
                "name": name,
                "meta": key(self.keys.meta(name)),
                "events": str(write.events),
                "late": str(write.late),
                "ref_id": write.reference_id,
                "open": key(self.keys.open_windows(name)),
                "closing": key(self.keys.closing_windows(name)),
                "windows": [
                    _window_entry(delta, key(self.keys.window(name, delta.window_id)), blob)
                    for delta in write.windows
                ],
                "close": [str(i) for i in write.close],
            }
            if write.expected_events is not None:
                entry["expect"] = str(write.expected_events)
            if write.watermark is not None:
                entry["watermark"] = repr(write.watermark)
            if write.partition_marks is not None:
                entry["marks"] = json.dumps(
                    {str(p): [repr(ts), repr(at)] for p, (ts, at) in write.partition_marks.items()}
                )
            if write.reference_chunk is not None or write.reference is not None:
                entry["refbuf"] = key(self.keys.reference_buffer(name))
            if write.reference_rows:
                entry["ref_rows"] = str(write.reference_rows)
            if write.reference_chunk is not None:
                entry["refbuf_arg"] = blob(write.reference_chunk)
            if write.reference is not None:
                entry["reference"] = key(self.keys.reference(name))
                entry["reference_arg"] = blob(write.reference.to_json())
                entry["ref_id"] = write.reference.id
            if write.join is not None and not write.join.empty:
                entry["join"] = self._join_entry(name, write.join, write.join_limits, key, blob)
            if write.sequential is not None and write.sequential.states:
                entry["sequential"] = {
                    "states": key(self.keys.sequential_states(name)),
                    "detections": key(self.keys.sequential_detections(name)),
                    "set": [x for item in write.sequential.states.items() for x in item],
                    "found": [json.dumps(d.to_dict()) for d in write.sequential.detections],
                    "keep": str(self.history_size),
                }
            models.append(entry)
        payload = {
            "offsets": [
                [f"{topic}/{p}", str(first), str(after)]
                for (topic, p), (first, after) in batch.offsets.items()
            ],
            "models": models,
        }
        if batch.unknown_versions:
            payload["unknown_versions"] = [
                [key(self.keys.meta(model)), str(n)] for model, n in batch.unknown_versions.items()
            ]
        if batch.pairs is not None and not batch.pairs.empty:
            payload["pairs"] = self._pairs_entry(batch.pairs, key, blob)
        if batch.dead_letters:
            payload["dead"] = {
                "key": key(self.keys.dead_letter_counts),
                "counts": [x for r, n in sorted(batch.dead_letters.items()) for x in (r, str(n))],
            }
        with redis_errors():
            reply = self._apply(keys=keys, args=[bulk_json.encode(payload), *blobs])
        status = as_bytes(reply[0]).decode()
        if status == "ok":
            return ApplyOutcome("ok")
        subject = as_bytes(reply[1]).decode()
        stored = int(as_bytes(reply[2]))
        if status == "stale":
            return ApplyOutcome("stale", subject, stored)
        if status == "conflict":
            return ApplyOutcome("conflict", subject, stored)
        raise StateError(f"unexpected reply from apply_batch.lua: {reply!r}")

    def _join_entry(
        self,
        name: str,
        join: JoinPlan,
        limits: tuple[float, int],
        key: Callable[[str], int],
        blob: Callable[[bytes], int],
    ) -> dict[str, Any]:
        now = time.time()
        ttl_seconds, max_pending = limits
        return {
            "expect": str(join.expected_version),
            "preds": key(self.keys.pending_predictions(name)),
            "pred_times": key(self.keys.pending_prediction_times(name)),
            "labels": key(self.keys.pending_labels(name)),
            "label_times": key(self.keys.pending_label_times(name)),
            # Flattened in C: a batch leaves thousands of predictions waiting.
            "store_preds": list(chain.from_iterable(join.store_predictions.items())),
            "store_labels": list(chain.from_iterable(join.store_labels.items())),
            "del_preds": join.delete_predictions,
            "del_labels": join.delete_labels,
            "quality": [
                self._quality_entry(stream, windows, join.task, key, blob)
                for stream, windows in join.quality.items()
            ],
            "streams": [
                [key(self.keys.meta(stream)), str(joined), str(keyed)]
                for stream, (joined, keyed) in join.stream_counts.items()
            ],
            "now": repr(now),
            "expire_before": repr(now - ttl_seconds),
            "max_pending": str(max_pending),
            "joined": str(join.joined),
            "labels_received": str(join.labels_received),
            "predictions_keyed": str(join.predictions_keyed),
        }

    def _quality_entry(
        self,
        stream: str,
        windows: Mapping[int, QualityCounts],
        task: QualityTask | None,
        key: Callable[[str], int],
        blob: Callable[[bytes], int],
    ) -> dict[str, Any]:
        """A stream's quality deltas by window, and the sets that tell its judge which
        windows changed."""
        return {
            "dirty": key(self.keys.quality_dirty(stream)),
            "windows": key(self.keys.quality_windows(stream)),
            "deltas": [
                {
                    "key": key(self.keys.quality(stream, window_id)),
                    "id": str(window_id),
                    "packed": [[f, blob(vector), code] for f, vector, code in delta.packed],
                    "ints": [x for k, v in delta.ints.items() for x in (f"i:{k}", str(v))],
                    "floats": [x for k, v in delta.floats.items() for x in (f"f:{k}", repr(v))],
                }
                for window_id, delta in (
                    (w, pack_quality(task, counts)) for w, counts in windows.items()
                )
            ],
        }

    def _pairs_entry(
        self, pairs: PairWrite, key: Callable[[str], int], blob: Callable[[bytes], int]
    ) -> dict[str, Any]:
        return {
            "hash": key(self.keys.waiting_halves),
            "times": key(self.keys.waiting_half_times),
            "counts_key": key(self.keys.pairing_counts),
            "cap": str(pairs.max_pending),
            "del": pairs.delete,
            "store": [
                x
                for hid, (half, since) in pairs.store.items()
                for x in (hid, str(blob(half)), repr(since))
            ],
            "counts": [x for name, n in sorted(pairs.counts.items()) if n for x in (name, str(n))],
        }

    def pending_halves(
        self,
        ids: list[str],
        *,
        expire_before: float,
        expire_limit: int,
        may_add: int,
        max_pending: int,
    ) -> PendingView:
        """What a batch's pairing must know, in one round trip (see :class:`PendingView`)."""
        keys = [self.keys.waiting_halves, self.keys.waiting_half_times]
        args: list[bytes | str | int] = [
            bulk_json.encode(ids),
            repr(expire_before),
            expire_limit,
            may_add,
            max_pending,
        ]
        with redis_errors():
            waiting, stored, oldest, times, halves = self._pending_halves(keys=keys, args=args)
        return PendingView(
            stored={hid: as_bytes(half) for hid, half in zip(ids, stored, strict=True) if half},
            waiting=int(waiting),
            oldest=[
                (as_bytes(hid).decode(), float(as_bytes(at)), as_bytes(half))
                for hid, at, half in zip(oldest, times, halves, strict=True)
                if half
            ],
        )

    def pairing_status(self) -> dict[str, int]:
        """The pairing's counters and how many halves wait (all 0 before any pairing)."""
        with redis_errors():
            pipe = self.client.pipeline(transaction=True)
            pipe.hgetall(self.keys.pairing_counts)
            pipe.hlen(self.keys.waiting_halves)
            counts, waiting = pipe.execute()
        status = dict.fromkeys(("requests", "responses", "paired", "skipped"), 0)
        status.update({as_bytes(k).decode(): int(as_bytes(v)) for k, v in counts.items()})
        return {**status, "waiting": int(waiting)}

    def quality_alerted(self, model: str) -> set[int]:
        with redis_errors():
            alerted = self.client.smembers(self.keys.quality_alerted(model))
        return {int(as_bytes(w)) for w in alerted}

    def apply_quality_alert(
        self, model: str, window_id: int, plan_json: str
    ) -> QualityAlertOutcome:
        """``applied``; ``already_alerted`` (this window's quality was alerted on before);
        ``conflict`` (the alert state moved since the plan was made: plan again)."""
        keys = [
            self.keys.alert_states(model),
            self.keys.alert_audit,
            self.keys.outbox,
            self.keys.outbox_depth,
            self.keys.quality_alerted(model),
        ]
        with redis_errors():
            reply = int(self._apply_alert_plan(keys=keys, args=[str(window_id), plan_json]))
        return _QUALITY_ALERT_OUTCOMES[reply]

    def apply_early_alert(self, model: str, window_id: int, look: int, plan_json: str) -> int:
        """1 applied, 0 this look was applied already or the window closed meanwhile,
        -2 the alert state moved (re-plan)."""
        keys = [
            self.keys.alert_states(model),
            self.keys.alert_audit,
            self.keys.outbox,
            self.keys.outbox_depth,
            self.keys.early_look(model),
            self.keys.open_windows(model),
        ]
        args = [str(window_id * 1000 + look), str(window_id), plan_json]
        with redis_errors():
            return int(self._apply_early_alert(keys=keys, args=args))

    def open_windows(self, model: str) -> list[int]:
        with redis_errors():
            ids = self.client.zrange(self.keys.open_windows(model), 0, -1)
        return [int(as_bytes(i)) for i in ids]

    def window_events(self, model: str, window_id: int) -> int:
        """Events counted so far into a window (0 when it has none)."""
        with redis_errors():
            n = self.client.hget(self.keys.window(model, window_id), "n")
        return 0 if n is None else int(as_bytes(n))

    def quality_windows(self, model: str) -> tuple[list[int], JoinCounters]:
        """Windows whose quality changed since last judged, and the join's counters."""
        with redis_errors():
            pipe = self.client.pipeline(transaction=True)
            pipe.smembers(self.keys.quality_dirty(model))
            pipe.hmget(self.keys.meta(model), ["predictions_keyed", "joined", "labels_unmatched"])
            dirty, counters = pipe.execute()
        keyed, joined, unmatched = (int(as_bytes(v)) if v is not None else 0 for v in counters)
        return sorted(int(as_bytes(i)) for i in dirty), JoinCounters(keyed, joined, unmatched)

    def quality_counts(self, model: str, window_id: int) -> QualityCounts:
        return self.quality_counts_of(model, [window_id])[window_id]

    def quality_counts_of(self, model: str, window_ids: list[int]) -> dict[int, QualityCounts]:
        """Quality counters of several windows, read in one round trip."""
        with redis_errors():
            pipe = self.client.pipeline(transaction=False)
            for window_id in window_ids:
                pipe.hgetall(self.keys.quality(model, window_id))
            replies = pipe.execute()
        return {
            window_id: unpack_quality({as_bytes(k).decode(): as_bytes(v) for k, v in raw.items()})
            for window_id, raw in zip(window_ids, replies, strict=True)
        }

    def record_quality(
        self, model: str, judged: list[int], latest: Mapping[str, str], summary: Mapping[str, Any]
    ) -> None:
        """Store the latest quality verdict, clear the judged windows from the dirty set, and
        drop the quality counters of windows older than the last ``history_size``."""
        with redis_errors():
            old = self.client.zrange(self.keys.quality_windows(model), 0, -self.history_size - 1)
            pipe = self.client.pipeline(transaction=True)
            for window in old:
                pipe.delete(self.keys.quality(model, int(as_bytes(window))))
                pipe.zrem(self.keys.quality_windows(model), as_bytes(window))
                pipe.srem(self.keys.quality_alerted(model), as_bytes(window))
            if judged:
                pipe.srem(self.keys.quality_dirty(model), *[str(w) for w in judged])
            if latest:
                pipe.hset(self.keys.latest(model), mapping=dict(latest.items()))
            pipe.hset(self.keys.meta(model), "quality", json.dumps(summary))
            pipe.execute()

    def closing_windows(self, model: str) -> list[int]:
        with redis_errors():
            ids = self.client.zrange(self.keys.closing_windows(model), 0, -1)
        return [int(as_bytes(i)) for i in ids]

    def claim(self, model: str, window_id: int, owner: str, ttl_ms: int) -> bool:
        """Take the lease on evaluating a window, so instances do not evaluate it twice at once."""
        with redis_errors():
            key = self.keys.lease(model, window_id)
            if self.client.set(key, owner, nx=True, px=ttl_ms):
                return True
            return self.client.get(key) == owner.encode()

    def window(
        self,
        model: str,
        window_id: int,
        layout: WindowLayout,
        segments: Mapping[str, WindowLayout] | None = None,
    ) -> StoredWindow:
        """A window's counts; ``segments``: the layout of each segment to read counts of."""
        with redis_errors():
            raw = self.client.hgetall(self.keys.window(model, window_id))
        fields = {as_bytes(k).decode(): as_bytes(v) for k, v in raw.items()}
        return _stored_window(window_id, fields, layout, segments or {})

    def finalize(
        self,
        model: str,
        window_id: int,
        owner: str,
        history_entry: Mapping[str, Any],
        latest: Mapping[str, str],
        alert_plan: str = "",
    ) -> FinalizeOutcome:
        """Record a window's evaluation and its alert plan (JSON, see finalize_window.lua).

        ``recorded``; ``duplicate`` (another evaluator recorded it); ``later`` (an older
        window of the model waits first); ``conflict`` (the alert state moved: plan again).
        """
        keys = [
            self.keys.closing_windows(model),
            self.keys.window(model, window_id),
            self.keys.latest(model),
            self.keys.history(model),
            self.keys.meta(model),
            self.keys.lease(model, window_id),
            self.keys.alert_states(model),
            self.keys.alert_audit,
            self.keys.outbox,
            self.keys.outbox_depth,
        ]
        args: list[str] = [
            str(window_id),
            owner,
            json.dumps(history_entry, separators=(",", ":")),
            str(self.history_size),
            alert_plan,
        ]
        for field_name, value in latest.items():
            args += [field_name, value]
        with redis_errors():
            reply = int(self._finalize(keys=keys, args=args))
        return _FINALIZE_OUTCOMES[reply]

    def heartbeat(self, instance: str, ttl_seconds: int) -> None:
        with redis_errors():
            self.client.set(self.keys.heartbeat, instance, ex=ttl_seconds)

    def model_status(self, model: str) -> dict[str, Any]:
        """Counters, latest results and recent windows of one model, as plain data."""
        with redis_errors():
            pipe = self.client.pipeline(transaction=True)
            pipe.hgetall(self.keys.meta(model))
            pipe.hgetall(self.keys.latest(model))
            pipe.lrange(self.keys.history(model), 0, -1)
            pipe.zcard(self.keys.open_windows(model))
            pipe.zcard(self.keys.closing_windows(model))
            pipe.hlen(self.keys.pending_predictions(model))
            pipe.hlen(self.keys.pending_labels(model))
            pipe.hgetall(self.keys.sequential_states(model))
            pipe.lrange(self.keys.sequential_detections(model), 0, 49)
            replies = pipe.execute()
        meta, latest, history, open_count, closing_count, waiting_predictions, waiting_labels = (
            replies[:7]
        )
        detector_states, detections = replies[7:]
        text = {k.decode(): v.decode() for k, v in meta.items()}
        keyed = int(text.get("predictions_keyed", 0))
        windows = [json.loads(entry) for entry in history]
        return {
            "events": int(text.get("events", 0)),
            "late_events": int(text.get("late", 0)),
            "unknown_version_events": int(text.get("unknown_version", 0)),
            "windows_closed": int(text.get("windows_closed", 0)),
            "windows_open": int(open_count),
            "windows_closing": int(closing_count),
            "watermark": float(text["watermark"]) if "watermark" in text else None,
            "reference_id": text.get("reference_id"),
            "reference_collected": int(text.get("reference_collected", 0)),
            "labels": {
                "received": int(text.get("labels_received", 0)),
                "joined": int(text.get("joined", 0)),
                "predictions_with_id": keyed,
                "coverage": int(text.get("joined", 0)) / keyed if keyed else None,
                "predictions_waiting": int(waiting_predictions),
                "labels_waiting": int(waiting_labels),
                "predictions_never_labelled": int(text.get("predictions_unlabelled", 0)),
                "labels_never_matched": int(text.get("labels_unmatched", 0)),
            },
            "quality": json.loads(text["quality"]) if "quality" in text else None,
            "sequential": {
                "detectors": {
                    as_bytes(k).decode(): _detector_summary(json.loads(v))
                    for k, v in sorted(detector_states.items())
                },
                "detections": [json.loads(d) for d in detections],
            },
            "signals": _latest_results(latest),
            "windows": windows,
            # The false-alarm budget as the latest judged window applied it (None without one).
            "budget": next((w["budget"] for w in windows if "budget" in w), None),
        }

    def evaluated_windows(self, model: str) -> list[dict[str, Any]]:
        """The last ``history_size`` evaluated windows (id, start_ts, end_ts, events), newest
        first."""
        with redis_errors():
            history = self.client.lrange(self.keys.history(model), 0, -1)
        return [json.loads(entry)["window"] for entry in history]


def _latest_results(raw: Mapping[bytes, bytes]) -> dict[str, Any]:
    """The latest results by ``signal/method`` (``@segment`` after a segment's), from the
    hash: one field per result of the whole model, one per segment
    (``monitor.latest_results``)."""
    results: dict[str, Any] = {}
    for field_name, value in sorted(raw.items()):
        name = field_name.decode()
        if name.startswith("@"):
            results.update(segment_entries(name, value))
        else:
            results[name] = json.loads(value)
    return results


def _asks_anything(ask: ModelReads) -> bool:
    return ask.reference_chunks or ask.joins or bool(ask.detector_fields)


def _cursor(meta: Sequence[Any], open_ids: Sequence[Any]) -> ModelCursor:
    return ModelCursor(
        events=int(meta[0] or 0),
        watermark=None if meta[1] is None else float(meta[1]),
        reference_collected=int(meta[2] or 0),
        open_windows=frozenset(int(as_bytes(i)) for i in open_ids),
        partition_marks=_partition_marks(meta[3]),
    )


def _join_view(ask: ModelReads, reply: Sequence[Any]) -> JoinView:
    """The join script's reply as waiting entries by id (ids nothing waits for left out)."""
    version, labels, predictions = reply
    return JoinView(
        version=int(version),
        labels_for_predictions=_found(ask.prediction_ids, labels),
        predictions_for_labels=_found(ask.label_ids, predictions),
    )


def _found(ids: Sequence[str], values: Sequence[Any]) -> dict[str, bytes]:
    """The entries found by id; an empty reply means nothing waited, so none was looked up."""
    if not values:
        return {}
    return {
        event_id: as_bytes(found)
        for event_id, found in zip(ids, values, strict=True)
        if found is not None
    }


def _partition_marks(raw: Any) -> dict[int, tuple[float, float]]:
    if raw is None:
        return {}
    try:
        return {int(p): (float(ts), float(at)) for p, (ts, at) in json.loads(raw).items()}
    except (ValueError, TypeError, AttributeError) as error:
        raise StateError(f"a model's partition watermarks are unreadable: {raw!r}") from error


def _detector_summary(state: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "kind": state.get("kind"),
        "n_seen": state.get("n_seen"),
        "n_detections": state.get("n_detections"),
        "drift_detected": state.get("drift_detected"),
    }


def _window_entry(
    delta: WindowDelta, key_index: int, blob: Callable[[bytes], int]
) -> dict[str, Any]:
    """A window delta for apply_batch.lua: its counters as two packed vectors (blobs)."""
    counts = delta.counts
    entry: dict[str, Any] = {
        "key": key_index,
        "id": str(delta.window_id),
        "n": str(counts.events),
        "start": repr(delta.start_ts),
        "end": repr(delta.end_ts),
        "ints": blob(counts.ints.astype(_PACKED_INT).tobytes()),
        "floats": blob(counts.floats.astype(_PACKED_FLOAT).tobytes()),
    }
    if delta.model_version is not None:
        entry["version"] = delta.model_version
    if counts.names:
        # Per signal, the batch's heaviest tail values as [value, count] pairs; the script
        # sums them into the window's ``tails`` field and keeps the WINDOW_NAMES largest.
        entry["tails"] = _tails(counts)
    entry["keep"] = str(WINDOW_NAMES)
    if delta.segments is not None:
        entry["segments"] = [
            _segment_entry(name, n, delta.segments.counts.get(name), blob)
            for name, n in delta.segments.events.items()
        ]
    return entry


def _segment_entry(
    name: str, events: int, counts: WindowCounts | None, blob: Callable[[bytes], int]
) -> dict[str, Any]:
    """A segment's part of a window delta: its events, and its counters when it is judged
    (written as the window's fields ``n@<name>``, ``ints@<name>``, ...)."""
    entry: dict[str, Any] = {"name": name, "n": str(events)}
    if counts is not None:
        entry["ints"] = blob(counts.ints.astype(_PACKED_INT).tobytes())
        entry["floats"] = blob(counts.floats.astype(_PACKED_FLOAT).tobytes())
        if counts.names:
            entry["tails"] = _tails(counts)
    return entry


def _tails(counts: WindowCounts) -> list[list[Any]]:
    return [
        [signal, [[value, str(n)] for value, n in values.items()]]
        for signal, values in counts.names.items()
    ]


def _stored_window(
    window_id: int,
    fields: Mapping[str, bytes],
    layout: WindowLayout,
    segments: Mapping[str, WindowLayout],
) -> StoredWindow:
    """Counts of a stored window; left empty when they were counted against another reference."""
    reference_id = fields.get("ref", b"").decode()
    if "ints" not in fields and any(name.startswith("i:") for name in fields):
        raise StateError(
            f"window {window_id} in Redis was counted by an earlier drift-monitor, which kept "
            "one hash field per counter; let that version evaluate it, or give this one a new "
            "redis.key_prefix"
        )
    current = reference_id == layout.profile.id
    try:
        counts = _counts(fields, layout, "", read=current)
        return StoredWindow(
            window_id=window_id,
            counts=counts,
            start_ts=float(fields.get("start", b"nan")),
            end_ts=float(fields.get("end", b"nan")),
            reference_id=reference_id,
            model_version=fields["model_version"].decode() if "model_version" in fields else None,
            segment_events={
                name[2:]: int(value) for name, value in fields.items() if name.startswith("n@")
            },
            segments={
                name: _counts(fields, segment, f"@{name}", read=True)
                for name, segment in segments.items()
                if current and f"ints@{name}" in fields
            },
        )
    except ValueError as error:
        raise StateError(f"window {window_id} in Redis does not fit its layout: {error}") from error


def _counts(
    fields: Mapping[str, bytes], layout: WindowLayout, suffix: str, *, read: bool
) -> WindowCounts:
    """The counters of the window (``suffix`` ""), or of one of its segments (``@name``);
    only the events unless ``read`` (the window was counted against this reference)."""
    counts = layout.empty()
    if read:
        ints, floats = f"ints{suffix}", f"floats{suffix}"
        counts.ints = _added(fields, ints, _PACKED_INT, layout.int_size, np.int64)
        counts.floats = _added(fields, floats, _PACKED_FLOAT, layout.float_size, np.float64)
        counts.names = _tail_names(fields.get(f"tails{suffix}"))
    counts.events = int(fields.get(f"n{suffix}", b"0"))
    return counts


def _tail_names(raw: bytes | None) -> dict[str, dict[str, int]]:
    """The window's named tail values: ``{signal: {value: count}}``, as the script keeps them."""
    if not raw:
        return {}
    stored = json.loads(raw)
    if not isinstance(stored, dict):
        raise ValueError("its tails are not a JSON object")
    return {  # heaviest first, as merge_names orders them (a JSON object has no order)
        str(signal): merge_names({str(value): int(n) for value, n in values.items()}, {})
        for signal, values in stored.items()
        if isinstance(values, dict)
    }


def _added(
    fields: Mapping[str, bytes], name: str, packed: str, size: int, dtype: type[np.generic]
) -> NDArray[Any]:
    """A window vector plus the deltas apply_batch.lua left beside it (``name+1``, ``+2``,
    ...), added in that order: the order they arrived in, so the sums are the same bits.
    Sums of values near the float limit may reach inf, as in one batch (``_bin_means`` in
    :mod:`detectors.evaluate` reads them)."""
    total = _unpacked(fields, name, packed, size).astype(dtype)
    k = 1
    with np.errstate(over="ignore"):
        while f"{name}+{k}" in fields:
            total = total + _unpacked(fields, f"{name}+{k}", packed, size)
            k += 1
    return total


def _unpacked(fields: Mapping[str, bytes], name: str, dtype: str, size: int) -> NDArray[Any]:
    packed = fields.get(name, b"")
    if len(packed) != size * 8:
        raise ValueError(f"its {name} hold {len(packed)} bytes, the layout needs {size * 8}")
    return np.frombuffer(packed, dtype=dtype)
