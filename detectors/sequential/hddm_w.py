"""HDDM_W: McDiarmid's bound on the difference of two exponentially weighted means.

The weighted variant of Frías-Blanco et al.'s detector: recent errors weigh
more (``lambda_val``), so it follows abrupt changes faster than HDDM_A. It keeps
the EWMA of the whole concept and, for each direction, the EWMA up to a cut
point and the EWMA since. Written to follow ``river.drift.binary.HDDMW``
operation for operation (river's EWMA starts at the first value), so detections
agree to the event.

Each EWMA is a *sample*: ``(ewma, initialised, ibc)``, where ``ibc`` is the
sum of squared weights that McDiarmid's bound needs. A sample that has seen no
element has ``ewma = 0``, ``ibc = 1`` and is never tested.
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
    check_number,
    check_probability,
    read_bool,
    read_float,
    read_optional_float,
)

_SAMPLES = ("total", "s1_incr", "s2_incr", "s1_decr", "s2_decr")

_Sample = tuple[float, bool, float]
"""(ewma, initialised, ibc)"""

_EMPTY: _Sample = (0.0, False, 1.0)


class HDDMW(WarningMixin, DetectorBase):
    """HDDM with the EWMA as estimator on a binary error stream (1 = error).

    Parameters
    ----------
    drift_confidence
        Confidence level of the drift test (smaller: fewer, later detections).
    warning_confidence
        Confidence level of the warning test.
    lambda_val
        Weight of the newest element in the EWMA.
    two_sided_test
        Also detect a *fall* of the error rate.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> errors = np.r_[rng.random(2000) < 0.1, rng.random(2000) < 0.4]
    >>> HDDMW().update_many(errors).tolist()
    [2059]
    """

    kind: ClassVar[str] = "hddm_w"
    version: ClassVar[int] = 1

    def __init__(
        self,
        drift_confidence: float = 0.001,
        warning_confidence: float = 0.005,
        lambda_val: float = 0.05,
        two_sided_test: bool = False,
    ) -> None:
        k = self.kind
        self.drift_confidence = check_probability(k, "drift_confidence", drift_confidence)
        self.warning_confidence = check_probability(k, "warning_confidence", warning_confidence)
        self.lambda_val = check_number(
            k, "lambda_val", lambda_val, low=0.0, high=1.0, low_open=True
        )
        self.two_sided_test = check_bool(k, "two_sided_test", two_sided_test)
        super().__init__()

    def _reset(self) -> None:
        """Start a new concept: what river's ``_reset`` creates."""
        self._drift = False
        self._warning = False
        self._samples: dict[str, _Sample] = dict.fromkeys(_SAMPLES, _EMPTY)
        self._incr_cutpoint = math.inf
        self._decr_cutpoint = -math.inf

    @property
    def params(self) -> dict[str, Any]:
        return {
            "drift_confidence": self.drift_confidence,
            "warning_confidence": self.warning_confidence,
            "lambda_val": self.lambda_val,
            "two_sided_test": self.two_sided_test,
        }

    def update_many(self, values: ArrayLike) -> NDArray[np.int64]:
        xs = as_errors(self.kind, values)
        found: list[int] = []
        sqrt, inf = math.sqrt, math.inf
        two_sided = self.two_sided_test
        lam = self.lambda_val
        one_minus_lam = 1.0 - lam
        lam_sq = lam * lam
        c_lam_sq = (1 - lam) ** 2
        log_drift = math.log(1 / self.drift_confidence)
        log_warn = math.log(1 / self.warning_confidence)
        drift, warning = self._drift, self._warning
        incr_cut, decr_cut = self._incr_cutpoint, self._decr_cutpoint
        s = self._samples
        t_m, t_init, t_ibc = s["total"]
        a1_m, a1_init, a1_ibc = s["s1_incr"]
        a2_m, a2_init, a2_ibc = s["s2_incr"]
        b1_m, b1_init, b1_ibc = s["s1_decr"]
        b2_m, b2_init, b2_ibc = s["s2_decr"]
        for i, x in enumerate(xs):
            if drift:
                drift, warning, incr_cut, decr_cut = False, False, inf, -inf
                t_m, t_init, t_ibc = a1_m, a1_init, a1_ibc = a2_m, a2_init, a2_ibc = _EMPTY
                b1_m, b1_init, b1_ibc = b2_m, b2_init, b2_ibc = _EMPTY
            # The whole concept's EWMA.
            t_m = lam * x + one_minus_lam * t_m if t_init else x
            t_init, t_ibc = True, lam_sq + c_lam_sq * t_ibc
            eps = sqrt(t_ibc * log_drift / 2)

            # Increase: move the cut point down, or extend the sample after it.
            if t_m + eps < incr_cut:
                incr_cut = t_m + eps
                a1_m, a1_init, a1_ibc = t_m, t_init, t_ibc
                a2_m, a2_init, a2_ibc = _EMPTY
            else:
                a2_m = lam * x + one_minus_lam * a2_m if a2_init else x
                a2_init, a2_ibc = True, lam_sq + c_lam_sq * a2_ibc
            warning = drift = False
            if a1_init and a2_init:
                ibc_sum = a1_ibc + a2_ibc
                rise = a2_m - a1_m
                if rise > sqrt(ibc_sum * log_drift / 2):
                    drift = True
                elif rise > sqrt(ibc_sum * log_warn / 2):
                    warning = True

            # Decrease: river keeps these samples up to date even for a one-sided test.
            if t_m - eps > decr_cut:
                decr_cut = t_m - eps
                b1_m, b1_init, b1_ibc = t_m, t_init, t_ibc
                b2_m, b2_init, b2_ibc = _EMPTY
            else:
                b2_m = lam * x + one_minus_lam * b2_m if b2_init else x
                b2_init, b2_ibc = True, lam_sq + c_lam_sq * b2_ibc
            if two_sided and b1_init and b2_init:
                ibc_sum = b2_ibc + b1_ibc
                fall = b1_m - b2_m
                if fall > sqrt(ibc_sum * log_drift / 2):
                    drift = True
                elif fall > sqrt(ibc_sum * log_warn / 2):
                    warning = True
            if drift:
                found.append(i)
        self._drift, self._warning = drift, warning
        self._incr_cutpoint, self._decr_cutpoint = incr_cut, decr_cut
        self._samples = {
            "total": (t_m, t_init, t_ibc),
            "s1_incr": (a1_m, a1_init, a1_ibc),
            "s2_incr": (a2_m, a2_init, a2_ibc),
            "s1_decr": (b1_m, b1_init, b1_ibc),
            "s2_decr": (b2_m, b2_init, b2_ibc),
        }
        return self._tally(len(xs), found)

    _STATE_KEYS: ClassVar[frozenset[str]] = frozenset(
        {"warning", "incr_cutpoint", "decr_cutpoint", "samples"}
    )

    def _state_fields(self) -> dict[str, Any]:
        return {
            "warning": self._warning,
            "incr_cutpoint": None if math.isinf(self._incr_cutpoint) else self._incr_cutpoint,
            "decr_cutpoint": None if math.isinf(self._decr_cutpoint) else self._decr_cutpoint,
            "samples": {
                name: {"ewma": m, "initialised": init, "ibc": ibc}
                for name, (m, init, ibc) in self._samples.items()
            },
        }

    def _load_fields(self, state: Mapping[str, Any]) -> None:
        self._warning = read_bool(state, "warning")
        incr = read_optional_float(state, "incr_cutpoint")
        decr = read_optional_float(state, "decr_cutpoint")
        self._incr_cutpoint = math.inf if incr is None else incr
        self._decr_cutpoint = -math.inf if decr is None else decr
        samples = state["samples"]
        if not isinstance(samples, Mapping) or set(samples) != set(_SAMPLES):
            raise ValueError(f"{self.kind}: state field 'samples' must hold exactly {_SAMPLES}")
        loaded: dict[str, _Sample] = {}
        for name in _SAMPLES:
            sample = samples[name]
            if not isinstance(sample, Mapping) or set(sample) != {"ewma", "initialised", "ibc"}:
                raise ValueError(f"{self.kind}: sample {name!r} must hold ewma, initialised, ibc")
            loaded[name] = (
                read_float(sample, "ewma"),
                read_bool(sample, "initialised"),
                read_float(sample, "ibc"),
            )
        self._samples = loaded
