"""Joint drift of a model's numeric features: their means together, and how they move together.

Univariate tests judge each feature alone, so they miss a change in the joint
structure that leaves every marginal intact: two features whose correlation
flips (a fraud ring that keeps amounts and ages plausible, a join that pairs
the wrong rows), or many features each shifted by less than their own
threshold.

**Winsorised values.** Each value is first clipped to its feature's
:data:`WINSOR` and ``1 - WINSOR`` reference quantiles (winsorised), so a heavy
tail can no longer move a window's mean or correlation by any amount: one
value weighs at most as much as the reference's 1% extremes. On normal data
that changes a correlation by about 1%. (Normal scores, the Gaussian rank
correlation, were tried first: their per-value interpolation cost 15 ms per
5,000 events of 20 features against 0.3 ms for the clip, more than the rest of
a batch.)

State stays mergeable. Each window keeps, over its *complete* rows (every
joint feature present and finite), the row count and the sums of the
standardised winsorised values and of their pairwise products: sums add across batches,
partitions and instances like the histograms do.

**Null distributions from the reference.** Normal theory (chi-square, Fisher's
z) is wrong for data that are not normal even after the transform: a feature
constant in 95% of rows has 2.5 varying values in a 50-row window. So at
reference build :data:`CALIBRATION_WINDOWS` windows are resampled from the
reference rows (seeded bootstrap) at each size of :data:`CALIBRATION_SIZES`,
nested (the window of 32 rows extends the one of 16), and each method's
standardised statistic is computed on them. The profile stores, per size, the
statistic's upper order statistics at :data:`TAIL_RANKS` and its no-drift level
(bounded: about 30 numbers per size and method, JSON). A window's p-value is
the empirical tail fraction with the +1 correction, ``(1 + #{null >= T}) /
(B + 1)``, interpolated between the stored order statistics; past the largest
fifth largest null value it continues along the normal-theory tail (exponent
fitted to the empirical tail, never lighter than normal theory's), since
Bonferroni levels are smaller than ``1 / (B + 1)``. Between sizes the log p-value is interpolated in
``log n``. In the bootstrap the reference is the population, so the statistics
are standardised by ``1/n``; live windows by ``1/n + 1/N`` (``N`` reference
rows), the two samples' variance. Models of more than
:data:`MAX_CALIBRATED_FEATURES` features are not calibrated (the bootstrap costs
``d^2`` per row) and use normal theory on the winsorised values.

Two methods, each an effect size with its own test:

- ``mahalanobis``: the distance between the window's mean (winsorised) vector and the
  reference's in the reference's correlation, beyond no-drift noise:
  ``sqrt(max(0, D^2 - q0))`` with ``q0`` the 95th percentile of ``D^2`` without
  drift at this window size, so it reads 0 in 95% of no-drift windows of any
  size. Test statistic
  ``D^2 / (1/n + 1/N)`` (chi-square with ``rank`` degrees of freedom on normal
  data). Attribution: the features with the largest shares of ``D^2``
  (``m_i (R^-1 m)_i``) and their mean shifts in standard deviations.
- ``correlation``: the largest absolute change of a pairwise correlation, less
  the no-drift 95th percentile of that largest change at this window size (0 if
  below).
  Test statistic: the largest Fisher ``|z_window - z_reference|`` over the
  pairs in standard errors (normal theory: Sidak over the pairs). Attribution:
  the pairs whose ``z`` moved most, with their reference and window
  correlations.

Profiles stored before winsorising existed keep raw standardised values and
the normal-theory p-values (rebuild them to calibrate).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import numpy as np
from numpy.typing import NDArray
from scipy import special
from scipy import stats as sps

from detectors.arrays import decode_array, encode_array

JOINT_SIGNAL: Final = "features"
"""The signal name of joint results (``features/correlation``): the features, together."""

MIN_REFERENCE_ROWS: Final = 30
"""Fewer complete reference rows than this (or than 5 per feature) give no joint profile."""

WINSOR: Final = 0.01
"""Share of reference values clipped at each end of every joint feature."""

CALIBRATION_WINDOWS: Final = 1000
"""Bootstrap windows per size: p-values resolve to 1/1001 before the tail takes over."""

CALIBRATION_SIZES: Final = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
"""Complete rows of the calibrated window sizes; larger windows use the largest."""

CALIBRATION_SEED: Final = 20261206
"""The bootstrap is seeded, so the same reference gives the same profile (and id)."""

MAX_CALIBRATED_FEATURES: Final = 64
"""Wider models get normal-theory p-values on their winsorised values."""

TAIL_RANKS: Final = (1, 2, 3, 5, 10, 20, 50, 100, 200, 500)
"""Order statistics of the null (1 = largest) kept per size, with the smallest."""

NO_DRIFT_LEVEL: Final = 0.95
"""Scores are the effect beyond this quantile of its no-drift distribution: 0 in 95% of
windows without drift, at any window size."""

ATTRIBUTED: Final = 3
"""Feature pairs (or features) named per joint result."""

_CHUNK: Final = 50
"""Bootstrap windows computed together (memory: chunk x 4096 rows x features)."""

_METHODS: Final = ("correlation", "mahalanobis")


@dataclass(frozen=True, slots=True, eq=False)
class NullCalibration:
    """Each joint statistic's no-drift distribution over windows resampled from the reference."""

    sizes: NDArray[np.float64]
    windows: int
    tails: Mapping[str, NDArray[np.float64]]
    """Per method ``(sizes, len(TAIL_RANKS) + 1)``: the null's order statistics at
    :data:`TAIL_RANKS` (largest first), then its smallest."""
    levels: Mapping[str, NDArray[np.float64]]
    """Per method ``(sizes,)``: the no-drift level of the effect (its
    :data:`NO_DRIFT_LEVEL` quantile), standardised (mahalanobis: of ``n D^2``;
    correlation: of ``sqrt(n - 3) max |dr|``)."""

    def ranks(self) -> NDArray[np.float64]:
        return np.array((*TAIL_RANKS, self.windows), dtype=np.float64)

    def to_state(self) -> dict[str, Any]:
        return {
            "sizes": encode_array(self.sizes),
            "windows": self.windows,
            "tails": {m: encode_array(t) for m, t in self.tails.items()},
            "levels": {m: encode_array(v) for m, v in self.levels.items()},
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> NullCalibration:
        calibration = cls(
            sizes=decode_array(state["sizes"]).astype(np.float64),
            windows=int(state["windows"]),
            tails={str(m): decode_array(t).astype(np.float64) for m, t in state["tails"].items()},
            levels={str(m): decode_array(v).astype(np.float64) for m, v in state["levels"].items()},
        )
        k = calibration.sizes.size
        for method in _METHODS:
            if calibration.tails[method].shape != (k, len(TAIL_RANKS) + 1):
                raise ValueError(f"null calibration of {method} has the wrong shape")
            if calibration.levels[method].shape != (k,):
                raise ValueError(f"null calibration of {method} has the wrong shape")
        return calibration


class LogSf:
    """Normal theory's log survival function of a standardised statistic (the tail's shape)."""

    def __init__(self, method: str, dof: int) -> None:
        self.method, self.dof = method, dof

    def __call__(self, statistic: float) -> float:
        if self.method == "mahalanobis":
            tail = float(special.chdtrc(self.dof, statistic))
            return math.log(tail) if tail > 1e-300 else float(sps.chi2.logsf(statistic, self.dof))
        return float(special.log_ndtr(-statistic))


def _null_levels(
    nulls: Sequence[NullCalibration], method: str, rows: NDArray[np.int64]
) -> list[float]:
    """Each part's no-drift level at its ``rows``, interpolated in ``log n`` (flat past the
    calibrated sizes); the nulls share their sizes."""
    sizes = np.log(nulls[0].sizes)
    return [
        float(np.interp(math.log(n), sizes, null.levels[method]))
        for null, n in zip(nulls, rows.tolist(), strict=True)
    ]


def _null_p_values(
    nulls: Sequence[NullCalibration],
    method: str,
    rows: NDArray[np.int64],
    statistics: NDArray[np.float64],
    log_sfs: Sequence[LogSf],
) -> list[float]:
    """Each part's calibrated p-value of its standardised statistic: log p at the two
    calibrated sizes around its ``rows``, interpolated in ``log n``; the nulls share their
    sizes and window count.

    Part by part, as ``np.interp`` takes one set of points: for a window's 21 parts that
    costs no more than interpolating them all in numpy, and far less for one.
    """
    sizes = nulls[0].sizes
    logs = [math.log(size) for size in sizes.tolist()]
    at = np.clip(np.array([math.log(n) for n in rows.tolist()]), logs[0], logs[-1])
    uppers = np.minimum(np.searchsorted(np.log(sizes), at), sizes.size - 1).tolist()
    ranks = nulls[0].ranks()
    log_p = np.log(np.minimum(1.0, (ranks + 1.0) / (nulls[0].windows + 1.0)))
    p_values = []
    for null, x, upper, t, log_sf in zip(
        nulls, at.tolist(), uppers, statistics.tolist(), log_sfs, strict=True
    ):
        lower = max(upper - 1, 0)
        tails = null.tails[method]
        ends = [_tail_log_p(tails[k], log_p, t, log_sf) for k in (lower, upper)]
        if lower == upper:
            p_values.append(min(1.0, math.exp(ends[0])))
            continue
        x0, x1 = logs[lower], logs[upper]
        weight = (x - x0) / (x1 - x0)
        p_values.append(min(1.0, math.exp(ends[0] + weight * (ends[1] - ends[0]))))
    return p_values


def _tail_log_p(
    tail: NDArray[np.float64], log_p: NDArray[np.float64], t: float, log_sf: LogSf
) -> float:
    """log of ``(1 + #{null >= t}) / (B + 1)`` from the stored order statistics (``log_p``:
    their ranks' log p).

    Between them, log p is linear in ``t``. Past the 5th largest (whose rank is
    steadier than the largest's) it follows normal theory's tail,
    ``p_5 (sf(t) / sf(t_5))^beta``, with ``beta`` the empirical tail's slope
    against normal theory's (least squares over ranks 10 to 100, through rank
    5), in [0.25, 1]: never a lighter tail than normal theory's.
    """
    anchor = TAIL_RANKS.index(5)
    if t < tail[anchor]:
        # np.interp wants increasing x: order statistics from the smallest up.
        return float(np.interp(t, tail[::-1], log_p[::-1]))
    base = log_sf(float(tail[anchor]))
    fit = slice(anchor + 1, TAIL_RANKS.index(100) + 1)
    x = np.array([log_sf(float(v)) for v in tail[fit]]) - base
    y = log_p[fit] - log_p[anchor]
    beta = 1.0
    if np.isfinite(x).all() and float(x @ x) > 1e-12:
        beta = min(1.0, max(0.25, float(x @ y) / float(x @ x)))
    gain = log_sf(t) - base
    if not math.isfinite(gain):
        gain = -1e300
    return float(log_p[anchor]) + beta * min(gain, 0.0)


class Contributor(NamedTuple):
    """What a joint result names: a pair whose correlation moved, or a shifted feature."""

    features: tuple[str, ...]
    reference: float
    """The pair's reference correlation, or 0 (the reference mean) for a feature."""
    window: float
    """The pair's window correlation, or the feature's mean in reference standard deviations."""
    contribution: float
    """The pair's own Fisher z statistic, or the feature's share of ``D^2``."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "reference": self.reference,
            "window": self.window,
            "contribution": self.contribution,
        }

    def describe(self) -> str:
        if len(self.features) == 2:
            a, b = self.features
            return f"{a}~{b} {self.reference:+.2f}->{self.window:+.2f}"
        return f"{self.features[0]} {self.window:+.2f} sd ({self.contribution:.0%})"


@dataclass(frozen=True, slots=True, eq=False)
class JointProfile:
    """The reference's numeric features together: standardisation and correlation."""

    names: tuple[str, ...]
    mean: NDArray[np.float64]
    std: NDArray[np.float64]
    correlation: NDArray[np.float64]
    rows: int
    """Complete reference rows the moments come from."""
    bounds: NDArray[np.float64] | None = None
    """``(2, features)``: each feature's clipping range (its :data:`WINSOR` and
    ``1 - WINSOR`` reference quantiles); None in profiles stored before it (no clipping)."""
    null: NullCalibration | None = None
    """The bootstrap null; None for wide models and old profiles (normal theory)."""

    @property
    def size(self) -> int:
        return len(self.names)

    @property
    def sums_size(self) -> int:
        """Floats a window keeps: one sum per feature, one per pair (diagonal included)."""
        d = self.size
        return d + d * (d + 1) // 2

    def to_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "names": list(self.names),
            "mean": encode_array(self.mean),
            "std": encode_array(self.std),
            "correlation": encode_array(self.correlation),
            "rows": self.rows,
        }
        if self.bounds is not None:
            state["bounds"] = encode_array(self.bounds)
        if self.null is not None:
            state["null"] = self.null.to_state()
        return state

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> JointProfile:
        names = tuple(str(n) for n in state["names"])
        profile = cls(
            names=names,
            mean=decode_array(state["mean"]).astype(np.float64),
            std=decode_array(state["std"]).astype(np.float64),
            correlation=decode_array(state["correlation"]).astype(np.float64),
            rows=int(state["rows"]),
            bounds=None
            if state.get("bounds") is None
            else decode_array(state["bounds"]).astype(np.float64),
            null=None if state.get("null") is None else NullCalibration.from_state(state["null"]),
        )
        d = len(names)
        if profile.mean.shape != (d,) or profile.std.shape != (d,):
            raise ValueError(f"joint profile of {d} features has mean/std of another shape")
        if profile.correlation.shape != (d, d):
            raise ValueError(f"joint profile of {d} features needs a {d}x{d} correlation")
        if profile.bounds is not None and profile.bounds.shape != (2, d):
            raise ValueError(f"joint profile of {d} features needs 2x{d} clipping bounds")
        return profile


