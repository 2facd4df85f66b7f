"""``drift-monitor check``: the daemon's verdicts on a file, without Kafka or Redis.

A file (JSONL events decoded exactly as live traffic, or a CSV or Parquet table
with one column per feature and ``prediction``, read as ``reference build``
reads them) is counted as **one closed window** with the daemon's own code
(:func:`monitor.windowing.encode_columns`, :meth:`WindowLayout.accumulate`) and
judged by :func:`detectors.evaluate.evaluate_window` with the model's configured
methods, thresholds, ``alpha`` and correction (:func:`decision_settings`). So a
file gives the verdicts a daemon would give a window holding the same events.

The reference is the model's stored profile in Redis, or one built from a file
exactly as ``reference build`` builds it (then Redis is never contacted). With a
``model_version``, the file is judged as that version's stream (``fraud/version=4``)
against the version's reference: stored, else built from the version's file as the
daemon builds it when it first sees the version (README "References per model version").

The whole file is one window, not windows of ``window.events``: a pipeline
asks "does this data differ from the reference?", and one larger window is a
more powerful test of that, while the effect-size thresholds still keep
trivial shifts from being flagged. Memory is that of ``reference build`` on
the same file: the model's columns, about 8 bytes a value.

Python::

    from monitor import check_file
    result = check_file("config.yaml", "fraud", "current.parquet", reference="train.parquet")
    result.drifted, result.drifted_signals, result.to_dict()
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray
from rich.console import Console
from rich.text import Text

from detectors.evaluate import SignalResult, evaluate_window
from detectors.profile import ReferenceProfile
from detectors.window import WindowLayout
from monitor import tables
from monitor.config import Config, ModelConfig, load_config
from monitor.decode import ModelColumns
from monitor.errors import ConfigError, DriftMonitorError, ServiceUnavailable
from monitor.evaluation import decision_settings
from monitor.keys import Keys
from monitor.logs import redact
from monitor.redis_client import connect
from monitor.reference import (
    FileColumns,
    build_profile_from_file,
    check_signals,
    read_columns,
    table_columns,
)
from monitor.status_view import (
    MEASURE_COLUMNS,
    SEVERITY_STYLE,
    named_value_lines,
    result_cells,
    wrapped,
)
from monitor.store import StateStore
from monitor.tables import Column
from monitor.versions import version_of, version_stream
from monitor.windowing import categorical_values, encode_columns

ConfigSource = Config | str | os.PathLike[str]
ReferenceSource = ReferenceProfile | str | os.PathLike[str] | None

_SEVERITY_ORDER = {"critical": 0, "warning": 1}


class CheckError(DriftMonitorError):
    """The check cannot run: unknown model, no reference, an input with no rows."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The verdicts on one input, judged as one window against one reference."""

    model: str
    source: str
    """The input checked (its path, or ``"frame"``)."""
    events: int
    reference_id: str
    reference_events: int
    reference_source: str
    results: tuple[SignalResult, ...]
    """In the daemon's order: signal, then method."""
    skipped: Mapping[str, int] = field(default_factory=dict)
    """Input lines that are no valid event, by dead-letter reason (JSONL only)."""

    @property
    def drifted(self) -> bool:
        return any(r.drifted for r in self.results)

    @property
    def drifted_signals(self) -> list[str]:
        """The signals with a drifted result, in the daemon's order, each once."""
        return list(dict.fromkeys(r.signal for r in self.results if r.drifted))

    @property
    def signals(self) -> list[str]:
        return list(dict.fromkeys(r.signal for r in self.results))

    @property
    def judged(self) -> bool:
        """False when the input holds fewer events than the model's ``window.min_events``."""
        return all(r.severity != "insufficient" for r in self.results)

    def ordered(self) -> list[SignalResult]:
        """Drifted results first (critical, then warning), then the rest, each in order."""
        return sorted(
            self.results, key=lambda r: _SEVERITY_ORDER.get(r.severity, 2) if r.drifted else 2
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "input": self.source,
            "events": self.events,
            "skipped": dict(self.skipped),
            "reference": {
                "id": self.reference_id,
                "events": self.reference_events,
                "source": self.reference_source,
            },
            "drifted": self.drifted,
            "drifted_signals": self.drifted_signals,
            "judged": self.judged,
            "results": [_finite(r.to_dict()) for r in self.ordered()],
        }


