"""Evaluating closed windows and recording their results, once each, with their alerts.

A window waits in the model's ``closing`` set until some instance takes its
lease, evaluates it (pure computation in ``detectors``) and records the results
through ``finalize_window.lua``, which only the first evaluator gets through. A
crash between lease and record leaves the window in ``closing``; the lease
expires and the window is evaluated again, with the same counts and therefore
the same results.

Recording also applies the window's alert plan (``monitor.alerts.plan``): state
transitions, audit entries and outbox messages, in the same script, under a
compare-and-set on the alert state's version. A model's windows are recorded in
order (the state machine counts consecutive windows): an evaluator does not
skip past a window another instance holds, and the script refuses a window while
an older one still waits.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from itertools import groupby
from operator import attrgetter
from typing import Any

from detectors.estimated_performance import EstimationSettings, estimate_window
from detectors.evaluate import (
    DecisionSettings,
    SignalResult,
    WindowPart,
    evaluate_parts,
    prepare,
)
from detectors.window import WindowLayout
from monitor import bulk_json, latest_results
from monitor.alerts.budget import WindowBudget, window_budget
from monitor.alerts.plan import AlertPlan, plan_window
from monitor.alerts.records import AlertRecords
from monitor.alerts.rules import kinds_of
from monitor.alerts.state import WindowFacts
from monitor.challenger import comparison_layouts, judge_challenger
from monitor.config import ModelConfig
from monitor.errors import ServiceUnavailable
from monitor.reconciliation import EstimateRecords, EstimatorHealth
from monitor.report import history as count_history
from monitor.segmenting import segment_layouts, segment_parts, segmentation
from monitor.store import FinalizeOutcome, StateStore, StoredWindow

LEASE_MS = 15_000
MAX_PLAN_ATTEMPTS = 20

_segment = attrgetter("segment")


def decision_settings(model: ModelConfig) -> DecisionSettings:
    drift = model.drift
    return DecisionSettings(
        numeric_methods=tuple(drift.numeric_methods),
        categorical_methods=tuple(drift.categorical_methods),
        quality_methods=tuple(drift.quality_methods),
        multivariate_methods=tuple(drift.multivariate_methods),
        thresholds=dict(drift.thresholds),
        alpha=drift.alpha,
        correction=drift.correction,
        min_events=model.window.min_events if model.window.seconds is not None else 1,
    )


def estimation_settings(model: ModelConfig) -> EstimationSettings:
    """What a model's windows estimate (nothing when estimation is off)."""
    estimation = model.estimation
    if estimation is None or not estimation.enabled:
        return EstimationSettings((), 0.0, 0.0)
    return EstimationSettings(
        estimation.metrics_for(model.task),
        estimation.min_effect,
        estimation.critical_effect,
        model.window.min_events if model.window.seconds is not None else 1,
    )


