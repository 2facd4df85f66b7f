"""Health facts: the readiness probe's Redis PING and the ``drift-monitor healthcheck`` command.

``drift-monitor healthcheck -c CONFIG`` is meant for container healthchecks
(Docker ``HEALTHCHECK``, a Kubernetes ``exec`` probe). It exits 0 when both
hold, else 1 with every reason printed:

1. **The heartbeat key in Redis is fresh.** A live daemon refreshes it every
   third of its TTL (``monitor.daemon.HEARTBEAT_TTL_SECONDS``), so the key
   exists only while some daemon of this ``redis.key_prefix`` reached Redis
   within the TTL. Instances sharing a prefix share the key: on its own it
   says "the deployment talks to Redis", not "this process does".
2. **This instance's ``/readyz`` answers 200** on ``http.port``: partitions
   assigned, Redis reachable, state loaded. It is skipped, with a note, when
   ``http.port`` is 0 (a random port nobody else can know). A wildcard
   ``http.host`` (``0.0.0.0``, ``::``) is probed on loopback.

:class:`RedisPing` is the readiness endpoint's own view of Redis: a PING at
most once a second, on a client with short timeouts and no retries, so
``/readyz`` turns false within a second of Redis going away, even while the
run loop is idle or blocked, and a probe never waits on Redis longer than its
own timeout.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException
from redis.retry import Retry

from monitor.config import Config
from monitor.keys import Keys
from monitor.logs import redact
from monitor.redis_client import connect

__all__ = [
    "HealthReport",
    "RedisPing",
    "check_health",
    "node_client",
    "probe_client",
    "readyz_url",
]

# RedisClusterException (no node answers the slot map) is not a RedisError.
_UNREACHABLE = (redis.RedisError, RedisClusterException, OSError)
_WILDCARD_HOSTS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


def probe_client(client: redis.Redis, timeout_seconds: float) -> redis.Redis:
    """A client for the same server, user and TLS settings as ``client``, for probes only.

    Its own small pool, timeouts of ``timeout_seconds`` and no retries: a probe
    must answer within its deadline, and must not wait behind the run loop's
    connections.
    """
    pool = client.connection_pool
    kwargs: dict[str, Any] = dict(pool.connection_kwargs)
    kwargs.update(
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )
    return redis.Redis(
        connection_pool=redis.ConnectionPool(
            connection_class=pool.connection_class, max_connections=4, **kwargs
        )
    )


def node_client(client: redis.Redis | RedisCluster, key: str) -> tuple[str, redis.Redis]:
    """The client of the node that serves ``key``, and that node's name ("" if not a cluster)."""
    if not isinstance(client, RedisCluster):
        return "", client
    node = client.get_node_from_key(key)  # type: ignore[no-untyped-call]
    if node is None or node.redis_connection is None:
        raise redis.ConnectionError(f"no cluster node serves {key!r}")
    return str(node.name), node.redis_connection


class RedisPing:
    """Whether Redis answers a PING, asked at most once per ``interval_seconds``.

    For a Redis Cluster client the PING goes to the node that serves ``key``
    (every drift-monitor key shares one hash tag, so one node holds them all),
    found again at each PING so a failover is followed. Thread-safe: the HTTP
    server answers probes and scrapes on several threads.
    """

    def __init__(
        self,
        client: redis.Redis | RedisCluster,
        *,
        key: str = "",
        interval_seconds: float = 1.0,
        timeout_seconds: float = 0.5,
    ) -> None:
        self._client = client
        self._key = key
        self._interval = interval_seconds
        self._timeout = timeout_seconds
        self._probes: dict[str, redis.Redis] = {}
        self._lock = threading.Lock()
        self._asked_at = -float("inf")
        self._answered = False

    def ok(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if now - self._asked_at >= self._interval:
                try:
                    self._answered = bool(self._probe().ping())
                except _UNREACHABLE:
                    self._answered = False
                self._asked_at = time.monotonic()
            return self._answered

    def _probe(self) -> redis.Redis:
        name, base = node_client(self._client, self._key)
        if name not in self._probes:
            self._probes[name] = probe_client(base, self._timeout)
        return self._probes[name]


@dataclass(frozen=True, slots=True)
class HealthReport:
    """What ``healthcheck`` found: problems make it fail; notes are said either way."""

    problems: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def healthy(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        head = "healthy" if self.healthy else "unhealthy"
        return [head, *(f"  - {p}" for p in self.problems), *(f"  ({n})" for n in self.notes)]


def readyz_url(config: Config) -> str | None:
    """Where this instance's ``/readyz`` answers, or None when ``http.port`` is 0."""
    if config.http.port == 0:
        return None
    host = _WILDCARD_HOSTS.get(config.http.host, config.http.host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{config.http.port}/readyz"


def check_health(config: Config, *, timeout_seconds: float = 3.0) -> HealthReport:
    """Check the heartbeat key and ``/readyz``; never raises for an unhealthy daemon."""
    problems: list[str] = []
    notes: list[str] = []
    _check_heartbeat(config, timeout_seconds, problems, notes)
    url = readyz_url(config)
    if url is None:
        notes.append("http.port is 0, so /readyz was not checked")
    else:
        _check_readyz(url, timeout_seconds, problems, notes)
    return HealthReport(tuple(problems), tuple(notes))


def _check_heartbeat(
    config: Config, timeout_seconds: float, problems: list[str], notes: list[str]
) -> None:
    where = redact(config.redis.url)
    key = Keys(config.redis.key_prefix).heartbeat
    base: redis.Redis | None = None
    client: redis.Redis | None = None
    try:
        # A cluster client asks its first node for the slot map; then ask the key's node.
        base = connect(config.redis.url, cluster=config.redis.cluster)
        client = probe_client(node_client(base, key)[1], timeout_seconds)
        pipe = client.pipeline(transaction=False)
        pipe.get(key)
        pipe.pttl(key)
        owner, ttl_ms = pipe.execute()
    except _UNREACHABLE as error:
        # redis-py's messages name host and port, never the password; redact anyway.
        problems.append(f"redis unreachable at {where}: {redact(str(error))}")
        return
    finally:
        if client is not None:
            client.connection_pool.disconnect()
        if base is not None:
            base.close()
    if owner is None:
        problems.append(
            f"no heartbeat at {key} in {where}: no daemon of this key prefix reached Redis "
            "within the heartbeat TTL"
        )
        return
    instance = owner.decode(errors="replace")
    notes.append(f"heartbeat from {instance}, expires in {max(ttl_ms, 0) / 1000:.1f}s")


def _check_readyz(url: str, timeout_seconds: float, problems: list[str], notes: list[str]) -> None:
    try:
        with urllib.request.urlopen(url, timeout=timeout_seconds) as response:
            notes.append(f"{url} answered {response.status}")
            return
    except urllib.error.HTTPError as error:
        body = error.read()
        error.close()
        problems.append(f"{url} answered {error.code}: {_reasons(body)}")
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        problems.append(f"{url} unreachable: {reason}")


def _reasons(body: bytes) -> str:
    try:
        reasons = json.loads(body)["reasons"]
    except (ValueError, KeyError, TypeError):
        return body.decode(errors="replace").strip()[:200] or "no reason given"
    return ", ".join(str(r) for r in reasons) or "no reason given"
