"""The validated configuration: one frozen dataclass per section, and what follows from it.

These classes are all the rest of drift-monitor sees of its configuration, and the
only place a default is written: :mod:`monitor.config.sections` declares how each
key is read and checked, never what an absent key means. Frozen (with read-only
mappings), so a loaded config can be shared by every thread and compared on reload.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal, NamedTuple

from detectors.methods import (
    CATEGORICAL_METHODS,
    DEFAULT_THRESHOLDS,
    NUMERIC_METHODS,
    QUALITY_METHODS,
    Thresholds,
)

SignalKind = Literal["numeric", "categorical"]
Task = Literal["binary", "multiclass", "regression"]
SinkType = Literal[
    "webhook", "slack", "pagerduty", "alertmanager", "kafka", "airflow", "github_actions"
]
AlertKind = Literal[
    "feature_drift",
    "prediction_drift",
    "data_quality",
    "performance",
    "multivariate_drift",
    "estimated_performance",
    "segment_share_drift",
    "version_comparison",
]
AlertSeverity = Literal["warning", "critical"]
Grouping = Literal["signal", "model"]
LogFormat = Literal["json", "text"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
Correction = Literal["bonferroni", "holm", "none"]
ThinReference = Literal["skip", "whole"]
UnknownVersion = Literal["skip", "dead_letter"]
VERSION_PLACEHOLDER: Final = "{model_version}"
PayloadFormat = Literal["drift-monitor", "kserve-cloudevents", "open-inference"]
KafkaProperty = str | int | float | bool


def _empty_mapping() -> Mapping[str, Any]:
    return MappingProxyType({})


def _default_thresholds() -> Mapping[str, Thresholds]:
    # A copy, so that nothing done to the method table can reach a loaded config.
    return MappingProxyType(dict(DEFAULT_THRESHOLDS))


@dataclass(frozen=True, slots=True)
class KafkaConfig:
    """Where events come from and where undecodable ones go."""

    bootstrap_servers: str | None = None  # None only for the demo; `run` insists on it
    group_id: str = "drift-monitor"
    predictions_topic: str = "predictions"
    labels_topic: str | None = None
    dead_letter_topic: str = "predictions.dlq"
    consumer: Mapping[str, KafkaProperty] = field(default_factory=_empty_mapping)  # librdkafka
    producer: Mapping[str, KafkaProperty] = field(default_factory=_empty_mapping)
    batch_size: int = 5000
    batch_timeout_ms: int = 200
    max_message_bytes: int = 1048576
    create_topics: bool = False  # create missing topics at start-up instead of waiting for them
    topic_partitions: int = 1  # for topics created that way (and in the hint when missing)


PREDICTION_FIELDS: Final = (
    "model",
    "features",
    "prediction",
    "ts",
    "event_id",
    "model_version",
    "label",
    "tags",
)
LABEL_FIELDS: Final = ("model", "event_id", "label", "ts")


@dataclass(frozen=True, slots=True)
class PairingConfig:
    """How long (in event time), and how many, requests wait for their response (or
    responses for their request) when a model server logs them as two CloudEvents."""

    ttl_seconds: float = 3600.0
    max_pending: int = 100_000


@dataclass(frozen=True, slots=True)
class PayloadConfig:
    """What the predictions topic carries: the contract's events, or a model server's logs.

    ``drift-monitor`` events may name their fields differently: each mapping goes from
    the contract's name to yours (``ts: timestamp``); unmapped fields keep the contract's
    name. ``kserve-cloudevents`` (V1 bodies) and ``open-inference`` (V2 tensors) are
    requests and responses as CloudEvents, joined by id (``monitor.payloads``); the
    model is named by a CloudEvent attribute, and each model says in its own ``payload``
    where its features and prediction are. Feature names are declared per model.
    """

    format: PayloadFormat = "drift-monitor"
    prediction_fields: Mapping[str, str] = field(default_factory=_empty_mapping)
    label_fields: Mapping[str, str] = field(default_factory=_empty_mapping)
    model_attribute: str = "inferenceservicename"
    version_attribute: str | None = None
    request_type: str = "org.kubeflow.serving.inference.request"
    response_type: str = "org.kubeflow.serving.inference.response"
    pairing: PairingConfig = field(default_factory=PairingConfig)

    @property
    def from_model_server(self) -> bool:
        """True when the topic holds a model server's requests and responses."""
        return self.format != "drift-monitor"

    def prediction_field(self, name: str) -> str:
        return self.prediction_fields.get(name, name)

    def label_field(self, name: str) -> str:
        return self.label_fields.get(name, name)


