"""Reference profiles: what "normal" looks like for each monitored signal.

A profile is built once from reference data and then never changes; every
window is compared against it. Numeric signals keep quantile bin edges (the
outer bins open-ended), the count and the sum of values per bin (so each bin's
mean is exact, which keeps binned Wasserstein close to the raw-sample value),
moments, and the missing count. Categorical signals keep a frequency table,
an ``other`` slot for reference categories past ``max_categories`` and an
``unseen`` slot that the reference has zero in. Windows are binned against the
same edges and slots, so window state is a fixed-size vector of counts that
merges by addition.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from detectors.arrays import decode_array, encode_array
from detectors.estimation import BinaryEstimator
from detectors.histogram import histogram
from detectors.multivariate import JointProfile, build_joint_profile
from detectors.sketch import SKETCH_DEPTH, SKETCH_WIDTH, fingerprints

SignalKind = Literal["numeric", "categorical"]
SignalRole = Literal[
    "feature", "prediction", "performance", "multivariate", "estimated_performance", "segment"
]
"""``segment``: the mix of a segment key's values (a tag the model is segmented by), whose
drift is the segments' shares moving (:mod:`detectors.segments`)."""

PROFILE_STATE_VERSION = 1
COARSE_BINS = 10
"""PSI and Jensen-Shannon use about ten reference-decile bins (fine bins merged),
the convention their thresholds were calibrated on; KS and Wasserstein use the
fine bins, where more resolution means a smaller binning error."""

MAX_OTHER_CATEGORIES = 10_000
"""Reference categories past ``max_categories`` are remembered (up to this many)
so that the window counts them as ``other``, not as unseen."""

UNSEEN_Z = 2.33
"""Standard errors above Good-Turing's estimate that a new category's chance is taken at."""

MISSING = -1

GOOD_TURING_MIN = 10
"""Good-Turing adjusts the count ``r`` of a category while at least this many were seen
``r + 1`` times."""
"""Code of a missing categorical value."""


