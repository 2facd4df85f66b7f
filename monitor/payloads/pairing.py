"""Pairing requests with responses by CloudEvent id, planned in memory for one batch.

The two halves of an inference may come in either order, in one batch or far apart, on
different partitions and so to different instances. A half whose other half is neither
in the batch nor waiting in Redis waits there, under its id. The planner is pure: the
caller reads what Redis holds for the batch (:class:`~monitor.batch_data.PendingView`)
and writes the plan's :class:`~monitor.batch_data.PairWrite` with the batch, which the
apply script refuses if another instance moved those ids meanwhile (the caller then reads
and plans again). So each pair is made exactly once, with the batch that completes it.

Waiting is bounded, in event time: a half is dead-lettered (``unanswered``) by the first
batch whose halves are ``ttl_seconds`` later than it (``now``, see :meth:`PayloadStage.pair
<monitor.payloads.stage.PayloadStage.pair>`), so a backlog consumed after an outage pairs
as it would have live; and the oldest halves go once more than ``max_pending`` wait. A
second half of the same kind under one id is a ``duplicate``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from monitor.batch_data import PairWrite, PendingView
from monitor.payloads.halves import Half, Letter, RawMessage
from monitor.payloads.rejected import Rejected


@dataclass(frozen=True, slots=True)
class Pair:
    """A request and its response, and the batch message that completed the pair."""

    request: Half
    response: Half
    position: int


@dataclass(slots=True)
class PairingPlan:
    """What one batch does to the pairing: the pairs it completes, what Redis must change,
    and the messages to dead-letter (in the batch, or waiting in Redis)."""

    pairs: list[Pair] = field(default_factory=list)
    write: PairWrite = field(default_factory=PairWrite)
    letters: list[Letter] = field(default_factory=list)
    waiting: int = 0
    """Halves waiting once the plan is applied."""


def plan_pairing(
    halves: Sequence[Half],
    view: PendingView,
    read_stored: Callable[[RawMessage], Half],
    *,
    now: float,
    ttl_seconds: float,
    max_pending: int,
) -> PairingPlan:
    """Pair the batch's halves (in batch order) with each other and with the waiting ones.

    ``read_stored`` reads a waiting half's message again; one it now rejects (the config
    changed meanwhile) is dead-lettered with that reason and no longer waits.
    """
    plan = PairingPlan(write=PairWrite(max_pending=max_pending))
    waiting: dict[str, Half] = {}
    consumed: set[str] = set()
    """Ids whose stored half leaves Redis: paired, or no longer readable."""
    for half in halves:
        if half.id not in waiting and half.id not in consumed and half.id in view.stored:
            stored = _stored_half(view.stored[half.id], read_stored, plan)
            if stored is None:
                consumed.add(half.id)
            else:
                waiting[half.id] = stored
        other = waiting.get(half.id)
        if other is None:
            waiting[half.id] = half
        elif other.kind == half.kind:
            plan.letters.append(_duplicate(half))
        else:
            del waiting[half.id]
            if other.position < 0:
                consumed.add(half.id)
            request, response = (other, half) if half.kind == "response" else (half, other)
            plan.pairs.append(Pair(request, response, half.position))
    new = {hid: half for hid, half in waiting.items() if half.position >= 0}
    forgotten = _expired(view, consumed, now - ttl_seconds, ttl_seconds, plan)
    leaving = consumed | forgotten
    over = view.waiting - len(leaving) + len(new) - max_pending
    if over > 0:
        over -= _evict_stored(view, leaving, over, max_pending, plan)
    if over > 0:
        for hid in list(new)[:over]:
            plan.letters.append(_evicted(new.pop(hid).message, max_pending))
    plan.write.delete = sorted(leaving)
    plan.write.store = {
        hid: (half.message.to_blob(), _or(half.event_time, now)) for hid, half in new.items()
    }
    plan.write.counts = {
        "requests": sum(half.kind == "request" for half in halves),
        "responses": sum(half.kind == "response" for half in halves),
        "paired": len(plan.pairs),
    }
    plan.waiting = view.waiting - len(leaving) + len(new)
    return plan


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def _stored_half(
    blob: bytes, read_stored: Callable[[RawMessage], Half], plan: PairingPlan
) -> Half | None:
    message = RawMessage.from_blob(blob)
    try:
        return read_stored(message)
    except Rejected as rejected:
        plan.letters.append(Letter(message, rejected.reason, rejected.detail))
        return None


def _expired(
    view: PendingView, consumed: set[str], before: float, ttl: float, plan: PairingPlan
) -> set[str]:
    """Stored halves past the TTL that the batch did not pair: dead-lettered."""
    gone: set[str] = set()
    for hid, since, blob in view.oldest:
        if since >= before:
            break
        if hid in consumed:
            continue
        message = RawMessage.from_blob(blob)
        detail = f"id {hid!r}: no other half within {ttl:g} s (event time) of it"
        plan.letters.append(Letter(message, "unanswered", detail))
        gone.add(hid)
    return gone


def _evict_stored(
    view: PendingView, leaving: set[str], over: int, max_pending: int, plan: PairingPlan
) -> int:
    """The longest-waiting stored halves, dead-lettered to make room; how many."""
    evicted = 0
    for hid, _, blob in view.oldest:
        if evicted == over:
            break
        if hid in leaving:
            continue
        plan.letters.append(_evicted(RawMessage.from_blob(blob), max_pending))
        leaving.add(hid)
        evicted += 1
    return evicted


def _evicted(message: RawMessage, max_pending: int) -> Letter:
    return Letter(
        message,
        "unanswered",
        f"evicted unanswered: more than pairing.max_pending ({max_pending}) halves waited",
    )


def _duplicate(half: Half) -> Letter:
    return Letter(
        half.message,
        "duplicate",
        f"a second {half.kind} with id {half.id!r} while the first waits for its other half",
    )
