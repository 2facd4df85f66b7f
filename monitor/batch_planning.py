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

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from detectors.window import WindowLayout
from monitor.batch_data import BatchWrite, ModelCursor, ModelReads, ModelState, ModelWrite
from monitor.challenger import comparison_of, with_challenger
from monitor.config import Config, ModelConfig
from monitor.decode import DecodedBatch, ModelColumns
from monitor.labels.decode import DecodedLabels
from monitor.labels.joins import join_ids, keyed_predictions, plan_joins
from monitor.labels.sequential import detector_fields, plan_sequential
from monitor.segmenting import segmentation, with_segments
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


def reads_for_batch(
    config: Config,
    cursors: Mapping[str, ModelCursor],
    layouts: Mapping[str, WindowLayout],
    decoded: DecodedBatch,
    labels: DecodedLabels,
) -> dict[str, ModelReads]:
    """What the store must read for each model this batch touches."""
    reads: dict[str, ModelReads] = {}
    for name in sorted(set(decoded.models) | set(labels.models)):
        model = config.models[name]
        columns = decoded.models.get(name)
        model_labels = labels.models.get(name, [])
        prediction_ids: list[str] = []
        label_ids: list[str] = []
        if config.kafka.labels_topic is not None:
            prediction_ids, label_ids = join_ids(columns, model_labels)
        reads[name] = ModelReads(
            reference_chunks=columns is not None
            and completes_reference(model, cursors[name], layouts.get(name), columns.rows),
            prediction_ids=prediction_ids,
            label_ids=label_ids,
            detector_fields=detector_fields(
                model, columns, model_labels, decoded.origins, labels.origins
            )
            if model.sequential
            else [],
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
) -> BatchPlan:
    """Everything the batch changes, from the state :func:`reads_for_batch` asked for.

    ``offsets``: each partition's (first, next) offset in the batch, written with the
    state; ``assigned``: the predictions topic's partitions this instance owns;
    ``unknown_versions``: events skipped per model, their version having no reference.
    """
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
            writes[name] = ModelWrite(model=name, expected_events=cursors[name].events, events=0)
        return writes[name]

    for name in sorted(set(decoded.models) | set(labels.models)):
        model = config.models[name]
        columns = decoded.models.get(name)
        window_plan = windows.get(name)
        join = None
        if config.kafka.labels_topic is not None:
            keyed = keyed_predictions(
                columns, None if window_plan is None else window_plan.row_windows
            )
            model_labels = labels.models.get(name, [])
            if keyed or model_labels:
                join = plan_joins(model, state[name].join, keyed, model_labels)
                write_of(name).join = join
                write_of(name).join_limits = (model.labels.ttl_seconds, model.labels.max_pending)
        if model.sequential:
            sequential = plan_sequential(
                model,
                columns,
                join,
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
