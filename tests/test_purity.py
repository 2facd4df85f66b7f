"""detectors/ is pure computation: importing all of it loads no I/O client, nothing of monitor."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import detectors

FORBIDDEN = {"monitor", "confluent_kafka", "redis", "prometheus_client", "msgspec", "urllib3"}


def test_importing_every_detectors_module_loads_no_io_library() -> None:
    modules = [
        name for _, name, _ in pkgutil.walk_packages(detectors.__path__, prefix="detectors.")
    ]
    assert "detectors.evaluate" in modules
    assert "detectors.sequential.adwin" in modules
    code = (
        f"import importlib, sys\nfor name in {modules!r}:\n    importlib.import_module(name)\n"
        "print(','.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", code],
            check=True,
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        .stdout.strip()
        .split(",")
    )
    assert not loaded & FORBIDDEN, loaded & FORBIDDEN
