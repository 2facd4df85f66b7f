"""What ``run`` needs beyond a valid config file, checked offline by ``validate``.

A config can be valid and still not start: no Kafka address, a sink whose secret
is not in the environment. ``validate`` runs in CI, before a deploy; these
checks make it fail there rather than at the daemon's start. Nothing here
needs a service: librdkafka's clients are built to check their settings and closed
before they could connect.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from monitor.alerts.budget import EVENTS_PER_MILLION, MAX_WINDOW_ALPHA
from monitor.alerts.sinks.registry import build_sink
from monitor.config import Config, ModelConfig, deprecations
from monitor.errors import ConfigError
from monitor.source import refused_settings

MIN_EVENTS_PER_BIN = 5
"""Expected events per reference bin a window needs for its binned tests (the rule of thumb
for chi-square-type tests, and what keeps PSI and Jensen-Shannon out of their noise)."""


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
        reference = model.reference
        files = {f"by_version.{v}": p for v, p in reference.by_version.items()}
        if reference.path is not None and not reference.per_version:
            files["path"] = reference.path
        for key, path in files.items():
            if not Path(path).is_file():
                result.warnings.append(
                    f"models.{name}.reference.{key}: {path} is not a file; `run` needs it "
                    "unless Redis already holds the reference profile"
                )
        result.warnings.extend(power_warnings(name, model))
    result.warnings.extend(deprecations(config))
    return result


def window_tests(model: ModelConfig) -> int:
    """How many significance tests one window runs (the ``m`` of the correction)."""
    drift = model.drift
    signals = [*model.features.values(), *([model.prediction] if model.prediction else [])]
    tests = 0
    for kind in signals:
        distribution = drift.numeric_methods if kind == "numeric" else drift.categorical_methods
        tests += bool(distribution) + sum(
            method in drift.quality_methods for method in ("missing_rate", "unseen_rate")
        )
    numeric_features = sum(kind == "numeric" for kind in model.features.values())
    if numeric_features >= 2:
        tests += len(drift.multivariate_methods)
    return max(tests, 1)


def power_warnings(name: str, model: ModelConfig) -> Iterator[str]:
    """A count window too small for its bins and tests to detect a change of warn size.

    Two checks, both offline: events per numeric bin (at least :data:`MIN_EVENTS_PER_BIN`
    expected), and the smallest Kolmogorov-Smirnov distance the window can call
    significant at its per-test level, ``sqrt(ln(2 / a) / (2 n))`` with ``a`` the
    window's significance over its tests and its checkpoint looks (the close is judged at
    ``alpha / K`` too; the reference taken as much larger than the window), against the
    KS warn level. Event-time windows vary in size and are not
    checked.
    """
    n = model.window.events
    numeric = "numeric" in model.features.values() or model.prediction == "numeric"
    if n is None or not numeric:
        return
    at = f"models.{name}.window.events"
    bins = model.reference.bins
    if n < MIN_EVENTS_PER_BIN * bins:
        yield (
            f"{at}: {n} events spread over {bins} reference bins is {n / bins:.1f} per bin, "
            f"too few for the binned tests to have power; windows of at least "
            f"{MIN_EVENTS_PER_BIN * bins} events would give {MIN_EVENTS_PER_BIN} per bin "
            f"(or lower reference.bins to {max(n // MIN_EVENTS_PER_BIN, 4)})"
        )
    drift = model.drift
    alpha, basis = drift.alpha, f"alpha {drift.alpha:g}"
    if drift.false_alarms_per_million_events is not None:
        alpha = min(
            drift.false_alarms_per_million_events * n / EVENTS_PER_MILLION, MAX_WINDOW_ALPHA
        )
        basis = f"the budget's {alpha:.2g} per window"
    elif drift.false_alarms_per_week is not None:
        basis += " (the weekly budget, derived from the traffic rate, is stricter)"
    if drift.checkpoints > 1:
        # Each look, the close included, is judged at alpha / K.
        alpha /= drift.checkpoints
        basis += f" / {drift.checkpoints} looks"
    per_test = alpha / window_tests(model)
    smallest = math.sqrt(math.log(2 / per_test) / (2 * n))
    warn = drift.thresholds["ks"].warn
    if smallest > warn:
        needed = math.ceil(math.log(2 / per_test) / (2 * warn**2))
        yield (
            f"{at}: a window of {n} events can call a shift significant only from a KS "
            f"distance of {smallest:.2f} ({basis} over {window_tests(model)} tests), above the "
            f"warn level {warn:g}; windows of at least {needed} events would detect a shift "
            f"of warn size"
        )
