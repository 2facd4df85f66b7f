"""What drift-monitor's configuration file may say: a field table for each section, with its rules.

Each part below declares one section: the field table (key -> check) that
reads it into its dataclass of :mod:`monitor.config.model`, preceded by what
only that section uses: the problems its keys can have and the rules that
relate several of its keys (``window``: exactly one of ``events`` and
``seconds``). A table never gives a default; an absent key takes the
dataclass's. :class:`~monitor.config.schema.Section` checks at import that each
table covers its dataclass, so a field cannot be added there and forgotten here.

Sections are declared innermost first (a model's ``window`` before the model),
because a table uses the tables of the sections it contains; :data:`CONFIG`,
the whole file, comes last, with the rules that reach across sections (the
sinks a model names exist and can carry what it sends them).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Final, get_args

from detectors.methods import (
    ALL_METHODS,
    CATEGORICAL_METHODS,
    DEFAULT_THRESHOLDS,
    MULTIVARIATE_METHODS,
    NUMERIC_METHODS,
    QUALITY_METHODS,
    Thresholds,
)
from detectors.sequential import DETECTORS
from detectors.sequential import NUMERIC as SEQUENTIAL_NUMERIC
from detectors.sequential import make as make_detector
from monitor.config.model import (
    ESTIMATED_METRICS,
    LABEL_FIELDS,
    PREDICTION_FIELDS,
    VERSION_PLACEHOLDER,
    AlertingConfig,
    AlertKind,
    AlertRouteConfig,
    AlertRuleConfig,
    AlertSeverity,
    Config,
    Correction,
    DriftConfig,
    EstimationConfig,
    Grouping,
    HttpConfig,
    KafkaConfig,
    KafkaProperty,
    LabelsConfig,
    Levels,
    LogFormat,
    LoggingConfig,
    LogLevel,
    ModelConfig,
    ModelPayloadConfig,
    PairingConfig,
    PayloadConfig,
    PayloadFormat,
    RedisConfig,
    ReferenceConfig,
    RetrainConfig,
    SegmentsConfig,
    SequentialConfig,
    SignalKind,
    SinkConfig,
    SinkType,
    Task,
    ThinReference,
    UnknownVersion,
    WindowConfig,
)
from monitor.config.schema import (
    Check,
    CheckError,
    Section,
    above,
    apply_check,
    at_least,
    between,
    boolean,
    describe,
    integer,
    join_path,
    names,
    number,
    one_of,
    optional,
    same_check,
    short_repr,
    strictly_between,
    suggest,
    table,
    text,
    text_where,
    walk,
)

# --------------------------------------------------------------------------- kafka


def _kafka_topic_problem(topic: str) -> str | None:
    if len(topic) > 249 or topic in (".", "..") or not re.fullmatch(r"[A-Za-z0-9._-]+", topic):
        return "not a valid Kafka topic name (letters, digits, '.', '_', '-'; at most 249)"
    return None


_topic = text_where(_kafka_topic_problem)


def _kafka_property(value: object, path: str) -> KafkaProperty:
    """A librdkafka property value: any scalar, passed through as written."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool | int) or (isinstance(value, float) and math.isfinite(value)):
        return value
    raise CheckError.at(path, f"expected a string, number or boolean, got {describe(value)}")


_RESERVED_PRODUCER: Final = {"bootstrap.servers": "set kafka.bootstrap_servers instead"}

_RESERVED_CONSUMER: Final = _RESERVED_PRODUCER | {
    "group.id": "set kafka.group_id instead",
    # Offsets may be committed only once the state they cover is checkpointed in Redis.
    "enable.auto.commit": "the daemon commits offsets itself, after each checkpoint",
}


def _reserved_property(reserved: Mapping[str, str]) -> Callable[[str], str | None]:
    """Properties the daemon sets itself, so a user value would be ignored or harmful."""

    def problem(key: str) -> str | None:
        return reserved.get(key) if key else "must not be empty"

    return problem


def _kafka_rules(kafka: KafkaConfig, present: frozenset[str], path: str) -> Iterator[str]:
    # Reading our own dead letters (or labels) as predictions would loop or corrupt the stream.
    if kafka.dead_letter_topic == kafka.predictions_topic:
        yield f"{join_path(path, 'dead_letter_topic')}: must differ from predictions_topic"
    if kafka.labels_topic in (kafka.predictions_topic, kafka.dead_letter_topic):
        yield (
            f"{join_path(path, 'labels_topic')}: "
            "must differ from predictions_topic and dead_letter_topic"
        )


