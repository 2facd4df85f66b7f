"""Window result metrics: what one closed window's results set in a fresh Prometheus registry."""

from __future__ import annotations

from dataclasses import replace

from prometheus_client import CollectorRegistry

from detectors.evaluate import SignalResult
from monitor.metrics import Metrics


def _result(method: str, score: float, p_value: float | None, drifted: bool) -> SignalResult:
    return SignalResult(
        signal="amount",
        role="feature",
        method=method,
        score=score,
        p_value=p_value,
        statistic=None,
        warn=0.1,
        critical=0.25,
        drifted=drifted,
        severity="warning" if drifted else "ok",
    )


def _sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, {"model": "fraud", "signal": "amount", **labels})


def test_each_window_overwrites_the_previous_windows_scores() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    metrics.record_results("fraud", [_result("psi", 0.3, None, drifted=True)], 100.0)
    metrics.record_results("fraud", [_result("psi", 0.02, None, drifted=False)], 200.0)
    assert _sample(registry, "drift_monitor_drift_score", method="psi") == 0.02
    assert _sample(registry, "drift_monitor_drifted", method="psi") == 0.0
    assert registry.get_sample_value("drift_monitor_windows_closed_total", {"model": "fraud"}) == 2


def test_thresholds_are_exported_beside_the_score() -> None:
    registry = CollectorRegistry()
    Metrics(registry).record_results("fraud", [_result("psi", 0.3, None, drifted=True)], 100.0)
    assert _sample(registry, "drift_monitor_drift_threshold", method="psi", level="warn") == 0.1
    assert (
        _sample(registry, "drift_monitor_drift_threshold", method="psi", level="critical") == 0.25
    )


def test_only_methods_with_a_p_value_export_one() -> None:
    registry = CollectorRegistry()
    results = [_result("psi", 0.3, None, drifted=True), _result("ks", 0.2, 1e-6, drifted=True)]
    Metrics(registry).record_results("fraud", results, 100.0)
    assert _sample(registry, "drift_monitor_drift_p_value", method="ks") == 1e-6
    assert _sample(registry, "drift_monitor_drift_p_value", method="psi") is None


def test_a_distribution_score_exports_its_no_drift_level_beside_it() -> None:
    registry = CollectorRegistry()
    results = [
        replace(_result("psi", 0.3, None, drifted=True), no_drift=0.018),
        _result("missing_rate", 0.2, 1e-6, drifted=True),
    ]
    Metrics(registry).record_results("fraud", results, 100.0)
    assert _sample(registry, "drift_monitor_drift_no_drift_level", method="psi") == 0.018
    assert _sample(registry, "drift_monitor_drift_no_drift_level", method="missing_rate") is None
