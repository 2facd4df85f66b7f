"""The outbox in Redis, as the delivery worker sees it: a stream read through a consumer group.

* Entries are added only by ``finalize_window.lua``, atomically with the state
  transition that caused them.
* ``XREADGROUP ... >`` hands each new entry to one worker; it stays in that
  worker's pending list until settled. ``XREADGROUP ... 0`` re-reads the own
  pending list (and keeps it fresh); ``XAUTOCLAIM`` takes over entries idle for
  longer than ``claim_idle_seconds``: those of a worker that died.
* Failed attempts are counted in a hash (entry id → attempts, next attempt
  time, last error), so backoff survives restarts and hand-overs.
* Settling (delivered, or given up into the dead-letter list) acknowledges and
  deletes the entry in one script, which only the first settler gets through,
  so the per-sink depth counter never counts an entry twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis
import redis.exceptions

from monitor import lua
from monitor.alerts.plan import MessageKind, OutboxMessage
from monitor.errors import StateError
from monitor.keys import Keys
from monitor.redis_client import redis_errors

GROUP = "delivery"
StreamId = tuple[int, int]


@dataclass(frozen=True, slots=True)
class UndeliveredAlert:
    """A message given up on, as the dead-letter list holds it (``raw``) and read back."""

    raw: bytes
    message: OutboxMessage
    attempts: int
    error: str
    failed_at: float


@dataclass(frozen=True, slots=True)
class Entry:
    """An outbox entry read back: the message and when Redis received it."""

    id: str
    message: OutboxMessage
    created_at: float  # from the stream id (Redis's clock, milliseconds)

    @property
    def stream_id(self) -> StreamId:
        millis, _, sequence = self.id.partition("-")
        return int(millis), int(sequence or 0)


@dataclass(frozen=True, slots=True)
class Attempts:
    """Failed attempts of one entry so far."""

    count: int = 0
    next_at: float = 0.0
    error: str = ""

    def to_json(self) -> str:
        return json.dumps({"count": self.count, "next_at": self.next_at, "error": self.error})

    @classmethod
    def from_json(cls, raw: bytes | str) -> Attempts:
        try:
            data = json.loads(raw)
            return cls(int(data["count"]), float(data["next_at"]), str(data["error"]))
        except (ValueError, KeyError, TypeError) as error:
            raise StateError(f"an outbox attempt record is unreadable: {raw!r}") from error


class Outbox:
    """Delivery-side operations on the outbox keys, through an injected client."""

    def __init__(self, client: redis.Redis, keys: Keys, *, dead_letter_size: int) -> None:
        self._client = client
        self._keys = keys
        self._dead_letter_size = dead_letter_size
        self._settle = client.register_script(lua.source("settle_delivery.lua"))
        self._requeue = client.register_script(lua.source("requeue_dead_letter.lua"))

    def ensure_group(self) -> None:
        with redis_errors():
            try:
                self._client.xgroup_create(self._keys.outbox, GROUP, id="0", mkstream=True)
            except redis.exceptions.ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise

    def read_new(self, consumer: str, count: int) -> list[Entry]:
        """Entries no worker has seen yet; they join this consumer's pending list."""
        return self._read(consumer, ">", count)

    def read_own(self, consumer: str, count: int) -> list[Entry]:
        """This consumer's pending entries (new, retrying and claimed ones)."""
        return self._read(consumer, "0", count)

    def _read(self, consumer: str, start: str, count: int) -> list[Entry]:
        with redis_errors():
            reply: Any = self._client.xreadgroup(
                GROUP, consumer, {self._keys.outbox: start}, count=count
            )
        entries: list[Entry] = []
        vanished: list[str] = []
        for _stream, items in reply or []:
            for raw_id, fields in items:
                entry_id = _text(raw_id)
                if not fields:  # deleted while pending (settled by another worker)
                    vanished.append(entry_id)
                    continue
                entries.append(_entry(entry_id, fields))
        if vanished:
            with redis_errors():
                self._client.xack(self._keys.outbox, GROUP, *vanished)
        return entries

    def claim_stale(self, consumer: str, min_idle_seconds: float, count: int = 100) -> int:
        """Take over entries another worker left idle too long (it crashed); how many."""
        with redis_errors():
            reply = self._client.xautoclaim(
                self._keys.outbox,
                GROUP,
                consumer,
                min_idle_time=int(min_idle_seconds * 1000),
                start_id="0-0",
                count=count,
                justid=True,
            )
        claimed = reply[1] if isinstance(reply, list | tuple) and len(reply) > 1 else []
        return len(claimed)

    def held_elsewhere(self, consumer: str, count: int) -> dict[tuple[str, str], StreamId]:
        """Oldest entry per (sink, alert) pending under *another* consumer.

        A message must not overtake an older one of the same alert to the same
        sink (a resolve before its firing would leave an incident open at
        PagerDuty): while a dead worker's entries wait to be claimed, the newer
        ones of the same alert wait too.
        """
        with redis_errors():
            rows: Any = self._client.xpending_range(
                self._keys.outbox, GROUP, min="-", max="+", count=count
            )
            others = [_text(r["message_id"]) for r in rows if _text(r["consumer"]) != consumer]
            if not others:
                return {}
            pipe = self._client.pipeline(transaction=False)
            for entry_id in others:
                pipe.xrange(self._keys.outbox, min=entry_id, max=entry_id, count=1)
            replies: Any = pipe.execute()
        held: dict[tuple[str, str], StreamId] = {}
        for reply in replies:
            for raw_id, fields in reply:
                if not fields:
                    continue
                entry = _entry(_text(raw_id), fields)
                subject = (entry.message.sink, entry.message.subject)
                held[subject] = min(held.get(subject, entry.stream_id), entry.stream_id)
        return held

    def attempts(self, ids: Iterable[str]) -> dict[str, Attempts]:
        wanted = list(ids)
        if not wanted:
            return {}
        with redis_errors():
            values = self._client.hmget(self._keys.outbox_attempts, wanted)
        return {i: Attempts.from_json(v) for i, v in zip(wanted, values, strict=True) if v}

    def record_failure(self, entry: Entry, attempts: Attempts) -> None:
        with redis_errors():
            self._client.hset(self._keys.outbox_attempts, entry.id, attempts.to_json())

    def delivered(self, entry: Entry) -> bool:
        """Acknowledge and delete; False when another worker settled it first."""
        return self._settle_entry(entry, "")

    def give_up(self, entry: Entry, attempts: Attempts, failed_at: float) -> bool:
        """Move an entry to the dead-letter list, with why and after how many attempts."""
        dead = {
            "id": entry.id,
            "sink": entry.message.sink,
            "key": entry.message.key,
            "kind": entry.message.kind,
            "facts": entry.message.facts,
            "notified": list(entry.message.notified_before),
            "attempts": attempts.count,
            "error": attempts.error,
            "failed_at": failed_at,
        }
        return self._settle_entry(entry, json.dumps(dead, separators=(",", ":")))

    def _settle_entry(self, entry: Entry, dead: str) -> bool:
        keys = [
            self._keys.outbox,
            self._keys.outbox_attempts,
            self._keys.outbox_depth,
            self._keys.outbox_dead,
        ]
        args = [GROUP, entry.id, entry.message.sink, dead, str(self._dead_letter_size)]
        with redis_errors():
            return bool(self._settle(keys=keys, args=args))

    def depth(self) -> dict[str, int]:
        """Messages waiting per sink."""
        with redis_errors():
            raw = self._client.hgetall(self._keys.outbox_depth)
        return {_text(k): int(v) for k, v in raw.items()}

    def dead_letters(self, count: int = 100) -> list[dict[str, Any]]:
        with redis_errors():
            raw = self._client.lrange(self._keys.outbox_dead, 0, count - 1)
        return [json.loads(item) for item in raw]

    def dead_letter_entries(self) -> list[UndeliveredAlert]:
        """Every dead letter, oldest first: the order they were meant to arrive in."""
        with redis_errors():
            raw: Any = self._client.lrange(self._keys.outbox_dead, 0, -1)
        return [_dead_letter(item) for item in reversed(raw)]

    def requeue(self, letter: UndeliveredAlert) -> bool:
        """Move a dead letter back into the outbox as a new entry, with its key unchanged;
        False when it was no longer in the list (another redrive took it)."""
        keys = [self._keys.outbox_dead, self._keys.outbox, self._keys.outbox_depth]
        fields = [part for pair in letter.message.fields().items() for part in pair]
        with redis_errors():
            return bool(self._requeue(keys=keys, args=[letter.raw, letter.message.sink, *fields]))