_KAFKA = Section(
    KafkaConfig,
    {
        "bootstrap_servers": optional(text),
        "group_id": text,
        "predictions_topic": _topic,
        "labels_topic": optional(_topic),
        "dead_letter_topic": _topic,
        "consumer": table(
            same_check(_kafka_property), key_problem=_reserved_property(_RESERVED_CONSUMER)
        ),
        "producer": table(
            same_check(_kafka_property), key_problem=_reserved_property(_RESERVED_PRODUCER)
        ),
        "batch_size": integer(between(1, 1_000_000)),
        "batch_timeout_ms": integer(between(1, 60_000)),
        "max_message_bytes": integer(at_least(1)),
        "create_topics": boolean,
        "topic_partitions": integer(between(1, 10_000)),
    },
    _kafka_rules,
)


# --------------------------------------------------------------------------- payload


def _field_of(fields: tuple[str, ...]) -> Callable[[str], str | None]:
    return lambda key: None if key in fields else f"not an event field; {suggest(key, fields)}"


def _wire_names_clash(
    fields: tuple[str, ...], renamed: Mapping[str, str], path: str
) -> Iterator[str]:
    """Two fields may not end up under one name (mapped, or a mapped one onto an unmapped)."""
    owners: dict[str, list[str]] = {}
    for name in fields:
        owners.setdefault(renamed.get(name, name), []).append(name)
    for wire, clashing in owners.items():
        if len(clashing) > 1:
            yield f"{path}: {' and '.join(clashing)} would both be read from {wire!r}"


_MODEL_SERVER_KEYS: Final = (
    "model_attribute",
    "version_attribute",
    "request_type",
    "response_type",
    "pairing",
)


def _payload_rules(payload: PayloadConfig, present: frozenset[str], path: str) -> Iterator[str]:
    yield from _wire_names_clash(
        PREDICTION_FIELDS, payload.prediction_fields, join_path(path, "prediction_fields")
    )
    yield from _wire_names_clash(
        LABEL_FIELDS, payload.label_fields, join_path(path, "label_fields")
    )
    if payload.from_model_server:
        if "prediction_fields" in present:
            yield (
                f"{join_path(path, 'prediction_fields')}: only applies to format drift-monitor "
                f"(a {payload.format} payload is mapped per model, in models.<model>.payload)"
            )
        if payload.request_type == payload.response_type:
            yield f"{join_path(path, 'response_type')}: must differ from request_type"
    else:
        for key in sorted(present & set(_MODEL_SERVER_KEYS)):
            yield (
                f"{join_path(path, key)}: only applies to format kserve-cloudevents or "
                "open-inference"
            )


_PAIRING = Section(
    PairingConfig,
    {"ttl_seconds": number(above(0)), "max_pending": integer(at_least(1))},
)

_PAYLOAD = Section(
    PayloadConfig,
    {
        "format": one_of(get_args(PayloadFormat)),
        "prediction_fields": table(same_check(text), key_problem=_field_of(PREDICTION_FIELDS)),
        "label_fields": table(same_check(text), key_problem=_field_of(LABEL_FIELDS)),
        "model_attribute": text,
        "version_attribute": optional(text),
        "request_type": text,
        "response_type": text,
        "pairing": _PAIRING,
    },
    _payload_rules,
)

_MODEL_PAYLOAD = Section(
    ModelPayloadConfig,
    {
        "columns": names("column"),
        "tensors": table(same_check(names("column"))),
        "output": optional(text),
        "classes": names("class"),
    },
)


# --------------------------------------------------------------------------- redis


def _scheme_problem(*schemes: str) -> Callable[[str], str | None]:
    def problem(url: str) -> str | None:
        if url.startswith(schemes):
            return None
        return f"expected a URL starting with {' or '.join(schemes)}, got {short_repr(url)}"

    return problem


def _key_prefix_problem(prefix: str) -> str | None:
    # Braces mark Redis Cluster hash tags; in the prefix they would override the key layout's own.
    return "must not contain '{' or '}'" if "{" in prefix or "}" in prefix else None


