"""Health: /healthz, /readyz and ``drift-monitor healthcheck`` follow a real Redis going and coming.

The daemon runs against the test's own redis-server (append-only, so a kill and
a restart keep its state, as the compose stack's Redis does); the healthcheck
runs as the real command in a subprocess, as a container runtime runs it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.config import load_config, parse_config
from monitor.daemon import Daemon
from monitor.healthcheck import check_health
from monitor.keys import Keys
from monitor.redis_client import connect
from monitor.store import StateStore
from monitor.tooling.embedded import KafkaBroker, RedisClusterNodes, RedisServer, free_port
from tests.daemon_harness import running_daemon, wait_until
from tests.stack_harness import REPO, http_get, stack_config_data

pytestmark = pytest.mark.integration

PERSISTENT = pytest.mark.parametrize("redis_server", [{"appendonly": True}], indirect=True)


@pytest.fixture
def config_path(
    kafka_broker: KafkaBroker,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> Path:
    """A config file for the test's broker and Redis, with a fixed HTTP port."""
    name = unique_name("health")
    kafka_broker.create_topics([name, f"{name}.dlq"], partitions=1)
    data = stack_config_data(kafka_broker, redis_server.url, name, http_port=free_port())
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def daemon(config_path: Path) -> Iterator[Daemon]:
    """The daemon, running and ready."""
    with running_daemon(load_config(config_path)) as daemon:
        wait_until(lambda: _readyz(daemon)[0] == 200, 30, "/readyz to answer 200")
        yield daemon


def _get(daemon: Daemon, path: str) -> tuple[int, bytes]:
    return http_get(f"http://127.0.0.1:{daemon.config.http.port}{path}", timeout=5)


def _readyz(daemon: Daemon) -> tuple[int, dict[str, Any]]:
    try:
        status, body = _get(daemon, "/readyz")
    except OSError:
        return 0, {}
    return status, json.loads(body)


