"""Reference data in: files (JSONL events, CSV, Parquet) → columns → stored profile.

JSONL references are prediction events in the wire format and go through the
same :class:`EventDecoder` as live traffic, so a reference can never be read
differently from the stream it is compared with. CSV and Parquet references
are tables with one column per feature and an optional ``prediction`` column,
read with Arrow.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from numpy.typing import NDArray

from detectors.profile import NumericProfile, ReferenceProfile, category_key
from monitor.config import Config, ModelConfig
from monitor.decode import EventDecoder, ModelColumns
from monitor.errors import ReferenceDataError
from monitor.labels.quality_inputs import count_pairs, fit_estimator
from monitor.origins import Origins
from monitor.profiles import build_model_profile, segment_keys, signal_specs
from monitor.store import StateStore
from monitor.versions import model_of

log = logging.getLogger(__name__)

JSONL_SUFFIXES = frozenset({".jsonl", ".json", ".ndjson"})
OTHER_VERSION = "other_model_version"
"""Why an event of a file read for one model version was left out: it names another."""
_CHUNK_LINES = 20_000

MIN_ROWS_PER_BIN = 20
"""Fewer reference values per quantile bin than this and the reference's own sampling noise
shows up as drift. 200 rows over 50 bins (4 a bin): PSI between the reference and 5,000-event
windows of the same distribution averages 0.045 (95th percentile 0.08, near the 0.1 warn
threshold); 1,000 rows (20 a bin): 0.011 (0.020)."""

Progress = Callable[[int], None]
"""Called with the number of bytes whose rows are decoded into columns since the last call
(what is built, not what is read: a bar driven by it reaches 100% once every row is in)."""


@dataclasses.dataclass(frozen=True, slots=True)
class FileColumns:
    """One model's rows of a data file, as columns by signal name.

    Numeric columns are float64 (NaN = missing), categorical ones object arrays of
    category values (None = missing), as :meth:`WindowLayout.accumulate` and
    :func:`build_reference_profile` take them.
    """

    columns: dict[str, NDArray[Any]]
    predictions: list[Any]
    """Each row's prediction as sent, where the file has labels too (else empty)."""
    labels: list[Any]
    skipped: dict[str, int]
    """JSONL lines that are no valid event, by dead-letter reason."""

    @property
    def rows(self) -> int:
        return max((column.size for column in self.columns.values()), default=0)


def read_columns(
    config: Config,
    model: ModelConfig,
    path: Path,
    progress: Progress | None = None,
    *,
    what: str = "reference file",
    version: str | None = None,
) -> FileColumns:
    """Read ``model``'s rows of a JSONL, CSV or Parquet file; errors name it as ``what``.

    ``version``: keep only the JSONL events of that model version and those naming none;
    events of other versions are counted in ``skipped`` as ``other_model_version`` (a
    table's rows name no version and are all kept)."""
    check_data_file(path, what=what)
    suffix = path.suffix.lower()
    pairs: tuple[list[Any], list[Any]] = ([], [])
    skipped: dict[str, int] = {}
    try:
        if suffix in JSONL_SUFFIXES:
            columns = _jsonl_columns(config, model, path, progress, pairs, skipped, what, version)
        elif suffix == ".csv":
            columns = table_columns(model, _read_csv(path, what), f"{what} {path}", pairs)
            if progress:
                progress(path.stat().st_size)  # one Arrow read: all rows are in at once
        elif suffix == ".parquet":
            columns = table_columns(model, _read_parquet(path, what), f"{what} {path}", pairs)
            if progress:
                progress(path.stat().st_size)
        else:  # pragma: no cover - check_data_file refused it
            raise ReferenceDataError(f"{what} {path}: unknown format {suffix!r}")
    except OSError as error:
        raise ReferenceDataError(f"{what} {path}: {error.strerror or error}") from error
    return FileColumns(columns, *pairs, skipped)


def check_data_file(path: Path, *, what: str = "reference file") -> None:
    """ReferenceDataError unless ``path`` is a readable file of a known format: checked before
    any reading starts (and before any progress is shown)."""
    if not path.exists():
        raise ReferenceDataError(f"{what} {path} does not exist")
    if not path.is_file():
        raise ReferenceDataError(f"{what} {path} is not a file")
    suffix = path.suffix.lower()
    if suffix not in JSONL_SUFFIXES | {".csv", ".parquet"}:
        raise ReferenceDataError(
            f"{what} {path}: unknown format {suffix!r}; use .jsonl, .csv or .parquet"
        )
    try:
        with path.open("rb"):
            pass
    except OSError as error:
        raise ReferenceDataError(f"{what} {path}: {error.strerror or error}") from error