def build_joint_profile(
    names: Sequence[str], columns: Mapping[str, NDArray[Any]], *, calibrate: bool = True
) -> JointProfile | None:
    """The joint profile of the named numeric columns (NaN = missing), or None if it would
    say nothing: fewer than two features that vary, or too few complete rows.

    With ``calibrate`` (and at most :data:`MAX_CALIBRATED_FEATURES` features) the
    statistics' null distributions are resampled from the reference rows.
    """
    if len(names) < 2:
        return None
    matrix = np.column_stack([np.asarray(columns[n], np.float64) for n in names])
    complete = matrix[np.isfinite(matrix).all(axis=1)]
    std = complete.std(axis=0) if complete.shape[0] else np.zeros(len(names))
    varying = np.flatnonzero(std > 0)
    if varying.size < 2:
        return None
    kept = complete[:, varying]
    if kept.shape[0] < max(MIN_REFERENCE_ROWS, 5 * varying.size):
        return None
    bounds = np.quantile(kept, [WINSOR, 1.0 - WINSOR], axis=0)
    transformed = np.clip(kept, bounds[0], bounds[1])
    mean = transformed.mean(axis=0)
    scale = transformed.std(axis=0)
    z = (transformed - mean) / scale
    correlation = np.clip((z.T @ z) / z.shape[0], -1.0, 1.0)
    np.fill_diagonal(correlation, 1.0)
    profile = JointProfile(
        names=tuple(names[i] for i in varying.tolist()),
        mean=mean,
        std=scale,
        correlation=correlation,
        rows=int(kept.shape[0]),
        bounds=bounds,
    )
    if not calibrate or profile.size > MAX_CALIBRATED_FEATURES:
        return profile
    return JointProfile(
        profile.names,
        mean,
        scale,
        correlation,
        profile.rows,
        bounds,
        calibrate_null(profile, z),
    )