def category_key(value: object) -> str:
    """The string a category is compared by: JSON ``true`` and ``"true"`` are one category."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True, slots=True, eq=False)
class NumericProfile:
    """Reference distribution of one numeric signal."""

    name: str
    role: SignalRole
    edges: NDArray[np.float64]
    counts: NDArray[np.int64]
    sums: NDArray[np.float64]
    coarse_starts: NDArray[np.int64]
    missing: int
    minimum: float
    maximum: float
    mean: float
    std: float
    kind: SignalKind = field(default="numeric", init=False)

    @property
    def bins(self) -> int:
        return int(self.counts.size)

    @property
    def outside_chance(self) -> float:
        """The chance that a value drawn like the reference falls outside the range of its
        ``present`` values: ``2 / (present + 1)`` for continuous data, less with ties."""
        return min(1.0, 2.0 / (self.present + 1))

    @property
    def present(self) -> int:
        return int(self.counts.sum())

    def to_state(self) -> dict[str, Any]:
        return {
            "kind": "numeric",
            "name": self.name,
            "role": self.role,
            "edges": encode_array(self.edges),
            "counts": encode_array(self.counts),
            "sums": encode_array(self.sums),
            "coarse_starts": encode_array(self.coarse_starts),
            "missing": self.missing,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "mean": self.mean,
            "std": self.std,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> NumericProfile:
        return cls(
            name=str(state["name"]),
            role=_role(state["role"]),
            edges=decode_array(state["edges"]),
            counts=decode_array(state["counts"]),
            sums=decode_array(state["sums"]),
            coarse_starts=decode_array(state["coarse_starts"]),
            missing=int(state["missing"]),
            minimum=float(state["minimum"]),
            maximum=float(state["maximum"]),
            mean=float(state["mean"]),
            std=float(state["std"]),
        )


@dataclass(frozen=True, slots=True, eq=False)
class CategoricalProfile:
    """Reference frequency table of one categorical signal.

    Slots: ``categories`` in order, then ``other`` (reference categories past
    the cap), then ``unseen`` (never in the reference). ``other`` and ``unseen`` are the
    signal's *tail*. A signal whose reference had more categories than the cap (a high-
    cardinality feature) also sketches its tail in each window (:mod:`detectors.sketch`),
    and expects some unseen values in traffic like the reference's (``unseen_share``).
    """

    name: str
    role: SignalRole
    categories: tuple[str, ...]
    other_categories: frozenset[str]
    counts: NDArray[np.int64]
    missing: int
    singletons: int | None = None
    """Reference categories seen exactly once (Good-Turing: the chance that the next value
    is a new category is about ``singletons / present``); None in older profiles."""
    doubletons: int | None = None
    """Reference categories seen exactly twice (the variance of that estimate)."""
    kind: SignalKind = field(default="categorical", init=False)
    sketch_width: int = 0
    """Counters per row of the window's count-min sketch of the tail; 0: no sketch."""
    sketch_depth: int = 0
    unseen_share: float = 0.0
    """Share of values expected to be unseen in traffic drawn like the reference: the
    reference's categories not remembered (past ``MAX_OTHER_CATEGORIES``) plus the
    Good-Turing estimate of the values it never drew (its singletons' share)."""
    _lookup: dict[object, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        lookup: dict[object, int] = {None: MISSING}
        lookup.update({category: slot for slot, category in enumerate(self.categories)})
        lookup.update(dict.fromkeys(self.other_categories, self.other_slot))
        object.__setattr__(self, "_lookup", lookup)

    @property
    def other_slot(self) -> int:
        return len(self.categories)

    @property
    def unseen_slot(self) -> int:
        return len(self.categories) + 1

    @property
    def slots(self) -> int:
        return len(self.categories) + 2

    @property
    def present(self) -> int:
        return int(self.counts.sum())

    def encode(self, values: Sequence[object]) -> NDArray[np.int64]:
        """Slot of each value: ``MISSING`` for None, ``unseen_slot`` for a new category.

        Values may be raw JSON scalars: strings are looked up in one C-level pass,
        and only the rare rows that miss (a new category, or an int or bool to be
        compared by :func:`category_key`) are looked at again in Python.
        """
        lookup, unseen = self._lookup, self.unseen_slot
        codes = np.fromiter(
            map(lookup.get, values, repeat(unseen)), dtype=np.int64, count=len(values)
        )
        for row in np.flatnonzero(codes == unseen).tolist():
            value = values[row]
            if value.__class__ is not str:
                codes[row] = lookup.get(category_key(value), unseen)
        return codes

    @property
    def sketched(self) -> bool:
        return self.sketch_depth > 0

    def to_state(self) -> dict[str, Any]:
        state = {
            "kind": "categorical",
            "name": self.name,
            "role": self.role,
            "categories": list(self.categories),
            "other_categories": sorted(self.other_categories),
            "counts": encode_array(self.counts),
            "missing": self.missing,
            "singletons": self.singletons,
            "doubletons": self.doubletons,
        }
        if self.sketched:  # absent otherwise: profiles without a tail keep their ids
            state["sketch"] = [self.sketch_width, self.sketch_depth]
            state["unseen_share"] = self.unseen_share
        return state

    @property
    def unseen_chance(self) -> float:
        """The chance that a value drawn like the reference is a category it never showed.

        Good-Turing's estimate, ``singletons / present``, is itself drawn: its variance
        is about ``(singletons + 2 doubletons) / present^2`` (Esty, 1983). So this is its
        upper 99% bound, ``(singletons + 1 + 2.33 sqrt(singletons + 2 doubletons)) /
        (present + 1)``, never below ``1 / (present + 1)``: a 200-level categorical of
        20,000 reference values, half of its levels rare, showed 1.6 times the estimate.
        """
        ones = 0 if self.singletons is None else self.singletons
        twos = 0 if self.doubletons is None else self.doubletons
        bound = min(1.0, (ones + 1 + UNSEEN_Z * math.sqrt(ones + 2 * twos)) / (self.present + 1))
        if not self.sketched or self.present == 0:
            return bound
        # Past MAX_OTHER_CATEGORIES the window counts the categories the profile forgot as
        # unseen too: ``unseen_share`` includes them, with the same margin on top.
        return min(1.0, max(bound, self.unseen_share + bound - ones / self.present))

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> CategoricalProfile:
        width, depth = (int(n) for n in state.get("sketch", (0, 0)))
        if width < 0 or depth < 0 or (width == 0) != (depth == 0):
            raise ValueError(f"a categorical profile's sketch is {width} x {depth}")
        return cls(
            name=str(state["name"]),
            role=_role(state["role"]),
            categories=tuple(str(c) for c in state["categories"]),
            other_categories=frozenset(str(c) for c in state["other_categories"]),
            counts=decode_array(state["counts"]),
            missing=int(state["missing"]),
            singletons=None if state.get("singletons") is None else int(state["singletons"]),
            doubletons=None if state.get("doubletons") is None else int(state["doubletons"]),
            sketch_width=width,
            sketch_depth=depth,
            unseen_share=float(state.get("unseen_share", 0.0)),
        )


SignalProfile = NumericProfile | CategoricalProfile


@dataclass(frozen=True, slots=True, eq=False)
class ReferenceProfile:
    """Every signal of one model, as seen in its reference data, with a version id."""

    model: str
    id: str
    created_at: float
    events: int
    source: str
    signals: tuple[SignalProfile, ...]
    quality: Mapping[str, Any] | None = None
    """Quality counters of the labelled reference events (``QualityCounts.to_state()``):
    the baseline that windows' quality is judged against; None when unlabelled."""
    joint: JointProfile | None = None
    """The numeric features together (:mod:`detectors.multivariate`); None with fewer than
    two, and in profiles stored before joint drift existed."""
    estimator: BinaryEstimator | None = None
    """What estimating the model's performance needs (:mod:`detectors.estimation`), fitted
    on the labelled reference; None when not asked for, or the reference has no labels."""
    segments: tuple[SegmentReference, ...] = ()
    """Per segment key, the reference of each of its top values (:mod:`detectors.segments`);
    empty for a model not segmented."""

    def signal(self, name: str) -> SignalProfile:
        for signal in self.signals:
            if signal.name == name:
                return signal
        raise KeyError(f"reference {self.id} has no signal {name!r}")

    def to_json(self) -> str:
        return json.dumps(
            {
                "kind": "reference_profile",
                "v": PROFILE_STATE_VERSION,
                "model": self.model,
                "id": self.id,
                "created_at": self.created_at,
                "events": self.events,
                "source": self.source,
                "signals": [s.to_state() for s in self.signals],
                "quality": None if self.quality is None else dict(self.quality),
                "joint": None if self.joint is None else self.joint.to_state(),
                "estimator": None if self.estimator is None else self.estimator.to_state(),
                # Absent when empty: profiles of models not segmented keep their bytes.
                **({"segments": [s.to_state() for s in self.segments]} if self.segments else {}),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> ReferenceProfile:
        """Parse a stored profile; anything malformed is a ValueError naming the problem."""
        try:
            return cls._from_state(json.loads(text))
        except (KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"malformed reference profile: {error!r}") from error

    @classmethod
    def _from_state(cls, state: Any) -> ReferenceProfile:
        if not isinstance(state, dict):
            raise ValueError("a reference profile is a JSON object")
        if state.get("kind") != "reference_profile" or state.get("v") != PROFILE_STATE_VERSION:
            raise ValueError(
                f"not a version-{PROFILE_STATE_VERSION} reference profile "
                f"(kind={state.get('kind')!r}, v={state.get('v')!r}); rebuild it"
            )
        signals: list[SignalProfile] = []
        for s in state["signals"]:
            if s["kind"] == "numeric":
                signals.append(NumericProfile.from_state(s))
            elif s["kind"] == "categorical":
                signals.append(CategoricalProfile.from_state(s))
            else:
                raise ValueError(f"unknown signal kind {s['kind']!r} in reference profile")
        return cls(
            model=str(state["model"]),
            id=str(state["id"]),
            created_at=float(state["created_at"]),
            events=int(state["events"]),
            source=str(state["source"]),
            signals=tuple(signals),
            quality=_quality_state(state.get("quality")),
            joint=None if state.get("joint") is None else JointProfile.from_state(state["joint"]),
            estimator=None
            if state.get("estimator") is None
            else BinaryEstimator.from_state(state["estimator"]),
            segments=tuple(
                SegmentReference.from_state(s, cls._from_state) for s in state.get("segments", ())
            ),
        )

    def with_estimator(self, estimator: BinaryEstimator) -> ReferenceProfile:
        """This profile with an estimator, under a new id: windows counted without the
        estimator's segments are not comparable with windows counted with them."""
        return dataclasses.replace(
            self,
            id=_profile_id(self.model, self.signals, self.joint, estimator, self.segments),
            estimator=estimator,
        )

    def with_segments(self, segments: tuple[SegmentReference, ...]) -> ReferenceProfile:
        """This profile with the references of its segments, under a new id that covers
        them (their values, rows and profile ids; see :mod:`detectors.segments`)."""
        return dataclasses.replace(
            self,
            id=_profile_id(self.model, self.signals, self.joint, self.estimator, segments),
            segments=segments,
        )


OTHER_SEGMENT = "__other__"
"""The segment of every value outside a key's top values, and of events without the key."""


@dataclass(frozen=True, slots=True, eq=False)
class SegmentReference:
    """One segment key's reference: its top values, and each segment's own profile.

    ``values`` are the key's most frequent reference values (ties by name), at most the
    configured top K; every other value, and a missing one, is the segment
    :data:`OTHER_SEGMENT`. ``rows`` counts the reference rows of each segment, ``values``
    then ``OTHER_SEGMENT``; ``profiles`` holds a profile for each segment with enough rows
    (the others are *thin*: judged against the whole reference, or not at all).
    """

    key: str
    """As configured: ``tags.region`` or ``features.device``."""
    values: tuple[str, ...]
    rows: tuple[int, ...]
    profiles: Mapping[str, ReferenceProfile]
    min_rows: int
    """Reference rows a segment needed for a profile of its own."""
    _lookup: dict[object, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_lookup", {v: i for i, v in enumerate(self.values)})

    def codes(self, values: Sequence[object]) -> NDArray[np.int64]:
        """Each value's segment: its position in ``values``, or ``len(values)`` (other).

        One C-level lookup pass, as :meth:`CategoricalProfile.encode`; only the rows that
        miss and are not strings (JSON numbers and booleans) are looked at again.
        """
        lookup, other = self._lookup, len(self.values)
        codes = np.fromiter(map(lookup.get, values, repeat(other)), np.int64, count=len(values))
        for row in np.flatnonzero(codes == other).tolist():
            value = values[row]
            if value is not None and value.__class__ is not str:
                codes[row] = lookup.get(category_key(value), other)
        return codes

    @property
    def label(self) -> str:
        """The key's name without its ``tags.`` or ``features.`` prefix."""
        return self.key.split(".", 1)[1]

    @property
    def names(self) -> tuple[str, ...]:
        """Every segment of the key, ``values`` then :data:`OTHER_SEGMENT`."""
        return (*self.values, OTHER_SEGMENT)

    def segment_name(self, value: str) -> str:
        """How a segment is named in results and alerts: ``region=eu``."""
        return f"{self.label}={value}"

    def to_state(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "values": list(self.values),
            "rows": list(self.rows),
            "min_rows": self.min_rows,
            "profiles": {
                value: json.loads(profile.to_json()) for value, profile in self.profiles.items()
            },
        }

    @classmethod
    def from_state(
        cls, state: Mapping[str, Any], profile_of: Callable[[Any], ReferenceProfile]
    ) -> SegmentReference:
        values = tuple(str(v) for v in state["values"])
        rows = tuple(int(n) for n in state["rows"])
        if len(rows) != len(values) + 1:
            raise ValueError(f"segment key {state['key']!r} counts rows of {len(rows)} segments")
        return cls(
            key=str(state["key"]),
            values=values,
            rows=rows,
            profiles={str(v): profile_of(p) for v, p in state["profiles"].items()},
            min_rows=int(state["min_rows"]),
        )


@dataclass(frozen=True, slots=True)
class SignalSpec:
    """What a model declares about one signal: its name, kind and role.

    ``max_categories``: this signal's own cap on named categories (a segment key's top K),
    instead of the model's.
    """

    name: str
    kind: SignalKind
    role: SignalRole
    max_categories: int | None = None


def build_numeric_profile(
    name: str, role: SignalRole, values: NDArray[np.float64], *, bins: int
) -> NumericProfile:
    """Quantile bins from the reference; NaN is missing."""
    present = values[~np.isnan(values)]
    missing = int(values.size - present.size)
    if present.size == 0:
        edges = np.empty(0, dtype=np.float64)
        stats = (math.nan, math.nan, 0.0, 0.0)
    else:
        quantiles = np.quantile(present, np.linspace(0.0, 1.0, bins + 1)[1:-1])
        # Ties (integer-valued or spiky features) give repeated quantiles: keep one edge each.
        edges = np.unique(quantiles)
        stats = (
            float(present.min()),
            float(present.max()),
            float(present.mean()),
            float(present.std()),
        )
    counts, sums = histogram(edges, present)
    return NumericProfile(
        name=name,
        role=role,
        edges=edges.astype(np.float64),
        counts=counts,
        sums=sums,
        coarse_starts=coarse_bin_starts(counts),
        missing=missing,
        minimum=stats[0],
        maximum=stats[1],
        mean=stats[2],
        std=stats[3],
    )


def coarse_bin_starts(counts: NDArray[np.int64], groups: int = COARSE_BINS) -> NDArray[np.int64]:
    """First fine bin of each coarse bin: cut where the reference's share passes k/groups."""
    total = counts.sum()
    if total == 0 or counts.size <= groups:
        return np.arange(counts.size, dtype=np.int64)
    cumulative = np.cumsum(counts) / total
    cuts = np.searchsorted(cumulative, np.arange(1, groups) / groups, side="left") + 1
    starts = np.unique(np.concatenate(([0], cuts)))
    return starts[starts < counts.size].astype(np.int64)


def build_categorical_profile(
    name: str, role: SignalRole, values: Sequence[object], *, max_categories: int
) -> CategoricalProfile:
    """The most frequent categories get a slot each; ties break by name, so builds reproduce.

    With more categories than ``max_categories`` the signal has a tail to sketch
    (:mod:`detectors.sketch`), and an expected unseen share: whatever the number of
    distinct values, the profile keeps at most ``max_categories + MAX_OTHER_CATEGORIES``
    names.
    """
    frequencies = Counter(category_key(v) for v in values if v is not None)
    missing = sum(v is None for v in values)
    ranked = sorted(frequencies.items(), key=lambda item: (-item[1], item[0]))
    kept = ranked[:max_categories]
    rest = _remembered_first(ranked[max_categories:])
    ranked = kept + rest
    counts = np.zeros(len(kept) + 2, dtype=np.int64)
    counts[: len(kept)] = [count for _, count in kept]
    counts[len(kept)] = sum(count for _, count in rest)
    tail: dict[str, Any] = {}
    if rest:
        tail = {
            "sketch_width": SKETCH_WIDTH,
            "sketch_depth": SKETCH_DEPTH,
            "unseen_share": _unseen_share(ranked, max_categories),
        }
    return CategoricalProfile(
        name=name,
        role=role,
        categories=tuple(category for category, _ in kept),
        other_categories=frozenset(category for category, _ in rest[:MAX_OTHER_CATEGORIES]),
        counts=counts,
        missing=missing,
        singletons=sum(1 for _, count in ranked if count == 1),
        doubletons=sum(1 for _, count in ranked if count == 2),
        **tail,
    )


def _remembered_first(rest: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """The tail in the order its categories are remembered: by count, then by a hash.

    Past ``MAX_OTHER_CATEGORIES``, which of the categories seen equally often are
    remembered must not depend on their names: names often follow frequency (ids
    numbered by age), and :func:`_unseen_share` assumes those remembered are like those
    forgotten. Shorter tails are remembered whole, in name order.
    """
    if len(rest) <= MAX_OTHER_CATEGORIES:
        return rest
    prints = fingerprints([category for category, _ in rest]).tolist()
    order = sorted(range(len(rest)), key=lambda i: (-rest[i][1], prints[i]))
    return [rest[i] for i in order]


def _unseen_share(ranked: Sequence[tuple[str, int]], max_categories: int) -> float:
    """Expected share of values outside the remembered categories, in traffic like these.

    One minus the share of the remembered categories, each rare one counted by its
    Good-Turing adjusted count ``(r + 1) n[r + 1] / n[r]`` (``n[r]``: how many categories
    were seen ``r`` times) rather than ``r``: a category seen once among thousands seen
    once is mostly luck, and its true share is what the categories seen twice suggest.
    On Zipf-like and uniform tails the estimate is within a point of the truth.
    """
    seen_times = Counter(count for _, count in ranked)
    present = sum(seen_times[r] * r for r in seen_times)
    # Adjusted while there are enough categories seen r + 1 times for the ratio to hold
    # (Katz's switch to raw counts where they thin out); raw counts from there on.
    thin = next(r for r in itertools.count(1) if seen_times[r + 1] < GOOD_TURING_MIN)

    def adjusted(r: int) -> float:
        if r < thin:
            return (r + 1) * seen_times[r + 1] / seen_times[r]
        return float(r)

    remembered = ranked[: max_categories + MAX_OTHER_CATEGORIES]
    kept = sum(count for _, count in remembered[:max_categories])
    rare = sum(adjusted(count) for _, count in remembered[max_categories:])
    return min(1.0, max(0.0, 1.0 - (kept + rare) / present))


def build_reference_profile(
    model: str,
    specs: Sequence[SignalSpec],
    columns: Mapping[str, NDArray[Any]],
    *,
    bins: int,
    max_categories: int,
    created_at: float,
    source: str,
) -> ReferenceProfile:
    """Profile every declared signal (numeric columns: float64, NaN missing; else objects)."""
    if not specs:
        raise ValueError("a reference profile needs at least one signal")
    lengths = {spec.name: len(columns[spec.name]) for spec in specs}
    events = next(iter(lengths.values()))
    if any(n != events for n in lengths.values()):
        raise ValueError(f"reference columns differ in length: {lengths}")
    if events == 0:
        raise ValueError(f"reference data for model {model!r} holds no events")
    signals: list[SignalProfile] = []
    for spec in specs:
        column = columns[spec.name]
        if spec.kind == "numeric":
            signals.append(
                build_numeric_profile(
                    spec.name, spec.role, np.asarray(column, np.float64), bins=bins
                )
            )
        else:
            signals.append(
                build_categorical_profile(
                    spec.name,
                    spec.role,
                    list(column),
                    max_categories=spec.max_categories or max_categories,
                )
            )
    joint = build_joint_profile(
        [s.name for s in specs if s.kind == "numeric" and s.role == "feature"], columns
    )
    return ReferenceProfile(
        model=model,
        id=_profile_id(model, signals, joint, None),
        created_at=created_at,
        events=events,
        source=source,
        signals=tuple(signals),
        joint=joint,
    )


def _profile_id(
    model: str,
    signals: Sequence[SignalProfile],
    joint: JointProfile | None,
    estimator: BinaryEstimator | None,
    segments: Sequence[SegmentReference] = (),
) -> str:
    """``model@`` and a hash of everything windows are counted against (a segment's profile
    by its own id: its build time is not content)."""
    digest = hashlib.sha256()
    for signal in signals:
        digest.update(json.dumps(signal.to_state(), sort_keys=True).encode())
    for part in (joint, estimator):
        if part is not None:
            digest.update(json.dumps(part.to_state(), sort_keys=True).encode())
    for reference in segments:
        state = {
            "key": reference.key,
            "values": reference.values,
            "rows": reference.rows,
            "min_rows": reference.min_rows,
            "profiles": {name: p.id for name, p in sorted(reference.profiles.items())},
        }
        digest.update(json.dumps(state, sort_keys=True).encode())
    return f"{model}@{digest.hexdigest()[:12]}"


def _quality_state(value: Any) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not {"ints", "floats"} <= set(value):
        raise ValueError("the reference's quality baseline needs ints and floats counters")
    return value


def _role(value: Any) -> SignalRole:
    if value == "feature":
        return "feature"
    if value == "prediction":
        return "prediction"
    if value == "segment":
        return "segment"
    raise ValueError(f"unknown signal role {value!r}")