_REDIS = Section(
    RedisConfig,
    {
        "url": text_where(_scheme_problem("redis://", "rediss://", "unix://")),
        "key_prefix": text_where(_key_prefix_problem),
        "history_size": integer(at_least(1)),
        "counts_history_size": integer(at_least(0)),
        "cluster": boolean,
    },
)


# --------------------------------------------------------------------------- http

_HTTP = Section(HttpConfig, {"host": text, "port": integer(between(0, 65535))})


# --------------------------------------------------------------------------- logging

_LOGGING = Section(
    LoggingConfig,
    {
        "format": one_of(get_args(LogFormat)),
        "level": one_of(get_args(LogLevel)),
        "kafka_level": one_of(get_args(LogLevel)),
    },
)


# --------------------------------------------------------------------------- a model's reference

_REFERENCE_SUFFIXES: Final = (".jsonl", ".json", ".ndjson", ".csv", ".parquet")


def _reference_path_problem(path: str) -> str | None:
    if path.lower().endswith(_REFERENCE_SUFFIXES):
        return None
    return f"expected a file ending in {', '.join(_REFERENCE_SUFFIXES)}, got {short_repr(path)}"


def _exactly_one(path: str, first: tuple[str, object], second: tuple[str, object]) -> Iterator[str]:
    (a, a_value), (b, b_value) = first, second
    if a_value is None and b_value is None:
        yield f"{path}: needs either {a!r} or {b!r}"
    elif a_value is not None and b_value is not None:
        yield f"{path}: {a!r} and {b!r} exclude each other; keep one"


def _reference_rules(ref: ReferenceConfig, present: frozenset[str], path: str) -> Iterator[str]:
    if not ref.per_version:
        yield from _exactly_one(path, ("path", ref.path), ("from_stream", ref.from_stream))
        if "unknown_version" in present:
            yield (
                f"{join_path(path, 'unknown_version')}: only applies to references per model "
                f"version (by_version, or a path naming {VERSION_PLACEHOLDER})"
            )
        return
    if ref.by_version and ref.path is not None:
        yield f"{path}: 'by_version' and 'path' exclude each other; keep one"
    if ref.path is not None and ref.path.count(VERSION_PLACEHOLDER) > 1:
        yield f"{join_path(path, 'path')}: names {VERSION_PLACEHOLDER} more than once"
    if ref.from_stream is not None and "unknown_version" in present:
        yield (
            f"{join_path(path, 'unknown_version')}: with from_stream, a version without a "
            "reference file warms up from its own first events; leave one of them out"
        )


_REFERENCE = Section(
    ReferenceConfig,
    {
        "path": optional(text_where(_reference_path_problem)),
        "from_stream": optional(integer(at_least(1))),
        "bins": integer(between(4, 1000)),
        "max_categories": integer(between(1, 10_000)),
        "by_version": table(same_check(text_where(_reference_path_problem))),
        "unknown_version": one_of(get_args(UnknownVersion)),
    },
    _reference_rules,
)


# --------------------------------------------------------------------------- a model's window


def _window_rules(window: WindowConfig, present: frozenset[str], path: str) -> Iterator[str]:
    yield from _exactly_one(path, ("events", window.events), ("seconds", window.seconds))
    if window.events is not None:
        event_time_only = {"allowed_lateness_seconds", "min_events", "idle_partition_seconds"}
        for key in sorted(present & event_time_only):
            yield f"{join_path(path, key)}: only applies to event-time windows ('seconds')"


_WINDOW = Section(
    WindowConfig,
    {
        "events": optional(integer(at_least(1))),
        "seconds": optional(number(above(0))),
        "allowed_lateness_seconds": number(at_least(0)),
        "min_events": integer(at_least(1)),
        "idle_partition_seconds": number(above(0)),
    },
    _window_rules,
)


# --------------------------------------------------------------------------- a model's drift


def _method_name_problem(name: str) -> str | None:
    return None if name in ALL_METHODS else f"unknown method; {suggest(name, ALL_METHODS)}"


_THRESHOLD_FIELDS: Final[Mapping[str, Check[object]]] = {
    "warn": number(above(0)),
    "critical": number(above(0)),
}