def calibrate_null(
    profile: JointProfile,
    z: NDArray[np.float64],
    *,
    windows: int = CALIBRATION_WINDOWS,
    sizes: Sequence[int] = CALIBRATION_SIZES,
    seed: int = CALIBRATION_SEED,
) -> NullCalibration:
    """Both methods' standardised statistics over ``windows`` windows of each size, resampled
    with replacement from the standardised reference rows ``z`` (the reference is the
    population, so the variances are ``1/n``)."""
    rng = np.random.default_rng(seed)
    d = profile.size
    inverse = _inverses(profile.correlation[None])[0][0]
    upper = np.triu_indices(d, 1)
    reference_fisher = _fisher(profile.correlation[upper])
    stats: dict[str, NDArray[np.float64]] = {
        "correlation": np.empty((len(sizes), windows)),
        "mahalanobis": np.empty((len(sizes), windows)),
        "change": np.empty((len(sizes), windows)),
    }
    for start in range(0, windows, _CHUNK):
        chunk = min(_CHUNK, windows - start)
        picks = rng.integers(0, z.shape[0], size=(chunk, sizes[-1]))
        sums = np.zeros((chunk, d))
        products = np.zeros((chunk, d, d))
        done = 0
        for k, n in enumerate(sizes):
            block = z[picks[:, done:n]]
            sums += block.sum(axis=1)
            products += np.matmul(block.transpose(0, 2, 1), block)
            done = n
            mean = sums / n
            covariance = products / n - mean[:, :, None] * mean[:, None, :]
            spread = np.sqrt(np.clip(np.diagonal(covariance, axis1=1, axis2=2), 0.0, None))
            with np.errstate(divide="ignore", invalid="ignore"):
                window = covariance / (spread[:, :, None] * spread[:, None, :])
            pairs = np.where(np.isfinite(window), window, 0.0)[:, upper[0], upper[1]]
            fisher = np.abs(_fisher(pairs) - reference_fisher).max(axis=1)
            change = np.abs(pairs - profile.correlation[upper]).max(axis=1)
            rows = slice(start, start + chunk)
            stats["correlation"][k, rows] = fisher * math.sqrt(n - 3)
            stats["change"][k, rows] = change * math.sqrt(n - 3)
            stats["mahalanobis"][k, rows] = n * np.einsum("ci,ij,cj->c", mean, inverse, mean)
    order = np.array([*(r - 1 for r in TAIL_RANKS), windows - 1])
    tails = {m: -np.sort(-stats[m], axis=1)[:, order] for m in _METHODS}
    return NullCalibration(
        sizes=np.asarray(sizes, dtype=np.float64),
        windows=windows,
        tails=tails,
        levels={
            "correlation": np.quantile(stats["change"], NO_DRIFT_LEVEL, axis=1),
            "mahalanobis": np.quantile(stats["mahalanobis"], NO_DRIFT_LEVEL, axis=1),
        },
    )


