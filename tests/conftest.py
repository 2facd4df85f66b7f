"""Shared pytest fixtures: real local Kafka (Tansu) and Redis, from ``monitor.tooling.embedded``.

* ``kafka_broker``: one broker for the whole session (starting one takes ~0.1 s, but topics
  and groups are cheap to isolate by name). Use ``unique_name`` for every topic and group id.
* ``fresh_kafka_broker``: a broker of the test's own, for tests that churn consumer groups,
  restart the broker, or could otherwise wedge it (docs/architecture.md, "Testing against the
  local broker").
* ``redis_server`` / ``redis_client``: a redis-server of the test's own on a free port, so the
  test may kill and restart it. Parametrize indirectly to pass options:
  ``@pytest.mark.parametrize("redis_server", [{"appendonly": True}], indirect=True)``.
* ``kafka_test_settings``: the librdkafka settings every test client must merge in.
* ``artifact``: a path for a file CI should keep (a screenshot), in ``$DRIFT_MONITOR_ARTIFACTS``
  (else the test's ``tmp_path``); the run's summary lists every one written, under
  ``artifacts``, with pytest-xdist too (a test's own output is hidden when it passes).

The suite is split by what a test starts. ``tests/unit/`` holds pure logic: no broker, no
redis-server, no daemon process, no HTTP server (a one-shot tool such as promtool or the CLI
in a child process is fine). ``tests/integration/`` holds every test that starts a real
component. Everything under ``tests/integration/``, and any test that uses one of the
fixtures above, is marked ``integration`` automatically, and a unit test that asks for one of
them is refused at collection; so ``pytest tests/unit`` and ``pytest -m "not integration"``
both run the unit tests alone. Shared helpers (``helpers.py``, ``*_harness.py``,
``alert_receivers.py``, ``promtool/``) stay here, beside this file, for both to use.
"""

from __future__ import annotations

import itertools
import os
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from monitor.tooling.embedded import KafkaBroker, RedisServer
from tests.helpers import KAFKA_TEST_SETTINGS

_SERVICE_FIXTURES = frozenset(
    {"kafka_broker", "fresh_kafka_broker", "redis_server", "redis_client"}
)
_UNIT_DIR = Path(__file__).parent / "unit"
_INTEGRATION_DIR = Path(__file__).parent / "integration"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under ``integration/`` or that starts a real service as ``integration``;
    refuse a test under ``unit/`` that starts one, so ``pytest tests/unit`` stays pure; run the
    files with a ``slow`` test first."""
    misplaced = []
    for item in items:
        services = _SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if services and item.path.is_relative_to(_UNIT_DIR):
            misplaced.append(f"{item.nodeid} (uses {', '.join(sorted(services))})")
        if services or item.path.is_relative_to(_INTEGRATION_DIR):
            item.add_marker(pytest.mark.integration)
    if misplaced:
        raise pytest.UsageError(
            "tests under tests/unit/ start no service; move these to tests/integration/:\n  "
            + "\n  ".join(misplaced)
        )
    # Files holding a slow test go first (in their own order, each file kept whole), so that
    # parallel workers (``make test``: pytest-xdist, ``--dist loadfile``) start the long files
    # early instead of finishing on one of them alone.
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)


ARTIFACTS_VARIABLE = "DRIFT_MONITOR_ARTIFACTS"


@pytest.fixture
def artifact(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> Callable[[str], Path]:
    """``artifact(name)``: where to write a file CI keeps, named in the run's summary."""

    def path(name: str) -> Path:
        folder = Path(os.environ.get(ARTIFACTS_VARIABLE) or tmp_path)
        folder.mkdir(parents=True, exist_ok=True)
        record_property("artifact", str(folder / name))
        return folder / name

    return path


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """List the artifacts the run wrote (recorded by the ``artifact`` fixture)."""
    written = {
        (str(value), report.nodeid)
        for reports in terminalreporter.stats.values()
        for report in reports
        for name, value in getattr(report, "user_properties", ())
        if name == "artifact" and Path(str(value)).exists()
    }
    if written:
        terminalreporter.section("artifacts")
        for path, nodeid in sorted(written):
            terminalreporter.write_line(f"{path}  ({nodeid})")


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    """A Tansu broker shared by the session; do not stop or restart it in a test."""
    with KafkaBroker() as broker:
        yield broker


@pytest.fixture
def fresh_kafka_broker() -> Iterator[KafkaBroker]:
    """A Tansu broker for this test only: free to restart, kill, or wedge with group churn."""
    with KafkaBroker() as broker:
        yield broker


@pytest.fixture
def redis_server(request: pytest.FixtureRequest) -> Iterator[RedisServer]:
    """A redis-server for this test only, on a free port; stopped and deleted afterwards."""
    options: dict[str, Any] = getattr(request, "param", None) or {}
    with RedisServer(**options) as server:
        yield server


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client of ``redis_server`` returning bytes (``decode_responses=False``), as the daemon."""
    client = redis.Redis.from_url(redis_server.url, decode_responses=False)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[..., str]:
    """A factory of names unique to this test and call: ``unique_name("predictions")``.

    Names carry the test's name (readable in broker logs) and a random suffix (unique across
    the session's shared broker and across reruns); they are valid Kafka topic names.
    """
    base = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name).strip("-")[:80]
    counter = itertools.count()

    def make(prefix: str = "t") -> str:
        return f"{prefix}-{base}-{next(counter)}-{uuid.uuid4().hex[:8]}"

    return make


@pytest.fixture
def kafka_test_settings() -> dict[str, Any]:
    """A fresh copy of the librdkafka settings tests must use with Tansu (docs/architecture.md)."""
    return dict(KAFKA_TEST_SETTINGS)
