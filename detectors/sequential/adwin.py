"""ADWIN: an adaptive window that drops its older part when the two parts' means differ.

Bifet and Gavaldà's ADWIN2 keeps the window as an exponential histogram: row
``i`` holds up to ``max_buckets`` buckets of ``2**i`` elements each (a bucket
is the sum of its elements and their sum of squared deviations), so a window of
``W`` elements costs ``O(max_buckets * log2(W))`` floats. Every ``clock``
elements it tries each bucket boundary as a cut between an older part ``W0``
and a newer part ``W1``; if the means differ by more than a Bernstein-type
bound at confidence ``delta``, the oldest bucket is dropped, the test repeats,
and a drift is reported.

river keeps this structure in compiled code (Rust in river 0.26, Cython
before), which cannot be saved except by pickling. This is a Python port of
river's ``AdaptiveWindowing`` with the same order of floating-point operations,
so it detects drift at exactly the same events; the buckets are saved as plain
arrays. Like ``river.drift.ADWIN``, the element after a detection starts a
brand-new window.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from detectors.arrays import decode_array, encode_array
from detectors.sequential.protocol import (
    DetectorBase,
    as_values,
    check_int,
    check_number,
    read_float,
    read_int,
)


class ADWIN(DetectorBase):
    """Adaptive Windowing on a numeric stream, river's defaults.

    Parameters
    ----------
    delta
        Confidence of the cut test; smaller means fewer false alarms and later detection.
    clock
        Test for a cut every this many elements (1 = every element).
    max_buckets
        Buckets of each size kept before two are merged: memory and cut-point resolution.
        At least 2 (river's compiled code corrupts its window with 1).
    min_window_length
        Both parts of a cut must hold at least this many elements.
    grace_period
        No test until the window holds more than this many elements.

    Examples
    --------
    >>> import numpy as np
    >>> stream = np.r_[np.zeros(1000), np.ones(1000)]
    >>> ADWIN().update_many(stream).tolist()
    [1023]
    """

    kind: ClassVar[str] = "adwin"
    version: ClassVar[int] = 1

    def __init__(
        self,
        delta: float = 0.002,
        clock: int = 32,
        max_buckets: int = 5,
        min_window_length: int = 5,
        grace_period: int = 10,
    ) -> None:
        k = self.kind
        self.delta = check_number(k, "delta", delta, low=0.0, high=1.0, low_open=True)
        self.clock = check_int(k, "clock", clock, low=1)
        self.max_buckets = check_int(k, "max_buckets", max_buckets, low=2)
        self.min_window_length = check_int(k, "min_window_length", min_window_length, low=1)
        self.grace_period = check_int(k, "grace_period", grace_period, low=0)
        super().__init__()

    def _reset(self) -> None:
        """Start a new, empty window (river replaces its compiled helper the same way)."""
        self._drift = False
        self._tick = 0  # elements since the reset; a cut is tested when it is a multiple of clock
        self._width = 0.0  # elements in the window
        self._total = 0.0  # their sum
        self._variance = 0.0  # their sum of squared deviations from the window mean
        # Row i: sums and squared-deviation sums of buckets of 2**i elements, oldest first.
        self._totals: list[list[float]] = [[]]
        self._variances: list[list[float]] = [[]]

    @property
    def width(self) -> int:
        """Elements in the current window."""
        return int(self._width)

    @property
    def estimation(self) -> float:
        """Mean of the current window (0 when empty, as in river)."""
        return self._total / self._width if self._width else 0.0

    @property
    def params(self) -> dict[str, Any]:
        return {
            "delta": self.delta,
            "clock": self.clock,
            "max_buckets": self.max_buckets,
            "min_window_length": self.min_window_length,
            "grace_period": self.grace_period,
        }

    def update_many(self, values: ArrayLike) -> NDArray[np.int64]:
        xs = as_values(self.kind, values)
        found: list[int] = []
        clock, full, grace = self.clock, self.max_buckets + 1, self.grace_period
        drift, tick = self._drift, self._tick
        width, total, variance = self._width, self._total, self._variance
        # Row 0 is the same list object until a reset (merges delete from it in place).
        row0_t, row0_v = self._totals[0], self._variances[0]
        for i, x in enumerate(xs):
            if drift:
                self._reset()
                drift, tick, width, total, variance = False, 0, 0.0, 0.0, 0.0
                row0_t, row0_v = self._totals[0], self._variances[0]
            # Insert x as a bucket of one; Welford-style update of the window's variance.
            row0_t.append(x)
            row0_v.append(0.0)
            width += 1.0
            if width > 1.0:
                dv = x - total / (width - 1.0)
                variance += (width - 1.0) * dv * dv / width
            else:
                variance += 0.0
            total += x
            if len(row0_t) == full:
                self._compress()
            tick += 1
            if tick % clock == 0 and width > grace:
                drift, width, total, variance = self._cut(width, total, variance)
                if drift:
                    found.append(i)
        self._drift, self._tick = drift, tick
        self._width, self._total, self._variance = width, total, variance
        return self._tally(len(xs), found)

    def _compress(self) -> None:
        """Merge the two oldest buckets of every full row into one bucket of the next row."""
        totals, variances, full = self._totals, self._variances, self.max_buckets + 1
        idx = 0
        while len(totals[idx]) == full:
            size = float(1 << idx)
            row_t, row_v = totals[idx], variances[idx]
            t0, t1 = row_t[0], row_t[1]
            mu1, mu2 = t0 / size, t1 / size
            merged_var = row_v[0] + row_v[1] + size * 0.5 * (mu1 - mu2) * (mu1 - mu2)
            if idx + 1 == len(totals):
                totals.append([])
                variances.append([])
            totals[idx + 1].append(t0 + t1)
            variances[idx + 1].append(merged_var)
            del row_t[:2], row_v[:2]
            idx += 1

    def _cut(self, width: float, total: float, variance: float) -> tuple[bool, float, float, float]:
        """Test every bucket boundary, oldest first; drop the oldest bucket while a cut holds.

        Returns whether a drift was detected and the window's new width, total and variance.
        """
        totals, variances = self._totals, self._variances
        delta, mwl = self.delta, float(self.min_window_length)
        sqrt, log = math.sqrt, math.log
        detected = False
        cut_found = True
        while cut_found:
            cut_found = False
            if width < 2.0:
                break  # no boundary to test (and log(log(1)) is undefined)
            n0, n1, u0, u1 = 0.0, width, 0.0, total
            delta_prime = log(2.0 * log(width) / delta)
            variance_per_element = variance / width
            for idx in range(len(totals) - 1, -1, -1):
                size = float(1 << idx)
                row = totals[idx]
                last = len(row) - 1
                for k, bucket_total in enumerate(row):
                    n0 += size
                    n1 -= size
                    u0 += bucket_total
                    u1 -= bucket_total
                    if idx == 0 and k == last:
                        break  # W1 would be empty
                    if n1 < mwl or n0 < mwl:
                        continue
                    delta_mean = (u0 / n0) - (u1 / n1)
                    m_recip = 1.0 / (n0 - mwl + 1.0) + 1.0 / (n1 - mwl + 1.0)
                    radicand = 2.0 * m_recip * variance_per_element * delta_prime
                    # A negative radicand (rounding) gives NaN in river's compiled code: no cut.
                    if radicand >= 0.0 and abs(delta_mean) > (
                        sqrt(radicand) + 2.0 / 3.0 * delta_prime * m_recip
                    ):
                        cut_found = detected = True
                        break
                if cut_found:
                    break
            if cut_found:
                # Drop the oldest bucket and take it out of the window's statistics.
                last_row = len(totals) - 1
                size = float(1 << last_row)
                u, v = totals[last_row].pop(0), variances[last_row].pop(0)
                mu = u / size
                width -= size
                total -= u
                mu_window = total / width
                variance -= v + size * width * (mu - mu_window) * (mu - mu_window) / (size + width)
                if not totals[last_row]:
                    totals.pop()
                    variances.pop()
        return detected, width, total, variance

    _STATE_KEYS: ClassVar[frozenset[str]] = frozenset(
        {"tick", "width", "total", "variance", "row_sizes", "bucket_totals", "bucket_variances"}
    )

    def _state_fields(self) -> dict[str, Any]:
        return {
            "tick": self._tick,
            "width": int(self._width),
            "total": self._total,
            "variance": self._variance,
            "row_sizes": encode_array(np.array([len(r) for r in self._totals], dtype=np.int64)),
            "bucket_totals": encode_array(
                np.array([t for row in self._totals for t in row], dtype=np.float64)
            ),
            "bucket_variances": encode_array(
                np.array([v for row in self._variances for v in row], dtype=np.float64)
            ),
        }

    def _load_fields(self, state: Mapping[str, Any]) -> None:
        self._tick = read_int(state, "tick")
        self._width = float(read_int(state, "width"))
        self._total = read_float(state, "total")
        self._variance = read_float(state, "variance")
        sizes = decode_array(state["row_sizes"])
        totals = decode_array(state["bucket_totals"])
        variances = decode_array(state["bucket_variances"])
        if (
            sizes.dtype != np.int64
            or totals.dtype != np.float64
            or variances.dtype != np.float64
            or sizes.ndim != 1
            or sizes.size == 0
            or sizes.size > 63
            or (sizes < 0).any()
            or (sizes > self.max_buckets).any()
            or totals.shape != (int(sizes.sum()),)
            or variances.shape != totals.shape
            or not (np.isfinite(totals).all() and np.isfinite(variances).all())
        ):
            raise ValueError(f"{self.kind}: malformed bucket rows in state")
        if int(np.sum(sizes * (1 << np.arange(sizes.size, dtype=np.int64)))) != self._width:
            raise ValueError(f"{self.kind}: bucket rows do not add up to the window width")
        ends = np.cumsum(sizes).tolist()
        starts = [0, *ends[:-1]]
        self._totals = [totals[a:b].tolist() for a, b in zip(starts, ends, strict=True)]
        self._variances = [variances[a:b].tolist() for a, b in zip(starts, ends, strict=True)]