def _healthcheck(config_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    command = [*argv] or [sys.executable, "-m", "monitor", "healthcheck", "-c", str(config_path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def _ready_gauge(daemon: Daemon) -> float:
    _, body = _get(daemon, "/metrics")
    (value,) = re.findall(rb"^drift_monitor_ready ([0-9.e+-]+)$", body, re.M)
    return float(value)


# ------------------------------------------------------------------------------------ /readyz


@PERSISTENT
def test_readyz_answers_200_with_no_reasons_once_the_daemon_is_ready(daemon: Daemon) -> None:
    assert _readyz(daemon) == (200, {"ready": True, "reasons": []})


@PERSISTENT
def test_readyz_answers_503_naming_redis_within_seconds_of_redis_stopping(
    daemon: Daemon, redis_server: RedisServer
) -> None:
    redis_server.stop(kill=True)
    wait_until(lambda: _readyz(daemon)[0] == 503, 5, "/readyz to answer 503")
    answer = _readyz(daemon)[1]
    assert (answer["ready"], answer["reasons"]) == (False, ["redis unreachable"])
    assert answer["waited_seconds"] < 5
    assert datetime.fromisoformat(answer["since"]).tzinfo is not None


@PERSISTENT
def test_readyz_answers_200_again_when_redis_returns(
    daemon: Daemon, redis_server: RedisServer
) -> None:
    redis_server.stop(kill=True)
    wait_until(lambda: _readyz(daemon)[0] == 503, 5, "/readyz to answer 503")
    redis_server.restart()
    wait_until(lambda: _readyz(daemon)[0] == 200, 30, "/readyz to answer 200 again")


@PERSISTENT
def test_healthz_answers_200_while_redis_is_down(daemon: Daemon, redis_server: RedisServer) -> None:
    """Liveness must not fail on a Redis outage: restarting the daemon would not help."""
    redis_server.stop(kill=True)
    wait_until(lambda: _readyz(daemon)[0] == 503, 5, "/readyz to answer 503")
    assert _get(daemon, "/healthz") == (200, b"ok\n")


@PERSISTENT
def test_ready_gauge_follows_readiness_without_anyone_asking_readyz(
    daemon: Daemon, redis_server: RedisServer
) -> None:
    assert _ready_gauge(daemon) == 1.0
    redis_server.stop(kill=True)
    wait_until(lambda: _ready_gauge(daemon) == 0.0, 5, "drift_monitor_ready to read 0")


# ---------------------------------------------------------------------- drift-monitor healthcheck


@PERSISTENT
@pytest.mark.usefixtures("daemon")
def test_healthcheck_exits_0_for_a_ready_daemon(config_path: Path) -> None:
    result = _healthcheck(config_path)
    assert (result.returncode, result.stdout.splitlines()[0]) == (0, "healthy")


@PERSISTENT
def test_healthcheck_exits_1_naming_redis_while_redis_is_down(
    daemon: Daemon, config_path: Path, redis_server: RedisServer
) -> None:
    """Both checks name Redis once the daemon has seen it go (its PING is cached for 1 s)."""
    redis_server.stop(kill=True)
    wait_until(lambda: _readyz(daemon)[0] == 503, 5, "/readyz to answer 503")
    result = _healthcheck(config_path)
    assert result.returncode == 1
    assert "redis unreachable" in result.stderr
    assert "/readyz answered 503: redis unreachable" in result.stderr


@PERSISTENT
def test_healthcheck_exits_0_again_when_redis_returns(
    daemon: Daemon, config_path: Path, redis_server: RedisServer
) -> None:
    redis_server.stop(kill=True)
    assert _healthcheck(config_path).returncode == 1
    redis_server.restart()
    wait_until(lambda: _healthcheck(config_path).returncode == 0, 60, "healthcheck to pass")


def test_healthcheck_exits_1_when_no_daemon_runs(config_path: Path) -> None:
    result = _healthcheck(config_path)
    assert result.returncode == 1
    assert "no heartbeat" in result.stderr
    assert "/readyz unreachable" in result.stderr


@PERSISTENT
@pytest.mark.usefixtures("daemon")
def test_dockerfile_healthcheck_command_passes_for_a_ready_daemon(config_path: Path) -> None:
    """The image's own HEALTHCHECK line, with the test's config in place of the mounted one."""
    dockerfile = (REPO / "Dockerfile").read_text()
    (exec_form,) = re.findall(r"^HEALTHCHECK .*?CMD (\[.*?\])$", dockerfile, re.M | re.S)
    argv = json.loads(exec_form)
    argv[argv.index("-c") + 1] = str(config_path)
    argv[0] = str(Path(sys.executable).parent / argv[0])  # the venv's console script
    assert _healthcheck(config_path, *argv).returncode == 0


def test_readyz_answers_503_when_the_cluster_node_holding_the_state_stops(
    kafka_broker: KafkaBroker, unique_name: Callable[[str], str]
) -> None:
    """On Redis Cluster, readiness pings the node that serves the daemon's hash tag."""
    name = unique_name("health")
    kafka_broker.create_topics([name, f"{name}.dlq"], partitions=1)
    with RedisClusterNodes(3) as cluster:
        data = stack_config_data(kafka_broker, cluster.url, name, http_port=free_port())
        config = parse_config(data)
        with running_daemon(config, cluster=True) as daemon:
            wait_until(lambda: _readyz(daemon)[0] == 200, 30, "/readyz to answer 200")
            client = connect(cluster.url, cluster=True)
            holder = client.get_node_from_key(Keys(name).heartbeat)  # type: ignore[attr-defined]
            (node,) = [n for n in cluster.nodes if n.port == holder.port]
            node.stop(kill=True)
            wait_until(lambda: _readyz(daemon)[0] == 503, 5, "/readyz to answer 503")
            assert _readyz(daemon)[1]["reasons"] == ["redis unreachable"]


def test_healthcheck_reads_the_heartbeat_from_the_cluster_node_that_holds_it(
    unique_name: Callable[[str], str],
) -> None:
    """Not the node the URL names: that one would answer MOVED to a plain client."""
    with RedisClusterNodes(3) as cluster:
        client = connect(cluster.url, cluster=True)
        prefix = next(
            prefix
            for prefix in (unique_name("health") for _ in range(100))
            if client.get_node_from_key(Keys(prefix).heartbeat).port  # type: ignore[attr-defined]
            != cluster.nodes[0].port
        )
        StateStore(client, Keys(prefix), history_size=10).heartbeat("instance-1", 30)
        config = parse_config(
            {
                "redis": {"url": cluster.url, "key_prefix": prefix, "cluster": True},
                "http": {"port": 0},
                "models": {
                    "m": {
                        "reference": {"from_stream": 10},
                        "window": {"events": 10},
                        "features": {"x": "numeric"},
                    }
                },
            }
        )
        report = check_health(config)
    assert report.healthy, report.problems
    assert any(note.startswith("heartbeat from instance-1") for note in report.notes)
