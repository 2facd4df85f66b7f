"""Each sink renders the same facts in its receiver's documented format (pure rendering).

Field rules come from the receivers' documentation:
* Slack Block Kit: https://api.slack.com/reference/block-kit/blocks (header text plain_text
  <= 150 chars; section text <= 3000, at most 10 fields of <= 2000; context elements <= 10;
  secondary attachments carry ``color`` and ``blocks``).
* PagerDuty Events API v2: https://developer.pagerduty.com/docs/events-api-v2/trigger-events/
  (routing_key, event_action trigger|acknowledge|resolve, dedup_key <= 255; a trigger's payload
  needs summary <= 1024, source, severity critical|error|warning|info).
* Alertmanager API v2 (openapi): a list of postableAlert {labels (required, string map),
  annotations, startsAt, endsAt, generatorURL}.
"""

from __future__ import annotations

import random
import re
from datetime import datetime
from email.utils import formatdate
from typing import Any

import pytest

from monitor.alerts.backoff import backoff_seconds, next_delay, parse_retry_after
from monitor.alerts.facts import sample_facts
from monitor.alerts.plan import OutboxMessage
from monitor.alerts.signing import signature, signed_headers, verify
from monitor.alerts.sinks.alertmanager import render_alertmanager
from monitor.alerts.sinks.pagerduty import render_pagerduty
from monitor.alerts.sinks.retrain_http import airflow_body, github_body
from monitor.alerts.sinks.slack import render_slack

ROUTING_KEY = "R0123456789abcdef0123456789abcde"


def _facts(status: str = "firing", severity: str = "critical") -> dict[str, Any]:
    facts = sample_facts("team", 1_764_182_400.9)
    return facts | {
        "dedup_key": "fraud/feature_drift/amount",
        "status": status,
        "severity": severity,
        "model": "fraud",
        "feature": "amount",
        "score": 0.31,
        "threshold": 0.1,
        "message": "PSI of amount rose to 0.31 (threshold 0.1, critical 0.25): critical",
    }


def _message(facts: dict[str, Any], notified: tuple[str, ...] = ()) -> OutboxMessage:
    key = f"{facts['dedup_key']}/1/{facts['status']}"
    return OutboxMessage("sink", key, "alert", facts, notified)


def _check_slack_block(block: dict[str, Any]) -> None:
    kind = block["type"]
    assert kind in {"header", "section", "context", "divider"}
    if kind == "header":
        assert block["text"]["type"] == "plain_text"
        assert 0 < len(block["text"]["text"]) <= 150
    if kind == "section":
        assert "text" in block or "fields" in block
        if "text" in block:
            assert block["text"]["type"] in {"mrkdwn", "plain_text"}
            assert 0 < len(block["text"]["text"]) <= 3000
        for item in block.get("fields", []):
            assert item["type"] in {"mrkdwn", "plain_text"}
            assert 0 < len(item["text"]) <= 2000
        assert len(block.get("fields", [])) <= 10
    if kind == "context":
        assert 0 < len(block["elements"]) <= 10


def test_slack_body_follows_block_kit_and_colours_by_severity() -> None:
    body = render_slack(_message(_facts()))

    assert isinstance(body["text"], str)
    assert body["text"]
    for block in body["blocks"] + body["attachments"][0]["blocks"]:
        _check_slack_block(block)
    assert re.fullmatch(r"#[0-9A-F]{6}", body["attachments"][0]["color"])
    fields = " ".join(f["text"] for f in body["attachments"][0]["blocks"][0]["fields"])
    for fact in ("fraud", "amount", "0.31", "0.1", "critical", "Window"):
        assert fact in fields


def test_slack_colours_differ_for_critical_warning_and_resolved() -> None:
    cases = [("firing", "critical"), ("firing", "warning"), ("resolved", "warning")]

    colours = {
        render_slack(_message(_facts(status, severity)))["attachments"][0]["color"]
        for status, severity in cases
    }

    assert len(colours) == 3


def test_slack_header_is_cut_to_its_documented_length() -> None:
    body = render_slack(_message(_facts() | {"model": "m" * 400}))

    assert len(body["blocks"][0]["text"]["text"]) == 150


