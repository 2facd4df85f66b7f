"""What ``run`` needs beyond a valid config file, checked offline by ``validate``.

A config can be valid and still not start: no Kafka address, a sink whose secret
is not in the environment. ``validate`` runs in CI, before a deploy; these
checks make it fail there rather than at the daemon's start. Nothing here
needs a service: librdkafka's clients are built to check their settings and closed
before they could connect.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from monitor.alerts.sinks.registry import build_sink
from monitor.config import Config
from monitor.errors import ConfigError
from monitor.source import refused_settings


@dataclass(frozen=True, slots=True)
class Preflight:
    """``errors`` stop ``run``; ``warnings`` may, depending on what Redis already holds."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def preflight(config: Config, environ: Mapping[str, str]) -> Preflight:
    result = Preflight()
    if config.kafka.bootstrap_servers is None:
        result.errors.append("kafka.bootstrap_servers: not set, and `run` needs it")
    else:
        result.errors.extend(refused_settings(config))
        for sink in config.sinks.values():
            try:
                build_sink(config, sink, environ)
            except ConfigError as error:
                result.errors.extend(error.problems)
    for name, model in config.models.items():
        path = model.reference.path
        if path is not None and not Path(path).is_file():
            result.warnings.append(
                f"models.{name}.reference.path: {path} is not a file; `run` needs it "
                "unless Redis already holds the model's reference profile"
            )
    return result