def _threshold(method: str) -> Check[Thresholds]:
    """One method's thresholds; the levels not given keep the method's defaults."""

    def threshold(value: object, path: str) -> Thresholds:
        given = walk(value, path, _THRESHOLD_FIELDS, frozenset())
        merged = DEFAULT_THRESHOLDS[method]._replace(**given)
        if merged.warn > merged.critical:
            raise CheckError.at(
                path, f"warn ({merged.warn}) must not be above critical ({merged.critical})"
            )
        return merged

    return threshold


def _merged_thresholds(value: object, path: str) -> Mapping[str, Thresholds]:
    """User thresholds over the defaults, so a config names only what it changes."""
    given = table(_threshold, key_problem=_method_name_problem)(value, path)
    return MappingProxyType(dict(DEFAULT_THRESHOLDS) | dict(given))


def _drift_rules(drift: DriftConfig, present: frozenset[str], path: str) -> Iterator[str]:
    budgets = ("false_alarms_per_week", "false_alarms_per_million_events")
    given = [key for key in budgets if key in present and getattr(drift, key) is not None]
    if len(given) > 1:
        yield f"{path}: give one false-alarm budget, not both {given[0]} and {given[1]}"
    if given and drift.correction == "none":
        yield (
            f"{join_path(path, 'correction')}: a false-alarm budget needs a correction over the "
            "window's tests (bonferroni or holm), not none"
        )


_DRIFT = Section(
    DriftConfig,
    {
        "numeric_methods": names("method", NUMERIC_METHODS),
        "categorical_methods": names("method", CATEGORICAL_METHODS),
        "quality_methods": names("method", QUALITY_METHODS),
        "multivariate_methods": names("method", MULTIVARIATE_METHODS),
        "thresholds": _merged_thresholds,
        "alpha": number(strictly_between(0, 1)),
        "correction": one_of(get_args(Correction)),
        "false_alarms_per_week": optional(number(above(0))),
        "false_alarms_per_million_events": optional(number(above(0))),
        "checkpoints": integer(between(1, 100)),
    },
    _drift_rules,
)


# --------------------------------------------------------------------------- a model's alert_rules

_LEVEL_FIELDS: Final[Mapping[str, Check[object]]] = {
    "warn": number(above(0)),
    "critical": number(above(0)),
}


def _levels(value: object, path: str) -> Levels:
    return Levels(**walk(value, path, _LEVEL_FIELDS, frozenset()))


_ALERT_RULE = Section(
    AlertRuleConfig,
    {
        "kinds": names("alert kind", get_args(AlertKind)),
        "signals": names("signal"),
        "methods": names("method", ALL_METHODS),
        "thresholds": table(same_check(_levels), key_problem=_method_name_problem),
        "for_windows": optional(integer(between(1, 10_000))),
        "resolve_windows": integer(between(1, 10_000)),
        "resolve_ratio": optional(number(between(0.01, 1))),
        "cooldown_seconds": optional(number(at_least(0))),
        "grouping": one_of(get_args(Grouping)),
    },
    name_field="name",
)


# --------------------------------------------------------------------------- a model's alert_routes

_ALERT_ROUTE = Section(
    AlertRouteConfig,
    {
        "sinks": names("sink"),
        "severities": names("severity", get_args(AlertSeverity)),
    },
)


def _routes(value: object, path: str) -> tuple[AlertRouteConfig, ...]:
    if not isinstance(value, list | tuple):
        raise CheckError.at(path, f"expected a list of routes, got {describe(value)}")
    routes: list[AlertRouteConfig] = []
    problems: list[str] = []
    for i, item in enumerate(value):
        try:
            routes.append(apply_check(_ALERT_ROUTE, item, f"{path}[{i}]"))
        except CheckError as exc:
            problems.extend(exc.problems)
    if problems:
        raise CheckError(problems)
    return tuple(routes)


# --------------------------------------------------------------------------- a model's retrain

_RETRAIN = Section(
    RetrainConfig,
    {
        "sinks": names("sink"),
        "min_critical_signals": integer(between(1, 10_000)),
        "for_windows": integer(between(1, 10_000)),
        "min_interval_seconds": number(at_least(0)),
        "kinds": names("alert kind", get_args(AlertKind)),
    },
)


# --------------------------------------------------------------------------- a model's sequential

_SEQUENTIAL = Section(
    SequentialConfig,
    {
        "signal": text,
        "detector": one_of(tuple(DETECTORS)),
        "params": table(same_check(_kafka_property)),
    },
    name_field="name",
)


