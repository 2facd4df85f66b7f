"""Redis state: the one module that reads and writes drift-monitor's keys.

A micro-batch is applied by one Lua script (``apply_batch.lua``) that writes
window counts, model counters and partition offsets together, so Redis never
holds a batch's counts without its offsets or the reverse. A closed window's
results are recorded by a second script (``finalize_window.lua``) that only
the first evaluator gets through. Nothing read back is unpickled: counts are
integers and floats, profiles and results are JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any, Literal

import numpy as np
import redis
import redis.exceptions
from redis.backoff import ExponentialBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from detectors.profile import ReferenceProfile
from detectors.window import WindowCounts, WindowLayout
from monitor.errors import ServiceUnavailable, StateError
from monitor.keys import Keys

_UNAVAILABLE = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ClusterDownError,
)


@contextmanager
def redis_errors() -> Iterator[None]:
    """Turn "Redis is not there" into ServiceUnavailable, which the run loop retries."""
    try:
        yield
    except _UNAVAILABLE as error:
        raise ServiceUnavailable(f"Redis unavailable: {error}") from error


@dataclass(frozen=True, slots=True)
class WindowDelta:
    """A batch's contribution to one window."""

    window_id: int
    counts: WindowCounts
    start_ts: float
    end_ts: float


@dataclass(slots=True)
class ModelWrite:
    """Everything one batch changes for one model."""

    model: str
    expected_events: int
    events: int
    reference_id: str = ""
    late: int = 0
    watermark: float | None = None
    windows: list[WindowDelta] = field(default_factory=list)
    close: list[int] = field(default_factory=list)
    reference_chunk: bytes | None = None
    reference_rows: int = 0
    reference: ReferenceProfile | None = None


@dataclass(slots=True)
class BatchWrite:
    """One micro-batch's state change: per-model writes and each partition's offset range."""

    topic: str
    offsets: dict[int, tuple[int, int]]  # partition -> (first offset, next offset)
    models: list[ModelWrite]


@dataclass(frozen=True, slots=True)
class ApplyOutcome:
    """``ok``; or ``stale`` (a partition moved past this batch); or ``conflict`` (a model moved)."""

    status: Literal["ok", "stale", "conflict"]
    subject: str = ""
    stored: int = 0


@dataclass(frozen=True, slots=True)
class ModelCursor:
    """What the window logic must know about a model before assigning a batch to windows."""

    events: int
    watermark: float | None
    reference_collected: int
    open_windows: frozenset[int]


@dataclass(frozen=True, slots=True)
class StoredWindow:
    """A closing window read back for evaluation."""

    window_id: int
    counts: WindowCounts
    start_ts: float
    end_ts: float
    reference_id: str


def _script(name: str) -> str:
    return files("monitor").joinpath(name).read_text(encoding="utf-8")