@dataclass(frozen=True, slots=True)
class RedisConfig:
    """Where detector state, offsets and recent results are kept."""

    url: str = "redis://127.0.0.1:6379/0"
    key_prefix: str = "drift-monitor"
    history_size: int = 1000
    counts_history_size: int = 200  # closed windows' binned counts kept for the report
    cluster: bool = False  # a Redis Cluster: url names one node, the client finds the rest


@dataclass(frozen=True, slots=True)
class HttpConfig:
    """The listener for /metrics, /healthz and /readyz."""

    host: str = "0.0.0.0"
    port: int = 9108


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    """How the CLI configures logging (the library itself never does)."""

    format: LogFormat = "json"
    level: LogLevel = "INFO"
    kafka_level: LogLevel = "WARNING"  # librdkafka's own lines (connection failures, ...)


@dataclass(frozen=True, slots=True)
class ReferenceConfig:
    """Where a model's reference distribution comes from: a file or the stream's first events;
    or one per model version (``by_version``, or a ``path`` naming ``{model_version}``),
    each version then monitored apart (``monitor.versions``)."""

    path: str | None = None
    from_stream: int | None = None
    bins: int = 50
    max_categories: int = 100
    by_version: Mapping[str, str] = field(default_factory=_empty_mapping)
    # A version without a reference file warms up from its own first from_stream events;
    # without from_stream its events are skipped (counted) or dead-lettered.
    unknown_version: UnknownVersion = "skip"

    @property
    def per_version(self) -> bool:
        """True when each model version has its own reference (and its own windows)."""
        return bool(self.by_version) or (self.path is not None and VERSION_PLACEHOLDER in self.path)


@dataclass(frozen=True, slots=True)
class WindowConfig:
    """Tumbling windows, by event count or by event time."""

    events: int | None = None
    seconds: float | None = None
    allowed_lateness_seconds: float = 0.0
    min_events: int = 100
    # A partition whose events no batch has carried for this long (wall clock) stops
    # holding the watermark back: longer than a rebalance or a restart takes.
    idle_partition_seconds: float = 300.0


@dataclass(frozen=True, slots=True)
class DriftConfig:
    """Which methods judge a model's signals, and at which effect sizes."""

    numeric_methods: tuple[str, ...] = NUMERIC_METHODS
    categorical_methods: tuple[str, ...] = CATEGORICAL_METHODS
    quality_methods: tuple[str, ...] = QUALITY_METHODS
    # Joint methods over the numeric features. Only correlation by default: a mean shift
    # is what the univariate methods already report, feature by feature.
    multivariate_methods: tuple[str, ...] = ("correlation",)
    thresholds: Mapping[str, Thresholds] = field(default_factory=_default_thresholds)
    alpha: float = 0.01
    correction: Correction = "bonferroni"
    # The false-alarm budget (at most one of the two): when set, each window's family-wise
    # significance is derived from it (``monitor.alerts.budget``) and ``alpha`` is only the
    # fallback for a window whose rate cannot be observed, and for performance verdicts.
    false_alarms_per_week: float | None = None
    false_alarms_per_million_events: float | None = None
    # Looks at each count window: 1 judges it when it closes; K > 1 also judges the open
    # window after every N/K events, each look at alpha / K (alpha spending, Bonferroni over
    # the looks), so a drift can alert before its window closes.
    checkpoints: int = 1

    @property
    def budgeted(self) -> bool:
        """True when a false-alarm budget sets the significance of each window."""
        return self.false_alarms_per_week is not None or (
            self.false_alarms_per_million_events is not None
        )


class Levels(NamedTuple):
    """A rule's own alert levels for one method; None keeps the drift test's level."""

    warn: float | None = None
    critical: float | None = None


@dataclass(frozen=True, slots=True)
class AlertRuleConfig:
    """When a model's results become an alert, and when that alert is over.

    A rule breaches when the drift test flags a selected signal *and* the score
    reaches the rule's ``warn`` level (by default the test's own); a window that
    does not breach is clear: resolving uses the same decision as firing.

    ``for_windows`` left out is 1 under a false-alarm budget (the budget already
    holds false alarms down, so waiting only delays the alert) and 2 otherwise;
    :func:`firing_windows` gives the number in force. ``resolve_ratio`` and
    ``cooldown_seconds`` are deprecated: accepted, ignored, and warned about
    (see :func:`deprecations`).
    """

    name: str
    kinds: tuple[str, ...] = (
        "feature_drift",
        "prediction_drift",
        "data_quality",
        "multivariate_drift",
        "estimated_performance",
        "segment_share_drift",
        "version_comparison",
    )
    signals: tuple[str, ...] = ()  # empty: every signal of the model
    methods: tuple[str, ...] = ()  # empty: every method the model runs
    thresholds: Mapping[str, Levels] = field(default_factory=_empty_mapping)
    for_windows: int | None = None
    resolve_windows: int = 2
    resolve_ratio: float | None = None  # deprecated, ignored
    cooldown_seconds: float | None = None  # deprecated, ignored
    grouping: Grouping = "signal"


