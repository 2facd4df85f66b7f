"""Model versions monitored apart: each version its own stream, against its own reference.

Version 4 was trained on other data than version 3: judged against version 3's
reference, its traffic raises alarms that are no drift at all. A model whose reference
is given per version (``reference.by_version``, or a ``reference.path`` naming
``{model_version}``) is therefore split, event by event, into one *stream* per version,
``fraud/version=4``: a model of its own to the rest of the daemon, with its own cursor,
windows, reference, results and alerts under that name in Redis, written by the same
batch script as every model (so exactly once, and merging across instances, come with
it). Windows never mix versions, and a new version's first window is judged against
its own reference.

A version with no reference file warms up from its own first ``reference.from_stream``
events, as a model with ``from_stream`` does; without ``from_stream`` its events are
counted as ``unknown_version`` (``skip``, the default) or dead-lettered
(``dead_letter``), and the version is logged once. Versions are registered in Redis
when first seen, so a restarted daemon knows the streams it has to load and evaluate.

Labels name the model, not the version: they are joined under the model's name, and
each pair counted in the stream of the version whose prediction it is
(``monitor.labels.joins``).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from monitor.config import VERSION_PLACEHOLDER, Config, ModelConfig, ReferenceConfig
from monitor.decode import DeadLetter, DecodedBatch, ModelColumns
from monitor.errors import ReferenceDataError

log = logging.getLogger(__name__)

SEPARATOR = "/version="
MAX_VERSIONS = 100
"""Version streams a model may have; versions past it are unknown (a producer sending
garbage versions must not grow state and metric series without bound)."""
_FILE_SAFE = re.compile(r"[A-Za-z0-9._-]{1,100}")
"""Versions that may name a reference file (no path separators, no ``..`` on its own)."""


def stream_name(model: str, version: str) -> str:
    """``fraud/version=4``: how a version's stream is named in Redis, results and metrics."""
    return f"{model}{SEPARATOR}{version}"


def model_of(stream: str) -> str:
    """The model a stream belongs to (the stream itself when it is no version's)."""
    return stream.split(SEPARATOR, 1)[0]


def version_of(stream: str) -> str | None:
    """The version a stream monitors (None when it is a model's, not a version's)."""
    _, separator, version = stream.partition(SEPARATOR)
    return version if separator else None


def known_versions(model: ModelConfig, registered: Iterable[str]) -> list[str]:
    """The versions of a model monitored per version that have a stream: those of
    ``by_version`` and those registered in Redis when first seen."""
    return sorted({*model.reference.by_version, *registered})


def version_reference(model: ModelConfig, version: str) -> ReferenceConfig | None:
    """Where a version's reference comes from: its file (``by_version``, or the path with
    the version in it when that file exists), else its own first ``from_stream`` events;
    None when it has neither (an unknown version)."""
    reference = model.reference
    single = dataclasses.replace(reference, by_version={}, path=None)
    if version in reference.by_version:
        return dataclasses.replace(single, path=reference.by_version[version], from_stream=None)
    if reference.path is not None and _FILE_SAFE.fullmatch(version) and version != "..":
        path = reference.path.replace(VERSION_PLACEHOLDER, version)
        if Path(path).is_file():
            return dataclasses.replace(single, path=path, from_stream=None)
    return single if reference.from_stream is not None else None


def stream_config(model: ModelConfig, version: str, reference: ReferenceConfig) -> ModelConfig:
    return dataclasses.replace(model, name=stream_name(model.name, version), reference=reference)


def version_stream(model: ModelConfig, version: str) -> ModelConfig:
    """The stream of ``version`` of ``model`` as the daemon monitors it, its reference's file
    (if any) in ``reference.path``: what ``reference ... --model-version`` and ``check
    --model-version`` act on. ReferenceDataError, in one sentence, when the model is not
    monitored per version or the config gives the version no reference: the daemon would
    not monitor such a stream, so a reference stored for it would never be used."""
    reference = model.reference
    if not reference.per_version:
        raise ReferenceDataError(
            f"model {model.name!r} is not monitored per model version (its reference names "
            f"no by_version and no path with {VERSION_PLACEHOLDER}); drop --model-version"
        )
    found = version_reference(model, version) if version else None
    if found is None:
        tried = [f"reference.by_version has {', '.join(sorted(reference.by_version)) or 'none'}"]
        if reference.path is not None:
            tried.append(f"no file {reference.path.replace(VERSION_PLACEHOLDER, version)}")
        raise ReferenceDataError(
            f"model {model.name!r} has no reference for model_version {version!r} "
            f"({'; '.join(tried)}; no from_stream), so the daemon does not monitor it"
        )
    return stream_config(model, version, found)


