"""Slack incoming webhook: Block Kit with the severity colour on an attachment.

Blocks cannot carry a colour; Slack's documented way is a secondary attachment
with ``color`` holding its own ``blocks``. Limits respected (Slack rejects
longer): header text 150 characters, section text 3000, fields 10 of 2000 each.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from monitor.alerts.plan import OutboxMessage

COLOURS = {"critical": "#E01E5A", "warning": "#ECB22E", "resolved": "#2EB67D"}


def _time(ts: Any) -> str:
    if not isinstance(ts, int | float):
        return "?"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _score(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) else "n/a"


def _field(label: str, value: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": f"*{label}*\n{value}"[:2000]}


def render_slack(message: OutboxMessage) -> dict[str, Any]:
    facts: Mapping[str, Any] = message.facts
    if message.kind == "retrain":
        title = f"Retraining requested: {facts['model']}"
        status, severity = "firing", "critical"
    else:
        status, severity = facts["status"], facts["severity"]
        state = "RESOLVED" if status == "resolved" else severity.upper()
        title = f"[{state}] {facts['model']}: {str(facts['kind']).replace('_', ' ')}"
    colour = COLOURS["resolved" if status == "resolved" else severity]
    window = facts.get("window", {})
    fields = [
        _field("Model", f"{facts['model']} (version {facts.get('model_version') or 'n/a'})"),
        _field("Signal", f"{facts.get('feature')} ({facts.get('method')})"),
        _field(
            "Score",
            f"{_score(facts.get('score'))} vs threshold {_score(facts.get('threshold'))}"
            + (f" (no drift ~{_score(facts['no_drift'])})" if "no_drift" in facts else ""),
        ),
        _field("Severity", "resolved" if status == "resolved" else severity),
        _field(
            "Window",
            f"{_time(window.get('start_ts'))} to {_time(window.get('end_ts'))}, "
            f"{window.get('events', '?')} events",
        ),
        _field("Reference", str(facts.get("reference", {}).get("id", "n/a"))),
    ]
    text = str(facts.get("message") or facts.get("reason") or title)
    return {
        "text": f"{title}: {text}"[:3000],  # the notification fallback
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}},
        ],
        "attachments": [
            {
                "color": colour,
                "blocks": [
                    {"type": "section", "fields": fields[:10]},
                    {
                        "type": "context",
                        "elements": [
                            {
                                "type": "mrkdwn",
                                "text": f"dedup key `{facts.get('dedup_key', message.key)}`"
                                f" · key `{message.key}`",
                            }
                        ],
                    },
                ],
            }
        ],
    }


def slack_render(message: OutboxMessage) -> tuple[bytes, dict[str, str]]:
    return json.dumps(render_slack(message)).encode(), {}
