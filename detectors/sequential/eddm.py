"""EDDM: the distance between consecutive errors, against its best level so far.

Baena-García et al.'s Early Drift Detection Method watches how many events
separate two errors: when a model gets worse, errors come closer together, and
the mean-plus-two-deviations of that distance falls below a fraction of its
maximum. It reacts to gradual drift earlier than DDM. Written to follow
``river.drift.binary.EDDM`` operation for operation (Welford's running variance
with ``ddof=1``, the ``-1`` start of the maximum), so detections agree to the event.
"""

from __future__ import annotations

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
)


class EDDM(WarningMixin, DetectorBase):
    """Early Drift Detection Method on a binary error stream (1 = error), river's defaults.

    Only an error moves the test, so ``warning_detected`` says whether the last
    *error* put the detector in the warning zone.

    Parameters
    ----------
    warm_start
        Events, and errors, after a reset before a warning or drift may be signalled.
    alpha
        Warning level: a warning when the distance statistic falls below this share of
        its maximum.
    beta
        Drift level (``beta <= alpha``).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> errors = np.r_[rng.random(2000) < 0.1, rng.random(2000) < 0.4]
    >>> EDDM(warm_start=100).update_many(errors).tolist()  # the first one is a false alarm
    [1214, 2009]
    """

    kind: ClassVar[str] = "eddm"
    version: ClassVar[int] = 1

    def __init__(self, warm_start: int = 30, alpha: float = 0.95, beta: float = 0.9) -> None:
        k = self.kind
        self.warm_start = check_int(k, "warm_start", warm_start, low=0)
        self.alpha = check_number(k, "alpha", alpha, low=0.0, high=1.0, low_open=True)
        self.beta = check_number(k, "beta", beta, low=0.0, high=1.0, low_open=True)
        if self.alpha < self.beta:
            raise ValueError(
                f"{k}: beta (drift level) must be <= alpha (warning level), "
                f"got beta={beta!r}, alpha={alpha!r}"
            )
        super().__init__()

    def _reset(self) -> None:
        """Start a new concept: what river's ``_reset`` creates."""
        self._drift = False
        self._warning = False
        self._n = 0  # events since the reset
        self._last_error = 0  # event number of the last error
        self._n_errors = 0
        self._p2s_max = -1.0
        # Welford's running mean and sum of squares of the distances between errors.
        self._d_n = 0.0
        self._d_mean = 0.0
        self._d_s = 0.0

    @property
    def params(self) -> dict[str, Any]:
        return {"warm_start": self.warm_start, "alpha": self.alpha, "beta": self.beta}

    def update_many(self, values: ArrayLike) -> NDArray[np.int64]:
        xs = as_errors(self.kind, values)
        found: list[int] = []
        warm, alpha, beta = self.warm_start, self.alpha, self.beta
        drift, warning, n, last, n_err = (
            self._drift,
            self._warning,
            self._n,
            self._last_error,
            self._n_errors,
        )
        p2s_max, d_n, d_mean, d_s = self._p2s_max, self._d_n, self._d_mean, self._d_s
        for i, x in enumerate(xs):
            if drift:
                drift, warning, n, last, n_err = False, False, 0, 0, 0
                p2s_max, d_n, d_mean, d_s = -1.0, 0.0, 0.0, 0.0
            n += 1
            if x == 1.0:
                n_err += 1
                distance = n - last
                old_mean = d_mean
                d_n += 1.0
                d_mean += (1.0 / d_n) * (distance - d_mean)
                d_s += (distance - old_mean) * (distance - d_mean)
                if n > warm:
                    variance = d_s / (d_n - 1) if d_n > 1 else 0.0
                    p2s = d_mean + 2 * variance**0.5
                    if p2s > p2s_max:
                        p2s_max = p2s
                    elif n_err > warm:
                        level = p2s / p2s_max
                        if level < beta:
                            drift = True
                            found.append(i)
                        elif level < alpha:
                            warning = True
                        else:
                            warning = False
                last = n
        self._drift, self._warning, self._n, self._last_error, self._n_errors = (
            drift,
            warning,
            n,
            last,
            n_err,
        )
        self._p2s_max, self._d_n, self._d_mean, self._d_s = p2s_max, d_n, d_mean, d_s
        return self._tally(len(xs), found)

    _STATE_KEYS: ClassVar[frozenset[str]] = frozenset(
        {
            "warning",
            "n",
            "last_error",
            "n_errors",
            "p2s_max",
            "distance_n",
            "distance_mean",
            "distance_sum_squares",
        }
    )

    def _state_fields(self) -> dict[str, Any]:
        return {
            "warning": self._warning,
            "n": self._n,
            "last_error": self._last_error,
            "n_errors": self._n_errors,
            "p2s_max": self._p2s_max,
            "distance_n": int(self._d_n),
            "distance_mean": self._d_mean,
            "distance_sum_squares": self._d_s,
        }

    def _load_fields(self, state: Mapping[str, Any]) -> None:
        self._warning = read_bool(state, "warning")
        self._n = read_int(state, "n")
        self._last_error = read_int(state, "last_error")
        self._n_errors = read_int(state, "n_errors")
        self._p2s_max = read_float(state, "p2s_max")
        self._d_n = float(read_int(state, "distance_n"))
        self._d_mean = read_float(state, "distance_mean")
        self._d_s = read_float(state, "distance_sum_squares")
