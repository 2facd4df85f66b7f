"""What a SIGHUP may change in a running daemon, and what needs a restart.

Thresholds, methods, alert rules and routes, retraining policies and sinks are
read fresh from the config file: they only shape decisions and deliveries.
Everything that shapes *state* (Kafka and Redis addresses, topics, event field
names, models and their features, windows, references, the HTTP listener) stays
as the daemon started with it, and each such difference is reported so the log
can say what a restart would take.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from monitor.config import Config, ModelConfig

RELOADABLE_MODEL_FIELDS = ("drift", "alerts", "alert_rules", "alert_routes", "retrain")
"""Per-model settings a reload takes; the others need a restart."""


def merge_reload(running: Config, loaded: Config) -> tuple[Config, list[str]]:
    """The config to run with after a reload, and the changed paths that were not applied."""
    ignored = list(_ignored(running, loaded))
    models = {
        name: dataclasses.replace(
            model,
            **{
                field: getattr(loaded.models[name], field)
                for field in RELOADABLE_MODEL_FIELDS
                if name in loaded.models
            },
        )
        for name, model in running.models.items()
    }
    merged = dataclasses.replace(
        running, models=models, sinks=loaded.sinks, alerting=loaded.alerting
    )
    return merged, ignored


def _ignored(running: Config, loaded: Config) -> Iterator[str]:
    for section in ("kafka", "redis", "http", "logging", "payload"):
        if getattr(running, section) != getattr(loaded, section):
            yield section
    for name in sorted(set(running.models) ^ set(loaded.models)):
        yield f"models.{name}"
    for name in sorted(set(running.models) & set(loaded.models)):
        yield from _ignored_model(name, running.models[name], loaded.models[name])


def _ignored_model(name: str, running: ModelConfig, loaded: ModelConfig) -> Iterator[str]:
    for field in dataclasses.fields(ModelConfig):
        if field.name in RELOADABLE_MODEL_FIELDS:
            continue
        if getattr(running, field.name) != getattr(loaded, field.name):
            yield f"models.{name}.{field.name}"
