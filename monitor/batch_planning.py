"""A decoded micro-batch and the state read for it, planned into one write: no I/O.

The middle of the batch's three steps (docs/architecture.md, "The data path"):
:func:`reads_for_batch` says what the store must read, the store reads it in one
round trip, and :func:`plan_batch` turns the batch and that state into the
:class:`~monitor.batch_data.BatchWrite` the store applies in one script. Each model's
events are assigned to windows (:mod:`monitor.windowing`), joined with waiting labels
(:mod:`monitor.labels.joins`) and fed to its sequential detectors
(:mod:`monitor.labels.sequential`), in that order: the joins need each prediction's
window, and the error detectors need the joins.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from detectors.window import WindowLayout
from monitor.batch_data import (
    BatchWrite,
    JoinPlan,
    KeyedPredictions,
    ModelCursor,
    ModelReads,
    ModelState,
    ModelWrite,
)
from monitor.challenger import comparison_of, with_challenger
from monitor.config import Config, ModelConfig
from monitor.decode import DecodedBatch, ModelColumns
from monitor.labels.decode import DecodedLabels, Label
from monitor.labels.joins import join_ids, keyed_predictions, plan_joins
from monitor.labels.sequential import detector_fields, plan_sequential
from monitor.segmenting import segmentation, with_segments
from monitor.versions import model_of
from monitor.windowing import Plan, completes_reference, plan_model_write


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """The write of one batch, and each model's window plan (its next cursor and layout)."""

    write: BatchWrite
    windows: dict[str, Plan]

    @property
    def models(self) -> dict[str, ModelWrite]:
        return {write.model: write for write in self.write.models}


def _segmented(model: ModelConfig, columns: ModelColumns, plan: Plan) -> Plan:
    """The plan with its segments counted, for a segmented model with a reference."""
    if plan.layout is None or not model.segments.keys:
        return plan
    return with_segments(segmentation(model, plan.layout), columns, plan)


def _count_challengers(
    config: Config,
    cursors: Mapping[str, ModelCursor],
    layouts: Mapping[str, WindowLayout],
    decoded: DecodedBatch,
    windows: dict[str, Plan],
) -> None:
    """Each challenger's rows counted into its champion's windows (``monitor.challenger``),
    in place: the champion gets a plan even in a batch without its own events."""
    for name, model in config.models.items():
        comparison = comparison_of(model)
        if comparison is None or comparison.challenger not in decoded.models:
            continue
        plan = windows.get(name)
        layout = layouts.get(name) if plan is None else plan.layout
        if layout is None or name not in cursors:
            continue
        windows[name] = with_challenger(
            model, cursors[name], layout, plan, decoded.models[comparison.challenger]
        )


def _joins(
    config: Config,
    bases: Mapping[str, ModelConfig],
    decoded: DecodedBatch,
    labels: DecodedLabels,
) -> dict[str, list[str]]:
    """The batch's joins: each model that joins (a plain model, or a model monitored per
    version, whose versions' predictions join under its name: its labels name no version)
    and the streams whose predictions it joins."""
    joins: dict[str, list[str]] = {name: [] for name in labels.models}
    for stream in decoded.models:
        joins.setdefault(model_of(stream), []).append(stream)
    return {
        name: streams
        for name, streams in sorted(joins.items())
        if name in config.models or name in bases
    }


def _join_model(config: Config, bases: Mapping[str, ModelConfig], name: str) -> ModelConfig:
    """The config a model joins by: its own, or (monitored per version) the model's as
    configured, whose versions' streams differ from it only in name and reference."""
    return config.models[name] if name in config.models else bases[name]


def _sequential_streams(
    config: Config, decoded: DecodedBatch, labels: DecodedLabels
) -> dict[str, list[Label]]:
    """The streams whose sequential detectors this batch may feed, each with the labels it
    may join: a version's stream gets its model's labels (one of them may complete a join
    of its predictions in a batch that has none of them)."""
    streams: dict[str, list[Label]] = {}
    for name, model in config.models.items():
        model_labels = labels.models.get(model_of(name), [])
        if model.sequential and (name in decoded.models or model_labels):
            streams[name] = model_labels
    return streams


