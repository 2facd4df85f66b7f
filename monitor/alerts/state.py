"""The alert state machine, one window at a time: inactive → pending → firing → resolved.

Pure: ``step`` takes the stored state of one alert and what it saw in one
window, and returns the new state with the transitions it made. Nothing here
knows about Redis; ``plan.py`` turns transitions into audit entries and outbox
messages, and the finalize script stores them atomically with the window.

The rules, per window with evidence (windows without evidence change nothing):

* breaching: the breach streak grows. When it reaches ``for_windows`` the
  alert fires and a new *episode* starts (numbered, so idempotency keys stay
  unique per episode forever). Until then it is pending. While firing, a first
  critical window escalates the episode once.
* clear (the drift test does not flag it: the same decision as firing):
  pending falls back to inactive; firing counts clear windows and resolves
  after ``resolve_windows`` in a row.

One episode is notified once: its firing, at most one escalation, its resolve
(and the daily refresh of ``plan.py``). After a resolve, the next breach starts
a new episode and is notified, however soon it comes: there is no cooldown. A
drift that dips for fewer than ``resolve_windows`` windows stays one episode.
Everything counts windows, so a replay of old data behaves exactly like the
live stream did.

With ``drift.checkpoints`` an open window is also looked at before it closes
(``interim``). An interim look that breaches counts its window as breaching at
once (so it may fire, a part of a window early) and marks it ``early_window``;
the close of that window then counts it no second time, and cannot un-count it.
An interim look that does not breach changes nothing: only the close says a
window is clear.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from monitor.alerts.rules import Observation
from monitor.config import FOR_WINDOWS_WITHOUT_BUDGET, AlertRuleConfig
from monitor.errors import StateError

Status = Literal["inactive", "pending", "firing", "resolved"]
Notify = Literal["firing", "resolved"]

STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class WindowFacts:
    """The closed window a step is about."""

    id: int
    start_ts: float
    end_ts: float
    events: int
    model_version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"start_ts": self.start_ts, "end_ts": self.end_ts, "events": self.events}


@dataclass(frozen=True, slots=True)
class AlertState:
    """Stored state of one alert (one dedup key), as plain JSON in Redis."""

    status: Status = "inactive"
    episode: int = 0
    breach_streak: int = 0
    clear_streak: int = 0
    severity: str | None = None  # highest severity notified in the current episode
    notified: tuple[str, ...] = ()  # severities notified in the current episode
    method: str | None = None  # the method the episode fired on
    since_ts: float | None = None  # event time the current breach streak or episode began
    fired_at: float | None = None  # wall clock of the firing notification
    refreshed_at: float | None = None  # wall clock of the last re-send while firing
    resolved_end_ts: float | None = None  # event time of the last resolve
    last_window: int | None = None
    early_window: int | None = None  # a window counted as breaching before it closed

    def to_json(self) -> str:
        data = {
            "kind": "alert_state",
            "v": STATE_VERSION,
            "status": self.status,
            "episode": self.episode,
            "breach_streak": self.breach_streak,
            "clear_streak": self.clear_streak,
            "severity": self.severity,
            "notified": list(self.notified),
            "method": self.method,
            "since_ts": self.since_ts,
            "fired_at": self.fired_at,
            "refreshed_at": self.refreshed_at,
            "resolved_end_ts": self.resolved_end_ts,
            "last_window": self.last_window,
            "early_window": self.early_window,
        }
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: bytes | str) -> AlertState:
        try:
            data = json.loads(raw)
            if data.get("kind") != "alert_state" or data.get("v") != STATE_VERSION:
                raise ValueError(f"not an alert state of version {STATE_VERSION}")
            return cls(
                status=data["status"],
                episode=int(data["episode"]),
                breach_streak=int(data["breach_streak"]),
                clear_streak=int(data["clear_streak"]),
                severity=data["severity"],
                notified=tuple(data["notified"]),
                method=data["method"],
                since_ts=data["since_ts"],
                fired_at=data["fired_at"],
                refreshed_at=data.get("refreshed_at"),  # absent from states stored before it
                resolved_end_ts=data["resolved_end_ts"],
                last_window=data["last_window"],
                early_window=data.get("early_window"),  # absent from states stored before it
            )
        except (ValueError, KeyError, TypeError) as error:
            raise StateError(f"an alert state in Redis is unreadable ({error}): {raw!r}") from error


@dataclass(frozen=True, slots=True)
class Transition:
    """A change of one alert's status (or an escalation), with why it happened."""

    dedup_key: str
    previous: Status
    status: Status
    episode: int
    severity: str | None
    reason: str
    notify: Notify | None = None
    notified_before: tuple[str, ...] = field(default=())


