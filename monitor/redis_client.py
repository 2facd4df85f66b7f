"""Connecting to Redis, and what its failures mean to the daemon.

Every module that talks to Redis (the store, the alert records and outbox, the report)
goes through :func:`connect` and wraps its calls in :func:`redis_errors`, so an outage
is always the one exception the run loop knows how to wait out.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
import redis.exceptions
from redis.backoff import ExponentialBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from monitor.errors import ServiceUnavailable, StateError

UNAVAILABLE = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ClusterDownError,
    # Answers of a Redis that is there but cannot take writes now: full (maxmemory with
    # noeviction), a replica after a failover, a primary cut off from its replicas.
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.MasterDownError,
)


@contextmanager
def redis_errors() -> Iterator[None]:
    """Turn "Redis cannot serve us now" into ServiceUnavailable, which the run loop retries."""
    try:
        yield
    except UNAVAILABLE as error:
        raise ServiceUnavailable(f"Redis unavailable: {error}") from error


def as_bytes(value: Any) -> bytes:
    """Replies are bytes (the client never decodes); say so once for the type checker."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str | int):
        return str(value).encode()
    raise StateError(f"unexpected value from Redis: {value!r}")


def connect(url: str, *, cluster: bool = False) -> redis.Redis:
    """A Redis (or Redis Cluster) client that fails fast when Redis is down.

    redis-py retries three times with backoff by default, which turns an outage
    into 15 s stalls per call; one quick retry covers a dropped connection, and
    the daemon's own loop does the patient retrying (pausing consumption).
    Cluster clients find the other nodes from the one in ``url``; every key of
    drift-monitor shares one hash tag, so each script still runs on one node.
    """
    options: dict[str, Any] = {
        "socket_timeout": 5.0,
        "socket_connect_timeout": 2.0,
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), 1),
    }
    if cluster:
        client: redis.Redis = RedisCluster.from_url(url, **options)  # type: ignore[assignment]
        return client
    return redis.Redis.from_url(url, health_check_interval=15, **options)
