"""Sequential change detectors: where in an ordered stream did it change?

Numeric streams (a feature, the prediction, a per-event loss): ``adwin``,
``page_hinkley``, ``kswin``. Binary error streams (1 = the model was wrong):
``ddm``, ``eddm``, ``hddm_a``, ``hddm_w``.

Each detector follows its river counterpart (river 0.26) operation for
operation and detects at the same events; the tests check that on seeded
streams. They are our own code rather than wrappers because river keeps ADWIN's
window and HDDM_W's averages in compiled objects that can only be pickled,
while these save their state as versioned plain data (see
:mod:`detectors.sequential.protocol`).

>>> import numpy as np
>>> detector = make("page_hinkley", threshold=20.0)
>>> detector.update_many(np.r_[np.zeros(100), np.full(50, 3.0)]).tolist()
[106]
>>> restore(detector.state()).n_seen
150
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from detectors.sequential.adwin import ADWIN
from detectors.sequential.ddm import DDM
from detectors.sequential.eddm import EDDM
from detectors.sequential.hddm_a import HDDMA
from detectors.sequential.hddm_w import HDDMW
from detectors.sequential.kswin import KSWIN
from detectors.sequential.page_hinkley import PageHinkley
from detectors.sequential.protocol import SequentialDetector

__all__ = [
    "ADWIN",
    "BINARY",
    "DDM",
    "DETECTORS",
    "EDDM",
    "HDDMA",
    "HDDMW",
    "KSWIN",
    "NUMERIC",
    "PageHinkley",
    "SequentialDetector",
    "make",
    "restore",
]

DETECTORS: Mapping[str, type[SequentialDetector]] = MappingProxyType(
    {cls.kind: cls for cls in (ADWIN, PageHinkley, KSWIN, DDM, EDDM, HDDMA, HDDMW)}
)
"""Registry name (also the ``kind`` of a saved state) to detector class."""

NUMERIC = frozenset({"adwin", "page_hinkley", "kswin"})
"""Detectors of any numeric stream."""

BINARY = frozenset({"ddm", "eddm", "hddm_a", "hddm_w"})
"""Detectors of a 0/1 error stream (they reject any other value)."""


def _lookup(name: object) -> type[SequentialDetector]:
    if isinstance(name, str) and name in DETECTORS:
        return DETECTORS[name]
    hint = difflib.get_close_matches(str(name), DETECTORS, n=1)
    suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
    raise ValueError(
        f"unknown sequential detector {name!r}{suggestion}; valid names: {', '.join(DETECTORS)}"
    )


def make(name: str, **params: Any) -> SequentialDetector:
    """A fresh detector by registry name; parameter values are checked by its constructor.

    An unknown parameter name is a ValueError that lists the valid ones, like
    every other configuration error here.
    """
    cls = _lookup(name)
    valid = list(inspect.signature(cls).parameters)
    for key in params:
        if key not in valid:
            hint = difflib.get_close_matches(key, valid, n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ValueError(
                f"{name}: unknown parameter {key!r}{suggestion}; valid: {', '.join(valid)}"
            )
    detector: SequentialDetector = cls(**params)
    return detector


def restore(state: Mapping[str, Any]) -> SequentialDetector:
    """The detector a saved state describes, whatever its kind."""
    if not isinstance(state, Mapping):
        raise ValueError(f"a detector state is a mapping, got {type(state).__name__}")
    return _lookup(state.get("kind")).from_state(state)