@dataclass(frozen=True, slots=True)
class WindowReport:
    """A closed window and its results, as recorded."""

    model: str
    window_id: int
    events: int
    start_ts: float
    end_ts: float
    reference_id: str
    results: tuple[SignalResult, ...]
    note: str = ""
    reference_events: int = 0
    alerts: AlertPlan | None = None  # what recording this window did to its alerts
    model_version: str | None = None  # of the window's latest event that named one
    budget: WindowBudget | None = None  # the significance a false-alarm budget gave it
    estimator: EstimatorHealth | None = None  # when its labels were in before it closed
    segments: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Per segment: its events, and what it was judged against or why it was skipped."""

    @property
    def drifted(self) -> list[SignalResult]:
        return [r for r in self.results if r.drifted]

    @property
    def whole(self) -> tuple[SignalResult, ...]:
        """The whole model's results, without its segments'."""
        return tuple(r for r in self.results if r.segment is None)

    def window_facts(self) -> WindowFacts:
        return WindowFacts(
            self.window_id, self.start_ts, self.end_ts, self.events, self.model_version
        )

    def window_dict(self) -> dict[str, Any]:
        return {
            "id": self.window_id,
            "start_ts": self.start_ts,
            "end_ts": self.end_ts,
            "events": self.events,
        }

    def history_entry(self, evaluated_at: float) -> dict[str, Any]:
        return {
            "window": self.window_dict(),
            "reference_id": self.reference_id,
            "evaluated_at": evaluated_at,
            "drifted": [r.key for r in self.drifted],
            "severity": _worst(self.results),
            "note": self.note,
            **({} if self.budget is None else {"budget": self.budget.to_dict()}),
            **({"segments": self._segment_entries()} if self.segments else {}),
        }

    def _segment_entries(self) -> dict[str, dict[str, Any]]:
        drifted: dict[str, list[str]] = {}
        for r in self.drifted:
            if r.segment is not None:
                drifted.setdefault(r.segment, []).append(f"{r.signal}/{r.method}")
        return {
            name: {**entry, "drifted": drifted.get(name, [])}
            for name, entry in self.segments.items()
        }


def latest_fields(report: WindowReport, reference_id: str) -> dict[str, str]:
    """The latest-results hash fields a window sets: ``signal/method`` per result of the
    whole model, and one field ``@<segment>`` per segment holding its results in columns
    (``monitor.latest_results``): twenty segments' thousands of results as twenty
    fields, not thousands."""
    window = bulk_json.encoded_once(report.window_dict())
    parts: dict[str | None, list[SignalResult]] = {}
    for segment, run in groupby(report.results, _segment):
        parts.setdefault(segment, []).extend(run)
    whole = parts.pop(None, [])
    fields = {
        r.key: bulk_json.encode_text(latest_results.entry(r, kind, window, reference_id))
        for r, kind in zip(whole, kinds_of(whole), strict=True)
    }
    fields.update(
        {
            f"@{name}": latest_results.segment_field(results, window, reference_id)
            for name, results in parts.items()
        }
    )
    return fields


def _kept_moving(model: str) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"the alert state of model {model!r} kept moving for {MAX_PLAN_ATTEMPTS} attempts"
    )


def _worst(results: tuple[SignalResult, ...]) -> str:
    severities = {r.severity for r in results}
    for level in ("critical", "warning", "insufficient"):
        if level in severities:
            return level
    return "ok"


class WindowEvaluator:
    """Evaluates and records every closing window of the configured models."""

    def __init__(
        self,
        store: StateStore,
        models: Mapping[str, ModelConfig],
        owner: str,
        *,
        alerts: AlertRecords | None = None,
        refresh_sinks: frozenset[str] = frozenset(),
        audit_size: int = 10_000,
        counts_history_size: int = 200,
        estimates: EstimateRecords | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._estimates = estimates
        self._counts_history_size = counts_history_size
        self._models = models
        self._settings = {name: decision_settings(model) for name, model in models.items()}
        self._estimation = {name: estimation_settings(model) for name, model in models.items()}
        self._owner = owner
        self._alerts = alerts
        self._refresh_sinks = refresh_sinks
        self._audit_size = audit_size
        self._clock = clock
        self._looked: dict[str, int] = {}  # per model, the latest look judged here

    def run(self, layouts: Mapping[str, WindowLayout]) -> list[WindowReport]:
        """Evaluate what is waiting, oldest first; returns the windows this call recorded."""
        reports = []
        for name, layout in layouts.items():
            for window_id in self._store.closing_windows(name):
                if not self._store.claim(name, window_id, self._owner, LEASE_MS):
                    break  # another instance holds it; later windows must wait their turn
                stored = self._read(name, window_id, layout)
                report = self._evaluate(name, layout, stored)
                if stored.reference_id == layout.profile.id:  # for the report
                    count_history.record(
                        self._store,
                        name,
                        stored,
                        layout,
                        report.whole,
                        keep=self._counts_history_size,
                    )
                estimator = self._estimate(name, layout, stored.window_id, report.results)
                report = replace(report, estimator=estimator)
                latest = latest_fields(report, layout.profile.id)
                outcome, report = self._record(report, latest)
                if outcome == "recorded":
                    reports.append(report)
                elif outcome == "later":
                    break
        return reports

    def _estimate(
        self, name: str, layout: WindowLayout, window_id: int, results: tuple[SignalResult, ...]
    ) -> EstimatorHealth | None:
        """Keep the window's estimates until its labels come; reconcile them at once if the
        labels came first (a window is judged on its labels whenever they join, and those
        that joined before its estimates existed would otherwise never be reconciled)."""
        model, estimator = self._models[name], layout.profile.estimator
        if self._estimates is None or estimator is None or not model.estimates:
            return None
        self._estimates.record(name, window_id, results)
        counts = self._store.quality_counts(name, window_id)
        if model.task is None or counts.pairs < model.labels.min_labels:
            return None
        return self._estimates.reconcile(model, estimator, {window_id: counts})

    def look_early(self, layouts: Mapping[str, WindowLayout]) -> list[WindowReport]:
        """Judge each open count window at its checkpoints (``drift.checkpoints`` looks per
        window, the last being its close) and fire the alerts a look breaches, before the
        window closes. Returns the looks whose alert plan was applied."""
        reports = []
        for name, layout in layouts.items():
            model = self._models[name]
            looks, size = model.drift.checkpoints, model.window.events
            if looks < 2 or size is None or self._alerts is None:
                continue
            for window_id in self._store.open_windows(name):
                look = self._store.window_events(name, window_id) * looks // size
                number = window_id * 1000 + look
                if not 1 <= look < looks or number <= self._looked.get(name, -1):
                    continue
                self._looked[name] = number
                report = self._evaluate(name, layout, self._read(name, window_id, layout))
                if report.results and (plan := self._apply_look(report, look)) is not None:
                    reports.append(replace(report, alerts=plan))
        return reports

    def _apply_look(self, report: WindowReport, look: int) -> AlertPlan | None:
        """Plan a look's alerts from the stored state and apply them; None if nothing moved."""
        for _ in range(MAX_PLAN_ATTEMPTS):
            plan = self._plan(report, self._clock(), look)
            if plan is None or not plan.states:
                return None
            plan_json = plan.to_json(self._audit_size)
            outcome = self._store.apply_early_alert(report.model, report.window_id, look, plan_json)
            if outcome != -2:
                return plan if outcome == 1 else None
        raise _kept_moving(report.model)

    def _plan(self, report: WindowReport, now: float, look: int | None = None) -> AlertPlan | None:
        """The alert plan of a window (or of a look at it) from the stored alert state."""
        if self._alerts is None:
            return None
        return plan_window(
            self._models[report.model],
            self._alerts.read(report.model),
            report.results,
            report.window_facts(),
            {"id": report.reference_id, "events": report.reference_events},
            now,
            self._refresh_sinks,
            look=look,
        )

    def _record(
        self, report: WindowReport, latest: Mapping[str, str]
    ) -> tuple[FinalizeOutcome, WindowReport]:
        """Finalize with a plan made from the stored alert state; re-plan if it moved."""
        for _ in range(MAX_PLAN_ATTEMPTS):
            now = self._clock()
            plan = self._plan(report, now)
            outcome = self._store.finalize(
                report.model,
                report.window_id,
                self._owner,
                report.history_entry(now),
                latest,
                "" if plan is None else plan.to_json(self._audit_size),
            )
            if outcome != "conflict":
                return outcome, replace(report, alerts=plan)
        raise _kept_moving(report.model)

    def prepare(self, layouts: Mapping[str, WindowLayout]) -> None:
        """Ready the reference side of every layout the models' windows are judged with
        (each model's, its segments' and its challenger's) before their first window."""
        for name, layout in layouts.items():
            if name in self._models:
                for part in (layout, *self._part_layouts(name, layout).values()):
                    prepare(part)

    def _part_layouts(self, name: str, layout: WindowLayout) -> dict[str, WindowLayout]:
        """The layouts of a window's parts beside the model's: its judged segments' and its
        challenger's, by field suffix."""
        model = self._models[name]
        parts = segment_layouts(segmentation(model, layout))
        parts.update(comparison_layouts(model, layout))
        return parts

    def _read(self, name: str, window_id: int, layout: WindowLayout) -> StoredWindow:
        """A window's counts, its judged segments' included."""
        return self._store.window(name, window_id, layout, self._part_layouts(name, layout))

    def _evaluate(self, name: str, layout: WindowLayout, stored: StoredWindow) -> WindowReport:
        model = self._models[name]
        start, end = stored.start_ts, stored.end_ts
        if model.window.seconds is not None:
            start = stored.window_id * model.window.seconds
            end = start + model.window.seconds
        if stored.reference_id != layout.profile.id:
            return WindowReport(
                name,
                stored.window_id,
                stored.counts.events,
                start,
                end,
                stored.reference_id,
                (),
                note=f"counted against reference {stored.reference_id}, now {layout.profile.id}: "
                "not evaluated",
            )
        budget = window_budget(model.drift, model.window, stored.counts.events, start, end)
        alpha = model.drift.alpha if budget is None else budget.alpha
        # Alpha spending over the window's looks: each (checkpoints and close) at alpha / K.
        settings = replace(self._settings[name], alpha=alpha / model.drift.checkpoints)
        segments, summary = segment_parts(
            segmentation(model, layout),
            stored.segment_events,
            stored.segments,
            model.segments.min_events,
        )
        results = evaluate_parts([WindowPart(layout, stored.counts), *segments], settings)
        results += estimate_window(layout, stored.counts, self._estimation[name])
        compared, versus = judge_challenger(model, layout, stored.counts, stored.segments, settings)
        return WindowReport(
            name,
            stored.window_id,
            stored.counts.events,
            start,
            end,
            layout.profile.id,
            results + compared,
            reference_events=layout.profile.events,
            model_version=stored.model_version,
            budget=budget,
            segments={**summary, **versus},
        )
