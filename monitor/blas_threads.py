"""One BLAS thread per process, unless the user chose otherwise.

numpy's and scipy's OpenBLAS start a thread per core and spin them for every matrix
product. The daemon's products are small (a joint profile's ``d x d`` sums, a window's
covariance), and the machines it runs on are shared: a pod with a CPU limit, a host
running Kafka beside it. There the spinning threads wait for the same cores as the
daemon's own loop. Measured on the project's 2-core machine while other jobs kept it
busy (load average 2.5 to 4.5), the throughput benchmark ran end to end at 68,934 and
22,386 events/s with OpenBLAS's two threads and at 160,094 and 162,043 with one, and
built the segmented reference in 24.6 and 53.8 s against 6.8 and 11.0 s (README,
"Performance").

The limit is set at run time (threadpoolctl), so it holds whatever imported numpy
first; a user who sets one of :data:`USER_SETTINGS` keeps their own choice.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy  # noqa: F401  (loads numpy's BLAS, so the limit reaches it)
import scipy.linalg  # noqa: F401  (loads scipy's own BLAS too)
from threadpoolctl import threadpool_limits

USER_SETTINGS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
"""Environment variables by which a user sizes BLAS's threads themselves."""


def limit_blas_threads(environ: Mapping[str, str] = os.environ) -> bool:
    """Limit every loaded BLAS to one thread; False (and no change) if the user set a size."""
    if any(environ.get(name) for name in USER_SETTINGS):
        return False
    threadpool_limits(limits=1, user_api="blas")
    return True