FOR_WINDOWS_WITHOUT_BUDGET = 2
"""Breaching windows in a row a rule waits for when neither it nor a budget says otherwise."""


def firing_windows(rule: AlertRuleConfig, drift: DriftConfig) -> int:
    """Breaching windows in a row before ``rule`` fires: its own ``for_windows``, else 1
    under a false-alarm budget, else :data:`FOR_WINDOWS_WITHOUT_BUDGET`."""
    if rule.for_windows is not None:
        return rule.for_windows
    return 1 if drift.budgeted else FOR_WINDOWS_WITHOUT_BUDGET


def deprecations(config: Config) -> list[str]:
    """Keys that still load but no longer do anything, each with what replaced it."""
    found = []
    for name, model in config.models.items():
        for rule in model.alert_rules.values():
            at = f"models.{name}.alert_rules.{rule.name}"
            if rule.resolve_ratio is not None:
                found.append(
                    f"{at}.resolve_ratio: deprecated and ignored; an alert resolves after "
                    "resolve_windows windows in a row in which the drift test does not flag "
                    "it (the same decision as firing). Remove the key."
                )
            if rule.cooldown_seconds is not None:
                found.append(
                    f"{at}.cooldown_seconds: deprecated and ignored; a drift after a resolve "
                    "is a new episode and is always alerted, and one episode is never "
                    "notified twice (flapping is held off by resolve_windows). Remove the key."
                )
    return found


def _default_rules() -> Mapping[str, AlertRuleConfig]:
    return MappingProxyType({"drift": AlertRuleConfig(name="drift")})


@dataclass(frozen=True, slots=True)
class AlertRouteConfig:
    """Extra sinks for a model's alerts of the given severities (``alerts`` gets all of them)."""

    sinks: tuple[str, ...]
    severities: tuple[str, ...] = ("warning", "critical")


@dataclass(frozen=True, slots=True)
class RetrainConfig:
    """When persistent drift asks for a retraining, and where that request goes."""

    sinks: tuple[str, ...]
    min_critical_signals: int = 1
    for_windows: int = 3
    min_interval_seconds: float = 86400.0  # event time between two triggers of one model
    kinds: tuple[str, ...] = ("feature_drift", "prediction_drift", "performance")


@dataclass(frozen=True, slots=True)
class SequentialConfig:
    """A sequential change detector on one ordered stream, owned per Kafka partition.

    ``signal`` is a numeric feature, ``prediction``, or ``error`` (1 when a
    joined prediction was wrong; for regression the absolute error).
    """

    name: str
    signal: str
    detector: str
    params: Mapping[str, KafkaProperty] = field(default_factory=_empty_mapping)


@dataclass(frozen=True, slots=True)
class LabelsConfig:
    """How predictions wait for their ground truth, and when a window's quality is judged."""

    ttl_seconds: float = 604800.0  # a prediction (or an early label) waits at most a week
    max_pending: int = 1_000_000  # predictions plus labels kept waiting, per model
    min_labels: int = 200  # labels a window needs before its quality is judged


ESTIMATED_METRICS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {"binary": ("accuracy", "precision", "recall", "f1", "roc_auc")}
)
"""What each task's estimator estimates (``detectors.estimation``): CBPE for binary
classifiers only, so far (see README, "Estimated performance")."""
DEFAULT_ESTIMATED_METRICS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {"binary": ("accuracy", "roc_auc")}
)


@dataclass(frozen=True, slots=True)
class EstimationConfig:
    """Estimated performance before the labels come (CBPE, binary classifiers).

    ``min_effect`` and ``critical_effect`` are the drop of an estimated metric below its
    reference value (absolute: 0.05 is five points of accuracy) at which a window warns
    and is critical; the drop must also be outside the estimate's band. ``stale_windows``
    reconciled windows in a row whose realized metric falls outside the estimate's band
    mark the estimator stale.
    """

    enabled: bool = True
    metrics: tuple[str, ...] = ()  # empty: the task's defaults
    min_effect: float = 0.05
    critical_effect: float = 0.1
    stale_windows: int = 3

    def metrics_for(self, task: str | None) -> tuple[str, ...]:
        """The metrics estimated for a model of ``task``: the configured ones, else defaults."""
        return self.metrics or DEFAULT_ESTIMATED_METRICS.get(task or "", ())