def check_file(
    config: ConfigSource,
    model: str,
    path: str | os.PathLike[str],
    *,
    reference: ReferenceSource = None,
    model_version: str | None = None,
) -> CheckResult:
    """Judge a JSONL, CSV or Parquet file as one window of ``model``.

    ``reference``: a data file to build the profile from as ``reference build``
    would, or a profile; None reads the model's stored profile from Redis.
    ``model_version``: judge it as that version's stream, against its reference.
    """
    loaded, spec = _model(config, model, model_version)
    read = read_columns(loaded, spec, Path(path), what="input file", version=model_version)
    return _check(loaded, spec, read, str(path), reference)


def check_frame(
    config: ConfigSource,
    model: str,
    frame: Any,
    *,
    reference: ReferenceSource = None,
    model_version: str | None = None,
) -> CheckResult:
    """Judge a table as one window of ``model`` (of its version ``model_version``): a
    ``pyarrow.Table``, a mapping of column name to values, or anything ``pyarrow.table()``
    takes (a pandas or polars DataFrame); one column per feature and ``prediction``, as in
    a Parquet input."""
    loaded, spec = _model(config, model, model_version)
    table = frame if isinstance(frame, pa.Table) else pa.table(frame)
    pairs: tuple[list[Any], list[Any]] = ([], [])
    columns = table_columns(spec, table, "input frame", pairs)
    return _check(loaded, spec, FileColumns(columns, *pairs, {}), "frame", reference)


def load_reference(
    config: Config, model: ModelConfig, reference: ReferenceSource
) -> ReferenceProfile:
    """The profile to judge against: given, built from a file, or stored in Redis; a model
    version's stream with nothing stored (or Redis out of reach) has its file's."""
    if isinstance(reference, ReferenceProfile):
        check_signals(model, reference)
        return reference
    if reference is not None:
        return build_profile_from_file(config, model, Path(reference))
    try:
        return _stored_reference(config, model)
    except (CheckError, ServiceUnavailable):
        if version_of(model.name) is None or model.reference.path is None:
            raise
        return build_profile_from_file(config, model, Path(model.reference.path))


def _stored_reference(config: Config, model: ModelConfig) -> ReferenceProfile:
    url = redact(config.redis.url)
    store = StateStore(
        connect(config.redis.url, cluster=config.redis.cluster),
        Keys(config.redis.key_prefix),
        history_size=config.redis.history_size,
    )
    try:
        profile = store.reference(model.name)
    except ServiceUnavailable as error:
        raise ServiceUnavailable(
            f"cannot read the stored reference of model {model.name!r} at {url} ({error}); "
            f"pass --reference FILE to check without Redis"
        ) from error
    finally:
        store.client.close()
    if profile is None:
        raise CheckError(
            f"Redis at {url} holds no reference for model {model.name!r}; build one with "
            f"`drift-monitor reference build`, or pass --reference FILE"
        )
    check_signals(model, profile)
    return profile


# status's columns (names never shrink; the p-value, then the thresholds, then the
# no-drift level give way), then a verdict: every result is listed, and a warning may or
# may not be drifted.
CHECK_COLUMNS = (*MEASURE_COLUMNS, Column("verdict"))


