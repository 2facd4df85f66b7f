"""PagerDuty Events API v2: trigger on firing, resolve on resolved, one stable dedup_key.

The dedup_key is the alert's own (``model/kind/signal``), so PagerDuty folds a
repeated trigger into the open incident and a resolve closes it. Severity maps
warning → warning and critical → critical (PagerDuty also knows error and info).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from monitor.alerts.plan import OutboxMessage

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
SEVERITY = {"critical": "critical", "warning": "warning"}


def render_pagerduty(message: OutboxMessage, routing_key: str) -> dict[str, Any]:
    facts = message.facts
    dedup_key = str(facts.get("dedup_key", message.key))[:255]
    if facts.get("status") == "resolved":
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup_key}
    detected = facts.get("detected_at")
    summary = str(facts.get("message") or facts.get("reason") or dedup_key)
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {
            "summary": f"{facts['model']}: {summary}"[:1024],
            "source": f"drift-monitor/{facts['model']}",
            "severity": SEVERITY.get(str(facts.get("severity")), "warning"),
            "timestamp": datetime.fromtimestamp(float(detected), UTC).isoformat()
            if isinstance(detected, int | float)
            else None,
            "component": str(facts.get("feature") or facts["model"]),
            "group": str(facts["model"]),
            "class": str(facts.get("kind", "retrain")),
            "custom_details": dict(facts),
        },
        "client": "drift-monitor",
    }


def pagerduty_renderer(routing_key: str) -> Any:
    def render(message: OutboxMessage) -> tuple[bytes, dict[str, str]]:
        body = render_pagerduty(message, routing_key)
        if "payload" in body and body["payload"]["timestamp"] is None:
            del body["payload"]["timestamp"]
        return json.dumps(body).encode(), {}

    return render