@dataclass(frozen=True, slots=True)
class SegmentsConfig:
    """The keys that split a model's traffic into segments, each judged against the
    reference rows of the same segment (``detectors.segments``); no keys: not segmented.

    Each key (``tags.<name>`` or ``features.<categorical feature>``) has at most ``top``
    segments, its most frequent reference values, plus ``__other__`` for the rest.
    """

    keys: tuple[str, ...] = ()
    top: int = 20
    min_events: int = 100  # a segment's window with fewer is skipped, with that reason
    min_reference_events: int = 200  # a segment with fewer reference rows is thin
    thin_reference: ThinReference = "skip"  # or judge thin segments against the whole


@dataclass(frozen=True, slots=True)
class ModelPayloadConfig:
    """Where a model's features and prediction are in a model server's requests and responses.

    ``columns`` names the values of a V1 instance given as a list, by position, and the
    columns of a V2 request's only input tensor; ``tensors`` names the columns of V2
    input tensors by tensor name. ``output`` is the V2 output tensor (or the key of V1
    prediction objects) holding the prediction; ``classes`` names the columns of a
    prediction given as class probabilities (default ``"0"``, ``"1"``, ...).
    """

    columns: tuple[str, ...] = ()
    tensors: Mapping[str, tuple[str, ...]] = field(default_factory=_empty_mapping)
    output: str | None = None
    classes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """One monitored model; ``name`` is the value of ``model`` in its events."""

    name: str
    reference: ReferenceConfig
    window: WindowConfig
    features: Mapping[str, SignalKind]
    prediction: SignalKind | None = None
    task: Task | None = None
    decision_threshold: float = 0.5
    positive_class: str | None = None  # binary only; None means "1"
    alerts: tuple[str, ...] = ()
    drift: DriftConfig = field(default_factory=DriftConfig)
    alert_rules: Mapping[str, AlertRuleConfig] = field(default_factory=_default_rules)
    alert_routes: tuple[AlertRouteConfig, ...] = ()
    retrain: RetrainConfig | None = None
    labels: LabelsConfig = field(default_factory=LabelsConfig)
    sequential: Mapping[str, SequentialConfig] = field(default_factory=_empty_mapping)
    estimation: EstimationConfig | None = None
    payload: ModelPayloadConfig = field(default_factory=ModelPayloadConfig)

    @property
    def estimates(self) -> bool:
        """True when the model's windows get estimated performance."""
        return self.estimation is not None and self.estimation.enabled

    segments: SegmentsConfig = field(default_factory=SegmentsConfig)
    compare_versions: tuple[str, ...] = ()
    """``(champion, challenger)``: two versions live at once, compared with each other over
    the same event-time windows (``monitor.versus``); empty: none compared."""


@dataclass(frozen=True, slots=True)
class SinkConfig:
    """An alert destination; secrets are named by ``secret_env``, never written in the file."""

    name: str
    type: SinkType
    url: str | None = None
    topic: str | None = None
    secret_env: str | None = None
    timeout_seconds: float = 5.0
    headers: Mapping[str, str] = field(default_factory=_empty_mapping)
    max_attempts: int = 15  # with the default backoff: given up after 20 to 40 minutes
    backoff_initial_seconds: float = 1.0
    backoff_max_seconds: float = 300.0
    ref: str | None = None  # github_actions: the branch or tag the workflow runs on


@dataclass(frozen=True, slots=True)
class AlertingConfig:
    """Retention of the alert audit trail and dead letters, and failover of deliveries."""

    audit_size: int = 10_000
    dead_letter_size: int = 10_000
    claim_idle_seconds: float = 30.0


@dataclass(frozen=True, slots=True)
class Config:
    """The whole validated configuration, immutable once loaded."""

    kafka: KafkaConfig
    redis: RedisConfig
    http: HttpConfig
    logging: LoggingConfig
    models: Mapping[str, ModelConfig]
    sinks: Mapping[str, SinkConfig]
    alerting: AlertingConfig = field(default_factory=AlertingConfig)
    payload: PayloadConfig = field(default_factory=PayloadConfig)
