"""The facts of an alert or a retraining trigger, as the README's "Sinks" describes them.

These dicts are what the outbox stores and what the generic webhook posts
verbatim; every other sink renders the same facts in its own format.
"""

from __future__ import annotations

import json
import math
from typing import Any

from monitor.alerts.rules import Evidence, Observation
from monitor.alerts.state import AlertState, Notify, WindowFacts

METHOD_NAMES = {
    "psi": "PSI",
    "jensen_shannon": "Jensen-Shannon distance",
    "wasserstein": "Wasserstein distance",
    "ks": "KS statistic",
    "chi2": "Cramér's V",
    "missing_rate": "missing-rate rise",
    "unseen_rate": "unseen-value rate",
    "correlation": "correlation change",
    "mahalanobis": "Mahalanobis distance",
    "dominant_value": "share of one value",
}


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity; a score that is not finite is reported as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """Compact, strict JSON of facts (non-finite numbers become null)."""
    return json.dumps(_finite(value), separators=(",", ":"), allow_nan=False)


def _estimate_message(status: Notify, severity: str, shown: Evidence) -> str:
    """An estimated metric's message: it says it is an estimate, with its band."""
    estimate = shown.estimate
    assert estimate is not None
    what = f"estimated {shown.signal} (an estimate from predictions alone, not from labels)"
    reference = f"reference {estimate.baseline:.4g}"
    if status == "resolved":
        return (
            f"{what} is back at {estimate.value:.4g} ({reference}); estimated performance resolved"
        )
    return (
        f"{what} fell to {estimate.value:.4g}, band {estimate.lower:.4g} to {estimate.upper:.4g} "
        f"({reference}): {shown.score:.4g} below (minimum effect {shown.warn:g}, critical "
        f"{shown.critical:g}): {severity}"
    )


def _message(status: Notify, severity: str, seen: Observation, shown: Evidence) -> str:
    if shown.estimate is not None:
        return _estimate_message(status, severity, shown)
    what = METHOD_NAMES.get(shown.method, shown.method)
    subject = shown.signal if shown.segment is None else f"{shown.signal} in {shown.segment}"
    if seen.signal is None:
        drifted = sorted({e.signal for e in seen.evidence if e.breaching})
        subject = f"{subject} (drifted: {', '.join(drifted) or 'none'})"
    if seen.segments and seen.segments != [shown.segment]:
        subject = f"{subject} (segments drifted: {', '.join(seen.segments)})"
    level = "" if shown.no_drift is None else f"no drift ~{shown.no_drift:.2g}, "
    if status == "resolved":
        return (
            f"{what} of {subject} is back at {shown.score:.4g} "
            f"({level}threshold {shown.warn:g}); {seen.kind.replace('_', ' ')} resolved"
        )
    named = ", ".join(c.describe() for c in shown.attribution)
    value = ""
    if shown.values:
        top = shown.values[0]
        value = f"; {top.value!r} is {top.share:.1%} of the window"
    return (
        f"{what} of {subject} rose to {shown.score:.4g} "
        f"({level}threshold {shown.warn:g}, critical {shown.critical:g}){value}: {severity}"
        + (f"; moved most: {named}" if named else "")
    )


def alert_facts(
    *,
    model: str,
    seen: Observation,
    state: AlertState,
    status: Notify,
    window: WindowFacts,
    reference: dict[str, Any],
    detected_at: float,
) -> dict[str, Any]:
    """The alert body for one notification (docs/formats.md, "Alerts")."""
    shown = seen.of_method(state.method) if status == "resolved" else seen.worst
    severity = state.severity or seen.severity
    facts: dict[str, Any] = {
        "dedup_key": seen.dedup_key,
        "status": status,
        "severity": severity,
        "model": model,
        "model_version": window.model_version,
        "kind": seen.kind,
        "feature": shown.signal,
        "method": shown.method,
        "score": shown.score,
        "threshold": shown.warn,
        "p_value": shown.p_value,
        "window": window.to_dict(),
        "reference": dict(reference),
        "detected_at": detected_at,
        "message": _message(status, severity, seen, shown),
    }
    if shown.no_drift is not None:  # a distribution score: what it reads without drift
        facts["no_drift"] = shown.no_drift
    if shown.attribution:  # a joint drift: the pairs or features that moved most
        facts["attribution"] = [c.to_dict() for c in shown.attribution]
    if shown.values:  # a categorical value taking over: which one
        facts["values"] = [v.to_dict() for v in shown.values]
    if shown.estimate is not None:  # estimated performance: the estimate and its band
        facts["estimate"] = shown.estimate.to_dict()
    if seen.signal is None:  # grouped per model: the drifted signals are the point
        facts["signals"] = [e.to_dict() for e in seen.evidence if e.breaching]
    if shown.segment is not None:
        facts["segment"] = shown.segment
    if any(e.segment is not None for e in seen.evidence):  # which segments, not a page each
        facts["segments"] = seen.segments
    return facts


def idempotency_key(dedup_key: str, episode: int, status: Notify, severity: str) -> str:
    """Stable across retries, restarts and instances; unique per notification."""
    if status == "resolved":
        return f"{dedup_key}/{episode}/resolved"
    return f"{dedup_key}/{episode}/firing/{severity}"


def refresh_key(dedup_key: str, episode: int, window_id: int) -> str:
    """Idempotency key of a firing alert's re-send: one per episode and recording window."""
    return f"{dedup_key}/{episode}/refresh/{window_id}"


def sample_facts(sink: str, now: float) -> dict[str, Any]:
    """A harmless notification for ``drift-monitor test-sink``."""
    return {
        "dedup_key": f"drift-monitor/test/{sink}",
        "status": "firing",
        "severity": "warning",
        "model": "drift-monitor-test",
        "model_version": None,
        "kind": "feature_drift",
        "feature": "test_signal",
        "method": "psi",
        "score": 0.0,
        "threshold": 0.1,
        "p_value": None,
        "window": {"start_ts": now - 60.0, "end_ts": now, "events": 0},
        "reference": {"id": "test", "events": 0},
        "detected_at": now,
        "message": f"drift-monitor test notification for sink {sink!r}; no action needed",
    }