def _fisher(r: NDArray[np.float64]) -> NDArray[np.float64]:
    limit = 1.0 - 1e-12
    out: NDArray[np.float64] = np.arctanh(np.clip(r, -limit, limit))
    return out


def joint_sums(
    profile: JointProfile, columns: Mapping[str, NDArray[np.float64]], rows: Any
) -> tuple[int, NDArray[np.float64]]:
    """Complete rows among ``rows`` and their sums (``z``, then the upper triangle of
    ``z z^T`` row by row), as a window adds them up.

    One feature per row of a fresh ``(features, events)`` array, centred in place and
    scaled only in the ``d x d`` result: every further ``(events, features)`` temporary
    tripled the cost (2.7 ms against 0.35 ms for 5,000 events of 20 features).
    """
    centred = np.vstack([columns[n][rows] for n in profile.names])
    with np.errstate(over="ignore"):  # values near the float limit may sum to inf: left out
        complete = np.isfinite(centred.sum(axis=0))  # NaN (missing) or infinite: left out
    if not complete.all():
        centred = centred[:, complete]
    return centred_products(profile, centred)


def centred_products(
    profile: JointProfile, centred: NDArray[np.float64]
) -> tuple[int, NDArray[np.float64]]:
    """:func:`joint_sums` of complete rows given as a fresh ``(features, events)`` array,
    which is clipped and centred in place."""
    if profile.bounds is not None:
        np.clip(centred, profile.bounds[0][:, None], profile.bounds[1][:, None], out=centred)
    centred -= profile.mean[:, None]
    scale = profile.std
    upper = _triangle(profile.size, 0)
    products = (centred @ centred.T) / np.outer(scale, scale)
    sums = np.concatenate([centred.sum(axis=1) / scale, products[upper]])
    return int(centred.shape[1]), sums


