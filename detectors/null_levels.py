"""No-drift levels of the distribution scores: what each reads on a window drawn like its reference.

PSI, Jensen-Shannon, Wasserstein, the KS statistic and Cramér's V are never 0 on a
finite window: sampling noise alone gives them a value that shrinks with the window.
On 50-event windows of a 50-bin numeric signal PSI, Jensen-Shannon and Wasserstein read
about 0.2 without any drift, above their ``warn`` of 0.1; the significance test keeps
them from flagging, but the number tells a reader nothing unless it is shown beside
what it would read without drift. That is the *level* here, one definition for every
method:

    **the expected value of the score on a window drawn like the reference**, given
    the window's size ``n``, the reference's size ``N`` and the reference's bins.

Both samples are noisy, so the reference's own noise counts as well as the window's:
to first order every score's square grows with ``1/n + 1/N``, the inverse of the
effective size ``n_eff = 1 / (1/n + 1/N)``. Per method (``p`` the reference's shares
of its ``k`` occupied cells, ``d = k - 1``, ``X_d`` a chi-square variable):

* PSI (natural log): ``sum over cells of E[(q - p) ln(q / p)]``, about ``d / n_eff``.
* Jensen-Shannon, the base-2 *distance* ``sqrt(JSD / ln 2)``: the divergence in nats is
  about ``X_d / (8 n_eff)``, so the level is ``sqrt(E[JSD] / ln 2)`` times
  ``E[sqrt(X_d)] / sqrt(d)``, the shortfall of a square root's mean (0.80 for one
  degree of freedom, 0.97 for nine).
* KS ``D`` at the reference's edges: ``sqrt(n_eff) D`` tends to the largest ``|B(t)|``
  of a Brownian bridge over the reference's CDF values ``t`` at its edges, whose mean
  is ``sqrt(pi / 2) ln 2 = 0.8687`` over a continuum and less over 49 edges or over a
  few tied values. It is computed per signal, once, by simulating the bridge at those
  points (:data:`BRIDGE_DRAWS` seeded draws, in single precision; 1.5% standard error).
* Wasserstein over ``scale`` (the reference standard deviation):
  ``sqrt(2 / pi) / sqrt(n_eff)`` times the integral of ``sqrt(F (1 - F))`` over the
  reference's binned CDF (``E|F_ref - F_win|`` between atoms), plus, for each bin,
  ``sqrt(p) sigma`` (its atom moving within the bin, ``sigma`` its within-bin spread,
  which the profile does not keep: width over ``sqrt(12)`` for an inner bin, or less
  where its mean says its values cannot spread so much, 0 for one tied value; the
  distance from the edge to the bin's mean for an open-ended outer one), over ``scale``.
* Cramér's V, ``sqrt(chi2 / (N + n))``: ``E[sqrt(X_dof)] / sqrt(N + n)`` with the
  chi-square table's own degrees of freedom (after rare categories are pooled).

PSI and Jensen-Shannon are sums over cells, and a cell expecting few window values
(a rare category, any cell of a 50-event window) is far from its asymptotic term: a
category of share 1e-4 adds to PSI about a seventh of ``1/n`` at ``n = 500``, as the
floor of the shares at ``PSI_EPSILON`` swallows it. So a cell expecting fewer than
:data:`FEW` window values has its term averaged exactly over the binomial counts of a
window drawn at the reference's shares, through the score's own formula; the others
take the asymptotic ``(1 - p) / n`` (PSI) or ``(1 - p) / (8 n)`` (divergence). Either
way the window's term is then scaled by ``n / n_eff = 1 + n / N`` for the reference's
noise. Measured on heavy-tailed, tied and 200-level categorical signals
(``tests/unit/test_null_levels.py``): the mean score over no-drift windows of 50, 500
and 5,000 events is within 18% of its level for every method, but for Wasserstein on
Student t with 2 degrees of freedom at 5,000 events, 21% to 29% above it: a tail
without a variance makes that noise fall more slowly than ``1 / sqrt(n)``, and the
profile keeps no within-bin spread to see it by.

Pure computation: numpy and scipy only, no I/O.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy import special

from detectors.stats import PSI_EPSILON, Rows

FEW = 30.0
"""Window values a cell must expect for its asymptotic term (fewer: exact binomial mean)."""

_REACH = 8.0
"""A sparse cell's mean runs over the counts up to its expected count plus this many of
its standard deviations (beyond: below 1e-12 of its mass)."""

BRIDGE_DRAWS = 512
"""Brownian-bridge paths simulated per numeric signal for its KS level."""

BRIDGE_SEED = 20250101
"""Seed of those paths: the same reference always gets the same level."""

_CHUNK = 64
"""Signals simulated together (512 paths of 50 points each: 7 MB a chunk)."""


GRID_RATIO = 1.05
"""The PSI and Jensen-Shannon levels are computed for sizes on a grid of this ratio."""
GRID_EXACT = 40
"""Sizes up to this are their own grid point."""


def on_size_grid(sizes: NDArray[np.int64]) -> NDArray[np.int64]:
    """Each size rounded to the nearest power of :data:`GRID_RATIO` (at most 3% off, so
    a level ~1/n is too), unless it is at most :data:`GRID_EXACT`.

    Computing the exact cell sums of a new size costs 15 ms a window of 1,000 signals,
    and sizes rarely repeat exactly: a segment's window, an event-time window, a signal
    with a few missing values. On the grid they do, and their levels are kept.
    """
    n = sizes.astype(np.float64)
    steps = np.round(np.log(np.maximum(n, 1.0)) / math.log(GRID_RATIO))
    grid: NDArray[np.int64] = np.where(n <= GRID_EXACT, sizes, np.round(GRID_RATIO**steps)).astype(
        np.int64
    )
    return grid


def effective_sizes(n: Rows, big_n: Rows) -> Rows:
    """``1 / (1/n + 1/N)``: the size of one sample as noisy as the two together."""
    result: Rows = n * big_n / (n + big_n)
    return result


def cell_levels(ref_shares: Rows, n: Rows, big_n: Rows) -> tuple[Rows, Rows]:
    """Each row's PSI level and Jensen-Shannon distance level (base 2, the score's units)
    for a window of ``n[i]`` values against ``big_n[i]``."""
    psi, divergence = _cell_sums(ref_shares, n, big_n)
    dof = np.count_nonzero(ref_shares > 0, axis=1) - 1.0
    distance: Rows = np.sqrt(divergence / math.log(2.0)) * _root_shortfall(dof)
    return psi, distance


def cramers_v_level(dof: int, total: float) -> float:
    """Cramér's V level of a chi-square table with ``dof`` degrees of freedom and
    ``total`` values in all (0 for no degree of freedom)."""
    if dof <= 0:
        return 0.0
    return float(root_mean(np.array([float(dof)]))[0]) / math.sqrt(total)


def ks_scales(ref_cdf: Rows) -> Rows:
    """Each row's mean largest ``|B(t)|`` of a Brownian bridge over its ``t`` (the
    reference's CDF at its interior edges, :func:`detectors.stats.edge_cdf`): the KS
    level is this over ``sqrt(n_eff)``.

    A bridge over points ``t_1 <= ... <= t_m`` is ``W(t_j) - t_j W(1)`` for a Wiener
    process ``W``, whose increments over the gaps are independent normals; the same
    seeded normals serve every row, so signals with the same edges get the same scale.
    """
    rows, points = ref_cdf.shape
    if points == 0:
        return np.zeros(rows)
    rng = np.random.default_rng(BRIDGE_SEED)
    normals = rng.standard_normal((BRIDGE_DRAWS, points + 1), dtype=np.float32)
    steps = np.sqrt(np.diff(ref_cdf, axis=1, prepend=0.0, append=1.0).clip(min=0.0))
    steps, cdf = steps.astype(np.float32), ref_cdf.astype(np.float32)
    scales = np.empty(rows)
    for start in range(0, rows, _CHUNK):
        chunk = slice(start, start + _CHUNK)
        walk = np.cumsum(steps[chunk, None, :] * normals, axis=2)
        bridge = walk[:, :, :-1] - cdf[chunk, None, :] * walk[:, :, -1:]
        scales[chunk] = np.abs(bridge).max(axis=2).mean(axis=1)
    return scales


def wasserstein_scales(counts: NDArray[np.int64], atoms: Rows, edges: Rows, scales: Rows) -> Rows:
    """Each row's Wasserstein level times ``sqrt(n_eff)``, in the score's units (the
    level is this over ``sqrt(n_eff)``).

    ``atoms`` are the reference's bin means (NaN where a bin is empty), ``edges`` its
    interior edges (``bins - 1`` a row), ``scales`` the score's unit (the reference
    standard deviation). Between two occupied atoms the reference CDF is ``F``, and a
    window's differs from it by about ``|B(F)| / sqrt(n_eff)``, of mean
    ``sqrt(2 / pi) sqrt(F (1 - F)) / sqrt(n_eff)``; an empty bin's atom is the next
    occupied one, so its gap is 0. Within a bin of share ``p`` the two atoms differ by
    about ``sigma / sqrt(n_eff p)``, a gap the CDFs cross with ``p`` between them.
    """
    shares = counts / counts.sum(axis=1, keepdims=True)
    cdf = np.cumsum(shares, axis=1)[:, :-1]
    occupied = counts > 0
    last = np.nanmax(np.where(occupied, atoms, np.nan), axis=1, keepdims=True)
    # Empty bins after the last occupied one sit at it: their gaps are 0 (and F = 1 there).
    filled = np.where(occupied, atoms, last)
    following = np.minimum.accumulate(filled[:, ::-1], axis=1)[:, ::-1]
    spread = np.sqrt(np.clip(cdf * (1.0 - cdf), 0.0, None))
    between = spread * np.diff(following, axis=1)
    inner = atoms[:, 1:-1]
    # Bhatia-Davis: values in [a, b) of mean m spread at most sqrt((m - a)(b - m)), 0 for
    # a bin of one tied value (m = a); a bin filled evenly spreads (b - a) / sqrt(12).
    bounded = np.sqrt(np.clip((inner - edges[:, :-1]) * (edges[:, 1:] - inner), 0.0, None))
    widths = np.minimum(np.diff(edges, axis=1) / math.sqrt(12.0), bounded)
    sigma = np.column_stack((edges[:, :1] - atoms[:, :1], widths, atoms[:, -1:] - edges[:, -1:]))
    within = np.sqrt(shares) * np.where(occupied, np.abs(sigma), 0.0)
    result: Rows = math.sqrt(2.0 / math.pi) * (between.sum(axis=1) + within.sum(axis=1)) / scales
    return result


def _psi_term(p: NDArray[np.float64], q: NDArray[np.float64]) -> NDArray[np.float64]:
    floored_p, floored_q = np.maximum(p, PSI_EPSILON), np.maximum(q, PSI_EPSILON)
    result: NDArray[np.float64] = (floored_q - floored_p) * np.log(floored_q / floored_p)
    return result


def _js_term(p: NDArray[np.float64], q: NDArray[np.float64]) -> NDArray[np.float64]:
    m = (p + q) / 2.0
    result: NDArray[np.float64] = (special.rel_entr(p, m) + special.rel_entr(q, m)) / 2.0
    return result


def _cell_sums(ref_shares: Rows, n: Rows, big_n: Rows) -> tuple[Rows, Rows]:
    """Each row's mean PSI and Jensen-Shannon divergence over windows of ``n`` values
    drawn at its shares, summed over cells, times ``1 + n / N``: cells expecting
    :data:`FEW` values or more by ``(1 - p) / n`` and ``(1 - p) / (8 n)``, the others
    exactly over their binomial counts (one table of probabilities for both)."""
    size = np.broadcast_to(n[:, None], ref_shares.shape)
    expected = size * ref_shares
    few = (ref_shares > 0) & (expected < FEW)
    dense = np.where((ref_shares > 0) & ~few, (1.0 - ref_shares) / size, 0.0).sum(axis=1)
    psi, divergence = dense, dense / 8.0
    if few.any():
        rows = np.nonzero(few)[0]
        p, trials = ref_shares[few][:, None], size[few][:, None]
        reach = float(expected[few].max())
        top = min(float(trials.max()), math.ceil(reach + _REACH * math.sqrt(reach) + 1.0))
        counts = np.arange(top + 1.0)
        pmf, q = _binomial_pmf(counts, trials, p), counts / trials
        lengths = ref_shares.shape[0]
        psi = psi + np.bincount(rows, (pmf * _psi_term(p, q)).sum(axis=1), lengths)
        divergence = divergence + np.bincount(rows, (pmf * _js_term(p, q)).sum(axis=1), lengths)
    scale = 1.0 + n / big_n
    return psi * scale, divergence * scale


def _binomial_pmf(k: Rows, trials: Rows, p: Rows) -> Rows:
    """``P(Binomial(trials, p) = k)`` for ``k = 0, 1, ...``, 0 past ``trials``: by the
    ratio of successive terms, ``(trials - k) / (k + 1) * p / (1 - p)``, summed as logs
    (a share near 1 makes the ratios overflow a product), where ``gammaln`` cost five
    times as much: a window of 1,000 signals of a new size spends most of its levels'
    time here."""
    share = np.minimum(p, 1.0 - 1e-16)
    with np.errstate(divide="ignore"):  # past ``trials`` the ratio is 0: log -inf, pmf 0
        steps = np.log(np.clip(trials - k[:-1], 0.0, None) / (k[:-1] + 1.0) * (share / (1 - share)))
    first = trials * np.log1p(-share)
    result: Rows = np.exp(np.cumsum(np.column_stack((first, steps)), axis=1))
    return result


def root_mean(dof: Rows) -> Rows:
    """``E[sqrt(X)]`` for ``X`` chi-square with ``dof`` degrees of freedom."""
    result: Rows = math.sqrt(2.0) * np.exp(
        special.gammaln((dof + 1.0) / 2.0) - special.gammaln(dof / 2.0)
    )
    return result


def _root_shortfall(dof: Rows) -> Rows:
    """``E[sqrt(X)] / sqrt(E[X])`` for ``X`` chi-square with ``dof`` degrees of freedom
    (1 where there is no degree of freedom: the level is 0 then anyway)."""
    positive = np.maximum(dof, 1.0)
    result: Rows = np.where(dof > 0, root_mean(positive) / np.sqrt(positive), 1.0)
    return result
