"""The production stack's peers in tests: a real Prometheus, and a daemon fed a drifting stream.

``PrometheusServer`` runs Debian's ``prometheus`` binary on a free port with its
storage in a temporary directory, through the same lifecycle as the embedded
Kafka and Redis (``monitor.tooling.embedded``): its own session, killed with the test
run, proof that the server on the port is ours (its TSDB path), restart on the
same port.

``drifting_daemon`` starts the real daemon (``tests.daemon_harness``) on a
stream in which one known feature drifts, plus a few undecodable messages, and
returns once every window is evaluated, so every labelled series the daemon
can export after drift exists.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from monitor.config import parse_config
from monitor.daemon import Daemon
from monitor.tooling.embedded import KafkaBroker, _LocalService, free_port
from monitor.tooling.synthetic import Shift, SyntheticModel, blocks
from tests.daemon_harness import model_status, running_daemon, wait_until, write_reference
from tests.helpers import KAFKA_TEST_SETTINGS, in_ci, produce_json

REPO = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO / "config"
RULE_FILES = sorted((CONFIG_DIR / "rules").glob("*.yml"))

#: The model of the drifting stream: as the compose stack's (config/compose.yaml).
MODEL = SyntheticModel(name="fraud", numeric=8, categorical=2)
SHIFTED = "num_3"
WINDOW = 2_500
EVENTS = 10_000
SHIFT_AT = 5_000  # windows 0 and 1 calm, 2 and 3 drifted
BAD_MESSAGES = (b"{not json", b"[1, 2, 3]", b'{"model": "no-such-model", "features": {}}')


def require_binary(name: str) -> str:
    """The binary's path; skip the test if it is missing, or fail under CI (CI=true)."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (run `make install`)"
        if in_ci():
            pytest.fail(f"{message}; it is required in CI")
        pytest.skip(message)
    return path


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """Status and body of a GET, for 2xx and error statuses alike."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        try:
            return int(error.code), bytes(error.read())
        finally:
            error.close()


class PrometheusServer(_LocalService):
    """A ``prometheus`` on a free port of 127.0.0.1 with a config of the test's own."""

    _service_name = "prometheus"

    def __init__(
        self, config: dict[str, Any], *, port: int | None = None, startup_timeout: float = 30.0
    ) -> None:
        super().__init__(port, startup_timeout)
        self._config = config

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def _storage(self) -> Path:
        return self.workdir / "data"

    def _command(self, port: int) -> list[str]:
        config = self.workdir / "prometheus.yml"
        config.write_text(yaml.safe_dump(self._config))
        return [
            require_binary("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={self._storage}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ]

    def _probe(self, proc: subprocess.Popen[bytes], port: int) -> bool:
        try:
            status, body = http_get(f"http://127.0.0.1:{port}/api/v1/status/flags", timeout=1)
            ready, _ = http_get(f"http://127.0.0.1:{port}/-/ready", timeout=1)
        except OSError:
            return False
        if status != 200 or ready != 200:
            return False
        return bool(json.loads(body)["data"]["storage.tsdb.path"] == str(self._storage))

    def api(self, path: str, **params: str) -> Any:
        """``data`` of a successful ``/api/v1/...`` answer."""
        query = urllib.parse.urlencode(params)
        status, body = http_get(f"{self.url}/api/v1/{path}?{query}")
        answer = json.loads(body)
        if status != 200 or answer.get("status") != "success":
            raise AssertionError(f"/api/v1/{path}?{query} answered {status}: {answer}")
        return answer["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The instant vector ``promql`` evaluates to now."""
        data = self.api("query", query=promql)
        assert data["resultType"] == "vector", data
        return list(data["result"])

    def alerts(self) -> list[dict[str, Any]]:
        return list(self.api("alerts")["alerts"])

    def rules(self) -> list[dict[str, Any]]:
        return [rule for group in self.api("rules")["groups"] for rule in group["rules"]]


def prometheus_config(
    targets: Sequence[str], *, rule_files: Sequence[Path] = RULE_FILES
) -> dict[str, Any]:
    """Scrape ``targets`` every second as job "drift-monitor" and evaluate ``rule_files``."""
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [
            {"job_name": "drift-monitor", "static_configs": [{"targets": list(targets)}]}
        ],
    }


def daemon_target(daemon: Daemon) -> str:
    """``host:port`` of a running daemon's HTTP listener, once it listens."""

    def listening() -> bool:
        try:
            return daemon.http is not None and daemon.http.port > 0
        except RuntimeError:
            return False

    wait_until(listening, 30, "the daemon's HTTP listener")
    assert daemon.http is not None
    return f"127.0.0.1:{daemon.http.port}"


@dataclass
class Webhook:
    """A local HTTP endpoint that accepts every POST with 200 and keeps the bodies."""

    url: str
    bodies: list[bytes] = field(default_factory=list)


@contextmanager
def webhook_receiver() -> Iterator[Webhook]:
    """A :class:`Webhook` on a free port, for the duration of the block."""
    hook = Webhook(url="")

    class Accept(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            hook.bodies.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Accept)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/alerts"
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()


def stack_config_data(
    broker: KafkaBroker,
    redis_url: str,
    name: str,
    *,
    reference: Path | None = None,
    sinks: dict[str, Any] | None = None,
    http_port: int = 0,
) -> dict[str, Any]:
    """Config (as YAML would give it) for ``MODEL`` in windows of ``WINDOW`` on topic ``name``.

    Without a reference file the reference is built from the stream's first events.
    """
    sinks = sinks or {}
    return {
        "kafka": {
            "bootstrap_servers": broker.bootstrap_servers,
            "group_id": name,
            "predictions_topic": name,
            "dead_letter_topic": f"{name}.dlq",
            "batch_size": 2000,
            "consumer": dict(KAFKA_TEST_SETTINGS),
        },
        "redis": {"url": redis_url, "key_prefix": name},
        "http": {"host": "127.0.0.1", "port": http_port},
        "models": {
            MODEL.name: {
                "reference": {"path": str(reference)} if reference else {"from_stream": WINDOW},
                "window": {"events": WINDOW},
                "features": MODEL.features(),
                "prediction": "numeric",
                "alerts": sorted(sinks),
            }
        },
        "sinks": sinks,
    }


def _total(registry: CollectorRegistry, sample: str) -> float:
    """The sum of every labelled sample of one name."""
    return sum(s.value for family in registry.collect() for s in family.samples if s.name == sample)


@contextmanager
def drifting_daemon(
    broker: KafkaBroker, redis_url: str, workdir: Path, *, with_sinks: bool = False
) -> Iterator[Daemon]:
    """The real daemon after a stream in which ``SHIFTED`` drifts from ``SHIFT_AT`` on.

    Yields once every window is evaluated and the bad messages are counted; the
    daemon keeps running (and serving /metrics) until the block ends. With
    ``with_sinks`` the model's alerts go to two webhooks, one that accepts
    them and one that cannot be reached (given up after a retry), and the
    daemon yields once both outcomes are counted.
    """
    name = f"stack-{uuid.uuid4().hex[:10]}"
    broker.create_topics([name, f"{name}.dlq"], partitions=1)
    reference = write_reference(workdir / "reference.jsonl", MODEL, events=10_000)
    for block in blocks(MODEL, EVENTS, seed=2, shift=Shift(SHIFT_AT, {SHIFTED: 1.0})):
        produce_json(broker.bootstrap_servers, name, block, partition_key=None)
    produce_json(broker.bootstrap_servers, name, BAD_MESSAGES, partition_key=None)
    with webhook_receiver() as hook:
        sinks: dict[str, Any] = {}
        if with_sinks:
            sinks = {
                "team-webhook": {"type": "webhook", "url": hook.url},
                "broken-webhook": {
                    "type": "webhook",
                    "url": f"http://127.0.0.1:{free_port()}/nobody-listens",
                    "max_attempts": 2,
                    "backoff_initial_seconds": 0.1,
                },
            }
        config = parse_config(
            stack_config_data(broker, redis_url, name, reference=reference, sinks=sinks)
        )
        with running_daemon(config) as daemon:
            wait_until(
                lambda: model_status(config, MODEL.name)["windows_closed"] == EVENTS // WINDOW,
                120,
                "every window to be evaluated",
            )
            registry = daemon.metrics.registry
            wait_until(
                lambda: _total(registry, "drift_monitor_bad_events_total") == len(BAD_MESSAGES),
                30,
                "the bad messages to be dead-lettered",
            )
            wait_until(lambda: not daemon.not_ready_reasons(), 30, "the daemon to be ready")
            if with_sinks:
                wait_until(
                    lambda: (
                        registry.get_sample_value(
                            "drift_monitor_sink_sent_total", {"sink": "team-webhook"}
                        )
                        is not None
                        and registry.get_sample_value(
                            "drift_monitor_sink_failed_total", {"sink": "broken-webhook"}
                        )
                        is not None
                    ),
                    60,
                    "one alert delivered and one given up",
                )
            yield daemon


@contextmanager
def running_prometheus(config: dict[str, Any]) -> Iterator[PrometheusServer]:
    """A Prometheus with ``config``, ready to answer; stopped and deleted afterwards."""
    with PrometheusServer(config) as server:
        yield server
