"""HDDM_A: Hoeffding's bound on the difference of two running means.

Frías-Blanco et al.'s detector keeps the running error rate of the whole
concept and of its prefix up to a cut point (where the rate, less its Hoeffding
bound, was lowest); a drift is a rise of the recent rate over the prefix's that
the bound cannot explain. Written to follow ``river.drift.binary.HDDMA``
operation for operation, so detections agree to the event. The state is three
(count, mean) pairs.
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
    check_bool,
    check_probability,
    read_bool,
    read_float,
    read_int,
)


class HDDMA(WarningMixin, DetectorBase):
    """HDDM with the average as estimator on a binary error stream (1 = error).

    Parameters
    ----------
    drift_confidence
        Confidence level of the drift test (smaller: fewer, later detections).
    warning_confidence
        Confidence level of the warning test.
    two_sided_test
        Also detect a *fall* of the error rate.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> errors = np.r_[rng.random(2000) < 0.1, rng.random(2000) < 0.4]
    >>> HDDMA().update_many(errors).tolist()
    [2057]
    """

    kind: ClassVar[str] = "hddm_a"
    version: ClassVar[int] = 1

    def __init__(
        self,
        drift_confidence: float = 0.001,
        warning_confidence: float = 0.005,
        two_sided_test: bool = False,
    ) -> None:
        k = self.kind
        self.drift_confidence = check_probability(k, "drift_confidence", drift_confidence)
        self.warning_confidence = check_probability(k, "warning_confidence", warning_confidence)
        self.two_sided_test = check_bool(k, "two_sided_test", two_sided_test)
        super().__init__()

    def _reset(self) -> None:
        """Start a new concept: what river's ``_reset`` creates."""
        self._drift = False
        self._warning = False
        self._z_n, self._z_mean = 0.0, 0.0  # the whole concept
        self._min_n, self._min_mean = 0.0, 0.0  # prefix to the cut point for increases
        self._max_n, self._max_mean = 0.0, 0.0  # prefix to the cut point for decreases

    @property
    def params(self) -> dict[str, Any]:
        return {
            "drift_confidence": self.drift_confidence,
            "warning_confidence": self.warning_confidence,
            "two_sided_test": self.two_sided_test,
        }

    def update_many(self, values: ArrayLike) -> NDArray[np.int64]:
        xs = as_errors(self.kind, values)
        found: list[int] = []
        sqrt = math.sqrt
        two_sided = self.two_sided_test
        log_bound = math.log(1.0 / self.drift_confidence)  # Hoeffding bound of one mean
        log_drift = math.log(2.0 / self.drift_confidence)  # bound of a difference of means
        log_warn = math.log(2.0 / self.warning_confidence)
        drift, warning = self._drift, self._warning
        z_n, z_mean = self._z_n, self._z_mean
        min_n, min_mean = self._min_n, self._min_mean
        max_n, max_mean = self._max_n, self._max_mean
        for i, x in enumerate(xs):
            if drift:
                drift, warning = False, False
                z_n = z_mean = min_n = min_mean = max_n = max_mean = 0.0
            z_n += 1.0
            z_mean += (1.0 / z_n) * (x - z_mean)
            if min_n == 0.0:
                min_n, min_mean = z_n, z_mean
            if max_n == 0.0:
                max_n, max_mean = z_n, z_mean
            eps_z = sqrt(1.0 / (2 * z_n) * log_bound)
            if min_mean + sqrt(1.0 / (2 * min_n) * log_bound) >= z_mean + eps_z:
                min_n, min_mean = z_n, z_mean
            if max_mean - sqrt(1.0 / (2 * max_n) * log_bound) <= z_mean - eps_z:
                max_n, max_mean = z_n, z_mean

            if min_n != z_n:
                m = (z_n - min_n) / min_n * (1.0 / z_n) / 2
                rise = z_mean - min_mean
                if rise >= sqrt(m * log_drift):
                    warning, drift = False, True
                else:
                    warning, drift = rise >= sqrt(m * log_warn), False
            else:
                warning, drift = False, False
            if two_sided and max_n != z_n:
                m = (z_n - max_n) / max_n * (1.0 / z_n) / 2
                fall = max_mean - z_mean
                if fall >= sqrt(m * log_drift):
                    drift = True
                elif fall >= sqrt(m * log_warn):
                    warning = True
            if drift:
                found.append(i)
        self._drift, self._warning = drift, warning
        self._z_n, self._z_mean = z_n, z_mean
        self._min_n, self._min_mean = min_n, min_mean
        self._max_n, self._max_mean = max_n, max_mean
        return self._tally(len(xs), found)

    _STATE_KEYS: ClassVar[frozenset[str]] = frozenset(
        {"warning", "z_n", "z_mean", "min_n", "min_mean", "max_n", "max_mean"}
    )

    def _state_fields(self) -> dict[str, Any]:
        return {
            "warning": self._warning,
            "z_n": int(self._z_n),
            "z_mean": self._z_mean,
            "min_n": int(self._min_n),
            "min_mean": self._min_mean,
            "max_n": int(self._max_n),
            "max_mean": self._max_mean,
        }

    def _load_fields(self, state: Mapping[str, Any]) -> None:
        self._warning = read_bool(state, "warning")
        self._z_n = float(read_int(state, "z_n"))
        self._z_mean = read_float(state, "z_mean")
        self._min_n = float(read_int(state, "min_n"))
        self._min_mean = read_float(state, "min_mean")
        self._max_n = float(read_int(state, "max_n"))
        self._max_mean = read_float(state, "max_mean")
