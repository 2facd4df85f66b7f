"""The vectorised exact KS survival function is scipy's ``kstwo.sf``, up to rounding."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from detectors.kolmogorov import kolmogorov_sf

RELATIVE = 1e-9
"""Measured differences stay below 1e-11 (relative): rounding. A wrong term, power or
branch moves a p-value by far more than this."""


def statistics_for(n: int, rng: np.random.Generator) -> np.ndarray:
    """Statistics over the whole range, most near the null's ``1 / sqrt(n)`` scale where
    the matrix and series methods run, and each branch boundary."""
    return np.concatenate(
        (
            rng.uniform(0.0, 1.0, 15),
            np.clip(rng.uniform(0.0, 3.0 / np.sqrt(n), 50), 0.0, 1.0),
            [0.0, 1.0, 0.5 / n, 1.0 / n, 0.5, (n - 1.0) / n],
        )
    )


def assert_matches_kstwo(d: np.ndarray, n: np.ndarray) -> None:
    expected = stats.kstwo.sf(d, n)
    np.testing.assert_allclose(kolmogorov_sf(d, n), expected, rtol=RELATIVE, atol=1e-300)


@pytest.mark.parametrize(
    "sizes",
    [range(1, 141), range(141, 320), [400, 555, 777, 1000, 5000, 100_001]],
    ids=["pomeranz-sizes", "pelz-good-sizes", "large"],
)
def test_kolmogorov_sf_is_kstwo_at_every_size_and_statistic(sizes: range | list[int]) -> None:
    rng = np.random.default_rng(15)
    for n in sizes:
        d = statistics_for(n, rng)
        assert_matches_kstwo(d, np.full(d.shape, float(n)))


def test_kolmogorov_sf_of_mixed_sizes_is_each_values_own() -> None:
    rng = np.random.default_rng(16)
    n = rng.integers(1, 1200, 2000).astype(np.float64)
    d = np.clip(stats.kstwobign.rvs(size=n.size, random_state=rng) / np.sqrt(n), 0.0, 1.0)
    assert_matches_kstwo(d, n)
    one_by_one = [kolmogorov_sf(d[i : i + 1], n[i : i + 1])[0] for i in range(50)]
    np.testing.assert_allclose(kolmogorov_sf(d, n)[:50], one_by_one, rtol=RELATIVE)


def test_kolmogorov_sf_refuses_sizes_that_are_not_whole() -> None:
    with pytest.raises(ValueError, match="whole numbers"):
        kolmogorov_sf(np.array([0.1]), np.array([20.5]))
