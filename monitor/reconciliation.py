"""Estimated performance beside realized: estimates kept per window until its labels come.

When a window is recorded, its estimated metrics are written here (one hash
field per window, bounded like the history); writing them again after a crash
writes the same values, so, like the report's counts, this needs no Lua. When
the label path judges a window that has ``labels.min_labels`` labels, its
realized metrics are put beside the estimates (:func:`reconcile`), kept, and
the estimator is judged stale when its last ``estimation.stale_windows``
reconciled windows all missed (``detectors.estimated_performance``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from detectors.estimated_performance import Reconciliation, reconcile, stale
from detectors.estimation import BinaryEstimator
from detectors.evaluate import SignalResult
from detectors.quality import QualityCounts, quality_metrics
from monitor.config import Config, ModelConfig
from monitor.keys import Keys
from monitor.redis_client import redis_errors
from monitor.versions import model_of

SHOWN_RECONCILED = 20
"""Reconciled windows ``status --json`` lists, newest first."""


@dataclass(frozen=True, slots=True)
class EstimatorHealth:
    """How a model's estimates compared with what its labels said, so far."""

    reconciled: tuple[Reconciliation, ...]
    """The kept reconciled windows' metrics, in window order."""
    stale: bool

    @property
    def latest(self) -> dict[str, Reconciliation]:
        """Each metric's newest reconciliation."""
        return {r.metric: r for r in self.reconciled}

    def to_dict(self) -> dict[str, Any]:
        newest = sorted({r.window for r in self.reconciled}, reverse=True)[:SHOWN_RECONCILED]
        shown = set(newest)
        return {
            "stale": self.stale,
            "reconciled": [r.to_dict() for r in reversed(self.reconciled) if r.window in shown],
        }


class EstimateRecords:
    """Per-window estimates and reconciliations of every model, in Redis."""

    def __init__(self, client: redis.Redis, keys: Keys, *, keep: int) -> None:
        self._client = client
        self._keys = keys
        self._keep = keep

    def record(self, model: str, window_id: int, results: Sequence[SignalResult]) -> None:
        """Keep a window's estimates (idempotent: the same window, the same values)."""
        estimated = {r.signal: r.estimate.to_dict() for r in results if r.estimate is not None}
        if estimated:
            self._put(
                self._keys.estimates(model),
                self._keys.estimate_ids(model),
                {window_id: json.dumps(estimated)},
            )

    def kept(self, model: str, window_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """The kept estimates of these windows, metric → ``Estimate.to_dict()`` (windows
        without any are left out)."""
        if not window_ids:
            return {}
        with redis_errors():
            raw = self._client.hmget(self._keys.estimates(model), [str(w) for w in window_ids])
        return {
            window: json.loads(value)
            for window, value in zip(window_ids, raw, strict=True)
            if value is not None
        }

    def kept_windows(self, model: str, newest: int) -> dict[int, dict[str, Any]]:
        """The ``newest`` windows' kept estimates, oldest first."""
        with redis_errors():
            ids: list[Any] = self._client.zrange(self._keys.estimate_ids(model), -newest, -1)
        return self.kept(model, [int(i) for i in ids])

    def reconcile(
        self,
        model: ModelConfig,
        estimator: BinaryEstimator,
        labelled: Mapping[int, QualityCounts],
    ) -> EstimatorHealth:
        """Reconcile the windows whose labels are in (``labelled``: their quality counters,
        each with at least ``labels.min_labels`` pairs) and judge the estimator."""
        assert model.task is not None
        fresh: dict[int, str] = {}
        for window, kept in self.kept(model.name, sorted(labelled)).items():
            counts = labelled[window]
            realized = quality_metrics(model.task, counts)
            estimated = {metric: float(e["value"]) for metric, e in kept.items()}
            rows = reconcile(window, estimator, estimated, realized, counts.pairs)
            if rows:
                fresh[window] = json.dumps([r.to_dict() for r in rows])
        if fresh:
            self._put(
                self._keys.reconciled(model.name), self._keys.reconciled_ids(model.name), fresh
            )
        return self.health(model)

    def health(self, model: ModelConfig) -> EstimatorHealth:
        with redis_errors():
            raw = self._client.hgetall(self._keys.reconciled(model.name))
        rows = sorted(
            (Reconciliation.from_dict(row) for value in raw.values() for row in json.loads(value)),
            key=lambda r: (r.window, r.metric),
        )
        windows = model.estimation.stale_windows if model.estimation is not None else 1
        return EstimatorHealth(tuple(rows), stale(rows, windows))

    def _put(self, key: str, ids: str, fields: Mapping[int, str]) -> None:
        with redis_errors():
            pipe = self._client.pipeline(transaction=True)
            pipe.hset(key, mapping={str(w): v for w, v in fields.items()})
            pipe.zadd(ids, {str(w): w for w in fields})
            pipe.zrange(ids, 0, -(self._keep + 1))
            old = pipe.execute()[-1]
            if old:
                pipe.hdel(key, *old)
                pipe.zrem(ids, *old)
                pipe.execute()


def estimation_status(
    client: redis.Redis, config: Config, model: str, status: Mapping[str, Any]
) -> dict[str, Any] | None:
    """What ``status --json`` shows under ``estimation``: the latest window's estimates
    (from its results in ``status``), the reconciled windows, newest first, and staleness;
    None for a model that estimates nothing."""
    model_config = config.models[model_of(model)]  # a version's stream: its model's
    if not model_config.estimates:
        return None
    records = EstimateRecords(client, Keys(config.redis.key_prefix), keep=config.redis.history_size)
    latest = {
        result["signal"]: {
            **result["estimate"],
            "window": result["window"]["id"],
            "drifted": result["drifted"],
            "severity": result["severity"],
        }
        for result in status["signals"].values()
        if result.get("role") == "estimated_performance" and "estimate" in result
    }
    return {"estimates": latest, **records.health(model_config).to_dict()}