class StateStore:
    """Reads and writes drift-monitor state in Redis through an injected client."""

    def __init__(self, client: redis.Redis, keys: Keys, *, history_size: int) -> None:
        self.client = client
        self.keys = keys
        self.history_size = history_size
        self._apply = client.register_script(_script("apply_batch.lua"))
        self._finalize = client.register_script(_script("finalize_window.lua"))

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except (*_UNAVAILABLE, redis.exceptions.RedisError):
            return False

    def offsets(self, topic: str, partitions: Sequence[int]) -> dict[int, int]:
        """Next offset to consume per partition, for those partitions Redis knows."""
        if not partitions:
            return {}
        with redis_errors():
            values = self.client.hmget(self.keys.offsets, [f"{topic}/{p}" for p in partitions])
        return {p: int(v) for p, v in zip(partitions, values, strict=True) if v is not None}

    def cursor(self, model: str) -> ModelCursor:
        with redis_errors():
            pipe = self.client.pipeline(transaction=True)
            pipe.hmget(self.keys.meta(model), ["events", "watermark", "reference_collected"])
            pipe.zrange(self.keys.open_windows(model), 0, -1)
            meta, open_ids = pipe.execute()
        return ModelCursor(
            events=int(meta[0] or 0),
            watermark=None if meta[1] is None else float(meta[1]),
            reference_collected=int(meta[2] or 0),
            open_windows=frozenset(int(_bytes(i)) for i in open_ids),
        )

    def reference(self, model: str) -> ReferenceProfile | None:
        with redis_errors():
            raw = self.client.get(self.keys.reference(model))
        if raw is None:
            return None
        try:
            return ReferenceProfile.from_json(raw)
        except (ValueError, KeyError, TypeError) as error:
            raise StateError(
                f"the reference profile of model {model!r} in Redis is unreadable ({error}); "
                f"rebuild it with `drift-monitor reference build`"
            ) from error

    def store_reference(self, profile: ReferenceProfile) -> None:
        with redis_errors():
            pipe = self.client.pipeline(transaction=True)
            pipe.set(self.keys.reference(profile.model), profile.to_json())
            pipe.hset(self.keys.meta(profile.model), "reference_id", profile.id)
            pipe.sadd(self.keys.models, profile.model)
            pipe.execute()

    def store_reference_if_absent(self, profile: ReferenceProfile) -> ReferenceProfile:
        """Store a profile unless one exists (another instance won the race); return the stored."""
        with redis_errors():
            if self.client.set(self.keys.reference(profile.model), profile.to_json(), nx=True):
                self.client.hset(self.keys.meta(profile.model), "reference_id", profile.id)
                self.client.sadd(self.keys.models, profile.model)
                return profile
        stored = self.reference(profile.model)
        if stored is None:
            raise StateError(f"reference of model {profile.model!r} vanished while it was stored")
        return stored

    def reference_chunks(self, model: str) -> list[bytes]:
        with redis_errors():
            chunks = self.client.lrange(self.keys.reference_buffer(model), 0, -1)
        return [_bytes(c) for c in chunks]

    def apply(self, batch: BatchWrite, layouts: Mapping[str, WindowLayout]) -> ApplyOutcome:
        """Write a batch's state and offsets in one atomic step."""
        keys: list[str] = [self.keys.offsets, self.keys.models]
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
                "expect": str(write.expected_events),
                "events": str(write.events),
                "late": str(write.late),
                "ref_id": write.reference_id,
                "open": key(self.keys.open_windows(name)),
                "closing": key(self.keys.closing_windows(name)),
                "windows": [
                    _window_entry(delta, key(self.keys.window(name, delta.window_id)))
                    for delta in write.windows
                ],
                "close": [str(i) for i in write.close],
            }
            if write.watermark is not None:
                entry["watermark"] = repr(write.watermark)
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
            models.append(entry)
        payload = {
            "offsets": [
                [f"{batch.topic}/{p}", str(first), str(after)]
                for p, (first, after) in batch.offsets.items()
            ],
            "models": models,
        }
        with redis_errors():
            reply = self._apply(keys=keys, args=[json.dumps(payload), *blobs])
        status = _bytes(reply[0]).decode()
        if status == "ok":
            return ApplyOutcome("ok")
        subject = _bytes(reply[1]).decode()
        stored = int(_bytes(reply[2]))
        if status == "stale":
            return ApplyOutcome("stale", subject, stored)
        if status == "conflict":
            return ApplyOutcome("conflict", subject, stored)
        raise StateError(f"unexpected reply from apply_batch.lua: {reply!r}")

    def closing_windows(self, model: str) -> list[int]:
        with redis_errors():
            ids = self.client.zrange(self.keys.closing_windows(model), 0, -1)
        return [int(_bytes(i)) for i in ids]

    def claim(self, model: str, window_id: int, owner: str, ttl_ms: int) -> bool:
        """Take the lease on evaluating a window, so instances do not evaluate it twice at once."""
        with redis_errors():
            key = self.keys.lease(model, window_id)
            if self.client.set(key, owner, nx=True, px=ttl_ms):
                return True
            return self.client.get(key) == owner.encode()

    def window(self, model: str, window_id: int, layout: WindowLayout) -> StoredWindow:
        with redis_errors():
            raw = self.client.hgetall(self.keys.window(model, window_id))
        return _stored_window(window_id, {_bytes(k): _bytes(v) for k, v in raw.items()}, layout)

    def finalize(
        self,
        model: str,
        window_id: int,
        owner: str,
        history_entry: Mapping[str, Any],
        latest: Mapping[str, str],
    ) -> bool:
        """Record a window's evaluation; False when another evaluator already did."""
        keys = [
            self.keys.closing_windows(model),
            self.keys.window(model, window_id),
            self.keys.latest(model),
            self.keys.history(model),
            self.keys.meta(model),
            self.keys.lease(model, window_id),
        ]
        args: list[str] = [
            str(window_id),
            owner,
            json.dumps(history_entry, separators=(",", ":")),
            str(self.history_size),
        ]
        for field_name, value in latest.items():
            args += [field_name, value]
        with redis_errors():
            return bool(self._finalize(keys=keys, args=args))

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
            meta, latest, history, open_count, closing_count = pipe.execute()
        text = {k.decode(): v.decode() for k, v in meta.items()}
        return {
            "events": int(text.get("events", 0)),
            "late_events": int(text.get("late", 0)),
            "windows_closed": int(text.get("windows_closed", 0)),
            "windows_open": int(open_count),
            "windows_closing": int(closing_count),
            "watermark": float(text["watermark"]) if "watermark" in text else None,
            "reference_id": text.get("reference_id"),
            "reference_collected": int(text.get("reference_collected", 0)),
            "signals": {k.decode(): json.loads(v) for k, v in sorted(latest.items())},
            "windows": [json.loads(entry) for entry in history],
        }

    def known_models(self) -> list[str]:
        with redis_errors():
            members = self.client.smembers(self.keys.models)
        return sorted(_bytes(m).decode() for m in members)


