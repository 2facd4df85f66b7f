"""The model-server formats' step of the daemon's batch: messages in, prediction columns out.

:meth:`PayloadStage.read` reads a batch's messages as halves once; :meth:`PayloadStage.pair`
reads from Redis what those halves could meet (one round trip), plans the pairing, and
decodes the completed pairs' rows into the columns the rest of the batch works on. The
daemon calls ``pair`` again, after a fresh read, when the apply script refuses the plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from confluent_kafka import Message
from numpy.typing import NDArray

from monitor.batch_data import PairWrite
from monitor.config import Config
from monitor.decode import DeadLetter, DeadLetterReason, DecodedBatch, EventDecoder, describe_error
from monitor.origins import Origins
from monitor.payloads.halves import Half, HalfReader, Letter, RawMessage
from monitor.payloads.pairing import Pair, plan_pairing
from monitor.payloads.protocols import PROTOCOLS, BodyProtocol
from monitor.payloads.rejected import Rejected
from monitor.payloads.rows import pair_events
from monitor.store import StateStore

EXPIRE_PER_BATCH = 5000
"""Halves past their TTL dead-lettered by one batch at most; the next batch takes the rest."""


@dataclass(slots=True)
class Arrivals:
    """A batch's messages read as halves; those that cannot be one; other events skipped."""

    origins: Origins
    """Where each of the batch's messages came from (pairs' rows point at them)."""
    halves: list[Half] = field(default_factory=list)
    letters: list[Letter] = field(default_factory=list)
    skipped: int = 0


@dataclass(slots=True)
class PairedBatch:
    """What a batch's pairing gives the rest of the batch."""

    decoded: DecodedBatch
    """The rows of the pairs the batch completed, each at its completing message's position."""
    letters: list[Letter]
    """The messages the pairing dead-letters: duplicates, unanswered halves, bad pairs (the
    halves bad on arrival are in :attr:`Arrivals.letters`)."""
    write: PairWrite
    waiting: int
    pairs: int


class PayloadStage:
    """Pairs a model server's requests and responses for the daemon, a batch at a time."""

    def __init__(self, config: Config, store: StateStore, decoder: EventDecoder) -> None:
        self._config = config
        self._store = store
        self._decoder = decoder
        self._reader = HalfReader(config.payload)
        self._protocol = PROTOCOLS[config.payload.format]

    def read(self, messages: Sequence[Message]) -> Arrivals:
        """The batch's messages as halves, once: what cannot be one is a dead letter at once,
        whatever its other half does; events of other types are passed over."""
        arrivals = Arrivals(Origins.of_messages(messages))
        for index, message in enumerate(messages):
            raw = raw_message(message)
            try:
                half = self._reader.read(raw, index)
            except Rejected as rejected:
                arrivals.letters.append(Letter(raw, rejected.reason, rejected.detail))
            except Exception as error:  # no message may stop the daemon
                arrivals.letters.append(Letter(raw, "undecodable", describe_error(error)))
            else:
                if half is None:
                    arrivals.skipped += 1
                else:
                    arrivals.halves.append(half)
        return arrivals

    def pair(self, arrivals: Arrivals, now: float) -> PairedBatch:
        """Pair the batch's halves; ``now`` is the wall clock. Waiting runs in event time:
        the batch's clock is its latest half's (never past ``now``, so a half from a clock
        running ahead cannot expire the others), and halves older than that by the TTL go."""
        settings = self._config.payload.pairing
        halves = arrivals.halves
        times = [t for t in (half.event_time for half in halves) if t is not None]
        clock = min(max(times, default=now), now)
        view = self._store.pending_halves(
            sorted({half.id for half in halves}),
            expire_before=clock - settings.ttl_seconds,
            expire_limit=EXPIRE_PER_BATCH,
            may_add=len(halves),
            max_pending=settings.max_pending,
        )
        plan = plan_pairing(
            halves,
            view,
            self._read_stored,
            now=clock,
            ttl_seconds=settings.ttl_seconds,
            max_pending=settings.max_pending,
        )
        plan.write.counts["skipped"] = arrivals.skipped
        letters = list(plan.letters)
        decoded = decode_pairs(
            plan.pairs, self._protocol, self._config, self._decoder, arrivals.origins, now, letters
        )
        return PairedBatch(decoded, letters, plan.write, plan.waiting, len(plan.pairs))

    def _read_stored(self, message: RawMessage) -> Half:
        half = self._reader.read(message, -1)
        if half is None:
            raise Rejected("not_a_cloudevent", "no longer of a request or response type")
        return half


def decode_pairs(
    pairs: list[Pair],
    protocol: BodyProtocol,
    config: Config,
    decoder: EventDecoder,
    origins: Origins,
    now: float,
    letters: list[Letter],
) -> DecodedBatch:
    """The pairs' rows as columns, each row at its pair's completing message; a pair any row
    of which cannot be an event is dead-lettered whole (both halves, into ``letters``), and
    none of its rows is counted."""
    events: list[list[bytes]] = []
    kept: list[Pair] = []
    for pair in pairs:
        try:
            events.append(pair_events(pair, protocol, config.models, now))
        except Rejected as rejected:
            letters.extend(_both(pair, rejected.reason, rejected.detail))
        else:
            kept.append(pair)
    while True:
        decoded, owners = _decoded(kept, events, decoder, origins)
        if not decoded.dead_letters:
            return decoded
        failed: dict[int, DeadLetter] = {}
        for letter in decoded.dead_letters:
            failed.setdefault(int(owners[letter.index]), letter)
        for owner, letter in failed.items():
            letters.extend(_both(kept[owner], letter.reason, f"a row: {letter.detail}"))
        events = [rows for i, rows in enumerate(events) if i not in failed]
        kept = [pair for i, pair in enumerate(kept) if i not in failed]


def _decoded(
    pairs: list[Pair], events: list[list[bytes]], decoder: EventDecoder, origins: Origins
) -> tuple[DecodedBatch, NDArray[np.intp]]:
    """The events decoded, each row at its pair's completing message of the batch
    (``origins``); and for each event, the index of its pair."""
    counts = np.fromiter(map(len, events), dtype=np.intp, count=len(events))
    owners = np.repeat(np.arange(len(events), dtype=np.intp), counts)
    positions = np.asarray([pair.position for pair in pairs], dtype=np.intp)[owners]
    values = [value for rows in events for value in rows]
    decoded = decoder.decode(values, origins.at(positions))
    for columns in decoded.models.values():
        columns.positions = positions[columns.positions]
    return DecodedBatch(decoded.models, decoded.dead_letters, origins), owners


def _both(pair: Pair, reason: DeadLetterReason, detail: str) -> list[Letter]:
    """A pair that cannot become events: both its messages are dead-lettered."""
    text = f"id {pair.request.id!r}: {detail}"
    return [Letter(half.message, reason, text) for half in (pair.request, pair.response)]


def raw_message(message: Message) -> RawMessage:
    """What the pairing keeps of a consumed message."""
    key = message.key()
    headers = message.headers() or []
    _, stamp = message.timestamp()
    return RawMessage(
        value=message.value(),
        key=key.encode() if isinstance(key, str) else key,
        # A consumed message's headers are a list of (name, bytes) already: kept as they are.
        headers=list(headers.items()) if isinstance(headers, dict) else headers,  # type: ignore[arg-type]
        source=f"{message.topic()}/{message.partition()}/{message.offset()}",
        timestamp=stamp / 1000.0 if stamp >= 0 else None,
    )
