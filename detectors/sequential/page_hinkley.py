"""Page-Hinkley: a CUSUM of deviations from the running mean.

Follows ``river.drift.PageHinkley`` operation for operation (the same running
mean update, the same ``-1`` start of the decrease maximum), so detections
agree with river's to the event, not just approximately. The state is five
numbers, so the detector is ours rather than a wrapper: that keeps it free of
river objects and makes the saved form obvious.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from detectors.sequential.protocol import (
    DetectorBase,
    as_values,
    check_choice,
    check_int,
    check_number,
    read_float,
    read_int,
    read_optional_float,
)

_MODES = ("up", "down", "both")


class PageHinkley(DetectorBase):
    """Page-Hinkley test on a numeric stream (river's defaults).

    Parameters
    ----------
    min_instances
        Events after a reset before the test may fire.
    delta
        Magnitude of change tolerated per event.
    threshold
        Cumulative deviation (lambda) that signals a change.
    alpha
        Forgetting factor of the cumulative sums (1 means no forgetting).
    mode
        ``"up"`` (increases), ``"down"`` (decreases) or ``"both"``.

    Examples
    --------
    >>> import numpy as np
    >>> ph = PageHinkley()
    >>> stream = np.r_[np.zeros(500), np.full(500, 5.0)]
    >>> ph.update_many(stream).tolist()
    [510]
    """

    kind: ClassVar[str] = "page_hinkley"
    version: ClassVar[int] = 1

    def __init__(
        self,
        min_instances: int = 30,
        delta: float = 0.005,
        threshold: float = 50.0,
        alpha: float = 1 - 0.0001,
        mode: str = "both",
    ) -> None:
        k = self.kind
        self.min_instances = check_int(k, "min_instances", min_instances, low=1)
        self.delta = check_number(k, "delta", delta, low=0.0)
        self.threshold = check_number(k, "threshold", threshold, low=0.0, low_open=True)
        self.alpha = check_number(k, "alpha", alpha, low=0.0, high=1.0, low_open=True)
        self.mode = check_choice(k, "mode", mode, _MODES)
        super().__init__()

    def _reset(self) -> None:
        """Start a new concept: what river's ``_reset`` creates."""
        self._drift = False
        self._n = 0.0
        self._mean = 0.0
        self._sum_increase = 0.0
        self._sum_decrease = 0.0
        self._min_increase = math.inf
        self._max_decrease = -1.0  # river starts the maximum at -1, not -inf

    @property
    def params(self) -> dict[str, Any]:
        return {
            "min_instances": self.min_instances,
            "delta": self.delta,
            "threshold": self.threshold,
            "alpha": self.alpha,
            "mode": self.mode,
        }

    def update_many(self, values: ArrayLike) -> NDArray[np.int64]:
        xs = as_values(self.kind, values)
        found: list[int] = []
        alpha, delta, threshold, min_n = self.alpha, self.delta, self.threshold, self.min_instances
        up, down = self.mode != "down", self.mode != "up"
        drift, n, mean = self._drift, self._n, self._mean
        s_inc, s_dec = self._sum_increase, self._sum_decrease
        min_inc, max_dec = self._min_increase, self._max_decrease
        for i, x in enumerate(xs):
            if drift:
                drift, n, mean = False, 0.0, 0.0
                s_inc, s_dec, min_inc, max_dec = 0.0, 0.0, math.inf, -1.0
            n += 1.0
            mean += (1.0 / n) * (x - mean)
            dev = x - mean
            s_inc = alpha * s_inc + dev - delta
            s_dec = alpha * s_dec + dev + delta
            if s_inc < min_inc:
                min_inc = s_inc
            if s_dec > max_dec:
                max_dec = s_dec
            if n >= min_n:
                drift = (up and s_inc - min_inc > threshold) or (
                    down and max_dec - s_dec > threshold
                )
                if drift:
                    found.append(i)
        self._drift, self._n, self._mean = drift, n, mean
        self._sum_increase, self._sum_decrease = s_inc, s_dec
        self._min_increase, self._max_decrease = min_inc, max_dec
        return self._tally(len(xs), found)

    _STATE_KEYS: ClassVar[frozenset[str]] = frozenset(
        {"n", "mean", "sum_increase", "sum_decrease", "min_increase", "max_decrease"}
    )

    def _state_fields(self) -> dict[str, Any]:
        return {
            "n": int(self._n),
            "mean": self._mean,
            "sum_increase": self._sum_increase,
            "sum_decrease": self._sum_decrease,
            "min_increase": None if math.isinf(self._min_increase) else self._min_increase,
            "max_decrease": self._max_decrease,
        }

    def _load_fields(self, state: Mapping[str, Any]) -> None:
        self._n = float(read_int(state, "n"))
        self._mean = read_float(state, "mean")
        self._sum_increase = read_float(state, "sum_increase")
        self._sum_decrease = read_float(state, "sum_decrease")
        min_increase = read_optional_float(state, "min_increase")
        self._min_increase = math.inf if min_increase is None else min_increase
        self._max_decrease = read_float(state, "max_decrease")
