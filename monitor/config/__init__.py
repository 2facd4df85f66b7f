"""The daemon's configuration: read YAML, fill in ``${VAR}``, validate strictly, freeze.

Everything the rest of drift-monitor uses is imported from here; the package is
split by job:

- :mod:`.model`: the frozen dataclasses, the only place a default is written,
  and what follows from a loaded config (``firing_windows``, ``deprecations``).
- :mod:`.loading`: ``load_config`` and ``parse_config``: reads the YAML, replaces
  ``${VAR}`` from the environment, then validates, reporting every problem at once.
- :mod:`.sections`: what the file may say: a field table for each section, next
  to the rules that relate its keys.
- :mod:`.schema`: the generic checks those tables are written with; they know no
  section, and each problem they report carries the path of its key.
"""

from __future__ import annotations

from monitor.config.loading import load_config, parse_config
from monitor.config.model import (
    FOR_WINDOWS_WITHOUT_BUDGET,
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
    WindowConfig,
    deprecations,
    firing_windows,
)
from monitor.errors import ConfigError

__all__ = [
    "FOR_WINDOWS_WITHOUT_BUDGET",
    "LABEL_FIELDS",
    "PREDICTION_FIELDS",
    "VERSION_PLACEHOLDER",
    "AlertKind",
    "AlertRouteConfig",
    "AlertRuleConfig",
    "AlertSeverity",
    "AlertingConfig",
    "Config",
    "ConfigError",
    "Correction",
    "DriftConfig",
    "EstimationConfig",
    "Grouping",
    "HttpConfig",
    "KafkaConfig",
    "KafkaProperty",
    "LabelsConfig",
    "Levels",
    "LogFormat",
    "LogLevel",
    "LoggingConfig",
    "ModelConfig",
    "ModelPayloadConfig",
    "PairingConfig",
    "PayloadConfig",
    "PayloadFormat",
    "RedisConfig",
    "ReferenceConfig",
    "RetrainConfig",
    "SegmentsConfig",
    "SequentialConfig",
    "SignalKind",
    "SinkConfig",
    "SinkType",
    "Task",
    "WindowConfig",
    "deprecations",
    "firing_windows",
    "load_config",
    "parse_config",
]
