"""KSWIN: a Kolmogorov-Smirnov test between the newest values and a random sample of older ones.

KSWIN (Raab et al.) keeps a sliding window of ``window_size`` values. Once it
is full, every new value triggers a two-sample KS test between the newest
``stat_size`` values and ``stat_size`` values drawn at random (without
replacement) from the older part; a drift is a p-value at most ``alpha`` with a
statistic above 0.1.

This follows ``river.drift.KSWIN`` exactly, including its random draws: the
same ``random.Random(seed)`` generator, the same ``sample`` calls, re-seeded at
every reset, so a seeded detector detects at the same events as river. The
generator's full Mersenne-Twister state (624 words) is part of the saved state,
which is what makes a round trip reproduce the draws.

river runs ``scipy.stats.ks_2samp`` once per value (about 1,000 values/s).
Two observations give the same answers much faster:

* With two samples of equal size ``n``, the KS statistic is ``h / n`` for an
  integer ``h`` (the largest gap between the two counts at or below any value),
  and scipy's exact p-value is a function of ``h`` alone. So ``h`` is computed
  for a chunk of consecutive values at once (one sort per row of a matrix), and
  the p-value is looked up in a cache that scipy fills once per ``(n, h)``.
* Detections are rare, so a chunk is computed as if none happened; the first
  detection in it ends the chunk and the rest is recomputed after the reset.
  The generator has then run ahead of river's, which is never observable: the
  reset that follows a detection re-seeds it. Chunks start small after a
  detection and grow while none happens, so a detector that fires often wastes
  little.

What remains is ``random.sample``, one call per value: about 14 us of the
roughly 20 us a value costs (about 50,000 values/s).
"""

from __future__ import annotations

import functools
import random
import warnings
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from detectors.arrays import decode_array, encode_array
from detectors.sequential.protocol import (
    DetectorBase,
    as_array,
    check_int,
    check_number,
)

MAX_STAT_SIZE = 10_000
"""Above this sample size scipy switches to the asymptotic KS distribution, whose
p-value depends on rounding of the statistic; it is also far too slow per event."""

_MT_WORDS = 624
_FIRST_CHUNK = 32
_MAX_CHUNK = 1024
"""Values tested per chunk: the first chunk of a call and the one after a detection
hold ``_FIRST_CHUNK``; each chunk without a detection lets the next grow by a
quarter, up to this many."""
_MAX_CHUNK_CELLS = 1 << 18
"""...and to at most this many sample values per chunk, so that its matrices stay a few MB."""


# --- the KS test ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=8192)
def ks_p_value(n: int, gap: int) -> float:
    """scipy's two-sided KS p-value for two samples of ``n`` values at statistic ``gap / n``.

    Computed by running ``ks_2samp`` (``method="auto"``, as river does) on two
    samples built to have exactly that statistic, so it is scipy's number, not
    a re-derivation of it.
    """
    a = np.arange(n, dtype=np.float64)
    b = a + (gap - 0.5) if gap else a
    with warnings.catch_warnings():
        # river silences scipy's "exact calculation unsuccessful" fallback warning too.
        warnings.simplefilter("ignore", category=RuntimeWarning)
        result = stats.ks_2samp(a, b, method="auto")
    if round(float(result.statistic) * n) != gap:  # pragma: no cover - a scipy change
        raise RuntimeError(f"ks_2samp gave statistic {result.statistic} for gap {gap}/{n}")
    return float(result.pvalue)


def ks_gaps(first: NDArray[np.float64], second: NDArray[np.float64]) -> NDArray[np.int64]:
    """Per row, ``max_x |#{first <= x} - #{second <= x}|`` for two ``(rows, n)`` matrices.

    Equal values are counted together (the gap is read only at the end of a
    run of equal values), as scipy's ``searchsorted(side="right")`` does.
    """
    n = first.shape[1]
    both = np.concatenate([first, second], axis=1)
    order = np.argsort(both, axis=1)
    ordered = np.take_along_axis(both, order, axis=1)
    counts = np.cumsum(np.where(order < n, 1, -1), axis=1)
    run_end = np.ones(both.shape, dtype=bool)
    run_end[:, :-1] = ordered[:, 1:] != ordered[:, :-1]
    gaps: NDArray[np.int64] = np.abs(np.where(run_end, counts, 0)).max(axis=1)
    return gaps


# --- the detector ---------------------------------------------------------------------------


