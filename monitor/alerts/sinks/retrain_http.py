"""Retraining requests to orchestrators: Airflow's REST API and GitHub Actions.

* Airflow 2 stable REST API, ``POST /api/v1/dags/{dag_id}/dagRuns``: the
  trigger becomes the run's ``conf``, and its idempotency key the
  ``dag_run_id``, so a repeated request is refused by Airflow with 409, which
  counts as delivered: a DAG run per trigger, never two.
* GitHub Actions ``POST /repos/{owner}/{repo}/actions/workflows/{file}/dispatches``
  (workflow_dispatch, answered 204): inputs are strings, so the evidence travels
  as one JSON string input beside the idempotency key; the workflow can use the
  key as its ``concurrency`` group.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from monitor.alerts.facts import dumps
from monitor.alerts.plan import OutboxMessage


def airflow_body(message: OutboxMessage) -> dict[str, Any]:
    # dag_run_id allows letters, digits and ._~:+- ; keys contain '/', so they are mapped.
    run_id = "drift-monitor__" + re.sub(r"[^A-Za-z0-9._~:+-]", "__", message.key)
    return {"dag_run_id": run_id, "conf": json.loads(dumps(message.facts))}


def airflow_auth(secret: str | None) -> dict[str, str]:
    """``user:password`` (basic_auth backend) or a bearer token."""
    if not secret:
        return {}
    if ":" in secret:
        return {"Authorization": "Basic " + base64.b64encode(secret.encode()).decode()}
    return {"Authorization": f"Bearer {secret}"}


def github_body(message: OutboxMessage, ref: str) -> dict[str, Any]:
    facts = message.facts
    return {
        "ref": ref,
        "inputs": {
            "idempotency_key": message.key,
            "model": str(facts.get("model", "")),
            "reason": str(facts.get("reason", facts.get("message", "")))[:1000],
            "payload": dumps(facts),
        },
    }


def github_headers(token: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }
