"""A window's estimated performance as results, and its reconciliation with the realized one.

An estimate becomes a result like any drift method's: its score is the drop of
the estimated metric below the reference's realized value (for a loss, its
relative rise), and it is flagged when that drop is both outside the estimate's
band (three sampling errors: not noise) and at least ``min_effect`` (not
trivial), the same pairing of significance and effect size as every other test.

When the labels of a window come, the realized metric is compared with the
estimate: the window *misses* when the realized value falls outside the
estimate's band, taken at the number of labels (the realized value is the
noisier of the two). An estimator that misses ``stale_windows`` reconciled
windows in a row no longer describes the model: its calibration went stale, a
concept drift rather than a covariate shift.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from detectors.estimation import BAND_WIDTH, BinaryEstimator
from detectors.evaluate import Severity, SignalResult
from detectors.window import WindowCounts, WindowLayout

ESTIMATION_METHOD: Final = "cbpe"


@dataclass(frozen=True, slots=True)
class EstimationSettings:
    """Which metrics are estimated and at which drops they warn and are critical."""

    metrics: tuple[str, ...]
    min_effect: float
    critical_effect: float
    min_events: int = 1


def estimate_window(
    layout: WindowLayout, counts: WindowCounts, settings: EstimationSettings
) -> tuple[SignalResult, ...]:
    """One result per estimated metric (none when the layout has no estimator)."""
    slots = layout.estimator
    if slots is None:
        return ()
    estimates = slots.estimator.estimate(slots.state(counts), settings.metrics)
    results = []
    for metric in settings.metrics:
        estimate = estimates.get(metric)
        if estimate is None or not math.isfinite(estimate.baseline):
            continue
        drop = estimate.baseline - estimate.value
        judged = estimate.events >= settings.min_events
        drifted = judged and drop > estimate.band and drop >= settings.min_effect
        severity: Severity = "insufficient" if not judged else "ok"
        if drifted:
            severity = "critical" if drop >= settings.critical_effect else "warning"
        results.append(
            SignalResult(
                signal=metric,
                role="estimated_performance",
                method=ESTIMATION_METHOD,
                score=float(drop),
                p_value=None,
                statistic=float(estimate.value),
                warn=settings.min_effect,
                critical=settings.critical_effect,
                drifted=bool(drifted),
                severity=severity,
                estimate=estimate,
            )
        )
    return tuple(results)


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """A window's estimated metric beside its realized one, once its labels came."""

    window: int
    metric: str
    estimated: float
    realized: float
    band: float
    """Half the band's width at the window's number of labels."""
    labels: int

    @property
    def error(self) -> float:
        """Realized minus estimated: negative when the model did worse than estimated."""
        return self.realized - self.estimated

    @property
    def missed(self) -> bool:
        return abs(self.error) > self.band

    def to_dict(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "metric": self.metric,
            "estimated": self.estimated,
            "realized": self.realized,
            "error": self.error,
            "band": self.band,
            "labels": self.labels,
            "missed": self.missed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reconciliation:
        return cls(
            int(data["window"]),
            str(data["metric"]),
            float(data["estimated"]),
            float(data["realized"]),
            float(data["band"]),
            int(data["labels"]),
        )


def reconcile(
    window: int,
    estimator: BinaryEstimator,
    estimated: Mapping[str, float],
    realized: Mapping[str, float],
    labels: int,
) -> list[Reconciliation]:
    """Each metric estimated for the window and realized from its labels, side by side."""
    out = []
    for metric, value in estimated.items():
        actual = realized.get(metric)
        error = estimator.sampling.get(metric)
        if actual is None or error is None or not math.isfinite(actual):
            continue
        band = BAND_WIDTH * error.at(labels)
        if math.isfinite(band):
            out.append(Reconciliation(window, metric, value, actual, band, labels))
    return out


def stale(reconciled: Sequence[Reconciliation], windows: int) -> bool:
    """True when the last ``windows`` reconciled windows (in window order) all missed.

    A window misses when any of its metrics does.
    """
    missed: dict[int, bool] = {}
    for r in sorted(reconciled, key=lambda r: r.window):
        missed[r.window] = missed.get(r.window, False) or r.missed
    last = list(missed.values())[-windows:]
    return len(last) == windows and all(last)