# --------------------------------------------------------------------------- a model's labels

_LABELS = Section(
    LabelsConfig,
    {
        "ttl_seconds": number(above(0)),
        "max_pending": integer(at_least(1)),
        "min_labels": integer(at_least(1)),
    },
)


# --------------------------------------------------------------------------- a model's segments

_SEGMENTS = Section(
    SegmentsConfig,
    {
        "keys": names("segment key"),
        "top": integer(between(1, 1000)),
        "min_events": integer(at_least(1)),
        "min_reference_events": integer(at_least(1)),
        "thin_reference": one_of(get_args(ThinReference)),
    },
)


def _segments(value: object, path: str) -> SegmentsConfig:
    """``[tags.region, features.device]``, or the mapping with ``keys`` and the settings."""
    if isinstance(value, list | tuple):
        return SegmentsConfig(keys=apply_check(names("segment key"), value, path))
    return apply_check(_SEGMENTS, value, path)


def _segment_keys_fit_model(model: ModelConfig, path: str) -> Iterator[str]:
    """A key is a tag or a categorical feature, and names its segments unambiguously."""
    categorical = [name for name, kind in model.features.items() if kind == "categorical"]
    labels: dict[str, str] = {}
    for i, key in enumerate(model.segments.keys):
        at = f"{path}[{i}]"
        source, _, name = key.partition(".")
        if source not in ("tags", "features") or not name:
            yield f"{at}: {key!r} is not tags.<name> or features.<name>"
            continue
        if source == "features" and name not in categorical:
            known = ", ".join(categorical) or "none"
            yield (
                f"{at}: segments are cut by a categorical feature; {name!r} is not one "
                f"(categorical features: {known})"
            )
            continue
        if name in labels:
            yield f"{at}: {key!r} names its segments like {labels[name]!r} ({name}=...)"
        labels[name] = key


def _compared_versions_fit_model(model: ModelConfig, path: str) -> Iterator[str]:
    """Champion and challenger: two versions, each with a reference file, compared over the
    same event-time windows (count windows of two versions close at different times)."""
    compared = model.compare_versions
    if not compared:
        return
    if len(compared) != 2:
        yield f"{path}: names the champion and the challenger, two versions; got {len(compared)}"
        return
    reference = model.reference
    if not reference.per_version:
        yield (
            f"{path}: compares model versions, so needs a reference per version "
            f"(reference.by_version, or a reference.path naming {VERSION_PLACEHOLDER})"
        )
        return
    if model.window.seconds is None:
        yield (
            f"{path}: versions are compared over the same event-time windows; "
            "set window.seconds (count windows of two versions close at different times)"
        )
    for i, version in enumerate(compared):
        if "=" in version:
            yield f"{path}[{i}]: a compared version may not hold '=' ({version!r})"
        elif not _has_reference_file(reference, version):
            known = ", ".join(sorted(reference.by_version)) or "none"
            yield (
                f"{path}[{i}]: version {version!r} has no reference file "
                f"(versions in reference.by_version: {known})"
                if reference.by_version
                else f"{path}[{i}]: version {version!r} has no reference file at {reference.path}"
            )


def _has_reference_file(reference: ReferenceConfig, version: str) -> bool:
    if reference.by_version:
        return version in reference.by_version
    assert reference.path is not None  # a reference per version names one or the other
    return Path(reference.path.replace(VERSION_PLACEHOLDER, version)).is_file()


# --------------------------------------------------------------------------- models


def _feature_name_problem(name: str) -> str | None:
    if not name:
        return "must not be empty"
    if name == "prediction":
        return "'prediction' is not a feature name; monitor it with the model's 'prediction' key"
    return None