class KSWIN(DetectorBase):
    """Kolmogorov-Smirnov windowing on a numeric stream, river's defaults.

    Parameters
    ----------
    alpha
        p-value at or below which a change is detected (keep it small: one test per event).
    window_size
        Values in the sliding window.
    stat_size
        Values in each of the two tested samples (at most half the window).
    seed
        Seed of the random draws; ``None`` draws from the operating system (not reproducible).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> stream = np.r_[rng.normal(0, 1, 1000), rng.normal(2, 1, 1000)]
    >>> KSWIN(alpha=0.0001, seed=42).update_many(stream).tolist()
    [1025]
    """

    kind: ClassVar[str] = "kswin"
    version: ClassVar[int] = 1

    def __init__(
        self,
        alpha: float = 0.005,
        window_size: int = 100,
        stat_size: int = 30,
        seed: int | None = None,
    ) -> None:
        k = self.kind
        self.alpha = check_number(k, "alpha", alpha, low=0.0, high=1.0, low_open=True)
        self.window_size = check_int(k, "window_size", window_size, low=2)
        self.stat_size = check_int(k, "stat_size", stat_size, low=1)
        if 2 * self.stat_size > self.window_size:
            raise ValueError(
                f"{k}: stat_size ({stat_size!r}) must be at most half of window_size "
                f"({window_size!r}): the random sample is drawn without replacement from "
                "the values older than the newest stat_size"
            )
        if self.stat_size > MAX_STAT_SIZE:
            raise ValueError(f"{k}: stat_size must be at most {MAX_STAT_SIZE}, got {stat_size!r}")
        if seed is not None:
            seed = check_int(k, "seed", seed, low=0)
        self.seed = seed
        super().__init__()

    def _reset(self) -> None:
        """Start a new concept: an empty window and a re-seeded generator, as in river."""
        self._drift = False
        self._window: NDArray[np.float64] = np.empty(0)  # oldest first, <= window_size
        self._rng = random.Random(self.seed)

    @property
    def params(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "window_size": self.window_size,
            "stat_size": self.stat_size,
            "seed": self.seed,
        }

    def update_many(self, values: ArrayLike) -> NDArray[np.int64]:
        xs = as_array(self.kind, values)
        found: list[int] = []
        size, r = self.window_size, self.stat_size
        older = range(size - r)
        largest = max(1, min(_MAX_CHUNK, _MAX_CHUNK_CELLS // r))
        chunk = first = min(_FIRST_CHUNK, largest)
        pos, end = 0, len(xs)
        while pos < end:
            if self._drift:
                self._reset()
                chunk = first
            window = self._window
            if window.size < size - 1:
                # Filling up: no test until a value completes the window.
                take = min(size - 1 - window.size, end - pos)
                self._window = np.concatenate([window, xs[pos : pos + take]])
                pos += take
                continue
            # From here every value completes a full window and is tested. Row t of the
            # chunk is the window after its value t: buffer[t : t + size].
            steps = min(chunk, end - pos)
            buffer = np.concatenate([window[window.size - (size - 1) :], xs[pos : pos + steps]])
            sample = self._rng.sample
            picks = np.array([sample(older, r) for _ in range(steps)], dtype=np.int64)
            drawn = buffer[np.arange(steps)[:, None] + picks]
            newest = sliding_window_view(buffer, r)[size - r : size - r + steps]
            hit = self._first_detection(ks_gaps(drawn, newest))
            if hit is None:
                self._window = buffer[steps - 1 :]
                pos += steps
                chunk = min(largest, chunk + chunk // 4)
            else:
                found.append(pos + hit)
                # river keeps the newest values until the reset at the next update.
                self._window = newest[hit].copy()
                self._drift = True
                pos += hit + 1
        return self._tally(len(xs), found)

    def _first_detection(self, gaps: NDArray[np.int64]) -> int | None:
        """The first row whose KS test detects: p-value <= alpha and statistic > 0.1."""
        r = self.stat_size
        # Same float as river's ``st``: scipy returns h * 1.0 / n for the exact test.
        candidates = np.flatnonzero(gaps / r > 0.1)
        for gap in np.unique(gaps[candidates]).tolist():
            if ks_p_value(r, gap) > self.alpha:
                candidates = candidates[gaps[candidates] != gap]
        return int(candidates[0]) if candidates.size else None

    _STATE_KEYS: ClassVar[frozenset[str]] = frozenset({"window", "rng"})

    def _state_fields(self) -> dict[str, Any]:
        _, internal, gauss_next = self._rng.getstate()
        return {
            "window": encode_array(self._window),
            "rng": {
                "mt": encode_array(np.array(internal[:_MT_WORDS], dtype=np.int64)),
                "pos": internal[_MT_WORDS],
                "gauss_next": gauss_next,
            },
        }

    def _load_fields(self, state: Mapping[str, Any]) -> None:
        window = decode_array(state["window"])
        if (
            window.dtype != np.float64
            or window.ndim != 1
            or window.size > self.window_size
            or not np.isfinite(window).all()
        ):
            raise ValueError(f"{self.kind}: state window must be at most window_size finite floats")
        self._window = window
        self._rng.setstate(_rng_state(state["rng"]))


def _rng_state(data: Any) -> tuple[Any, ...]:
    """The ``random.Random.setstate`` tuple of a saved generator, checked word by word."""
    if not isinstance(data, Mapping) or set(data) != {"mt", "pos", "gauss_next"}:
        raise ValueError("kswin: state rng must hold exactly mt, pos and gauss_next")
    words = decode_array(data["mt"])
    pos, gauss_next = data["pos"], data["gauss_next"]
    if (
        words.dtype != np.int64
        or words.shape != (_MT_WORDS,)
        or (words < 0).any()
        or (words >= 2**32).any()
        or isinstance(pos, bool)
        or not isinstance(pos, int)
        or not 0 <= pos <= _MT_WORDS
        or not (gauss_next is None or isinstance(gauss_next, float))
    ):
        raise ValueError("kswin: state rng is not a Mersenne-Twister state")
    return (3, (*words.tolist(), pos), gauss_next)