class JointMeasure(NamedTuple):
    """One joint method's outcome for a window."""

    method: str
    score: float
    p_value: float
    statistic: float
    attribution: tuple[Contributor, ...] = ()


def joint_measures_of_all(
    profiles: Sequence[JointProfile],
    rows: Sequence[int],
    sums: Sequence[NDArray[np.float64]],
    methods: Sequence[str],
) -> list[list[JointMeasure]]:
    """The joint methods, in ``methods`` order, on each window part's complete ``rows`` and
    their ``sums``; none for a part below 4 rows (Fisher's z needs more than 3, and a
    covariance of so few says nothing).

    Parts of one feature count and null grid are measured together, their arrays stacked
    (``(parts, d, d)`` correlations): one by one, a segmented window's 21 parts of 20
    features made 21 times the same 40 numpy calls on arrays too small to outweigh a call
    (2 ms a window, against 0.7). Each part's floats are still its own alone: the stacked
    operations are elementwise, or LAPACK and BLAS run matrix by matrix.
    """
    found: list[list[JointMeasure]] = [[] for _ in profiles]
    groups: dict[tuple[Any, ...], list[int]] = {}
    for part, (profile, n) in enumerate(zip(profiles, rows, strict=True)):
        if n >= 4 and methods:
            groups.setdefault(_stack_key(profile), []).append(part)
    unknown = [method for method in methods if method not in _METHODS]
    if groups and unknown:
        raise ValueError(f"{unknown[0]!r} is not a multivariate drift method")
    for parts in groups.values():
        stacked = [profiles[part] for part in parts]
        counted = np.array([rows[part] for part in parts], dtype=np.int64)
        window = np.stack([sums[part] for part in parts])
        mean = window[:, : stacked[0].size] / counted[:, None]
        by_method = [
            _mahalanobis(stacked, counted, mean)
            if method == "mahalanobis"
            else _correlation(stacked, counted, _covariances(window, counted, mean))
            for method in methods
        ]
        for k, part in enumerate(parts):
            found[part] = [measures[k] for measures in by_method]
    return found


