"""Security that is real here: Redis ACL users and passwords, ``rediss://`` with a CA we made,
secrets from the environment and never in logs or metrics, and the metrics listener bound
where the config says.

Kafka SASL and TLS are librdkafka properties that the daemon passes through untouched
(``kafka.consumer`` / ``kafka.producer``); Tansu, the test broker, speaks neither, so that
pass-through is what is tested for Kafka.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from redis.backoff import NoBackoff
from redis.retry import Retry

from monitor.config import Config, load_config, parse_config
from monitor.daemon import Daemon
from monitor.healthcheck import check_health
from monitor.keys import Keys
from monitor.redis_client import connect
from monitor.source import consumer_settings, producer_settings
from monitor.store import StateStore
from monitor.tooling.embedded import KafkaBroker, RedisServer, free_port
from monitor.tooling.synthetic import Shift, blocks
from tests.daemon_harness import model_status, running_daemon, wait_until
from tests.helpers import produce_json
from tests.stack_harness import (
    EVENTS,
    MODEL,
    SHIFTED,
    WINDOW,
    require_binary,
    stack_config_data,
    webhook_receiver,
)

pytestmark = pytest.mark.integration

USER = "drift-monitor"
PASSWORD = "Zr7-acl-" + uuid.uuid4().hex[:12]


#: What the daemon needs on its keys (every key prefix here starts with "secure"); the README
#: gives the same rule for a key prefix of "drift-monitor".
DAEMON_PERMISSIONS = (
    *("~{secure*}:*", "resetchannels", "-@all", "+@read", "+@write", "+@scripting"),
    *("+@transaction", "+@connection", "+info"),
)
PREFIX = "secure"


class AclRedisServer(RedisServer):
    """A redis-server where only ``USER`` with ``PASSWORD`` gets in, with ``DAEMON_PERMISSIONS``.

    The ``default`` user keeps every permission behind a password nobody is told,
    rather than being turned ``off``: Redis 7 replays MULTI/EXEC (and so Lua
    script effects) from the append-only file as ``default`` and re-checks its
    permissions, silently dropping them when it is off (redis/redis#14541), so
    the daemon's state would not survive a restart.
    """

    def __init__(self, **options: Any) -> None:
        user = ["--user", USER, "on", f">{PASSWORD}", *DAEMON_PERMISSIONS]
        default = ["--user", "default", "on", f">{uuid.uuid4().hex}", "~*", "&*", "+@all"]
        super().__init__(extra_args=[*user, *default], **options)

    @property
    def url(self) -> str:
        return f"redis://{USER}:{PASSWORD}@127.0.0.1:{self.port}/0"

    def _probe(self, proc: subprocess.Popen[bytes], port: int) -> bool:
        client = redis.Redis(
            host="127.0.0.1", port=port, username=USER, password=PASSWORD, socket_timeout=0.5
        )
        try:
            info = client.info("server")
            return int(info.get("process_id", -1)) == proc.pid and bool(client.ping())
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()


class TlsRedisServer(RedisServer):
    """A redis-server that speaks TLS only, with a certificate for 127.0.0.1 signed by itself."""

    @property
    def certificate(self) -> Path:
        return self.workdir / "redis.crt"

    @property
    def url(self) -> str:
        return self._url(self.port)

    def _url(self, port: int) -> str:
        return f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={self.certificate}"

    def _command(self, port: int) -> list[str]:
        key = self.workdir / "redis.key"
        if not self.certificate.exists():
            subprocess.run(
                [
                    require_binary("openssl"),
                    *("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
                    *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
                    *("-keyout", str(key), "-out", str(self.certificate)),
                ],
                check=True,
                capture_output=True,
            )
        command = super()._command(port)
        command[command.index("--port") + 1] = "0"
        return [
            *command,
            *("--tls-port", str(port), "--tls-auth-clients", "no"),
            *("--tls-cert-file", str(self.certificate), "--tls-key-file", str(key)),
        ]

    def _probe(self, proc: subprocess.Popen[bytes], port: int) -> bool:
        client = redis.Redis.from_url(self._url(port), socket_timeout=0.5)
        try:
            info = client.info("server")
            return int(info.get("process_id", -1)) == proc.pid and bool(client.ping())
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()


def _tls_compiled_in() -> bool:
    """Whether this redis-server knows the tls-port directive at all."""
    result = subprocess.run(
        [require_binary("redis-server"), "--port", "0", "--tls-port", "0"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return "Bad directive" not in result.stdout + result.stderr


@pytest.fixture
def acl_redis() -> Iterator[AclRedisServer]:
    with AclRedisServer(appendonly=True) as server:
        yield server


@pytest.fixture
def tls_redis() -> Iterator[TlsRedisServer]:
    if not _tls_compiled_in():
        pytest.skip("this redis-server was built without TLS (no tls-port directive)")
    with TlsRedisServer() as server:
        yield server


_A_MODEL = {
    "reference": {"from_stream": 100},
    "window": {"events": 100},
    "features": {"x": "numeric"},
}


def _store(url: str, prefix: str = PREFIX) -> StateStore:
    return StateStore(connect(url), Keys(prefix), history_size=10)


def _heartbeat_config(url: str, prefix: str) -> Config:
    """Redis at ``url``; no fixed HTTP port, so ``healthcheck`` checks the heartbeat alone."""
    return parse_config(
        {
            "redis": {"url": url, "key_prefix": prefix},
            "http": {"port": 0},
            "models": {"m": _A_MODEL},
        }
    )


# ------------------------------------------------------------------------------ Redis ACL user


def test_acl_redis_refuses_a_client_without_the_user_and_password(
    acl_redis: AclRedisServer,
) -> None:
    """The premise of the tests below."""
    anonymous = redis.Redis(host="127.0.0.1", port=acl_redis.port, retry=Retry(NoBackoff(), 0))
    with pytest.raises(redis.AuthenticationError):
        anonymous.ping()


def test_state_store_works_through_an_acl_user_and_password_url(acl_redis: AclRedisServer) -> None:
    store = _store(acl_redis.url)
    store.heartbeat("instance-1", 30)
    assert store.client.get(store.keys.heartbeat) == b"instance-1"


def test_healthcheck_reads_the_heartbeat_through_an_acl_user(acl_redis: AclRedisServer) -> None:
    config = _heartbeat_config(acl_redis.url, f"{PREFIX}-acl")
    _store(acl_redis.url, f"{PREFIX}-acl").heartbeat("instance-1", 30)
    report = check_health(config)
    assert report.healthy, report.problems


def test_healthcheck_with_a_wrong_password_fails_without_showing_it(
    acl_redis: AclRedisServer,
) -> None:
    wrong = "Wrong-" + uuid.uuid4().hex[:8]
    config = _heartbeat_config(f"redis://{USER}:{wrong}@127.0.0.1:{acl_redis.port}/0", PREFIX)
    report = check_health(config)
    assert not report.healthy
    assert "redis unreachable" in report.problems[0]
    assert wrong not in "\n".join(report.lines())


# ------------------------------------------------ the daemon with a password: logs and metrics


@pytest.fixture(scope="module")
def daemon_with_password(
    kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """``drift-monitor run`` against the ACL Redis, its URL's password from the environment.

    Redis is killed and restarted mid-run so the outage and recovery are logged too; the
    second half of the stream drifts, so an alert goes through the outbox to a webhook.
    Yields the daemon's stderr, a /metrics scrape, its status and the alerts received.
    """
    workdir = tmp_path_factory.mktemp("secure")
    name = f"{PREFIX}-{uuid.uuid4().hex[:10]}"
    kafka_broker.create_topics([name, f"{name}.dlq"], partitions=1)
    with AclRedisServer(appendonly=True) as server, webhook_receiver() as hook:
        sinks = {"team-webhook": {"type": "webhook", "url": hook.url}}
        data = stack_config_data(kafka_broker, "redis://placeholder", name, sinks=sinks)
        data["redis"]["url"] = f"redis://{USER}:${{DRIFT_REDIS_PASSWORD}}@127.0.0.1:{server.port}/0"
        data["http"]["port"] = port = free_port()
        data["logging"] = {"format": "json", "level": "DEBUG"}
        config_path = workdir / "config.yaml"
        config_path.write_text(yaml.safe_dump(data))
        assert PASSWORD not in config_path.read_text()
        env = {"DRIFT_REDIS_PASSWORD": PASSWORD}
        config = load_config(config_path, environ=env)
        stderr_path = workdir / "stderr.log"
        with stderr_path.open("wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "monitor", "run", "-c", str(config_path)],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env={**os.environ, **env},
            )
        try:
            for block in blocks(MODEL, EVENTS // 2, seed=3):
                produce_json(kafka_broker.bootstrap_servers, name, block, partition_key=None)
            wait_until(
                lambda: model_status(config, MODEL.name)["events"] == EVENTS // 2, 60, "half"
            )
            server.stop(kill=True)
            wait_until(lambda: b"service unavailable" in stderr_path.read_bytes(), 30, "outage")
            server.restart()
            drift = Shift(EVENTS // 2, {SHIFTED: 1.0})
            for block in blocks(MODEL, EVENTS // 2, seed=3, start=EVENTS // 2, shift=drift):
                produce_json(kafka_broker.bootstrap_servers, name, block, partition_key=None)
            wait_until(lambda: model_status(config, MODEL.name)["events"] == EVENTS, 60, "all")
            wait_until(lambda: bool(hook.bodies), 30, "the drift alert to be delivered")
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
                metrics = answer.read().decode()
            status = model_status(config, MODEL.name)
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        yield {
            "log": stderr_path.read_text(),
            "metrics": metrics,
            "status": status,
            "alerts": [json.loads(body) for body in hook.bodies],
        }


def test_daemon_counts_every_event_through_an_acl_user_across_an_outage(
    daemon_with_password: dict[str, Any],
) -> None:
    assert daemon_with_password["status"]["events"] == EVENTS
    # The first WINDOW events build the reference (from_stream); the rest fill windows.
    assert daemon_with_password["status"]["windows_closed"] == (EVENTS - WINDOW) // WINDOW


def test_daemon_delivers_alerts_through_an_acl_user_limited_to_its_keys(
    daemon_with_password: dict[str, Any],
) -> None:
    assert daemon_with_password["alerts"][0]["feature"] == SHIFTED
    assert "NOPERM" not in daemon_with_password["log"]


def test_daemon_logs_never_contain_the_redis_password(
    daemon_with_password: dict[str, Any],
) -> None:
    log = daemon_with_password["log"]
    assert "redis reachable again; resuming" in log
    assert PASSWORD not in log


def test_daemon_metrics_never_contain_the_redis_password(
    daemon_with_password: dict[str, Any],
) -> None:
    assert PASSWORD not in daemon_with_password["metrics"]


# ----------------------------------------------------------------------------------- rediss://


def test_state_store_works_over_rediss_verifying_the_servers_certificate(
    tls_redis: TlsRedisServer,
) -> None:
    store = _store(tls_redis.url)
    store.heartbeat("instance-1", 30)
    assert store.client.get(store.keys.heartbeat) == b"instance-1"


def test_rediss_refuses_a_server_whose_certificate_is_not_trusted(
    tls_redis: TlsRedisServer,
) -> None:
    untrusted = f"rediss://127.0.0.1:{tls_redis.port}/0"  # the system CAs did not sign it
    with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
        connect(untrusted).ping()


def test_healthcheck_reads_the_heartbeat_over_rediss(tls_redis: TlsRedisServer) -> None:
    _store(tls_redis.url, "tls").heartbeat("instance-1", 30)
    report = check_health(_heartbeat_config(tls_redis.url, "tls"))
    assert report.healthy, report.problems


# ------------------------------------------------------------------- Kafka SASL/TLS pass-through


def test_kafka_sasl_and_tls_properties_reach_librdkafka_with_secrets_from_the_environment() -> None:
    secure = {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "drift-monitor",
        "sasl.password": "${KAFKA_PASSWORD}",
        "ssl.ca.location": "/etc/kafka/ca.pem",
    }
    config = parse_config(
        {
            "kafka": {
                "bootstrap_servers": "kafka:9093",
                "consumer": secure,
                "producer": secure,
            },
            "models": {"m": _A_MODEL},
        },
        environ={"KAFKA_PASSWORD": PASSWORD},
    )
    expected = {**secure, "sasl.password": PASSWORD}
    assert expected.items() <= consumer_settings(config, client_id="c").items()
    assert expected.items() <= producer_settings(config).items()


# ------------------------------------------------------------------------- the metrics listener


def test_metrics_listener_binds_only_the_configured_address(
    kafka_broker: KafkaBroker, redis_server: RedisServer
) -> None:
    name = f"bind-{uuid.uuid4().hex[:10]}"
    kafka_broker.create_topics([name, f"{name}.dlq"], partitions=1)
    config = parse_config(stack_config_data(kafka_broker, redis_server.url, name))
    with running_daemon(config) as daemon:
        wait_until(lambda: daemon.http is not None and _listening(daemon), 30, "the listener")
        assert daemon.http is not None
        port = daemon.http.port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            assert answer.status == 200
        with pytest.raises(urllib.error.URLError, match="Connection refused"):
            urllib.request.urlopen(f"http://127.0.0.2:{port}/healthz", timeout=5)


def _listening(daemon: Daemon) -> bool:
    try:
        return daemon.http is not None and daemon.http.port > 0
    except RuntimeError:
        return False
