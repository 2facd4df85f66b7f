"""The command line runs BLAS on one thread unless the user sized it (monitor.blas_threads)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from monitor.blas_threads import limit_blas_threads


def _blas_threads() -> set[int]:
    return {int(pool["num_threads"]) for pool in threadpool_info() if pool["user_api"] == "blas"}


@pytest.fixture
def two_blas_threads() -> Iterator[None]:
    with threadpool_limits(limits=2, user_api="blas"):
        yield


@pytest.mark.usefixtures("two_blas_threads")
def test_every_loaded_blas_is_limited_to_one_thread() -> None:
    assert _blas_threads() == {2}
    assert limit_blas_threads(environ={}) is True
    assert _blas_threads() == {1}


@pytest.mark.usefixtures("two_blas_threads")
@pytest.mark.parametrize("setting", ["OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"])
def test_a_size_the_user_set_is_left_alone(setting: str) -> None:
    assert limit_blas_threads(environ={setting: "2"}) is False
    assert _blas_threads() == {2}