@dataclass(slots=True)
class Routed:
    """A batch's events of versioned models, put into their versions' streams."""

    new_streams: list[ModelConfig] = field(default_factory=list)
    """Streams seen for the first time (register, then load their reference)."""
    unknown: dict[str, int] = field(default_factory=dict)
    """Events of versions without a reference that were skipped, by model."""


class VersionStreams:
    """The models the daemon plans and evaluates: unversioned models as configured, and
    one stream per known version of each model with a reference per version."""

    def __init__(self, config: Config, registered: Mapping[str, Iterable[str]]) -> None:
        """``registered``: the versions Redis knows of each versioned model."""
        self._config = config
        self.models: dict[str, ModelConfig] = {}
        self._unknown: set[tuple[str, str]] = set()
        for name, model in config.models.items():
            if not model.reference.per_version:
                self.models[name] = model
                continue
            for version in known_versions(model, registered.get(name, ())):
                self._admit(model, version)

    @property
    def config(self) -> Config:
        """The config with every stream as a model: what planning and evaluation read."""
        return dataclasses.replace(self._config, models=dict(self.models))

    def versions(self) -> dict[str, list[str]]:
        """The versions with a stream, by model (the ``registered`` of another instance of
        this, say after a reload)."""
        known: dict[str, list[str]] = {}
        for stream in self.models:
            version = version_of(stream)
            if version is not None:
                known.setdefault(model_of(stream), []).append(version)
        return known

    def route(self, decoded: DecodedBatch) -> Routed:
        """Split the versioned models' columns into their streams, in place; events of a
        version without a reference are dead-lettered or counted, as configured."""
        routed = Routed()
        for name in [n for n in decoded.models if self._config.models[n].reference.per_version]:
            model = self._config.models[name]
            columns = decoded.models.pop(name)
            versions = np.asarray(
                ["" if v is None else v for v in columns.model_versions], dtype=object
            )
            for version in sorted(set(versions.tolist())):
                rows = np.flatnonzero(versions == version)
                stream = stream_name(name, version)
                if stream not in self.models and (new := self._admit(model, version)):
                    routed.new_streams.append(new)
                if stream in self.models:
                    decoded.models[stream] = columns.take(rows, stream)
                    continue
                self._unknown_version(model, version, columns, rows, decoded, routed)
        return routed

    def _admit(self, model: ModelConfig, version: str) -> ModelConfig | None:
        """The version's stream, now known; None when it has no reference to judge it by."""
        reference = version_reference(model, version)
        versions = sum(model_of(s) == model.name for s in self.models)
        if reference is None or versions >= MAX_VERSIONS or not version:
            return None
        stream = self.models[stream_name(model.name, version)] = stream_config(
            model, version, reference
        )
        return stream

    def _unknown_version(
        self,
        model: ModelConfig,
        version: str,
        columns: ModelColumns,
        rows: np.ndarray,
        decoded: DecodedBatch,
        routed: Routed,
    ) -> None:
        dead = model.reference.unknown_version == "dead_letter"
        if (model.name, version) not in self._unknown:
            self._unknown.add((model.name, version))
            log.warning(
                "model version without reference",
                extra={
                    "model": model.name,
                    "model_version": version or None,
                    "events": "dead-lettered" if dead else "skipped (counted as unknown_version)",
                },
            )
        if not dead:
            routed.unknown[model.name] = routed.unknown.get(model.name, 0) + rows.size
            return
        detail = (
            f"model {model.name!r} has no reference for model_version {version!r}"
            if version
            else f"model {model.name!r} is monitored per version; the event names none"
        )
        decoded.dead_letters.extend(
            DeadLetter(int(p), "unknown_version", detail) for p in columns.positions[rows].tolist()
        )
