"""Evaluating closed windows and recording their results, once each.

A window waits in the model's ``closing`` set until some instance takes its
lease, evaluates it (pure computation in ``detectors``) and records the results
through ``finalize_window.lua``, which only the first evaluator gets through. A
crash between lease and record leaves the window in ``closing``; the lease
expires and the window is evaluated again, with the same counts and therefore
the same results.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from detectors.evaluate import DecisionSettings, SignalResult, evaluate_window
from detectors.window import WindowLayout
from monitor.config import ModelConfig
from monitor.store import StateStore, StoredWindow

LEASE_MS = 15_000


def decision_settings(model: ModelConfig) -> DecisionSettings:
    drift = model.drift
    return DecisionSettings(
        numeric_methods=tuple(drift.numeric_methods),
        categorical_methods=tuple(drift.categorical_methods),
        quality_methods=tuple(drift.quality_methods),
        thresholds=dict(drift.thresholds),
        alpha=drift.alpha,
        correction=drift.correction,
        min_events=model.window.min_events if model.window.seconds is not None else 1,
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

    @property
    def drifted(self) -> list[SignalResult]:
        return [r for r in self.results if r.drifted]

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
            "drifted": [f"{r.signal}/{r.method}" for r in self.drifted],
            "severity": _worst(self.results),
            "note": self.note,
        }


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
    ) -> None:
        self._store = store
        self._models = models
        self._settings = {name: decision_settings(model) for name, model in models.items()}
        self._owner = owner

    def run(self, layouts: Mapping[str, WindowLayout]) -> list[WindowReport]:
        """Evaluate what is waiting; returns the windows this call recorded."""
        reports = []
        for name, layout in layouts.items():
            for window_id in self._store.closing_windows(name):
                if not self._store.claim(name, window_id, self._owner, LEASE_MS):
                    continue
                stored = self._store.window(name, window_id, layout)
                report = self._evaluate(name, layout, stored)
                latest = {
                    f"{r.signal}/{r.method}": json.dumps(
                        {
                            **r.to_dict(),
                            "window": report.window_dict(),
                            "reference_id": layout.profile.id,
                        }
                    )
                    for r in report.results
                }
                if self._store.finalize(
                    name, window_id, self._owner, report.history_entry(time.time()), latest
                ):
                    reports.append(report)
        return reports

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
        results = evaluate_window(layout, stored.counts, self._settings[name])
        return WindowReport(
            name, stored.window_id, stored.counts.events, start, end, layout.profile.id, results
        )
