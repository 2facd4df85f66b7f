"""Alertmanager API v2: ``POST /api/v2/alerts`` so its routing, grouping and silences apply.

Labels identify the alert (Alertmanager fingerprints them), so they hold only
stable facts: alertname, model, kind, signal, severity, dedup_key. A firing
alert carries ``endsAt`` = ``startsAt`` + ``FIRING_HOLD_SECONDS`` because
Alertmanager resolves alerts that are not re-sent, and the alert plan re-sends
it daily while the episode lasts (``monitor.alerts.plan.FIRING_REFRESH_SECONDS``;
Alertmanager keeps the earliest ``startsAt``); the resolve message sets
``endsAt`` to the resolve time. An escalation ends the warning alert and starts
the critical one; a resolve ends every severity the episode announced.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from monitor.alerts.plan import OutboxMessage

FIRING_HOLD_SECONDS = 7 * 86400.0
TEST_HOLD_SECONDS = 300.0  # a test notification leaves Alertmanager on its own
ALERTNAMES = {
    "feature_drift": "FeatureDrift",
    "prediction_drift": "PredictionDrift",
    "data_quality": "DataQuality",
    "performance": "ModelPerformance",
    "multivariate_drift": "MultivariateDrift",
    "estimated_performance": "ModelPerformanceEstimated",
}


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def render_alertmanager(message: OutboxMessage) -> list[dict[str, Any]]:
    facts = message.facts
    detected = float(facts["detected_at"])
    base_labels = {
        "alertname": ALERTNAMES.get(str(facts.get("kind")), "ModelDrift"),
        "model": str(facts["model"]),
        "kind": str(facts.get("kind", "")),
        "signal": str(facts.get("feature") or ""),
        "dedup_key": str(facts.get("dedup_key", message.key)),
        "source": "drift-monitor",
    }
    if message.kind == "retrain":
        base_labels["alertname"] = "RetrainingRequested"
    annotations = {
        "summary": str(facts.get("message") or facts.get("reason") or ""),
        "description": json.dumps(facts, sort_keys=True)[:4000],
        "score": str(facts.get("score")),
        "threshold": str(facts.get("threshold")),
        "method": str(facts.get("method")),
    }
    if "no_drift" in facts:
        annotations["no_drift"] = str(facts["no_drift"])
    if message.kind != "retrain" and "signal" in base_labels and facts.get("signals"):
        annotations["signals"] = ", ".join(s["signal"] for s in facts["signals"])
    severity = str(facts.get("severity", "warning"))

    def alert(level: str, ends: float) -> dict[str, Any]:
        return {
            "labels": {**base_labels, "severity": level},
            "annotations": annotations,
            "startsAt": _rfc3339(detected),
            "endsAt": _rfc3339(ends),
            "generatorURL": "",
        }

    if facts.get("status") == "resolved":
        levels = message.notified_before or (severity,)
        return [alert(level, detected) for level in dict.fromkeys(levels)]
    hold = TEST_HOLD_SECONDS if message.kind == "test" else FIRING_HOLD_SECONDS
    alerts = [alert(severity, detected + hold)]
    alerts += [alert(level, detected) for level in message.notified_before if level != severity]
    return alerts


def alertmanager_render(message: OutboxMessage) -> tuple[bytes, dict[str, str]]:
    return json.dumps(render_alertmanager(message)).encode(), {}


def alerts_endpoint(url: str) -> str:
    """The configured URL may be Alertmanager's base URL or the alerts endpoint itself."""
    trimmed = url.rstrip("/")
    return trimmed if trimmed.endswith("/api/v2/alerts") else f"{trimmed}/api/v2/alerts"