def _entry(entry_id: str, raw: dict[Any, Any]) -> Entry:
    fields = {_text(k): _text(v) for k, v in raw.items()}
    try:
        message = OutboxMessage(
            sink=fields["sink"],
            key=fields["key"],
            kind=_kind(fields["kind"]),
            facts=json.loads(fields["facts"]),
            notified_before=tuple(s for s in fields.get("notified", "").split(",") if s),
        )
    except (KeyError, ValueError) as error:
        raise StateError(f"outbox entry {entry_id} is unreadable ({error})") from error
    millis = int(entry_id.split("-", 1)[0])
    return Entry(entry_id, message, millis / 1000.0)


def _dead_letter(raw: bytes) -> UndeliveredAlert:
    try:
        data = json.loads(raw)
        message = OutboxMessage(
            sink=str(data["sink"]),
            key=str(data["key"]),
            kind=_kind(str(data["kind"])),
            facts=data["facts"],
            notified_before=tuple(data.get("notified", ())),
        )
        return UndeliveredAlert(
            raw, message, int(data["attempts"]), str(data["error"]), float(data["failed_at"])
        )
    except (KeyError, ValueError, TypeError) as error:
        raise StateError(f"a dead letter of the outbox is unreadable ({error}): {raw!r}") from error


def _kind(name: str) -> MessageKind:
    kinds: dict[str, MessageKind] = {"alert": "alert", "retrain": "retrain", "test": "test"}
    return kinds[name]


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return str(value)
