"""Import boundaries: detectors/ is pure computation (no I/O client, nothing of monitor), and
the daemon never loads the workshop (monitor.tooling: local services, synthetic traffic)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import detectors
import monitor

FORBIDDEN = {"monitor", "confluent_kafka", "redis", "prometheus_client", "msgspec", "urllib3"}


def _modules(package: Any, prefix: str) -> list[str]:
    return [name for _, name, _ in pkgutil.walk_packages(package.__path__, prefix=prefix)]


def _loaded_after_importing(modules: list[str]) -> set[str]:
    """Every module a fresh interpreter holds after importing ``modules``."""
    code = (
        f"import importlib, sys\nfor name in {modules!r}:\n    importlib.import_module(name)\n"
        "print(','.join(sorted(sys.modules)))"
    )
    return set(
        subprocess.run(
            [sys.executable, "-c", code],
            check=True,
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        .stdout.strip()
        .split(",")
    )


def test_importing_every_detectors_module_loads_no_io_library() -> None:
    modules = _modules(detectors, "detectors.")
    assert "detectors.evaluate" in modules
    assert "detectors.sequential.adwin" in modules
    loaded = {name.split(".")[0] for name in _loaded_after_importing(modules)}
    assert not loaded & FORBIDDEN, loaded & FORBIDDEN


def test_importing_every_daemon_module_loads_nothing_of_the_tooling() -> None:
    modules = [
        name
        for name in _modules(monitor, "monitor.")
        if not name.startswith("monitor.tooling") and name != "monitor.__main__"
    ]
    assert "monitor.daemon" in modules
    assert "monitor.cli" in modules
    tooling = {
        name for name in _loaded_after_importing(modules) if name.startswith("monitor.tooling")
    }
    assert not tooling, tooling