def _stack_key(profile: JointProfile) -> tuple[Any, ...]:
    """Parts measured together: same feature count, and nulls on the same sizes and window
    count (or none)."""
    null = profile.null
    grid = None if null is None else (null.windows, null.sizes.tobytes())
    return profile.size, grid


def _covariances(
    sums: NDArray[np.float64], rows: NDArray[np.int64], mean: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Each part's covariances of its standardised values, the upper triangle (diagonal
    included) row by row, as its sums keep them."""
    upper = _triangle(mean.shape[1], 0)
    # + 0.0: a product sum of -0.0 is a covariance of 0.0, as in the symmetric matrix.
    second = sums[:, mean.shape[1] :] / rows[:, None] + 0.0
    covariances: NDArray[np.float64] = second - mean[:, upper[0]] * mean[:, upper[1]]
    return covariances


def _inverses(
    correlations: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
    """Each ``(d, d)`` correlation's pseudo-inverse and rank."""
    inverse = np.asarray(np.linalg.pinv(correlations, hermitian=True), dtype=np.float64)
    return inverse, np.linalg.matrix_rank(correlations, hermitian=True)


def _mahalanobis(
    profiles: Sequence[JointProfile], rows: NDArray[np.int64], mean: NDArray[np.float64]
) -> list[JointMeasure]:
    """In z units the reference mean is 0 and its covariance is its correlation matrix."""
    inverse, ranks = _inverses(np.stack([profile.correlation for profile in profiles]))
    weighted = (inverse @ mean[:, :, None])[:, :, 0]
    products = (mean[:, None, :] @ weighted[:, :, None]).ravel().tolist()
    squared = np.array([max(value, 0.0) for value in products])
    variance = 1.0 / rows + 1.0 / np.array([profile.rows for profile in profiles])
    statistic = squared / variance
    log_sfs = [LogSf("mahalanobis", dof) for dof in ranks.tolist()]
    nulls = [profile.null for profile in profiles if profile.null is not None]
    if nulls:
        p_values = _null_p_values(nulls, "mahalanobis", rows, statistic, log_sfs)
        levels = np.array(_null_levels(nulls, "mahalanobis", rows))
    else:
        p_values = [
            math.exp(log_sf(t)) for log_sf, t in zip(log_sfs, statistic.tolist(), strict=True)
        ]
        levels = sps.chi2.isf(1.0 - NO_DRIFT_LEVEL, ranks)
    scores = [math.sqrt(max(0.0, value)) for value in (squared - levels * variance).tolist()]
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = np.where(squared[:, None] > 0, mean * weighted / squared[:, None], 0.0)
    top = np.argsort(-shares, axis=1, kind="stable")[:, :ATTRIBUTED]
    row = np.arange(len(profiles))[:, None]
    picked = [values[row, top].tolist() for values in (mean, shares)]
    return [
        JointMeasure(
            "mahalanobis",
            score,
            p_value,
            t,
            tuple(
                Contributor((profile.names[i],), 0.0, moved, share)
                for i, moved, share in zip(chosen, means, part_shares, strict=True)
                if share > 0
            ),
        )
        for profile, score, p_value, t, chosen, means, part_shares in zip(
            profiles, scores, p_values, statistic.tolist(), top.tolist(), *picked, strict=True
        )
    ]