def test_pagerduty_trigger_has_the_documented_fields() -> None:
    body = render_pagerduty(_message(_facts()), ROUTING_KEY)

    assert body["routing_key"] == ROUTING_KEY
    assert body["event_action"] == "trigger"
    assert body["dedup_key"] == "fraud/feature_drift/amount"
    payload = body["payload"]
    assert 0 < len(payload["summary"]) <= 1024
    assert payload["source"] == "drift-monitor/fraud"
    assert payload["severity"] in {"critical", "error", "warning", "info"}
    datetime.fromisoformat(payload["timestamp"])
    assert payload["custom_details"]["score"] == 0.31


@pytest.mark.parametrize(("ours", "theirs"), [("critical", "critical"), ("warning", "warning")])
def test_pagerduty_severity_is_mapped(ours: str, theirs: str) -> None:
    assert (
        render_pagerduty(_message(_facts(severity=ours)), ROUTING_KEY)["payload"]["severity"]
        == theirs
    )


def test_pagerduty_resolve_uses_the_same_dedup_key_and_no_payload() -> None:
    body = render_pagerduty(_message(_facts("resolved")), ROUTING_KEY)

    assert body == {
        "routing_key": ROUTING_KEY,
        "event_action": "resolve",
        "dedup_key": "fraud/feature_drift/amount",
    }


def test_alertmanager_firing_alert_has_labels_annotations_and_a_future_end() -> None:
    (alert,) = render_alertmanager(_message(_facts()))

    assert alert["labels"]["alertname"] == "FeatureDrift"
    assert alert["labels"]["severity"] == "critical"
    assert alert["labels"]["model"] == "fraud"
    assert all(isinstance(v, str) for v in alert["labels"].values())
    assert alert["annotations"]["summary"].startswith("PSI of amount")
    starts = datetime.fromisoformat(alert["startsAt"])
    assert datetime.fromisoformat(alert["endsAt"]) > starts


def test_alertmanager_resolve_ends_every_severity_the_episode_announced() -> None:
    alerts = render_alertmanager(_message(_facts("resolved"), ("warning", "critical")))

    assert sorted(a["labels"]["severity"] for a in alerts) == ["critical", "warning"]
    assert all(a["endsAt"] == a["startsAt"] for a in alerts)


def test_airflow_run_id_is_derived_from_the_idempotency_key() -> None:
    message = OutboxMessage("af", "fraud/retrain/3", "retrain", {"model": "fraud"})

    body = airflow_body(message)

    assert body == {"dag_run_id": "drift-monitor__fraud__retrain__3", "conf": {"model": "fraud"}}


def test_github_dispatch_inputs_are_all_strings() -> None:
    message = OutboxMessage("gh", "fraud/retrain/3", "retrain", {"model": "fraud", "trigger": 3})

    body = github_body(message, "main")

    assert body["ref"] == "main"
    assert all(isinstance(v, str) for v in body["inputs"].values())
    assert body["inputs"]["idempotency_key"] == "fraud/retrain/3"


def test_backoff_doubles_up_to_its_cap_with_jitter_between_half_and_full() -> None:
    rng = random.Random(7)

    delays = [backoff_seconds(n, 1.0, 10.0, rng) for n in range(1, 7)]

    for n, delay in enumerate(delays, start=1):
        full = min(10.0, 2.0 ** (n - 1))
        assert full / 2 <= delay <= full


def test_retry_after_wins_over_a_shorter_backoff() -> None:
    assert next_delay(1, 0.1, 10.0, 3.0, random.Random(1)) == 3.0


@pytest.mark.parametrize(
    ("header", "seconds"), [("2", 2.0), (" 120 ", 120.0), ("-5", 0.0), ("soon", None), (None, None)]
)
def test_retry_after_seconds_are_parsed(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, 1000.0) == seconds


def test_retry_after_http_date_is_parsed_relative_to_now() -> None:
    now = 1_764_182_400.0

    assert parse_retry_after(formatdate(now + 30, usegmt=True), now) == pytest.approx(30.0)


def test_signature_verifies_and_rejects_a_changed_body_or_an_old_timestamp() -> None:
    secret, body = b"s3cret", b'{"a":1}'
    headers = signed_headers(secret, body, 1000.0)
    stamp, given = headers["X-Drift-Monitor-Timestamp"], headers["X-Drift-Monitor-Signature"]

    assert given == signature(secret, "1000", body)
    assert verify(secret, stamp, body, given, now=1010.0)
    assert not verify(secret, stamp, b'{"a":2}', given, now=1010.0)
    assert not verify(secret, stamp, body, given, now=2000.0)
