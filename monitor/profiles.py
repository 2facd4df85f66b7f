"""What a model's reference profile holds, and building it from columns of events.

One place for both ways a reference is made (a file, or the stream's first events), so
they can never profile a model differently: its features, its prediction, and for a
segmented model (``models.<m>.segments``) the share of each tag key's segments and the
reference of every segment (:mod:`detectors.segments`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from numpy.typing import NDArray

from detectors.profile import ReferenceProfile, SignalSpec, build_reference_profile
from detectors.segments import SegmentKey, build_segmented_profile
from monitor.config import ModelConfig


def segment_keys(model: ModelConfig) -> list[SegmentKey]:
    """The model's segment keys and the column each is read from: a tag's own column
    (``tags.region``, see :mod:`monitor.decode`), or the feature's."""
    return [
        SegmentKey(key, key if key.startswith("tags.") else key.split(".", 1)[1])
        for key in model.segments.keys
    ]


def signal_specs(model: ModelConfig) -> list[SignalSpec]:
    """The monitored signals of a model: its features, its prediction, then the shares of
    the segments of each tag key (a feature key's shares are that feature's own tests)."""
    specs = [SignalSpec(name, kind, "feature") for name, kind in model.features.items()]
    if model.prediction is not None:
        specs.append(SignalSpec("prediction", model.prediction, "prediction"))
    specs.extend(
        SignalSpec(key.column, "categorical", "segment", max_categories=model.segments.top)
        for key in segment_keys(model)
        if key.key.startswith("tags.")
    )
    return specs


def build_model_profile(
    model: ModelConfig, columns: Mapping[str, NDArray[Any]], *, created_at: float, source: str
) -> ReferenceProfile:
    """The model's reference profile from its columns (ValueError if they cannot make one)."""
    common: dict[str, Any] = {
        "bins": model.reference.bins,
        "max_categories": model.reference.max_categories,
        "created_at": created_at,
        "source": source,
    }
    keys = segment_keys(model)
    if not keys:
        return build_reference_profile(model.name, signal_specs(model), columns, **common)
    return build_segmented_profile(
        model.name,
        signal_specs(model),
        columns,
        keys,
        top=model.segments.top,
        min_rows=model.segments.min_reference_events,
        **common,
    )
