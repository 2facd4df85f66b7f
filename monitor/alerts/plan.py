"""A window's alert plan: new states, audit entries and outbox messages, computed in memory.

The plan is what the finalize script writes together with the window, under a
compare-and-set on the version of the model's alert state (the id of the last
window applied to it). An evaluator whose view is stale is refused and plans
again from the stored state; nothing it planned is written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from detectors.evaluate import SignalResult
from monitor.alerts.facts import alert_facts, dumps, idempotency_key, refresh_key
from monitor.alerts.retrain import RETRAIN_FIELD, RetrainState, RetrainTrigger, step_retrain
from monitor.alerts.routing import sinks_for
from monitor.alerts.rules import observe
from monitor.alerts.state import AlertState, Transition, WindowFacts, step
from monitor.config import ModelConfig, firing_windows
from monitor.versions import model_of

VERSION_FIELD = "_version"
MessageKind = Literal["alert", "retrain", "test"]

FIRING_REFRESH_SECONDS = 86400.0
"""How often, at most, a firing alert is sent again to the sinks that let an alert expire
unless it is re-sent (Alertmanager, whose alerts carry ``endsAt`` a week ahead): once a
day, when a window of its model is recorded, for as long as the episode lasts."""


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One notification for one sink; ``key`` is its idempotency key."""

    sink: str
    key: str
    kind: MessageKind
    facts: Mapping[str, Any]
    notified_before: tuple[str, ...] = ()  # severities this episode already announced

    @property
    def subject(self) -> str:
        """What the message is about: its alert's dedup key (messages of one keep their order)."""
        return str(self.facts.get("dedup_key") or self.key)

    def fields(self) -> dict[str, str]:
        """The stream entry's fields (all text; nothing stored is ever unpickled)."""
        return {
            "sink": self.sink,
            "key": self.key,
            "kind": self.kind,
            "facts": dumps(self.facts),
            "notified": ",".join(self.notified_before),
        }


@dataclass(frozen=True, slots=True)
class StoredAlerts:
    """A model's alert states as read from Redis, with the version they were read at."""

    version: str = ""
    states: Mapping[str, AlertState] = field(default_factory=dict)
    retrain: RetrainState = field(default_factory=RetrainState)


@dataclass(frozen=True, slots=True)
class AlertPlan:
    """What recording one window changes in the alert keys."""

    expected_version: str
    version: str
    states: dict[str, str]
    audit: list[dict[str, str]]
    outbox: list[OutboxMessage]
    transitions: list[Transition]
    trigger: RetrainTrigger | None = None

    def to_json(self, audit_size: int) -> str:
        """The plan as the finalize script reads it."""
        return json.dumps(
            {
                "expect": self.expected_version,
                "version": self.version,
                "set": [x for pair in self.states.items() for x in pair],
                "audit": [[x for pair in entry.items() for x in pair] for entry in self.audit],
                "audit_size": str(audit_size),
                "outbox": [[x for pair in m.fields().items() for x in pair] for m in self.outbox],
            },
            separators=(",", ":"),
        )


def plan_window(
    model: ModelConfig,
    stored: StoredAlerts,
    results: Sequence[SignalResult],
    window: WindowFacts,
    reference: Mapping[str, Any],
    now: float,
    refresh_sinks: frozenset[str] = frozenset(),
    *,
    late: bool = False,
    look: int | None = None,
) -> AlertPlan:
    """Run every rule and the retrain policy of ``model`` over one window's results.

    ``refresh_sinks``: the sinks that firing alerts are re-sent to (see
    :data:`FIRING_REFRESH_SECONDS`). ``late``: the results are the window's
    performance verdict, judged when its labels came (see :mod:`.retrain`). ``look``:
    the results are the ``look``-th checkpoint of the still open ``window``; they can
    only fire alerts (see :func:`.state.step`), and retraining waits for the close.
    """
    states: dict[str, str] = {}
    audit: list[dict[str, str]] = []
    outbox: list[OutboxMessage] = []
    transitions: list[Transition] = []
    encoded: dict[AlertState, str] = {}
    rules = [
        replace(rule, for_windows=firing_windows(rule, model.drift))
        for rule in model.alert_rules.values()
    ]
    for seen in observe(model.name, rules, results):
        before = stored.states.get(seen.dedup_key, AlertState())
        after, changes = step(before, seen, window, now, interim=look is not None)
        refresh = (
            () if look is not None else _due_refresh(model, after, changes, refresh_sinks, now)
        )
        if refresh:
            after = replace(after, refreshed_at=now)
            facts = alert_facts(
                model=model_of(model.name),
                seen=seen,
                state=after,
                status="firing",
                window=window,
                reference=dict(reference),
                detected_at=now,
            )
            key = refresh_key(seen.dedup_key, after.episode, window.id)
            outbox.extend(OutboxMessage(sink, key, "alert", facts) for sink in refresh)
        if after != before:  # most alerts of a window end in one state: encoded once
            if (text := encoded.get(after)) is None:
                text = encoded[after] = after.to_json()
            states[seen.dedup_key] = text
        for change in changes:
            transitions.append(change)
            audit.append(_audit_entry(model.name, change, window, now, seen.evidence))
            if change.notify is None:
                continue
            facts = alert_facts(
                model=model_of(model.name),
                seen=seen,
                state=after,
                status=change.notify,
                window=window,
                reference=dict(reference),
                detected_at=now,
            )
            severity = after.severity or seen.severity
            key = idempotency_key(seen.dedup_key, after.episode, change.notify, severity)
            targets = sinks_for(
                model, before.notified if change.notify == "resolved" else (severity,)
            )
            outbox.extend(
                OutboxMessage(sink, key, "alert", facts, change.notified_before) for sink in targets
            )
    trigger = None
    if model.retrain is not None and look is None:
        retrain, trigger = step_retrain(model.retrain, stored.retrain, results, window, late=late)
        if retrain != stored.retrain:
            states[RETRAIN_FIELD] = retrain.to_json()
        if trigger is not None:
            payload = retrain_payload(model.name, trigger, reference, now, window.model_version)
            audit.append(
                {
                    "at": repr(now),
                    "model": model.name,
                    "key": payload["idempotency_key"],
                    "from": "",
                    "to": "retrain",
                    "episode": str(trigger.number),
                    "severity": "critical",
                    "window": str(window.id),
                    "window_end_ts": repr(window.end_ts),
                    "reason": trigger.reason,
                    "evidence": dumps(list(trigger.signals)),
                }
            )
            outbox.extend(
                OutboxMessage(sink, payload["idempotency_key"], "retrain", payload)
                for sink in model.retrain.sinks
            )
    return AlertPlan(
        expected_version=stored.version,
        version=str(window.id) if look is None else f"{window.id}~{look}",
        states=states,
        audit=audit,
        outbox=outbox,
        transitions=transitions,
        trigger=trigger,
    )


def _due_refresh(
    model: ModelConfig,
    state: AlertState,
    changes: Sequence[Transition],
    refresh_sinks: frozenset[str],
    now: float,
) -> tuple[str, ...]:
    """The sinks a firing alert is re-sent to in this window: none unless a day has passed
    since it fired or was last re-sent, and none in a window that already notified."""
    if state.status != "firing" or changes:
        return ()
    last = state.refreshed_at if state.refreshed_at is not None else state.fired_at
    if last is None or now - last < FIRING_REFRESH_SECONDS:
        return ()
    return tuple(sink for sink in sinks_for(model, state.notified) if sink in refresh_sinks)


def retrain_payload(
    model: str,
    trigger: RetrainTrigger,
    reference: Mapping[str, Any],
    now: float,
    model_version: str | None = None,
) -> dict[str, Any]:
    """The alert facts plus ``reason``, the drifted signals and an idempotency key."""
    last = trigger.windows[-1] if trigger.windows else {}
    worst = max(trigger.signals, key=lambda s: s["score"] / s["critical_threshold"])
    return {
        "idempotency_key": f"{model}/retrain/{trigger.number}",
        "dedup_key": f"{model}/retrain",
        "status": "firing",
        "model": model,
        "model_version": model_version,
        "reason": trigger.reason,
        "message": f"retraining requested for {model}: {trigger.reason}",
        "signals": list(trigger.signals),
        "severity": "critical",
        "kind": worst["kind"],
        "feature": worst["signal"],
        "method": worst["method"],
        "score": worst["score"],
        "threshold": worst["threshold"],
        "p_value": worst["p_value"],
        "window": {k: last[k] for k in ("start_ts", "end_ts", "events") if k in last},
        "windows": [
            {k: w[k] for k in ("id", "start_ts", "end_ts", "events")} for w in trigger.windows
        ],
        "reference": dict(reference),
        "detected_at": now,
        "trigger": trigger.number,
    }


def _audit_entry(
    model: str,
    change: Transition,
    window: WindowFacts,
    now: float,
    evidence: Sequence[Any],
) -> dict[str, str]:
    return {
        "at": repr(now),
        "model": model,
        "key": change.dedup_key,
        "from": change.previous,
        "to": change.status,
        "episode": str(change.episode),
        "severity": change.severity or "",
        "window": str(window.id),
        "window_end_ts": repr(window.end_ts),
        "reason": change.reason,
        "evidence": dumps([e.to_dict() for e in evidence]),
    }
