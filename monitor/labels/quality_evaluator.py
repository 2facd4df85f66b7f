"""Judging the quality of labelled windows against the reference's, and alerting on it.

The label path's counterpart of :class:`monitor.evaluation.WindowEvaluator`. Labels
arrive minutes to weeks after their predictions, so a window's quality changes long
after the window closed: every window a batch joined labels into is marked dirty by
the apply script, and judged here (``detectors.quality.judge_quality``) until it is
clean again. A window's first judged verdict goes to the alert rules (kind
``performance``) once, atomically with the alert state it moves
(``apply_alert_plan.lua``): labels keep arriving after a window is judged, but the
rules count each window once.

A model that estimates its performance (``estimation``) also gets the windows with
``labels.min_labels`` labels reconciled with their estimates here
(:mod:`monitor.reconciliation`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from detectors.evaluate import SignalResult
from detectors.quality import EMPTY, QualityCounts, QualityVerdict, judge_quality, quality_metrics
from detectors.window import WindowLayout
from monitor.alerts.plan import plan_window
from monitor.alerts.records import AlertRecords
from monitor.alerts.state import WindowFacts
from monitor.config import ModelConfig
from monitor.errors import ServiceUnavailable
from monitor.reconciliation import EstimateRecords, EstimatorHealth
from monitor.store import JoinCounters, StateStore

MAX_PLAN_ATTEMPTS = 50


@dataclass(frozen=True, slots=True)
class QualityReport:
    """One model's judged windows, for the metrics and the log."""

    model: str
    counters: JoinCounters
    verdicts: list[tuple[QualityVerdict, str]] = field(default_factory=list)
    """Each judged window's verdict (none for windows with too few labels to judge,
    unless no window had enough), with the method that judged it."""
    metrics: dict[str, float] = field(default_factory=dict)
    """The quality metrics of the window the status shows (the newest with enough labels)."""
    delivered: bool = False
    """Whether an alert plan put a message in the outbox (the delivery worker is woken)."""
    estimator: EstimatorHealth | None = None
    """How the model's estimates compared with its labels, when windows were reconciled."""


class QualityEvaluator:
    """Judges the dirty windows of every model with a task, and alerts on their verdicts."""

    def __init__(
        self,
        store: StateStore,
        models: Mapping[str, ModelConfig],
        *,
        alerts: AlertRecords,
        refresh_sinks: frozenset[str] = frozenset(),
        audit_size: int = 10_000,
        estimates: EstimateRecords | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._estimates = estimates
        self._models = models
        self._alerts = alerts
        self._refresh_sinks = refresh_sinks
        self._audit_size = audit_size
        self._clock = clock

    def run(self, layouts: Mapping[str, WindowLayout]) -> list[QualityReport]:
        """Judge what labels changed since the last call; one report per model with a task."""
        return [
            self._judge(self._models[name], layout)
            for name, layout in layouts.items()
            if self._models[name].task is not None
        ]

    def _judge(self, model: ModelConfig, layout: WindowLayout) -> QualityReport:
        name, task = model.name, model.task
        assert task is not None  # run() judges only models with a task
        dirty, counters = self._store.quality_windows(name)
        if not dirty:
            return QualityReport(name, counters)
        baseline = layout.profile.quality
        base = EMPTY if baseline is None else QualityCounts.from_state(baseline)
        latest: dict[str, str] = {}
        alerted = self._store.quality_alerted(name)
        shown: tuple[int, QualityCounts] | None = None  # the status's window
        delivered = False
        verdicts: list[tuple[QualityVerdict, str]] = []
        metrics: dict[str, float] = {}
        labelled: dict[int, QualityCounts] = {}  # windows with enough labels to reconcile
        for window_id, counts in self._store.quality_counts_of(name, dirty).items():
            if counts.pairs >= model.labels.min_labels:
                labelled[window_id] = counts
            verdict = judge_quality(
                task, counts, base, alpha=model.drift.alpha, min_labels=model.labels.min_labels
            )
            if counts.pairs >= model.labels.min_labels or shown is None:
                shown = (window_id, counts)
            if verdict is None or (verdict.severity == "insufficient" and latest):
                continue
            result = {**verdict.to_dict(), "kind": "performance", "window": {"id": window_id}}
            latest = {f"performance/{verdict.metric}": json.dumps(result)}
            verdicts.append((verdict, result["method"]))
            if verdict.severity != "insufficient" and window_id not in alerted:
                delivered |= self._alert(model, layout, window_id, verdict, result["method"])
        summary: dict[str, Any] = {}
        if shown is not None:  # metrics of that window alone: a dozen windows may be dirty
            window_id, counts = shown
            metrics = quality_metrics(task, counts)
            summary = {"window": window_id, "labels": counts.pairs, "metrics": metrics}
        self._store.record_quality(name, dirty, latest, summary)
        estimator = self._reconcile(model, layout, labelled)
        return QualityReport(name, counters, verdicts, metrics, delivered, estimator)

    def _reconcile(
        self, model: ModelConfig, layout: WindowLayout, labelled: Mapping[int, QualityCounts]
    ) -> EstimatorHealth | None:
        """Put the estimates of windows whose labels came beside the realized metrics."""
        estimator = layout.profile.estimator
        if self._estimates is None or estimator is None or not labelled or not model.estimates:
            return None
        return self._estimates.reconcile(model, estimator, labelled)

    def _alert(
        self,
        model: ModelConfig,
        layout: WindowLayout,
        window_id: int,
        verdict: QualityVerdict,
        method: str,
    ) -> bool:
        """Give a window's first judged verdict to the alert rules (kind ``performance``);
        True when its plan put a message in the outbox."""
        result = SignalResult(
            signal=verdict.metric,
            role="performance",
            method=method,
            score=verdict.score,
            p_value=verdict.p_value,
            statistic=None,
            warn=verdict.warn,
            critical=verdict.critical,
            drifted=verdict.drifted,
            severity=verdict.severity,
        )
        reference = {"id": layout.profile.id, "events": layout.profile.events}
        now = self._clock()
        facts = self._verdict_window(model.name, window_id, verdict.labels, now)
        for _ in range(MAX_PLAN_ATTEMPTS):
            plan = plan_window(
                model,
                self._alerts.read(model.name),
                [result],
                facts,
                reference,
                now,
                self._refresh_sinks,
                late=True,
            )
            outcome = self._store.apply_quality_alert(
                model.name, window_id, plan.to_json(self._audit_size)
            )
            if outcome != "conflict":
                return outcome == "applied" and bool(plan.outbox)
        raise ServiceUnavailable(f"alert state of {model.name!r} kept moving")

    def _verdict_window(self, model: str, window_id: int, labels: int, now: float) -> WindowFacts:
        """The event time of the window a performance verdict is about, for the alert and the
        retrain interval: its own if it was evaluated; else (still open, or older than the
        history) the newest evaluated window's end; wall-clock time only before any window."""
        windows = self._store.evaluated_windows(model)
        own = [w for w in windows if w["id"] == window_id]
        if own:
            return WindowFacts(window_id, own[0]["start_ts"], own[0]["end_ts"], labels)
        if windows:
            return WindowFacts(window_id, windows[0]["end_ts"], windows[0]["end_ts"], labels)
        return WindowFacts(window_id, now, now, labels)
