"""The plain data a micro-batch is read into, planned as, and written from.

A batch goes through three steps (docs/architecture.md, "The data path"): the
store reads everything the planners need in one pipelined round trip
(:class:`ModelReads` asked, :class:`ModelState` answered), the planners turn the
decoded batch and that state into a :class:`BatchWrite` without any I/O, and the
store writes it in one Lua script. Both sides import this module and nothing of
each other: the store knows no planner, and no planner knows Redis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from detectors.profile import ReferenceProfile
from detectors.quality import QualityCounts, QualityTask
from detectors.window import WindowCounts


@dataclass(frozen=True, slots=True)
class ModelCursor:
    """What the window logic must know about a model before assigning a batch to windows."""

    events: int
    watermark: float | None
    reference_collected: int
    open_windows: frozenset[int]
    partition_marks: Mapping[int, tuple[float, float]] = field(default_factory=dict)
    """Per partition of the predictions topic: the largest event time seen, and the wall
    clock of the batch that saw it (event-time windows only; see monitor.windowing)."""


@dataclass(frozen=True, slots=True)
class ModelReads:
    """What the planners need read for one model before they can plan a batch."""

    reference_chunks: bool = False
    """The rows collected so far for a stream-built reference (only when this batch may
    complete it: the chunks grow with every batch until then)."""
    prediction_ids: Sequence[str] = ()
    """Ids of the batch's predictions that may join a waiting label."""
    label_ids: Sequence[str] = ()
    """Ids of the batch's labels that may join a waiting prediction."""
    detector_fields: Sequence[str] = ()
    """``detector/topic/partition`` fields of the sequential detectors this batch feeds."""

    @property
    def joins(self) -> bool:
        return bool(self.prediction_ids or self.label_ids)


@dataclass(frozen=True, slots=True)
class JoinView:
    """What Redis holds for the ids of one batch, read in one step."""

    version: int
    labels_for_predictions: Mapping[str, bytes]
    """Waiting labels (JSON ``[label, ts]``) by the id of a prediction in this batch."""
    predictions_for_labels: Mapping[str, bytes]
    """Waiting predictions (JSON ``[window, prediction, ts]``) by the id of a label here."""


@dataclass(frozen=True, slots=True)
class ModelState:
    """What the store read for one model, as :class:`ModelReads` asked."""

    reference_chunks: list[bytes] = field(default_factory=list)
    join: JoinView = JoinView(0, {}, {})
    detector_states: Mapping[str, bytes | None] = field(default_factory=dict)


@dataclass(slots=True)
class KeyedPredictions:
    """The batch's predictions that can join (they have an id and a window), as columns:
    a batch keys thousands, and a join plans them without an object each."""

    event_ids: list[str] = field(default_factory=list)
    windows: list[int] = field(default_factory=list)
    predictions: list[Any] = field(default_factory=list)
    ts: list[float] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    """Each one's message's position in the batch's prediction messages."""
    streams: list[str] = field(default_factory=list)
    """The stream whose window counted each (``fraud/version=4`` for a model monitored per
    version, whose predictions wait under the model's join); empty: the joining model."""

    def __len__(self) -> int:
        return len(self.event_ids)

    def extend(self, other: KeyedPredictions) -> None:
        """Another stream's keyed predictions after these, in place."""
        self.event_ids += other.event_ids
        self.windows += other.windows
        self.predictions += other.predictions
        self.ts += other.ts
        self.positions += other.positions
        self.streams += other.streams


class JoinedPair(NamedTuple):
    """A joined (prediction, label), and the message whose arrival completed the join."""

    prediction: Any
    label: Any
    from_labels_topic: bool
    position: int


@dataclass(slots=True)
class JoinPlan:
    """A model's label-join changes for one batch."""

    expected_version: int
    store_predictions: dict[str, str] = field(default_factory=dict)
    store_labels: dict[str, str] = field(default_factory=dict)
    delete_predictions: list[str] = field(default_factory=list)
    delete_labels: list[str] = field(default_factory=list)
    quality: dict[str, dict[int, QualityCounts]] = field(default_factory=dict)
    """Quality counters by stream and window: a model's own, or its versions' streams'
    (one join per model, each pair counted where its prediction was)."""
    stream_counts: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Joined pairs and keyed predictions of each version's stream (a model monitored per
    version): its quality windows' coverage. The model's own totals are the fields below."""
    task: QualityTask | None = None
    """The model's task: which counters of ``quality`` are stored packed."""
    joined: int = 0
    labels_received: int = 0
    predictions_keyed: int = 0
    label_lags: list[float] = field(default_factory=list)
    pair_predictions: list[Any] = field(default_factory=list)
    pair_labels: list[Any] = field(default_factory=list)
    pair_from_labels_topic: list[bool] = field(default_factory=list)
    pair_positions: list[int] = field(default_factory=list)
    pair_streams: list[str] = field(default_factory=list)
    """Every join of the batch in order, as columns (a batch joins thousands): its
    prediction and label, the message that completed it, and the stream it counts in
    (:meth:`pairs`)."""

    def pairs(self, stream: str) -> list[JoinedPair]:
        """The joins counted in ``stream``, as tuples made when asked: only sequential error
        detectors ask."""
        return [
            JoinedPair(prediction, label, from_labels, position)
            for prediction, label, from_labels, position, of in zip(
                self.pair_predictions,
                self.pair_labels,
                self.pair_from_labels_topic,
                self.pair_positions,
                self.pair_streams,
                strict=True,
            )
            if of == stream
        ]

    @property
    def empty(self) -> bool:
        return not (self.predictions_keyed or self.labels_received)


