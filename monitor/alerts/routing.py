"""Which sinks hear about an alert: per model, per severity.

A model's ``alerts`` list receives every severity (README, "Sinks");
``alert_routes`` add sinks for chosen severities (page only on critical). A
resolve goes to every sink that heard a firing of the episode, so nobody is
left with an incident that never ends.
"""

from __future__ import annotations

from collections.abc import Iterable

from monitor.config import Config, ModelConfig


def sinks_for(model: ModelConfig, severities: Iterable[str]) -> tuple[str, ...]:
    wanted = set(severities)
    names = list(model.alerts)
    for route in model.alert_routes:
        if wanted & set(route.severities):
            names.extend(route.sinks)
    return tuple(dict.fromkeys(names))


def refreshed_sinks(config: Config) -> frozenset[str]:
    """The sinks that let a firing alert expire unless it is re-sent: Alertmanager's."""
    return frozenset(name for name, sink in config.sinks.items() if sink.type == "alertmanager")
