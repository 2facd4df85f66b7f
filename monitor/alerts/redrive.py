"""Sending dead-lettered alert messages again, once the sink is fixed.

A message lands in the dead-letter list when its sink refused it for good (a 4xx:
a revoked token, a wrong URL) or failed for ``max_attempts`` (an outage longer
than the retries). After the fix, ``drift-monitor redrive`` puts the letters back
into the outbox, oldest first and with their idempotency keys unchanged, so the
delivery workers send them in their original order and receivers that saw one
before can tell.

One kind is held back: a ``firing`` message whose alert episode is over (the alert
resolved, or fired again since). Sent now, it would re-open an incident that is
closed; the audit stream (``drift-monitor alerts``) still holds what happened.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from monitor.alerts.outbox import Outbox, UndeliveredAlert
from monitor.alerts.records import AlertRecords
from monitor.alerts.state import AlertState
from monitor.config import Config


@dataclass(frozen=True, slots=True)
class RedriveReport:
    """What was put back into the outbox, and what was left in the dead-letter list and why."""

    requeued: list[UndeliveredAlert] = field(default_factory=list)
    left: list[tuple[UndeliveredAlert, str]] = field(default_factory=list)


def redrive(
    config: Config,
    outbox: Outbox,
    records: AlertRecords,
    *,
    sink: str | None = None,
    dry_run: bool = False,
) -> RedriveReport:
    """Requeue the dead letters (of ``sink`` only, if given) that may still be sent."""
    report = RedriveReport()
    states: dict[str, Mapping[str, AlertState]] = {}

    def states_of(model: str) -> Mapping[str, AlertState]:
        """A model's alert states, read once however many of its letters are dead."""
        if model not in states:
            states[model] = records.read(model).states
        return states[model]

    for letter in outbox.dead_letter_entries():
        if sink is not None and letter.message.sink != sink:
            continue
        why = _held_back(config, states_of, letter)
        if why is not None:
            report.left.append((letter, why))
        elif dry_run or outbox.requeue(letter):
            report.requeued.append(letter)
    return report


def _held_back(
    config: Config, states_of: Callable[[str], Mapping[str, AlertState]], letter: UndeliveredAlert
) -> str | None:
    message = letter.message
    if message.sink not in config.sinks:
        return f"sink {message.sink!r} is no longer in the config"
    facts = message.facts
    if message.kind != "alert" or facts.get("status") != "firing":
        return None
    model, dedup_key = str(facts.get("model", "")), str(facts.get("dedup_key", ""))
    episode = _episode(message.key, dedup_key)
    state = states_of(model).get(dedup_key) if model in config.models else None
    if state is None or episode is None or state.status != "firing" or state.episode != episode:
        return "its alert episode is over; sending it now would re-open a closed incident"
    return None


def _episode(key: str, dedup_key: str) -> int | None:
    """The episode in an idempotency key ``dedup_key/episode/...``."""
    if not key.startswith(dedup_key + "/"):
        return None
    number = key[len(dedup_key) + 1 :].split("/", 1)[0]
    return int(number) if number.isdigit() else None
