"""Reading alert state and the audit trail back from Redis (for planning and the CLI).

Writes happen only in ``finalize_window.lua`` (states, audit, outbox, atomically
with the window) and in ``outbox.py`` (delivery bookkeeping).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import redis

from monitor.alerts.plan import VERSION_FIELD, StoredAlerts
from monitor.alerts.retrain import RETRAIN_FIELD, RetrainState
from monitor.alerts.state import AlertState
from monitor.keys import Keys
from monitor.redis_client import redis_errors


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One transition as stored in the audit stream."""

    id: str
    fields: dict[str, str]

    @property
    def evidence(self) -> list[dict[str, Any]]:
        value: list[dict[str, Any]] = json.loads(self.fields.get("evidence", "[]"))
        return value


class AlertRecords:
    """Read access to a model's alert states and the shared audit stream."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._client = client
        self._keys = keys

    def read(self, model: str) -> StoredAlerts:
        with redis_errors():
            raw = self._client.hgetall(self._keys.alert_states(model))
        fields = {_text(k): v for k, v in raw.items()}
        version = fields.pop(VERSION_FIELD, b"")
        retrain = fields.pop(RETRAIN_FIELD, None)
        # Most of a model's alerts hold the same text (inactive since the same window):
        # each text is parsed once, and its state (immutable) shared.
        parsed: dict[bytes | str, AlertState] = {}
        states = {}
        for key, value in fields.items():
            if (state := parsed.get(value)) is None:
                state = parsed[value] = AlertState.from_json(value)
            states[key] = state
        return StoredAlerts(
            version=_text(version),
            states=states,
            retrain=RetrainState() if retrain is None else RetrainState.from_json(retrain),
        )

    def audit(self, count: int = 50) -> list[AuditEntry]:
        """The newest ``count`` transitions, newest first."""
        with redis_errors():
            entries: Any = self._client.xrevrange(self._keys.alert_audit, count=count)
        return [
            AuditEntry(_text(entry_id), {_text(k): _text(v) for k, v in fields.items()})
            for entry_id, fields in entries
        ]


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return str(value)