def step(
    state: AlertState,
    seen: Observation,
    window: WindowFacts,
    now: float,
    *,
    interim: bool = False,
) -> tuple[AlertState, list[Transition]]:
    """Advance one alert by one window (``interim``: by a look at it before it closed)."""
    rule = seen.rule
    counted_early = state.early_window == window.id
    if interim:
        if not seen.breaching or counted_early or state.status == "firing":
            return state, []
        return _breaching(replace(state, early_window=window.id), seen, rule, window, now)
    if not counted_early and state.status in ("inactive", "resolved") and not seen.breaching:
        # Most alerts of a window, in one copy: a segmented window has hundreds of them.
        return replace(state, last_window=window.id, breach_streak=0, since_ts=None), []
    after = replace(state, last_window=window.id)
    if counted_early:
        if not seen.breaching:
            return after, []  # counted as breaching already; a close cannot undo a look
        after = replace(after, breach_streak=max(after.breach_streak - 1, 0))
    if seen.breaching:
        return _breaching(after, seen, rule, window, now)
    if state.status == "firing":
        clear = state.clear_streak + 1
        if clear < rule.resolve_windows:
            return replace(after, breach_streak=0, clear_streak=clear), []
        resolved = replace(
            after,
            status="resolved",
            breach_streak=0,
            clear_streak=0,
            resolved_end_ts=window.end_ts,
            since_ts=None,
        )
        reason = f"not drifted for {clear} window(s) in a row"
        return resolved, [_transition(seen, state, resolved, reason, "resolved")]
    if state.status == "pending":
        inactive = replace(after, status="inactive", breach_streak=0, since_ts=None)
        return inactive, [_transition(seen, state, inactive, "breach streak broken")]
    return replace(after, breach_streak=0, since_ts=None), []


def _breaching(
    state: AlertState, seen: Observation, rule: AlertRuleConfig, window: WindowFacts, now: float
) -> tuple[AlertState, list[Transition]]:
    streak = state.breach_streak + 1
    severity = seen.severity
    if state.status == "firing":
        firing = replace(state, breach_streak=streak, clear_streak=0)
        if severity == "critical" and "critical" not in state.notified:
            escalated = replace(firing, severity="critical", notified=(*state.notified, "critical"))
            return escalated, [
                _transition(seen, state, escalated, "escalated to critical", "firing")
            ]
        return firing, []
    since = state.since_ts if state.breach_streak > 0 and state.since_ts is not None else None
    since = window.start_ts if since is None else since
    needed = FOR_WINDOWS_WITHOUT_BUDGET if rule.for_windows is None else rule.for_windows
    if streak >= needed:
        firing = replace(
            state,
            status="firing",
            episode=state.episode + 1,
            breach_streak=streak,
            clear_streak=0,
            severity=severity,
            notified=(severity,),
            method=seen.worst.method,
            since_ts=since,
            fired_at=now,
            refreshed_at=None,
        )
        reason = f"breached {streak} window(s) in a row (for: {needed})"
        return firing, [_transition(seen, state, firing, reason, "firing")]
    pending = replace(state, status="pending", breach_streak=streak, since_ts=since)
    reason = f"breached {streak} of {needed} window(s)"
    if state.status == "pending":
        return pending, []
    return pending, [_transition(seen, state, pending, reason)]


def _transition(
    seen: Observation,
    before: AlertState,
    after: AlertState,
    reason: str,
    notify: Notify | None = None,
) -> Transition:
    return Transition(
        dedup_key=seen.dedup_key,
        previous=before.status,
        status=after.status,
        episode=after.episode,
        severity=after.severity if notify else seen.severity,
        reason=reason,
        notify=notify,
        notified_before=before.notified if before.status == "firing" else (),
    )