@dataclass(frozen=True, slots=True)
class Detection:
    """A change a detector found: which stream, and the exact event (partition and offset)."""

    model: str
    detector: str
    signal: str
    topic: str
    partition: int
    offset: int
    n_seen: int
    """How many values this partition's detector had seen, this one included."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "signal": self.signal,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "n_seen": self.n_seen,
        }


@dataclass(slots=True)
class SequentialPlan:
    """New detector states (field → JSON) and the detections of one batch for one model."""

    states: dict[str, str] = field(default_factory=dict)
    detections: list[Detection] = field(default_factory=list)


@dataclass(slots=True)
class SegmentWindow:
    """A batch's counts of the segments of one window (``monitor.segmenting``)."""

    events: dict[str, int]
    """Every segment's events, judged or not."""
    counts: dict[str, WindowCounts]
    """The counts of the segments that are judged."""


@dataclass(frozen=True, slots=True)
class WindowDelta:
    """A batch's contribution to one window."""

    window_id: int
    counts: WindowCounts
    start_ts: float
    end_ts: float
    model_version: str | None = None
    segments: SegmentWindow | None = None


@dataclass(slots=True)
class ModelWrite:
    """Everything one batch changes for one model."""

    model: str
    expected_events: int | None
    """The model's event count this write was planned from; None for a write that counts
    no events (the join of a model monitored per version, whose events are its versions')."""
    events: int
    reference_id: str = ""
    late: int = 0
    watermark: float | None = None
    partition_marks: Mapping[int, tuple[float, float]] | None = None
    windows: list[WindowDelta] = field(default_factory=list)
    close: list[int] = field(default_factory=list)
    reference_chunk: bytes | None = None
    reference_rows: int = 0
    reference: ReferenceProfile | None = None
    join: JoinPlan | None = None
    sequential: SequentialPlan | None = None
    join_limits: tuple[float, int] = (604800.0, 1_000_000)
    """(ttl_seconds, max_pending) of waiting predictions and labels."""


@dataclass(frozen=True, slots=True)
class PendingView:
    """What Redis holds that one batch's halves could meet or push out, read in one step."""

    stored: Mapping[str, bytes]
    """The batch's ids that have a half waiting, and that half's message (a blob)."""
    waiting: int
    """Halves waiting in all."""
    oldest: Sequence[tuple[str, float, bytes]]
    """The oldest waiting halves by event time (id, event time, blob): those past the TTL,
    then as many more as the batch could have to evict to stay within max_pending."""


@dataclass(slots=True)
class PairWrite:
    """A batch's changes to the waiting halves, applied with its windows and offsets.

    The apply script refuses it (``conflict``) unless every id to delete is still waiting,
    no id to store is waiting already (but one it deletes), and the halves waiting stay
    within ``max_pending``: another instance moved them since the read, so plan again.
    """

    store: dict[str, tuple[bytes, float]] = field(default_factory=dict)
    """Id → the half's message (a blob) and its event time, from which its TTL runs."""
    delete: list[str] = field(default_factory=list)
    max_pending: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    """Counters of the pairing (requests, responses, paired, skipped) to add."""

    @property
    def empty(self) -> bool:
        return not (self.store or self.delete or any(self.counts.values()))


@dataclass(slots=True)
class BatchWrite:
    """One micro-batch's state change: per-model writes and each partition's offset range."""

    offsets: dict[tuple[str, int], tuple[int, int]]  # (topic, partition) -> (first, next)
    models: list[ModelWrite]
    dead_letters: Mapping[str, int] = field(default_factory=dict)
    """Reason -> messages of this batch dead-lettered: counted exactly once, with the offsets."""
    unknown_versions: Mapping[str, int] = field(default_factory=dict)
    """Model -> events of versions without a reference, skipped: counted exactly once too."""
    pairs: PairWrite | None = None
    """A model server's requests and responses paired, forgotten or left waiting."""
