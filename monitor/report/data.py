"""What the report shows of one model, read from Redis and recomputed from kept counts.

Each kept window carries its results as recorded (:mod:`monitor.report.history`);
a copy kept without them has them recomputed from its counts with the model's
current decision settings (the same pure function the evaluator ran). Which
windows drifted is taken from the history list, as recorded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from detectors.evaluate import SignalResult, evaluate_window
from detectors.profile import ReferenceProfile
from detectors.quality import EMPTY, QualityCounts, judge_quality
from detectors.window import WindowLayout
from monitor.alerts.records import AlertRecords
from monitor.config import Config, ModelConfig
from monitor.evaluation import decision_settings
from monitor.reconciliation import EstimateRecords, EstimatorHealth
from monitor.redis_client import redis_errors
from monitor.report import history
from monitor.report.history import PastWindow
from monitor.store import StateStore


@dataclass(frozen=True, slots=True)
class Point:
    """One signal's verdict in one window, as the timeline draws it."""

    window_id: int
    score: float
    warn: float
    critical: float
    drifted: bool


@dataclass(slots=True)
class Series:
    """A signal's timeline: the method drawn (the one furthest past its warn threshold)."""

    signal: str
    role: str
    method: str
    points: list[Point] = field(default_factory=list)
    methods: dict[str, SignalResult] = field(default_factory=dict)  # newest window's results

    @property
    def drifted_windows(self) -> list[int]:
        return [p.window_id for p in self.points if p.drifted]


@dataclass(frozen=True, slots=True)
class Episode:
    """An alert episode: from the window it fired in to the one it resolved in (or open)."""

    key: str
    signal: str
    episode: str
    severity: str
    first_window: int
    last_window: int | None


@dataclass(slots=True)
class ModelData:
    name: str
    config: ModelConfig
    reference: ReferenceProfile | None
    status: dict[str, Any]
    windows: list[PastWindow]
    series: list[Series]
    results: dict[int, tuple[SignalResult, ...]]
    drifted_by_window: dict[int, list[str]]
    episodes: list[Episode]
    open_alerts: list[dict[str, Any]]
    versions: list[str]
    layout: WindowLayout | None
    dead_letters: Mapping[str, int]
    """Messages dead-lettered so far by reason, all models (they may name none)."""
    estimates: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    """Window id → metric → its estimate (``Estimate.to_dict()``), oldest first."""
    estimator: EstimatorHealth | None = None
    """Estimates reconciled with the labels so far; None when the model estimates nothing."""

    @property
    def window_ids(self) -> list[int]:
        return [w.window_id for w in self.windows]

    def window(self, window_id: int) -> PastWindow:
        return next(w for w in self.windows if w.window_id == window_id)


def gather(
    config: Config,
    store: StateStore,
    model: str,
    *,
    windows: int = 200,
) -> ModelData:
    """Everything the report draws for one model, from Redis."""
    model_config = config.models[model]
    reference = store.reference(model)
    status = store.model_status(model)
    layout = WindowLayout(reference) if reference is not None else None
    kept = history.read(store, model, windows)
    past = history.fitting(kept, layout) if layout is not None else []
    settings = decision_settings(model_config)
    results = {
        w.window_id: evaluate_window(layout, w.counts, settings) if w.results is None else w.results
        for w in past
        if layout is not None
    }
    recorded = {entry["window"]["id"]: entry for entry in status["windows"]}
    drifted_by_window = {
        window_id: [str(d) for d in entry.get("drifted", [])]
        for window_id, entry in recorded.items()
    }
    series = _series(past, results, drifted_by_window)
    series += _quality_series(store, model_config, model, reference, windows)
    records = AlertRecords(store.client, store.keys)
    open_alerts = [
        {"key": key, **_state_fields(state)}
        for key, state in sorted(records.read(model).states.items())
        if state.status in ("pending", "firing")
    ]
    return ModelData(
        name=model,
        config=model_config,
        reference=reference,
        status=status,
        windows=past,
        series=series,
        results=results,
        drifted_by_window=drifted_by_window,
        episodes=_episodes(records, model, config.alerting.audit_size),
        open_alerts=open_alerts,
        versions=sorted({w.model_version for w in kept if w.model_version is not None}),
        layout=layout,
        dead_letters=store.dead_letter_counts(),
        **_estimation(config, store, model_config, windows),
    )


def _estimation(
    config: Config, store: StateStore, model: ModelConfig, windows: int
) -> dict[str, Any]:
    """The estimates kept for the last ``windows`` windows, and their reconciliation."""
    if not model.estimates:
        return {}
    records = EstimateRecords(store.client, store.keys, keep=config.redis.history_size)
    return {
        "estimates": records.kept_windows(model.name, windows),
        "estimator": records.health(model),
    }