def _bytes(value: Any) -> bytes:
    """Replies are bytes (the client never decodes); say so once for the type checker."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str | int):
        return str(value).encode()
    raise StateError(f"unexpected value from Redis: {value!r}")


def _window_entry(delta: WindowDelta, key_index: int) -> dict[str, Any]:
    ints = delta.counts.ints
    nonzero = np.flatnonzero(ints)
    floats = delta.counts.floats
    nonzero_f = np.flatnonzero(floats)
    return {
        "key": key_index,
        "id": str(delta.window_id),
        "n": str(delta.counts.events),
        "start": repr(delta.start_ts),
        "end": repr(delta.end_ts),
        "ints": [x for i in nonzero.tolist() for x in (f"i:{i}", str(int(ints[i])))],
        "floats": [x for i in nonzero_f.tolist() for x in (f"f:{i}", repr(float(floats[i])))],
    }


def _stored_window(
    window_id: int, raw: Mapping[bytes, bytes], layout: WindowLayout
) -> StoredWindow:
    """Counts of a stored window; left empty when they were counted against another reference."""
    counts = layout.empty()
    fields: dict[str, bytes] = {k.decode(): v for k, v in raw.items()}
    reference_id = fields.get("ref", b"").decode()
    same_layout = reference_id == layout.profile.id
    try:
        for name, value in fields.items() if same_layout else ():
            if name.startswith("i:"):
                counts.ints[int(name[2:])] = int(value)
            elif name.startswith("f:"):
                counts.floats[int(name[2:])] = float(value)
        counts.events = int(fields.get("n", b"0"))
        return StoredWindow(
            window_id=window_id,
            counts=counts,
            start_ts=float(fields.get("start", b"nan")),
            end_ts=float(fields.get("end", b"nan")),
            reference_id=reference_id,
        )
    except (ValueError, IndexError) as error:
        raise StateError(f"window {window_id} in Redis does not fit its layout: {error}") from error


def connect(url: str, *, cluster: bool = False) -> redis.Redis:
    """A Redis (or Redis Cluster) client that fails fast when Redis is down.

    redis-py retries three times with backoff by default, which turns an outage
    into 15 s stalls per call; one quick retry covers a dropped connection, and
    the daemon's own loop does the patient retrying (pausing consumption).
    Cluster clients find the other nodes from the one in ``url``; every key of
    drift-monitor shares one hash tag, so each script still runs on one node.
    """
    options: dict[str, Any] = {
        "socket_timeout": 5.0,
        "socket_connect_timeout": 2.0,
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), 1),
    }
    if cluster:
        client: redis.Redis = RedisCluster.from_url(url, **options)  # type: ignore[assignment]
        return client
    return redis.Redis.from_url(url, health_check_interval=15, **options)