def thin_bins_warning(profile: ReferenceProfile, bins: int) -> str | None:
    """A sentence when a numeric signal has fewer than :data:`MIN_ROWS_PER_BIN` values per bin
    (naming how many rows would do), else None."""
    numeric = [s for s in profile.signals if isinstance(s, NumericProfile) and s.present]
    if not numeric:
        return None
    thinnest = min(numeric, key=lambda s: s.present)
    needed = MIN_ROWS_PER_BIN * bins
    if thinnest.present >= needed:
        return None
    # Rows, not values: scale up by the signal's missing share.
    rows = math.ceil(needed * profile.events / thinnest.present)
    fewer = thinnest.present // MIN_ROWS_PER_BIN
    return (
        f"reference {profile.id} has {thinnest.present:,} values of {thinnest.name} over "
        f"{bins} bins, {thinnest.present / bins:.1f} a bin: too few, its own noise looks like "
        f"drift. {rows:,} rows would do ({MIN_ROWS_PER_BIN} a bin)"
        + (f", or reference.bins: {fewer} for these rows." if fewer >= 4 else ".")
    )


def build_profile_from_file(
    config: Config, model: ModelConfig, path: Path, progress: Progress | None = None
) -> ReferenceProfile:
    """Read a reference file and profile it for ``model``."""
    read = read_columns(config, model, path, progress)
    if read.skipped:
        log.warning("reference lines skipped", extra={"path": str(path), "reasons": read.skipped})
    try:
        profile = build_model_profile(model, read.columns, created_at=time.time(), source=str(path))
    except ValueError as error:
        raise ReferenceDataError(f"reference file {path}: {error}") from error
    baseline = count_pairs(model, read.predictions, read.labels)
    if baseline.pairs == 0:
        return profile
    profile = dataclasses.replace(profile, quality=baseline.to_state())
    if not model.estimates:
        return profile
    try:
        estimator = fit_estimator(model, read.predictions, read.labels)
    except ValueError as error:
        raise ReferenceDataError(f"reference file {path}: {error}") from error
    return profile if estimator is None else profile.with_estimator(estimator)


def load_or_build_references(
    config: Config, store: StateStore, models: Mapping[str, ModelConfig] | None = None
) -> dict[str, ReferenceProfile]:
    """The profile of every model that has one; built from its file and stored if Redis has none.

    ``models``: those to load (by default the config's; the daemon passes the streams of
    models monitored per version, ``monitor.versions``). Models with
    ``reference.from_stream`` and no profile yet are left out: the daemon collects their
    reference from the stream.
    """
    profiles = {}
    for name, model in (config.models if models is None else models).items():
        profile = store.reference(name)
        if profile is None and model.reference.path is not None:
            built = build_profile_from_file(config, model, Path(model.reference.path))
            profile = store.store_reference_if_absent(built)
            log.info(
                "reference built",
                extra={"model": name, "reference_id": profile.id, "events": profile.events},
            )
            thin = thin_bins_warning(profile, model.reference.bins)
            if thin:
                log.warning("reference too thin", extra={"model": name, "detail": thin})
        if profile is not None:
            check_signals(model, profile)
            if model.estimates and profile.estimator is None:
                log.warning(
                    "reference has no estimator",
                    extra={
                        "model": name,
                        "reference_id": profile.id,
                        "detail": "estimation is configured, but the reference was built "
                        "without it or has no labelled scores of both classes: rebuild it from "
                        "a labelled file (drift-monitor reference build) to estimate performance",
                    },
                )
            profiles[name] = profile
    return profiles


def check_signals(model: ModelConfig, profile: ReferenceProfile) -> None:
    """ReferenceDataError unless ``profile`` profiles exactly the signals ``model`` declares
    (the daemon refuses to start otherwise)."""
    declared: list[tuple[str, str]] = [(s.name, s.kind) for s in signal_specs(model)]
    stored: list[tuple[str, str]] = [(s.name, s.kind) for s in profile.signals]
    declared += [(k.key, "segments") for k in segment_keys(model)]
    stored += [(s.key, "segments") for s in profile.segments]
    if declared != stored:
        raise ReferenceDataError(
            f"model {model.name!r}: the stored reference {profile.id} profiles {stored}, "
            f"but the config declares {declared}; rebuild it with "
            f"`drift-monitor reference build -c CONFIG --model {model.name} --input FILE`"
        )