def _series(
    past: Sequence[PastWindow],
    results: Mapping[int, tuple[SignalResult, ...]],
    drifted_by_window: Mapping[int, list[str]],
) -> list[Series]:
    """One timeline per signal, in the reference's order, drawing the method that went
    furthest past its warn threshold over these windows."""
    by_signal: dict[str, dict[str, list[tuple[int, SignalResult]]]] = {}
    for window in past:
        for result in results[window.window_id]:
            methods = by_signal.setdefault(result.signal, {})
            methods.setdefault(result.method, []).append((window.window_id, result))
    series = []
    for signal, methods in by_signal.items():
        method, rows = max(methods.items(), key=lambda item: _reach(item[1]))
        drawn = Series(signal, rows[0][1].role, method)
        flagged = {w for rows_ in methods.values() for w, r in rows_ if r.drifted}
        for window_id, result in rows:
            recorded = drifted_by_window.get(window_id)
            drifted = (
                any(name.startswith(f"{signal}/") for name in recorded)
                if recorded is not None
                else window_id in flagged
            )
            drawn.points.append(
                Point(window_id, result.score, result.warn, result.critical, drifted)
            )
        newest = past[-1].window_id
        drawn.methods = {m: r for m, rows_ in methods.items() for w, r in rows_ if w == newest}
        series.append(drawn)
    return series


def _reach(rows: list[tuple[int, SignalResult]]) -> float:
    """How far the method went past its warn threshold (score / warn), drifted first."""
    drifted = any(r.drifted for _, r in rows)
    ratios = [r.score / r.warn for _, r in rows if r.warn > 0 and math.isfinite(r.score)]
    return (1.0 if drifted else 0.0) * 1e9 + max(ratios, default=0.0)


def _quality_series(
    store: StateStore,
    model: ModelConfig,
    name: str,
    reference: ReferenceProfile | None,
    windows: int,
) -> list[Series]:
    """Quality from labels per window, judged against the reference's labelled baseline."""
    if model.task is None or reference is None or reference.quality is None:
        return []
    with redis_errors():
        held: list[Any] = store.client.zrange(store.keys.quality_windows(name), -windows, -1)
    ids = [int(i.decode() if isinstance(i, bytes) else i) for i in held]
    baseline = QualityCounts.from_state(reference.quality) if reference.quality else EMPTY
    series: dict[str, Series] = {}
    for window_id in ids:
        verdict = judge_quality(
            model.task,
            store.quality_counts(name, window_id),
            baseline,
            alpha=model.drift.alpha,
            min_labels=model.labels.min_labels,
        )
        if verdict is None or verdict.severity == "insufficient":
            continue
        method = "binomial" if verdict.metric == "error_rate" else "z_test"
        line = series.setdefault(verdict.metric, Series(verdict.metric, "performance", method))
        line.points.append(
            Point(window_id, verdict.score, verdict.warn, verdict.critical, verdict.drifted)
        )
    return list(series.values())


def _episodes(records: AlertRecords, model: str, audit_size: int) -> list[Episode]:
    """Alert episodes of this model from the audit trail (firing → resolved), oldest first."""
    entries = [e.fields for e in reversed(records.audit(audit_size))]
    opened: dict[tuple[str, str], Episode] = {}
    done: list[Episode] = []
    for fields in entries:
        if fields.get("model") != model or not fields.get("window", "").isdigit():
            continue
        key, number, window = (
            fields.get("key", ""),
            fields.get("episode", ""),
            int(fields["window"]),
        )
        if fields.get("to") == "firing" and (key, number) not in opened:
            parts = key.split("/", 2)
            signal = parts[2] if len(parts) == 3 else key
            opened[(key, number)] = Episode(
                key, signal, number, fields.get("severity", ""), window, None
            )
        elif fields.get("to") == "resolved" and (key, number) in opened:
            start = opened.pop((key, number))
            done.append(
                Episode(
                    start.key, start.signal, number, start.severity, start.first_window, int(window)
                )
            )
    return sorted([*done, *opened.values()], key=lambda e: e.first_window)


def _state_fields(state: Any) -> dict[str, Any]:
    return {
        "status": state.status,
        "severity": state.severity,
        "episode": state.episode,
        "method": state.method,
        "since_ts": state.since_ts,
        "last_window": state.last_window,
    }


def shares(counts: NDArray[np.int64]) -> NDArray[np.float64]:
    total = counts.sum()
    return counts / total if total else np.zeros(counts.size)


def correlation(sums: NDArray[np.float64], rows: int, d: int) -> NDArray[np.float64] | None:
    """The window's correlation matrix from its joint sums (z, then the upper triangle of
    z zᵀ); None with fewer than 4 complete rows."""
    if rows < 4:
        return None
    mean = sums[:d] / rows
    second = np.zeros((d, d))
    second[np.triu_indices(d)] = sums[d:] / rows
    second = second + np.triu(second, 1).T
    covariance = second - np.outer(mean, mean)
    spread = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        matrix = covariance / np.outer(spread, spread)
    matrix = np.where(np.isfinite(matrix), matrix, 0.0)
    np.fill_diagonal(matrix, 1.0)
    return np.clip(matrix, -1.0, 1.0)