def _model_rules(model: ModelConfig, present: frozenset[str], path: str) -> Iterator[str]:
    if model.task == "regression" and model.prediction == "categorical":
        yield f"{join_path(path, 'prediction')}: a regression model's prediction must be numeric"
    if model.task != "binary":
        # Without a task, the positive class still picks which probability a numeric
        # prediction is read from (a probability object, or a model server's output).
        ignored = {"decision_threshold", "positive_class"}
        if model.task is None and model.prediction == "numeric":
            ignored.remove("positive_class")
        for key in sorted(present & ignored):
            yield f"{join_path(path, key)}: only applies to task: binary"
    if model.estimation is not None:
        yield from _estimation_fits_model(model.estimation, model, join_path(path, "estimation"))
    for detector in model.sequential.values():
        yield from _sequential_fits_model(
            detector, model, join_path(join_path(path, "sequential"), detector.name)
        )
    if model.drift.checkpoints > 1 and model.window.events is None:
        yield (
            f"{join_path(join_path(path, 'drift'), 'checkpoints')}: only count windows "
            "(window.events) are looked at before they close"
        )
    elif model.window.events is not None and model.drift.checkpoints > model.window.events:
        yield (
            f"{join_path(join_path(path, 'drift'), 'checkpoints')}: more looks than the window's "
            f"{model.window.events} events"
        )
    yield from _segment_keys_fit_model(model, join_path(join_path(path, "segments"), "keys"))
    yield from _compared_versions_fit_model(model, join_path(path, "compare_versions"))
    rules_path = join_path(path, "alert_rules")
    for rule in model.alert_rules.values():
        yield from _alert_rule_fits_model(rule, model, join_path(rules_path, rule.name))
    yield from _signal_rules_overlap(list(model.alert_rules.values()), rules_path)


def _estimation_fits_model(
    estimation: EstimationConfig, model: ModelConfig, path: str
) -> Iterator[str]:
    """Estimation needs a task it can estimate, a score to calibrate, and known metrics."""
    known = ESTIMATED_METRICS.get(model.task or "")
    if known is None:
        have = "no task" if model.task is None else f"task {model.task}"
        yield (
            f"{path}: estimated performance needs task: binary (CBPE); the model has {have}"
            + (f" ({model.task} is not estimated yet)" if model.task is not None else "")
        )
        return
    if model.prediction != "numeric":
        yield (
            f"{path}: estimated performance needs a numeric prediction (the score, or the "
            "positive class's probability)"
        )
    for i, metric in enumerate(estimation.metrics):
        if metric not in known:
            yield (
                f"{path}.metrics[{i}]: {metric!r} is not estimated for task {model.task}; "
                f"{suggest(metric, list(known))}"
            )


def _estimation_rules(
    estimation: EstimationConfig, present: frozenset[str], path: str
) -> Iterator[str]:
    if estimation.critical_effect < estimation.min_effect:
        yield (
            f"{join_path(path, 'critical_effect')}: {estimation.critical_effect} is below "
            f"min_effect ({estimation.min_effect})"
        )


def _sequential_fits_model(
    detector: SequentialConfig, model: ModelConfig, path: str
) -> Iterator[str]:
    numeric = [name for name, kind in model.features.items() if kind == "numeric"]
    if model.prediction == "numeric":
        numeric.append("prediction")
    if detector.signal == "error":
        if model.task is None:
            yield f"{join_path(path, 'signal')}: 'error' needs the model's task (and labels_topic)"
    elif detector.signal not in numeric:
        choices = ", ".join([*numeric, "error"])
        yield (
            f"{join_path(path, 'signal')}: {detector.signal!r} is not a numeric signal "
            f"(choose from {choices})"
        )
    elif detector.detector not in SEQUENTIAL_NUMERIC:
        yield (
            f"{join_path(path, 'detector')}: {detector.detector} watches binary error streams; "
            f"use one of {', '.join(sorted(SEQUENTIAL_NUMERIC))} on {detector.signal!r}"
        )
    try:
        make_detector(detector.detector, **dict(detector.params))
    except (TypeError, ValueError) as error:
        yield f"{join_path(path, 'params')}: {error}"


