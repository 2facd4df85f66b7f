"""DDM: the error rate's running mean plus one standard deviation against its minimum.

Gama et al.'s Drift Detection Method on a 0/1 error stream, written to follow
``river.drift.binary.DDM`` operation for operation so that detections agree to
the event. The state is the running error rate and the best (lowest) point seen
so far, three floats.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from detectors.sequential.protocol import (
    DetectorBase,
    WarningMixin,
    as_errors,
    check_int,
    check_number,
    read_bool,
    read_float,
    read_int,
    read_optional_float,
)


class DDM(WarningMixin, DetectorBase):
    """Drift Detection Method on a binary error stream (1 = error), river's defaults.

    Parameters
    ----------
    warm_start
        Events after a reset before a warning or drift may be signalled.
    warning_threshold
        Standard deviations above the minimum that signal a warning.
    drift_threshold
        Standard deviations above the minimum that signal a drift.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> errors = np.r_[rng.random(2000) < 0.2, rng.random(2000) < 0.5]
    >>> DDM().update_many(errors).tolist()
    [2055]
    """

    kind: ClassVar[str] = "ddm"
    version: ClassVar[int] = 1

    def __init__(
        self, warm_start: int = 30, warning_threshold: float = 2.0, drift_threshold: float = 3.0
    ) -> None:
        k = self.kind
        self.warm_start = check_int(k, "warm_start", warm_start, low=0)
        self.warning_threshold = check_number(
            k, "warning_threshold", warning_threshold, low=0.0, low_open=True
        )
        self.drift_threshold = check_number(
            k, "drift_threshold", drift_threshold, low=0.0, low_open=True
        )
        super().__init__()

    def _reset(self) -> None:
        """Start a new concept: what river's ``_reset`` creates."""
        self._drift = False
        self._warning = False
        self._n = 0.0
        self._p = 0.0
        self._p_min: float | None = None
        self._s_min: float | None = None

    @property
    def params(self) -> dict[str, Any]:
        return {
            "warm_start": self.warm_start,
            "warning_threshold": self.warning_threshold,
            "drift_threshold": self.drift_threshold,
        }

    def update_many(self, values: ArrayLike) -> NDArray[np.int64]:
        xs = as_errors(self.kind, values)
        found: list[int] = []
        warm, warn_k, drift_k = self.warm_start, self.warning_threshold, self.drift_threshold
        drift, warning, n, p = self._drift, self._warning, self._n, self._p
        # river keeps p_min + s_min apart as ps_min, inf until the warm start ends.
        p_min = 0.0 if self._p_min is None else self._p_min
        s_min = 0.0 if self._s_min is None else self._s_min
        ps_min = math.inf if self._p_min is None else p_min + s_min
        sqrt = math.sqrt
        for i, x in enumerate(xs):
            if drift:
                drift, warning, n, p = False, False, 0.0, 0.0
                p_min, s_min, ps_min = 0.0, 0.0, math.inf
            n += 1.0
            p += (1.0 / n) * (x - p)
            variance = p * (1 - p) / n
            s = sqrt(variance) if variance > 0.0 else 0.0
            if n > warm:
                if p + s <= ps_min:
                    p_min, s_min = p, s
                    ps_min = p_min + s_min
                warning = p + s > p_min + warn_k * s_min
                if p + s > p_min + drift_k * s_min:
                    drift, warning = True, False
                    found.append(i)
        self._drift, self._warning, self._n, self._p = drift, warning, n, p
        set_yet = not math.isinf(ps_min)
        self._p_min = p_min if set_yet else None
        self._s_min = s_min if set_yet else None
        return self._tally(len(xs), found)

    _STATE_KEYS: ClassVar[frozenset[str]] = frozenset({"warning", "n", "p", "p_min", "s_min"})

    def _state_fields(self) -> dict[str, Any]:
        return {
            "warning": self._warning,
            "n": int(self._n),
            "p": self._p,
            "p_min": self._p_min,
            "s_min": self._s_min,
        }

    def _load_fields(self, state: Mapping[str, Any]) -> None:
        self._warning = read_bool(state, "warning")
        self._n = float(read_int(state, "n"))
        self._p = read_float(state, "p")
        self._p_min = read_optional_float(state, "p_min")
        self._s_min = read_optional_float(state, "s_min")
        if (self._p_min is None) != (self._s_min is None):
            raise ValueError("ddm: state fields p_min and s_min are set together or not at all")
