"""Retraining triggers: a per-model policy over windows, pure like the alert state machine.

A window *counts* when at least ``min_critical_signals`` distinct signals of the
policy's kinds are critical in it (by the drift test's own levels). A trigger
fires when ``for_windows`` counting windows follow each other and at least
``min_interval_seconds`` of event time passed since the model's last trigger;
the streak then starts over, so persistent drift asks again only after both
another streak and the interval: never a storm.

A window's performance verdict (kind ``performance``) is judged when its labels
have come, before or after the window itself was evaluated: it is *late*. A late
verdict never breaks a streak (whether the window counts was decided when it
closed); a critical one adds its evidence to the window's entry in the streak or,
if the window is not in it, counts the window. Each window counts at most once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from detectors.evaluate import SignalResult
from monitor.alerts.rules import kind_of
from monitor.alerts.state import WindowFacts
from monitor.config import RetrainConfig
from monitor.errors import StateError

RETRAIN_FIELD = "_retrain"
_MAX_WINDOWS_KEPT = 50


@dataclass(frozen=True, slots=True)
class RetrainState:
    """Stored per model beside its alert states."""

    streak: int = 0
    triggers: int = 0
    last_trigger_end_ts: float | None = None
    windows: tuple[dict[str, Any], ...] = ()  # the current streak's windows, evidence included

    def to_json(self) -> str:
        return json.dumps(
            {
                "kind": "retrain_state",
                "v": 1,
                "streak": self.streak,
                "triggers": self.triggers,
                "last_trigger_end_ts": self.last_trigger_end_ts,
                "windows": list(self.windows),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> RetrainState:
        try:
            data = json.loads(raw)
            if data.get("kind") != "retrain_state" or data.get("v") != 1:
                raise ValueError("not a retrain state of version 1")
            return cls(
                streak=int(data["streak"]),
                triggers=int(data["triggers"]),
                last_trigger_end_ts=data["last_trigger_end_ts"],
                windows=tuple(data["windows"]),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise StateError(f"the retrain state in Redis is unreadable ({error})") from error


@dataclass(frozen=True, slots=True)
class RetrainTrigger:
    """A decision to ask for retraining; ``number`` makes its idempotency key."""

    number: int
    reason: str
    signals: tuple[dict[str, Any], ...]
    windows: tuple[dict[str, Any], ...]


def critical_signals(
    policy: RetrainConfig, results: Sequence[SignalResult]
) -> list[dict[str, Any]]:
    """The worst critical result of each signal whose kind the policy watches."""
    worst: dict[str, SignalResult] = {}
    for r in results:
        if r.severity != "critical" or kind_of(r) not in policy.kinds:
            continue
        best = worst.get(r.signal)
        if best is None or r.score / r.critical > best.score / best.critical:
            worst[r.signal] = r
    return [
        {
            "signal": r.signal,
            "kind": kind_of(r),
            "method": r.method,
            "score": r.score,
            "threshold": r.warn,
            "critical_threshold": r.critical,
            "p_value": r.p_value,
            "severity": r.severity,
        }
        for r in (worst[name] for name in sorted(worst))
    ]


def step_retrain(
    policy: RetrainConfig,
    state: RetrainState,
    results: Sequence[SignalResult],
    window: WindowFacts,
    *,
    late: bool = False,
) -> tuple[RetrainState, RetrainTrigger | None]:
    """One window's results through the policy; ``late`` for a performance verdict."""
    judged = [r for r in results if r.severity != "insufficient"]
    if not judged:
        return state, None
    signals = critical_signals(policy, judged)
    counted = [i for i, entry in enumerate(state.windows) if entry["id"] == window.id]
    if counted:
        return _with_evidence(state, counted[0], signals), None
    if len(signals) < policy.min_critical_signals:
        return (state if late else replace(state, streak=0, windows=())), None
    entry = {"id": window.id, **window.to_dict(), "signals": signals}
    windows = (*state.windows, entry)[-min(policy.for_windows, _MAX_WINDOWS_KEPT) :]
    counting = replace(state, streak=state.streak + 1, windows=windows)
    if counting.streak < policy.for_windows:
        return counting, None
    last = state.last_trigger_end_ts
    if last is not None and window.end_ts - last < policy.min_interval_seconds:
        return counting, None
    number = state.triggers + 1
    names = ", ".join(s["signal"] for s in signals)
    reason = (
        f"critical drift on {len(signals)} signal(s) ({names}) "
        f"for {counting.streak} window(s) in a row"
    )
    fired = RetrainState(streak=0, triggers=number, last_trigger_end_ts=window.end_ts)
    return fired, RetrainTrigger(number, reason, tuple(signals), windows)


def _with_evidence(state: RetrainState, index: int, signals: list[dict[str, Any]]) -> RetrainState:
    """The streak with more critical signals in one of its windows (one entry per signal)."""
    entry = state.windows[index]
    merged = {s["signal"]: s for s in entry["signals"]} | {s["signal"]: s for s in signals}
    updated = {**entry, "signals": [merged[name] for name in sorted(merged)]}
    windows = (*state.windows[:index], updated, *state.windows[index + 1 :])
    return replace(state, windows=windows)