def _alert_rule_fits_model(rule: AlertRuleConfig, model: ModelConfig, path: str) -> Iterator[str]:
    """A rule can only watch what the model measures, and alert no earlier than its test."""
    signals = [*model.features, *(["prediction"] if model.prediction else [])]
    for i, signal in enumerate(rule.signals):
        if signal not in signals:
            yield f"{path}.signals[{i}]: unknown signal {signal!r}; {suggest(signal, signals)}"
    drift = model.drift
    methods = list(
        dict.fromkeys(drift.numeric_methods + drift.categorical_methods + drift.quality_methods)
    )
    for i, method in enumerate(rule.methods):
        if method not in methods:
            hint = suggest(method, methods)
            yield f"{path}.methods[{i}]: the model does not run {method!r}; {hint}"
    for method, levels in rule.thresholds.items():
        test = drift.thresholds[method]
        warn = test.warn if levels.warn is None else levels.warn
        critical = test.critical if levels.critical is None else levels.critical
        at = join_path(join_path(path, "thresholds"), method)
        if warn < test.warn:
            yield (
                f"{at}.warn: {warn} is below the drift test's own warn level ({test.warn}), "
                f"which would never flag it; lower drift.thresholds.{method}.warn instead"
            )
        elif warn > critical:
            yield f"{at}: warn ({warn}) must not be above critical ({critical})"
    if rule.grouping == "model" and rule.name in get_args(AlertKind):
        yield f"{path}: a rule grouped per model must not be named like an alert kind"


def _signal_rules_overlap(rules: list[AlertRuleConfig], path: str) -> Iterator[str]:
    """Two per-signal rules watching one signal would share a dedup key (model/kind/signal)."""
    per_signal = [r for r in rules if r.grouping == "signal"]
    for i, first in enumerate(per_signal):
        for second in per_signal[i + 1 :]:
            kinds = set(first.kinds) & set(second.kinds)
            both_all = not first.signals or not second.signals
            signals = set(first.signals) & set(second.signals)
            if kinds and (both_all or signals):
                yield (
                    f"{join_path(path, second.name)}: watches the same signals and kinds as rule "
                    f"{first.name!r}; per-signal alerts would share a dedup key "
                    "(give each rule its own signals or kinds)"
                )


_ESTIMATION = Section(
    EstimationConfig,
    {
        "enabled": boolean,
        "metrics": names("metric"),
        "min_effect": number(strictly_between(0, 1)),
        "critical_effect": number(strictly_between(0, 1)),
        "stale_windows": integer(between(1, 1000)),
    },
    _estimation_rules,
)

_MODEL = Section(
    ModelConfig,
    {
        "reference": _REFERENCE,
        "window": _WINDOW,
        "features": table(
            same_check(one_of(get_args(SignalKind))),
            key_problem=_feature_name_problem,
            at_least_one=True,
        ),
        "prediction": optional(one_of(get_args(SignalKind))),
        "task": optional(one_of(get_args(Task))),
        "decision_threshold": number(),
        "positive_class": optional(text),
        "alerts": names("sink"),
        "drift": _DRIFT,
        "alert_rules": table(_ALERT_RULE.named, at_least_one=True),
        "alert_routes": _routes,
        "retrain": optional(_RETRAIN),
        "labels": _LABELS,
        "sequential": table(_SEQUENTIAL.named),
        "estimation": optional(_ESTIMATION),
        "segments": _segments,
        "compare_versions": names("model version"),
        "payload": _MODEL_PAYLOAD,
    },
    _model_rules,
    name_field="name",
)


# --------------------------------------------------------------------------- sinks

_SINK_NEEDS: Final[Mapping[str, tuple[str, ...]]] = {
    "webhook": ("url",),
    "slack": ("url",),
    "alertmanager": ("url",),
    "pagerduty": ("secret_env",),  # the routing key
    "kafka": ("topic",),
    "airflow": ("url",),
    "github_actions": ("url", "secret_env", "ref"),  # the token
}


def _env_name_problem(name: str) -> str | None:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        return None
    return f"expected the name of an environment variable, got {short_repr(name)}"


def _sink_rules(sink: SinkConfig, present: frozenset[str], path: str) -> Iterator[str]:
    for key in _SINK_NEEDS[sink.type]:
        if getattr(sink, key) is None:
            yield f"{join_path(path, key)}: required for {sink.type} sinks"
    if sink.type != "github_actions" and sink.ref is not None:
        yield f"{join_path(path, 'ref')}: only applies to github_actions sinks"
    if sink.backoff_initial_seconds > sink.backoff_max_seconds:
        yield (
            f"{join_path(path, 'backoff_initial_seconds')}: must not be above backoff_max_seconds "
            f"({sink.backoff_max_seconds})"
        )
    if sink.type != "kafka" and sink.topic is not None:
        yield f"{join_path(path, 'topic')}: only applies to kafka sinks"
    if sink.type == "kafka" and sink.url is not None:
        yield f"{join_path(path, 'url')}: does not apply to kafka sinks (they use 'topic')"