def _correlation(
    profiles: Sequence[JointProfile], rows: NDArray[np.int64], covariances: NDArray[np.float64]
) -> list[JointMeasure]:
    upper = _triangle(profiles[0].size, 1)
    diagonal, pairs_at = _split_triangle(profiles[0].size)
    spread = np.sqrt(np.clip(covariances[:, diagonal], 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        moved = covariances[:, pairs_at] / (spread[:, upper[0]] * spread[:, upper[1]])
    moved = np.where(np.isfinite(moved), moved, 0.0)  # a constant feature correlates with none
    reference = np.stack([profile.correlation for profile in profiles])[:, upper[0], upper[1]]
    references = np.array([profile.rows for profile in profiles])
    error = np.sqrt(1.0 / (rows - 3) + 1.0 / (references - 3))
    z = np.abs(_fisher(moved) - _fisher(reference)) / error[:, None]
    statistic = z.max(axis=1)
    pairs = upper[0].size
    nulls = [profile.null for profile in profiles if profile.null is not None]
    log_sf = LogSf("correlation", 1)
    if not nulls:
        # Sidak over the pairs: valid for the |z| of jointly normal estimates (Sidak, 1967).
        p_values = [
            min(1.0, -math.expm1(pairs * math.log1p(-2.0 * math.exp(log_sf(t)))))
            for t in statistic.tolist()
        ]
        # The quantile of the largest |change| of `pairs` normal changes, in standard errors.
        level = -float(special.ndtri((1.0 - NO_DRIFT_LEVEL ** (1.0 / pairs)) / 2.0))
        levels = [level] * len(profiles)
    else:
        log_sfs = [log_sf] * len(profiles)
        p_values = _null_p_values(nulls, "correlation", rows, statistic, log_sfs)
        levels = _null_levels(nulls, "correlation", rows)
    change = np.abs(moved - reference).max(axis=1)
    top = largest(z, ATTRIBUTED)
    firsts, seconds = upper[0][top].tolist(), upper[1][top].tolist()
    row = np.arange(len(profiles))[:, None]
    picked = [values[row, top].tolist() for values in (reference, moved, z)]
    return [
        JointMeasure(
            "correlation",
            max(0.0, changed - level * e),
            p_value,
            t,
            tuple(
                Contributor((profile.names[a], profile.names[b]), r, m, zz)
                for a, b, r, m, zz in zip(first, second, *values, strict=True)
            ),
        )
        for profile, changed, level, e, p_value, t, first, second, *values in zip(
            profiles,
            change.tolist(),
            levels,
            error.tolist(),
            p_values,
            statistic.tolist(),
            firsts,
            seconds,
            *picked,
            strict=True,
        )
    ]


def largest(values: NDArray[np.float64], count: int) -> NDArray[np.intp]:
    """Each row's positions of its ``count`` largest values, largest first, ties in position
    order: ``np.argsort(-values, axis=1, kind="stable")[:, :count]`` without sorting them
    all (900 features have 404,550 pairs, and sorting their changes took 17 ms a window)."""
    size = values.shape[1]
    if size <= count:
        return np.argsort(-values, axis=1, kind="stable")
    cut = np.partition(values, size - count, axis=1)[:, size - count, None]
    above = values > cut
    tied = values == cut
    room = count - np.count_nonzero(above, axis=1, keepdims=True)
    keep = above | (tied & (np.cumsum(tied, axis=1) <= room))
    whole = np.count_nonzero(keep, axis=1) == count
    keep[~whole] = np.arange(size) < count  # NaN, which the partition put last: sorted below
    chosen = np.nonzero(keep)[1].reshape(-1, count)
    row = np.arange(values.shape[0])[:, None]
    ranked: NDArray[np.intp] = chosen[row, np.argsort(-values[row, chosen], axis=1, kind="stable")]
    for nan in np.flatnonzero(~whole).tolist():
        ranked[nan] = np.argsort(-values[nan], kind="stable")[:count]
    return ranked


@functools.lru_cache(maxsize=16)
def _triangle(size: int, diagonal: int) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """``np.triu_indices(size, diagonal)``, computed once per size: 900 features have
    404,550 pairs, and building their indices took 12 ms a window (4 ms a batch for the
    diagonal-included ones of the joint sums)."""
    rows, columns = np.triu_indices(size, diagonal)
    rows.flags.writeable = False
    columns.flags.writeable = False
    return rows, columns


@functools.lru_cache(maxsize=16)
def _split_triangle(size: int) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Where the diagonal and where the pairs (in ``_triangle(size, 1)`` order) sit among
    ``_triangle(size, 0)``'s positions, computed once per size."""
    rows, columns = _triangle(size, 0)
    diagonal, pairs = np.flatnonzero(rows == columns), np.flatnonzero(rows != columns)
    diagonal.flags.writeable = False
    pairs.flags.writeable = False
    return diagonal, pairs