def print_result(result: CheckResult, console: Console) -> None:
    """A headline, then one row per signal and method, drifted first, as wide as the
    console (the terminal, else ``COLUMNS``, else 80)."""
    width = console.width
    notes = named_value_lines(r.to_dict() for r in result.ordered() if r.drifted)
    lines = [
        *(Text(line) for line in wrapped(headline(result), width)),
        *tables.render(CHECK_COLUMNS, [_row(r) for r in result.ordered()], width),
        *(Text(part) for line in notes for part in wrapped(line, width)),
    ]
    for line in lines:
        console.print(line, soft_wrap=True, highlight=False)


def _row(result: SignalResult) -> list[tables.Cell]:
    verdict = f"DRIFT {result.severity}" if result.drifted else result.severity
    style = SEVERITY_STYLE.get(result.severity, "dim")
    return [*result_cells(result.to_dict()), Text(verdict, style=style)]


def headline(result: CheckResult) -> str:
    signals = result.signals
    if not result.judged:
        verdict = "not judged (fewer events than window.min_events)"
    elif result.drifted:
        drifted = result.drifted_signals
        verdict = f"DRIFT in {len(drifted)} of {len(signals)} signals: {', '.join(drifted)}"
    else:
        verdict = f"no drift in {len(signals)} signals"
    skipped = ""
    if result.skipped:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(result.skipped.items()))
        skipped = f"; {sum(result.skipped.values())} lines skipped ({reasons})"
    return (
        f"{result.model}: {verdict} ({result.events} events of {result.source} against "
        f"reference {result.reference_id}, {result.reference_events} events{skipped})"
    )


def one_line(error: DriftMonitorError) -> str:
    """An error as one line for stderr (a config's problems joined by "; ")."""
    if isinstance(error, ConfigError):
        return "invalid configuration: " + "; ".join(error.problems)
    return " ".join(str(error).split())


def _model(
    config: ConfigSource, model: str, model_version: str | None
) -> tuple[Config, ModelConfig]:
    loaded = config if isinstance(config, Config) else load_config(config)
    if model not in loaded.models:
        raise CheckError(
            f"model {model!r} is not in the config ({', '.join(loaded.models) or 'none'})"
        )
    spec = loaded.models[model]
    return loaded, spec if model_version is None else version_stream(spec, model_version)


def _check(
    config: Config, model: ModelConfig, read: FileColumns, source: str, reference: ReferenceSource
) -> CheckResult:
    if read.rows == 0:
        raise CheckError(f"{source} holds no rows of model {model.name!r}")
    profile = load_reference(config, model, reference)
    layout = WindowLayout(profile)
    window = _window_columns(model.name, layout, read)
    whole = slice(None)
    counts = layout.accumulate(
        encode_columns(layout, window, whole),
        window.mismatches,
        whole,
        categorical_values(window, whole),
    )
    return CheckResult(
        model=model.name,
        source=source,
        events=read.rows,
        reference_id=profile.id,
        reference_events=profile.events,
        reference_source=profile.source,
        results=evaluate_window(layout, counts, decision_settings(model)),
        skipped=dict(read.skipped),
    )


def _window_columns(name: str, layout: WindowLayout, read: FileColumns) -> ModelColumns:
    """The file's columns as the decoder hands a batch to the window code."""
    numeric: dict[str, NDArray[np.float64]] = {}
    categorical: dict[str, list[Any]] = {}
    for signal, where in layout.signals.items():
        if where.profile.kind == "numeric":
            numeric[signal] = read.columns[signal]
        else:
            categorical[signal] = read.columns[signal].tolist()
    return ModelColumns(
        model=name,
        rows=read.rows,
        numeric=numeric,
        categorical=categorical,
        mismatches={},
        ts=np.zeros(read.rows),
    )


def _finite(entry: dict[str, Any]) -> dict[str, Any]:
    """NaN and infinities as null, so the JSON is valid."""
    return {
        k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in entry.items()
    }


__all__ = [
    "CheckError",
    "CheckResult",
    "check_file",
    "check_frame",
    "load_reference",
    "one_line",
    "print_result",
]