def reads_for_batch(
    config: Config,
    cursors: Mapping[str, ModelCursor],
    layouts: Mapping[str, WindowLayout],
    decoded: DecodedBatch,
    labels: DecodedLabels,
    *,
    bases: Mapping[str, ModelConfig] | None = None,
) -> dict[str, ModelReads]:
    """What the store must read for each model this batch touches. ``bases``: the models
    as configured, by name (the join of a model monitored per version is under its name,
    not a stream's); by default ``config``'s."""
    bases = config.models if bases is None else bases
    reads: dict[str, ModelReads] = {}
    for name in decoded.models:
        model = config.models[name]
        columns = decoded.models[name]
        reads[name] = ModelReads(
            reference_chunks=completes_reference(
                model, cursors[name], layouts.get(name), columns.rows
            )
        )
    if config.kafka.labels_topic is not None:
        for name, streams in _joins(config, bases, decoded, labels).items():
            prediction_ids, label_ids = join_ids(
                [decoded.models[s] for s in streams], labels.models.get(name, [])
            )
            reads[name] = dataclasses.replace(
                reads.get(name, ModelReads()), prediction_ids=prediction_ids, label_ids=label_ids
            )
    for name, model_labels in _sequential_streams(config, decoded, labels).items():
        reads[name] = dataclasses.replace(
            reads.get(name, ModelReads()),
            detector_fields=detector_fields(
                config.models[name],
                decoded.models.get(name),
                model_labels,
                decoded.origins,
                labels.origins,
            ),
        )
    return reads


def plan_batch(
    config: Config,
    cursors: Mapping[str, ModelCursor],
    layouts: Mapping[str, WindowLayout],
    decoded: DecodedBatch,
    labels: DecodedLabels,
    state: Mapping[str, ModelState],
    offsets: dict[tuple[str, int], tuple[int, int]],
    *,
    now: float,
    assigned: frozenset[int],
    unknown_versions: Mapping[str, int] | None = None,
    bases: Mapping[str, ModelConfig] | None = None,
) -> BatchPlan:
    """Everything the batch changes, from the state :func:`reads_for_batch` asked for.

    ``offsets``: each partition's (first, next) offset in the batch, written with the
    state; ``assigned``: the predictions topic's partitions this instance owns;
    ``unknown_versions``: events skipped per model, their version having no reference;
    ``bases``: as for :func:`reads_for_batch`.
    """
    bases = config.models if bases is None else bases
    windows = {
        name: _segmented(
            config.models[name],
            columns,
            plan_model_write(
                config.models[name],
                cursors[name],
                layouts.get(name),
                columns,
                state[name].reference_chunks,
                now,
                decoded.origins.partitions[columns.positions],
                assigned,
            ),
        )
        for name, columns in decoded.models.items()
    }
    _count_challengers(config, cursors, layouts, decoded, windows)
    writes = {name: plan.write for name, plan in windows.items()}

    def write_of(name: str) -> ModelWrite:
        if name not in writes:
            # A model monitored per version counts its events in its versions' streams.
            expected = cursors[name].events if name in config.models else None
            writes[name] = ModelWrite(model=name, expected_events=expected, events=0)
        return writes[name]

    joins: dict[str, JoinPlan] = {}
    if config.kafka.labels_topic is not None:
        for name, streams in _joins(config, bases, decoded, labels).items():
            model = _join_model(config, bases, name)
            keyed = KeyedPredictions()
            for stream in streams:
                keyed.extend(
                    keyed_predictions(
                        decoded.models[stream],
                        None if stream not in windows else windows[stream].row_windows,
                        "" if stream == name else stream,
                    )
                )
            model_labels = labels.models.get(name, [])
            if keyed or model_labels:
                join = joins[name] = plan_joins(model, state[name].join, keyed, model_labels)
                write_of(name).join = join
                write_of(name).join_limits = (model.labels.ttl_seconds, model.labels.max_pending)
    for name in _sequential_streams(config, decoded, labels):
        sequential = plan_sequential(
            config.models[name],
            decoded.models.get(name),
            joins.get(model_of(name)),
            decoded.origins,
            labels.origins,
            state[name].detector_states,
        )
        if sequential.states:
            write_of(name).sequential = sequential
    dead: Counter[str] = Counter(d.reason for d in (*decoded.dead_letters, *labels.dead_letters))
    return BatchPlan(
        BatchWrite(
            offsets=offsets,
            models=list(writes.values()),
            dead_letters=dead,
            unknown_versions=dict(unknown_versions or {}),
        ),
        windows,
    )
