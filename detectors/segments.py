"""Segments: drift where it happens, judged against the reference rows of the same segment.

A model segmented by a key (a tag such as ``region``, or a categorical feature such as
``device``) is watched whole and per segment: each of the key's top K reference values
is a segment, and every other value (or none) is the segment ``__other__``, so however
many distinct values traffic brings, a key has at most K + 1 segments. Each segment
with enough reference rows gets a profile of its own, built from those rows only: a
segment is compared with what that segment looked like, not with the mix of all of
them, where its 5% of the traffic would drown.

A segment's profile covers the model's signals except the key itself (a ``device``
segment holds one device) and the segments' shares (a role of their own: the mix of a
tag key's values, whose drift says a segment grew, shrank or vanished).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from detectors.profile import (
    ReferenceProfile,
    SegmentReference,
    SignalSpec,
    build_reference_profile,
    category_key,
)


@dataclasses.dataclass(frozen=True, slots=True)
class SegmentKey:
    """A segment key as configured, and the column its values are read from."""

    key: str
    """``tags.region`` or ``features.device``."""
    column: str
    """The column of the decoded events: ``tags.region``, or the feature's name."""


def top_values(values: Sequence[object], top: int) -> tuple[str, ...]:
    """The ``top`` most frequent values (ties by name, so a rebuild picks the same)."""
    frequencies = Counter(str(category_key(v)) for v in values if v is not None)
    ranked = sorted(frequencies.items(), key=lambda item: (-item[1], item[0]))
    return tuple(value for value, _ in ranked[:top])


def segment_specs(specs: Sequence[SignalSpec], key: SegmentKey) -> list[SignalSpec]:
    """The signals a segment of ``key`` is judged on: the model's, less the key itself and
    every segment key's shares."""
    return [s for s in specs if s.role != "segment" and s.name != key.column]


def build_segmented_profile(
    model: str,
    specs: Sequence[SignalSpec],
    columns: Mapping[str, NDArray[Any]],
    keys: Sequence[SegmentKey],
    *,
    top: int,
    min_rows: int,
    bins: int,
    max_categories: int,
    created_at: float,
    source: str,
) -> ReferenceProfile:
    """The whole model's profile, with the reference of each segment of each key.

    Its id covers the segments (their values, rows and profile ids), so a change of the
    top values or of ``min_rows`` is a new reference version.
    """

    def build(signals: Sequence[SignalSpec], data: Mapping[str, NDArray[Any]]) -> ReferenceProfile:
        return build_reference_profile(
            model,
            signals,
            data,
            bins=bins,
            max_categories=max_categories,
            created_at=created_at,
            source=source,
        )

    whole = build(specs, columns)
    references = []
    for key in keys:
        values = top_values(list(columns[key.column]), top)
        reference = SegmentReference(key.key, values, (), {}, min_rows)
        codes = reference.codes(list(columns[key.column]))
        counts = np.bincount(codes, minlength=len(values) + 1)
        own = segment_specs(specs, key)
        profiles = {}
        for code, name in enumerate(reference.names):
            if counts[code] < min_rows:
                continue
            rows = np.flatnonzero(codes == code)
            subset = {s.name: np.asarray(columns[s.name])[rows] for s in own}
            profiles[name] = build(own, subset)
        references.append(
            SegmentReference(key.key, values, tuple(counts.tolist()), profiles, min_rows)
        )
    return whole.with_segments(tuple(references))


def whole_reference_for(profile: ReferenceProfile, key: SegmentKey) -> ReferenceProfile:
    """The whole reference as a segment of ``key`` is judged against it (a thin segment,
    when the config says so): the same signals as a segment's own profile."""
    kept = {s.name for s in segment_specs(_specs_of(profile), key)}
    return dataclasses.replace(
        profile, signals=tuple(s for s in profile.signals if s.name in kept), segments=()
    )


def _specs_of(profile: ReferenceProfile) -> list[SignalSpec]:
    return [SignalSpec(s.name, s.kind, s.role) for s in profile.signals]