_SINK = Section(
    SinkConfig,
    {
        "type": one_of(get_args(SinkType)),
        "url": optional(text_where(_scheme_problem("http://", "https://"))),
        "topic": optional(_topic),
        "secret_env": optional(text_where(_env_name_problem)),
        "timeout_seconds": number(above(0)),
        "headers": table(same_check(text)),
        "max_attempts": integer(between(1, 1000)),
        "backoff_initial_seconds": number(above(0)),
        "backoff_max_seconds": number(above(0)),
        "ref": optional(text),
    },
    _sink_rules,
    name_field="name",
)


# --------------------------------------------------------------------------- alerting

_ALERTING = Section(
    AlertingConfig,
    {
        "audit_size": integer(between(10, 10_000_000)),
        "dead_letter_size": integer(between(10, 10_000_000)),
        "claim_idle_seconds": number(between(1, 86_400)),
    },
)


# --------------------------------------------------------------------------- the whole file

OPTIONAL_SECTIONS: Final = ("kafka", "redis", "http", "logging", "sinks", "alerting")
"""Top-level sections read as ``{}`` when a file leaves them out, so that each takes the
defaults of its dataclass (``payload`` has a default of its own; ``models`` is required)."""

_ALERT_SINKS: Final = ("webhook", "slack", "pagerduty", "alertmanager", "kafka")

_RETRAIN_SINKS: Final = ("webhook", "kafka", "airflow", "github_actions")


def _config_rules(config: Config, present: frozenset[str], path: str) -> Iterator[str]:
    for model in config.models.values():
        at = join_path("models", model.name)
        yield from _model_payload_fits(config.payload, model, join_path(at, "payload"))
        yield from _sink_references(config, model.alerts, join_path(at, "alerts"), _ALERT_SINKS)
        for i, route in enumerate(model.alert_routes):
            route_at = f"{join_path(at, 'alert_routes')}[{i}].sinks"
            yield from _sink_references(config, route.sinks, route_at, _ALERT_SINKS)
        if model.retrain is not None:
            retrain_at = join_path(join_path(at, "retrain"), "sinks")
            yield from _sink_references(config, model.retrain.sinks, retrain_at, _RETRAIN_SINKS)


def _model_payload_fits(payload: PayloadConfig, model: ModelConfig, path: str) -> Iterator[str]:
    """A model's payload mapping needs a model server's format, and fits that format."""
    mapping = model.payload
    if mapping == ModelPayloadConfig():
        return
    if not payload.from_model_server:
        yield (
            f"{path}: only applies to payload.format kserve-cloudevents or open-inference "
            "(drift-monitor events name their features themselves)"
        )
        return
    if payload.format == "kserve-cloudevents" and mapping.tensors:
        yield f"{join_path(path, 'tensors')}: V1 payloads have no tensors; use 'columns'"
    positive = model.positive_class or "1"
    if mapping.classes and model.prediction == "numeric" and positive not in mapping.classes:
        yield (
            f"{join_path(path, 'classes')}: the positive class {positive!r} is not among them, "
            "so no probability could be read as the numeric prediction; set "
            f"{join_path(path.rsplit('.', 1)[0], 'positive_class')}"
        )


def _sink_references(
    config: Config, referenced: tuple[str, ...], path: str, types: tuple[str, ...]
) -> Iterator[str]:
    """Named sinks exist and can carry what is sent to them (alerts or retraining triggers)."""
    sink_names = list(config.sinks)
    for i, name in enumerate(referenced):
        sink = config.sinks.get(name)
        if sink is None:
            yield f"{path}[{i}]: unknown sink {name!r}; {suggest(name, sink_names)}"
        elif sink.type not in types:
            yield (
                f"{path}[{i}]: sink {name!r} is of type {sink.type}, which cannot carry these "
                f"messages; use one of {', '.join(types)}"
            )


CONFIG = Section(
    Config,
    {
        "kafka": _KAFKA,
        "redis": _REDIS,
        "http": _HTTP,
        "logging": _LOGGING,
        "models": table(_MODEL.named, at_least_one=True),
        "sinks": table(_SINK.named),
        "alerting": _ALERTING,
        "payload": _PAYLOAD,
    },
    _config_rules,
)
"""The check of a whole file: every section, then the rules that reach across them."""
