"""The exact two-sided one-sample Kolmogorov-Smirnov survival function, many at once.

``scipy.stats.kstwo.sf(d, n)`` picks, per value, one of several methods (Simard and
L'Ecuyer, 2011) and runs it in Python, about 75 µs each; a window of twenty segments
asks for hundreds of them. This is the same selection and the same methods, each
applied to every value it is chosen for in a few array operations, so its results are
scipy's up to floating-point rounding (tests/unit/test_kolmogorov.py compares them):

- the closed forms (Ruben-Gambino near both ends, ``2 * smirnov`` for large ``d``);
- Pelz and Good's expansion, each value's series summed to its own number of terms;
- Durbin's matrix (Marsaglia, Tsang and Wang), the powers of all values that share a
  matrix size taken together. scipy's Pomeranz recursion (``n <= 140``, ``0.754693 <
  n d^2 <= 4``) is replaced by this matrix too: both are exact, and the matrix is the
  one that stacks.

The factor ``n! / n^n`` of the matrix method is applied as a logarithm
(``gammaln``), not as scipy's ``n`` scaled multiplications.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import special

Floats = NDArray[np.float64]

_SCALE_EXPONENT = 128
_SCALE = 2.0**_SCALE_EXPONENT
_MIN_LOG = -708
_PI2, _PI4, _PI6 = np.pi**2, np.pi**4, np.pi**6
_SQRT2PI = np.sqrt(2 * np.pi)
_SQRT3 = np.sqrt(3)


def kolmogorov_sf(statistics: Floats, sizes: Floats) -> Floats:
    """``P(D_n >= d)`` for each ``d`` in ``statistics`` and whole ``n`` in ``sizes``."""
    d = np.asarray(statistics, dtype=np.float64)
    n = np.asarray(sizes, dtype=np.float64)
    if d.shape != n.shape:
        raise ValueError("statistics and sizes must have the same shape")
    if ((n < 1) | (n != np.round(n))).any():
        raise ValueError("sizes must be whole numbers of at least 1")
    sf = np.full(d.shape, np.nan)
    t = n * d
    nd2 = t * d
    small = n <= 140
    todo = np.ones(d.shape, dtype=bool)

    def take(where: NDArray[np.bool_]) -> NDArray[np.bool_]:
        chosen = todo & where
        todo[chosen] = False
        return chosen

    sf[take(d >= 1.0)] = 0.0
    sf[take((d <= 0.0) | (t <= 0.5))] = 1.0
    at = take(t <= 1.0)  # Ruben-Gambino: 1/2n < d <= 1/n
    sf[at] = 1.0 - np.exp(_log_factorial_over_power(n[at]) + n[at] * np.log(2 * t[at] - 1))
    at = take(t >= n - 1)  # Ruben-Gambino
    sf[at] = 2 * (1.0 - d[at]) ** n[at]
    at = take((d >= 0.5) | (small & (nd2 > 4)) | (~small & (nd2 >= 2.2) & (nd2 < 370)))
    sf[at] = 2 * special.smirnov(n[at], d[at])
    sf[take(~small & (nd2 >= 370))] = 0.0
    at = take(small | ((n <= 100_000) & (n * d**1.5 <= 1.4)))
    sf[at] = 1.0 - _durbin_cdf(n[at], d[at])
    sf[todo] = 1.0 - _pelz_good_cdf(n[todo], d[todo])
    result: Floats = np.clip(sf, 0.0, 1.0)
    return result


def _log_factorial_over_power(n: Floats) -> Floats:
    """``log(n! / n^n)``."""
    result: Floats = special.gammaln(n + 1) - n * np.log(n)
    return result


def _durbin_cdf(n: Floats, d: Floats) -> Floats:
    """``P(D_n < d)`` by Durbin's matrix, for ``n d > 1``: row ``k`` of ``H^n``, times
    ``n! / n^n``, where ``d = (k - h) / n``; one stack of matrices per size ``2k - 1``."""
    cdf = np.empty(d.shape)
    k = np.ceil(n * d).astype(np.int64)
    for size in np.unique(k):
        at = k == size
        cdf[at] = _durbin_cdf_of_size(int(size), n[at], d[at])
    return cdf


def _durbin_cdf_of_size(k: int, n: Floats, d: Floats) -> Floats:
    m = 2 * k - 1
    h = k - n * d
    powers = np.arange(1, m + 1)
    factorials = np.empty(m + 1)  # 1/j!, divided down as scipy does
    factorials[0] = 1.0
    for j in range(1, m + 1):
        factorials[j] = factorials[j - 1] / j
    v = (1.0 - h[:, None] ** powers) * factorials[1:]
    tail = np.maximum(2 * h - 1.0, 0) ** m - 2 * h**m
    v[:, -1] = (1.0 + tail) * factorials[m]
    matrix = np.zeros((m, m))
    for i in range(1, m):
        matrix[i - 1 :, i] = factorials[: m - i + 1]
    stack = np.broadcast_to(matrix, (h.size, m, m)).copy()
    stack[:, :, 0] = v
    stack[:, -1, :] = v[:, ::-1]
    result = np.broadcast_to(np.eye(m), stack.shape).copy()
    exponent = np.zeros(h.size)
    stack_exponent = np.zeros(h.size)
    remaining = n.astype(np.int64)
    while (remaining > 0).any():
        odd = remaining % 2 == 1
        result[odd] = np.matmul(result[odd], stack[odd])
        exponent[odd] += stack_exponent[odd]
        stack = np.matmul(stack, stack)
        stack_exponent *= 2
        large = np.abs(stack[:, k - 1, k - 1]) > _SCALE
        stack[large] /= _SCALE
        stack_exponent[large] += _SCALE_EXPONENT
        remaining //= 2
    corner = result[:, k - 1, k - 1]
    with np.errstate(divide="ignore"):
        logs = np.log(corner) + exponent * np.log(2.0) + _log_factorial_over_power(n)
    cdf: Floats = np.where(corner > 0, np.exp(logs), 0.0)
    return cdf


def _pelz_good_cdf(n: Floats, d: Floats) -> Floats:
    """``P(D_n < d)`` by Pelz and Good's expansion of Li-Chien's and Korolyuk's
    (``0 < d < 1``); each value's series has ``ceil(16 z / pi)`` terms, ``z = d sqrt(n)``."""
    z = np.sqrt(n) * d
    z2, z3, z4, z6 = z**2, z**3, z**4, z**6
    qlog = -_PI2 / 8 / z2
    q = np.exp(qlog)
    k1a, k1b = -z2, _PI2 / 4
    k2a = 6 * z6 + 2 * z4
    k2b = (2 * z4 - 5 * z2) * _PI2 / 4
    k2c = _PI4 * (1 - 2 * z2) / 16
    k3d = _PI6 * (5 - 30 * z2) / 64
    k3c = _PI4 * (-60 * z2 + 212 * z4) / 16
    k3b = _PI2 * (135 * z4 - 96 * z6) / 4
    k3a = -30 * z6 - 90 * z**8
    terms = np.ceil(16 * z / np.pi).astype(np.int64)
    sums = np.zeros((4, z.size))
    for k in range(int(terms.max(initial=0)), 0, -1):
        live = terms >= k  # a value's terms beyond its own count stay out (sums stay 0)
        m = 2 * k - 1
        m2, m4, m6 = m**2, m**4, m**6
        coeffs = np.stack(
            (
                np.ones(z.size),
                k1a + k1b * m2,
                k2a + k2b * m2 + k2c * m4,
                k3a + k3b * m2 + k3c * m4 + k3d * m6,
            )
        )
        sums = np.where(live, sums * np.power(q, 8 * k) + coeffs, sums)
    sums *= q
    sums *= _SQRT2PI
    sums /= np.stack((z, 6 * z4, 72 * z**7, 6480 * z**10))
    q = np.exp(-_PI2 / 2 / z2)
    k2extra = np.zeros(z.size)
    k3extra = np.zeros(z.size)
    sqrt3z = _SQRT3 * z
    for k in range(int(terms.max(initial=0)), 0, -1):
        live = terms >= k
        term = np.where(live, k**2 * q ** (k**2), 0.0)
        k2extra += term
        k3extra += (sqrt3z + np.pi * k) * (sqrt3z - np.pi * k) * term
    sums[2] += k2extra * (_PI2 * _SQRT2PI / (-36 * z3))
    sums[3] += k3extra * (_PI2 * _SQRT2PI / (216 * z6))
    sums /= np.power(n, np.arange(4)[:, None] / 2.0)
    cdf: Floats = np.where(qlog < _MIN_LOG, 0.0, sums[0] + sums[1] + sums[2] + sums[3])
    return cdf
