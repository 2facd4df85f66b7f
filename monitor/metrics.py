"""Every Prometheus metric drift-monitor exports, declared against an injected registry.

Label sets stay bounded: model, signal and method names come from the config,
reasons from a fixed list, partitions from the topic; never event ids,
offsets or window ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from detectors.evaluate import SignalResult
from monitor.alerts.budget import WindowBudget
from monitor.labels.quality_evaluator import QualityReport
from monitor.reconciliation import EstimatorHealth

_DELIVERY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
_BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(slots=True)
class _ResultGauges:
    score: Gauge
    warn: Gauge
    critical: Gauge
    drifted: Gauge
    p_value: Gauge | None = None
    """Only methods with a p-value export one: created on the first."""
    no_drift: Gauge | None = None
    """Only the distribution methods have a no-drift level: created on the first."""


class Metrics:
    """The daemon's metrics; tests pass a fresh registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._results: dict[tuple[str, str, str], _ResultGauges] = {}
        self.events = Counter(
            "drift_monitor_events",
            "Prediction events counted into state.",
            ["model"],
            registry=registry,
        )
        self.bad_events = Counter(
            "drift_monitor_bad_events",
            "Messages dead-lettered instead of counted, by reason.",
            ["reason"],
            registry=registry,
        )
        self.late_events = Counter(
            "drift_monitor_late_events",
            "Events for an event-time window that had already closed (counted, not windowed).",
            ["model"],
            registry=registry,
        )
        self.unknown_version_events = Counter(
            "drift_monitor_unknown_version_events",
            "Events of a model version with no reference (models.M.reference.by_version), "
            "skipped and counted.",
            ["model"],
            registry=registry,
        )
        self.type_mismatches = Counter(
            "drift_monitor_type_mismatches",
            "Signal values of the wrong type, treated as missing.",
            ["model", "signal"],
            registry=registry,
        )
        self.windows_closed = Counter(
            "drift_monitor_windows_closed",
            "Windows evaluated and recorded by this instance.",
            ["model"],
            registry=registry,
        )
        self.drift_score = Gauge(
            "drift_monitor_drift_score",
            "Effect size of the latest closed window, per signal and method.",
            ["model", "signal", "method"],
            registry=registry,
        )
        self.drift_threshold = Gauge(
            "drift_monitor_drift_threshold",
            "Effect-size threshold of a method (level: warn or critical).",
            ["model", "signal", "method", "level"],
            registry=registry,
        )
        self.drift_no_drift = Gauge(
            "drift_monitor_drift_no_drift_level",
            "What the drift score reads without drift at the latest window's size (its "
            "expected value on a window drawn like the reference), for the distribution "
            'methods (README, "Windows and tests").',
            ["model", "signal", "method"],
            registry=registry,
        )
        self.drift_p_value = Gauge(
            "drift_monitor_drift_p_value",
            "p-value of the latest closed window, for methods that have one.",
            ["model", "signal", "method"],
            registry=registry,
        )
        self.drifted = Gauge(
            "drift_monitor_drifted",
            "1 when the latest closed window is drifted for this signal and method, else 0.",
            ["model", "signal", "method"],
            registry=registry,
        )
        self.false_alarm_budget = Gauge(
            "drift_monitor_false_alarm_budget",
            "False alarms the model's budget allows (drift.false_alarms_per_*), per `per`.",
            ["model", "per"],
            registry=registry,
        )
        self.implied_false_alarms = Gauge(
            "drift_monitor_implied_false_alarms",
            "Expected false alarms per `per` at the latest window's significance and rate "
            "(an upper bound).",
            ["model", "per"],
            registry=registry,
        )
        self.window_alpha = Gauge(
            "drift_monitor_window_alpha",
            "Family-wise significance the latest window was judged at, under the budget.",
            ["model"],
            registry=registry,
        )
        self.joint_contribution = Gauge(
            "drift_monitor_joint_contribution",
            "What a joint result of the latest closed window names, by rank (1 to 3): a "
            'feature pair\'s Fisher z statistic (features="a~b", correlation) or a '
            "feature's share of the squared distance (mahalanobis).",
            ["model", "method", "rank", "features"],
            registry=registry,
        )
        self._named: dict[tuple[str, str], list[tuple[str, str, str, str]]] = {}
        """The contribution series each model and joint method set last (to remove)."""
        self.drifted_signals = Gauge(
            "drift_monitor_drifted_signals",
            "Signals with at least one drifted method in the latest closed window.",
            ["model"],
            registry=registry,
        )
        self.segment_events = Gauge(
            "drift_monitor_segment_window_events",
            "Events of a segment in the model's latest closed window (segments: a key's top "
            "values in the reference, and __other__).",
            ["model", "segment"],
            registry=registry,
        )
        self.segment_judged = Gauge(
            "drift_monitor_segment_judged",
            "1 when the latest closed window judged the segment, 0 when it skipped it (thin "
            "or absent in the reference, or fewer than segments.min_events events).",
            ["model", "segment"],
            registry=registry,
        )
        self.segment_drifted_signals = Gauge(
            "drift_monitor_segment_drifted_signals",
            "Signals with at least one drifted method in a segment of the latest closed window.",
            ["model", "segment"],
            registry=registry,
        )
        self.window_end = Gauge(
            "drift_monitor_last_window_end_timestamp_seconds",
            "Event-time end of the latest closed window.",
            ["model"],
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "drift_monitor_batch_seconds",
            "Time to process one micro-batch, consume to checkpoint.",
            buckets=_BATCH_BUCKETS,
            registry=registry,
        )
        self.batch_events = Histogram(
            "drift_monitor_batch_messages",
            "Messages per micro-batch.",
            buckets=(1, 10, 100, 500, 1000, 2500, 5000, 10000, 50000),
            registry=registry,
        )
        self.consumer_lag = Gauge(
            "drift_monitor_consumer_lag",
            "Messages between this instance's position and the partition's high watermark.",
            ["topic", "partition"],
            registry=registry,
        )
        self.state_conflicts = Counter(
            "drift_monitor_state_conflicts",
            "Batches re-planned because another instance moved a model first, or refused as stale.",
            ["kind"],
            registry=registry,
        )
        self.redis_up = Gauge(
            "drift_monitor_redis_up", "1 when the last Redis call succeeded.", registry=registry
        )
        self.ready = Gauge("drift_monitor_ready", "1 when /readyz answers 200.", registry=registry)
        self.declare_quality(registry)
        self.declare_pairing(registry)
        self.alert_transitions = Counter(
            "drift_monitor_alert_transitions",
            "Alert state changes recorded by this instance (to: pending, firing, resolved, ...).",
            ["model", "to"],
            registry=registry,
        )
        self.retrain_triggers = Counter(
            "drift_monitor_retrain_triggers",
            "Retraining triggers recorded by this instance.",
            ["model"],
            registry=registry,
        )
        self.sink_sent = Counter(
            "drift_monitor_sink_sent",
            "Messages a sink accepted.",
            ["sink"],
            registry=registry,
        )
        self.sink_failed = Counter(
            "drift_monitor_sink_failed",
            "Messages given up for a sink (moved to the dead-letter list).",
            ["sink"],
            registry=registry,
        )
        self.sink_retries = Counter(
            "drift_monitor_sink_retries",
            "Failed delivery attempts that will be retried.",
            ["sink"],
            registry=registry,
        )
        self.sink_retrying = Gauge(
            "drift_monitor_sink_retrying",
            "Messages this instance holds that failed at least once and wait for a retry.",
            ["sink"],
            registry=registry,
        )
        self.outbox_depth = Gauge(
            "drift_monitor_outbox_depth",
            "Messages in the outbox, not yet delivered or given up, per sink.",
            ["sink"],
            registry=registry,
        )
        self.sink_latency = Histogram(
            "drift_monitor_sink_delivery_seconds",
            "From the outbox entry (window recorded) to the sink's acceptance, retries included.",
            ["sink"],
            buckets=_DELIVERY_BUCKETS,
            registry=registry,
        )

    def record_budget(self, model: str, budget: WindowBudget) -> None:
        """The false-alarm budget a window was judged under, and the rate it implies."""
        for per, configured, implied in (
            ("week", budget.false_alarms_per_week, budget.implied_per_week),
            (
                "million_events",
                budget.false_alarms_per_million_events,
                budget.implied_per_million_events,
            ),
        ):
            if configured is not None:
                self.false_alarm_budget.labels(model, per).set(configured)
            if implied is not None:
                self.implied_false_alarms.labels(model, per).set(implied)
        self.window_alpha.labels(model).set(budget.alpha)

    def record_joins(self, model: str, received: int, joined: int, lags: list[float]) -> None:
        """A batch's labels: how many came, how many joined, and each join's label lag."""
        self.labels_received.labels(model).inc(received)
        self.labels_joined.labels(model).inc(joined)
        _observe_all(self.label_lag.labels(model), lags)

    def record_quality(self, report: QualityReport) -> None:
        """The label join's counters and each judged window's verdict, as the evaluator
        judged them; the quality metrics of the window the status shows."""
        model = report.model
        if report.counters.coverage is not None:
            self.join_coverage.labels(model).set(report.counters.coverage)
        self.labels_unmatched.labels(model).set(report.counters.labels_unmatched)
        for verdict, method in report.verdicts:
            self.drift_score.labels(model, verdict.metric, method).set(verdict.score)
            self.drifted.labels(model, verdict.metric, method).set(1 if verdict.drifted else 0)
        for metric, value in report.metrics.items():
            self.quality.labels(model, metric).set(value)

    def record_results(
        self, model: str, results: Iterable[SignalResult], window_end: float
    ) -> None:
        drifted_signals = set()
        for r in results:
            gauges = self._result_gauges(model, r.signal, r.method)
            gauges.score.set(r.score)
            gauges.warn.set(r.warn)
            gauges.critical.set(r.critical)
            gauges.drifted.set(1 if r.drifted else 0)
            if r.p_value is not None:
                if gauges.p_value is None:
                    gauges.p_value = self.drift_p_value.labels(model, r.signal, r.method)
                gauges.p_value.set(r.p_value)
            if r.no_drift is not None:
                if gauges.no_drift is None:
                    gauges.no_drift = self.drift_no_drift.labels(model, r.signal, r.method)
                gauges.no_drift.set(r.no_drift)
            if r.drifted:
                drifted_signals.add(r.signal)
            if r.role == "multivariate":
                self._record_attribution(model, r)
            if r.estimate is not None:
                for bound, value in (
                    ("value", r.estimate.value),
                    ("lower", r.estimate.lower),
                    ("upper", r.estimate.upper),
                ):
                    self.estimated.labels(model, r.signal, bound).set(value)
        self.drifted_signals.labels(model).set(len(drifted_signals))
        self.window_end.labels(model).set(window_end)
        self.windows_closed.labels(model).inc()

    def record_estimator_health(self, model: str, health: EstimatorHealth) -> None:
        """The newest reconciled window's estimated and realized metrics, and staleness."""
        for metric, row in health.latest.items():
            self.reconciled.labels(model, metric, "estimated").set(row.estimated)
            self.reconciled.labels(model, metric, "realized").set(row.realized)
            self.estimation_error.labels(model, metric).set(row.error)
        self.estimator_stale.labels(model).set(1 if health.stale else 0)

    def record_segments(
        self,
        model: str,
        segments: Mapping[str, Mapping[str, object]],
        results: Iterable[SignalResult],
    ) -> None:
        """A window's segments: as many series as the reference has segments (its top
        values and ``__other__``), however many distinct values traffic brings."""
        drifted: dict[str, set[str]] = {}
        for r in results:
            if r.drifted and r.segment is not None:
                drifted.setdefault(r.segment, set()).add(r.signal)
        for name, summary in segments.items():
            events = summary.get("events", 0)
            self.segment_events.labels(model, name).set(events if isinstance(events, int) else 0)
            self.segment_judged.labels(model, name).set(0 if "skipped" in summary else 1)
            self.segment_drifted_signals.labels(model, name).set(len(drifted.get(name, ())))

    def _record_attribution(self, model: str, result: SignalResult) -> None:
        """At most three series per model and method: the previous window's are removed, so
        the label values stay bounded however many pairs move over time."""
        for labels in self._named.pop((model, result.method), []):
            self.joint_contribution.remove(*labels)
        named = []
        for rank, contributor in enumerate(result.attribution, start=1):
            labels = (model, result.method, str(rank), "~".join(contributor.features))
            self.joint_contribution.labels(*labels).set(contributor.contribution)
            named.append(labels)
        self._named[model, result.method] = named

    def _result_gauges(self, model: str, signal: str, method: str) -> _ResultGauges:
        """The labelled gauges of one signal and method, looked up once: a window sets
        about a hundred results, and ``labels()`` costs microseconds per call."""
        key = (model, signal, method)
        gauges = self._results.get(key)
        if gauges is None:
            gauges = self._results[key] = _ResultGauges(
                score=self.drift_score.labels(*key),
                warn=self.drift_threshold.labels(*key, "warn"),
                critical=self.drift_threshold.labels(*key, "critical"),
                drifted=self.drifted.labels(*key),
            )
        return gauges

    def record_lag(self, lags: Mapping[tuple[str, int], int]) -> None:
        for (topic, partition), lag in lags.items():
            self.consumer_lag.labels(topic, str(partition)).set(lag)

    def declare_pairing(self, registry: CollectorRegistry) -> None:
        """Metrics of a model server's requests and responses paired by CloudEvent id."""
        self.payload_pairs = Counter(
            "drift_monitor_payload_pairs",
            "Requests paired with their response (each row then counts as an event).",
            registry=registry,
        )
        self.payload_waiting = Gauge(
            "drift_monitor_payload_waiting",
            "Requests and responses waiting for their other half (after this instance's batch).",
            registry=registry,
        )
        self.payload_skipped = Counter(
            "drift_monitor_payload_skipped",
            "CloudEvents of neither the request nor the response type, passed over.",
            registry=registry,
        )

    def declare_quality(self, registry: CollectorRegistry) -> None:
        """Metrics of the label join and of model quality."""
        self.labels_received = Counter(
            "drift_monitor_labels",
            "Label events received (joined now or waiting for their prediction).",
            ["model"],
            registry=registry,
        )
        self.labels_joined = Counter(
            "drift_monitor_labels_joined",
            "Labels joined with their prediction.",
            ["model"],
            registry=registry,
        )
        self.label_lag = Histogram(
            "drift_monitor_label_lag_seconds",
            "Event time from a prediction to its label (negative: the label came first).",
            ["model"],
            buckets=(-3600, -60, 0, 1, 10, 60, 300, 1800, 3600, 21600, 86400, 604800),
            registry=registry,
        )
        self.join_coverage = Gauge(
            "drift_monitor_label_join_coverage",
            "Share of predictions with an event_id that have been joined with a label so far.",
            ["model"],
            registry=registry,
        )
        self.labels_unmatched = Gauge(
            "drift_monitor_labels_unmatched",
            "Labels whose prediction never arrived within labels.ttl_seconds (cumulative).",
            ["model"],
            registry=registry,
        )
        self.sequential_detections = Counter(
            "drift_monitor_sequential_detections",
            "Changes found by sequential detectors (each also logged with partition and offset).",
            ["model", "detector", "signal"],
            registry=registry,
        )
        self.quality = Gauge(
            "drift_monitor_quality",
            "Quality metric of the latest window judged on its labels.",
            ["model", "metric"],
            registry=registry,
        )
        self.estimated = Gauge(
            "drift_monitor_estimated_performance",
            "Estimated metric of the latest closed window, from its predictions alone "
            "(bound: value, lower, upper of its band).",
            ["model", "metric", "bound"],
            registry=registry,
        )
        self.reconciled = Gauge(
            "drift_monitor_reconciled_performance",
            "The newest reconciled window's metric (source: estimated, or realized from labels).",
            ["model", "metric", "source"],
            registry=registry,
        )
        self.estimation_error = Gauge(
            "drift_monitor_estimation_error",
            "Realized minus estimated metric of the newest window whose labels came.",
            ["model", "metric"],
            registry=registry,
        )
        self.estimator_stale = Gauge(
            "drift_monitor_estimator_stale",
            "1 when the last estimation.stale_windows reconciled windows all missed the band.",
            ["model"],
            registry=registry,
        )


def _observe_all(histogram: Histogram, values: list[float]) -> None:
    """``histogram.observe`` of every value, in one pass: a batch joins thousands of labels,
    and one call per value cost as much as the rest of the batch's metrics."""
    bounds = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    array = np.asarray(values, dtype=np.float64)
    if bounds is None or buckets is None or total is None or not np.isfinite(array).all():
        for value in values:  # another prometheus_client, or a value observe must judge
            histogram.observe(value)
        return
    counts = np.bincount(np.searchsorted(bounds, array, side="left"), minlength=len(bounds))
    for index in np.flatnonzero(counts).tolist():
        buckets[index].inc(int(counts[index]))
    total.inc(float(array.sum()))