def _jsonl_lines(path: Path) -> Iterator[tuple[list[bytes], int]]:
    """Chunks of non-blank lines, each with the bytes it took in the file."""
    chunk: list[bytes] = []
    size = 0
    with path.open("rb") as handle:
        for line in handle:
            size += len(line)
            stripped = line.strip()
            if stripped:
                chunk.append(stripped)
            if len(chunk) >= _CHUNK_LINES:
                yield chunk, size
                chunk, size = [], 0
    if chunk or size:
        yield chunk, size


def _jsonl_columns(
    config: Config,
    model: ModelConfig,
    path: Path,
    progress: Progress | None,
    pairs: tuple[list[Any], list[Any]],
    rejected: dict[str, int],
    what: str,
    version: str | None,
) -> dict[str, NDArray[Any]]:
    """Columns of the model's events (of ``version`` or none, if given); labelled events
    also add to ``pairs``, lines that are no valid event to ``rejected`` (by reason)."""
    decoder = EventDecoder(config)
    numeric: dict[str, list[NDArray[np.float64]]] = {}
    categorical: dict[str, list[Any]] = {}
    for lines, size in _jsonl_lines(path):
        if not lines:
            if progress:
                progress(size)
            continue
        decoded = decoder.decode(lines, Origins.of_lines(str(path), len(lines), time.time()))
        for dead in decoded.dead_letters:
            rejected[dead.reason] = rejected.get(dead.reason, 0) + 1
        columns = decoded.models.get(model_of(model.name))  # a version's stream: its model's
        if columns is not None and version is not None:
            columns = _of_version(columns, version, rejected)
        if columns is not None:
            for name, column in columns.numeric.items():
                numeric.setdefault(name, []).append(column)
            for name, values in columns.categorical.items():
                categorical.setdefault(name, []).extend(values)
            pairs[0].extend(columns.predictions)
            pairs[1].extend(columns.labels)
        if progress:
            progress(size)
    if not numeric and not categorical:
        raise ReferenceDataError(
            f"{what} {path} holds no valid events of model {model.name!r}"
            + (f" (skipped: {rejected})" if rejected else "")
        )
    out: dict[str, NDArray[Any]] = {name: np.concatenate(parts) for name, parts in numeric.items()}
    out.update({name: np.asarray(values, dtype=object) for name, values in categorical.items()})
    return out


def _of_version(columns: ModelColumns, version: str, rejected: dict[str, int]) -> ModelColumns:
    """The rows of ``version`` and those naming no version; the others counted as rejected."""
    keep = [v is None or v == version for v in columns.model_versions]
    other = keep.count(False)
    if not other:
        return columns
    rejected[OTHER_VERSION] = rejected.get(OTHER_VERSION, 0) + other
    return columns.take(np.flatnonzero(keep))


def _read_csv(path: Path, what: str) -> pa.Table:
    try:
        return pa_csv.read_csv(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise ReferenceDataError(f"{what} {path}: {error}") from error


def _read_parquet(path: Path, what: str) -> pa.Table:
    try:
        return pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise ReferenceDataError(f"{what} {path}: {error}") from error


def table_columns(
    model: ModelConfig, table: pa.Table, source: str, pairs: tuple[list[Any], list[Any]]
) -> dict[str, NDArray[Any]]:
    """Columns by name; a ``label`` column (with ``prediction``) also fills ``pairs``.

    ``source`` names the table in errors (``"reference file data.csv"``).
    """
    if "label" in table.column_names and "prediction" in table.column_names:
        pairs[0].extend(table.column("prediction").to_pylist())
        pairs[1].extend(table.column("label").to_pylist())
    columns: dict[str, NDArray[Any]] = {}
    missing = [s.name for s in signal_specs(model) if s.name not in table.column_names]
    if missing:
        raise ReferenceDataError(f"{source} lacks columns {missing}; it has {table.column_names}")
    twice = sorted({s.name for s in signal_specs(model) if table.column_names.count(s.name) > 1})
    if twice:
        raise ReferenceDataError(f"{source} has more than one column named {', '.join(twice)}")
    for spec in signal_specs(model):
        column = table.column(spec.name)
        if spec.kind == "numeric":
            if not (
                pa.types.is_integer(column.type)
                or pa.types.is_floating(column.type)
                or pa.types.is_null(column.type)
            ):
                raise ReferenceDataError(
                    f"{source}: column {spec.name!r} is {column.type}, "
                    f"but {spec.name} is declared numeric"
                )
            values = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
            columns[spec.name] = np.asarray(values, dtype=np.float64)
        else:
            columns[spec.name] = np.asarray(
                [None if v is None else category_key(v) for v in column.to_pylist()], dtype=object
            )
    return columns
