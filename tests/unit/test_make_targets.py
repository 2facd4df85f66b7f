"""What ``make demo`` and ``make test`` would install on a machine that has nothing yet.

Read from ``make -n`` (the commands are printed, not run) with a virtualenv path that does
not exist, so every install step shows.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _dry_run(target: str, venv: Path) -> list[str]:
    done = subprocess.run(
        ["make", "-n", target, f"VENV={venv}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return done.stdout.splitlines()


def _debian_packages(lines: list[str]) -> set[str]:
    """The packages of the ``apt-get install`` each line would run when one is missing."""
    found = re.findall(r"apt-get install -y -qq -o Dpkg::Use-Pty=0 ([^>]*)>", "\n".join(lines))
    return {package for packages in found for package in packages.split()}


def _pip_installs(lines: list[str]) -> list[str]:
    return [shlex.split(line)[-1] for line in lines if " -m pip install " in line]


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    return tmp_path / "no-venv-yet"


def test_make_demo_installs_redis_server_and_the_demo_extra_alone(venv: Path) -> None:
    lines = _dry_run("demo", venv)
    assert _debian_packages(lines) == {"redis-server"}
    assert _pip_installs(lines) == [".[demo]"]


def test_make_test_installs_the_test_peers_and_the_dev_extra(venv: Path) -> None:
    lines = _dry_run("test", venv)
    assert {"redis-server", "kcat", "prometheus", "prometheus-alertmanager"} <= (
        _debian_packages(lines)
    )
    assert _pip_installs(lines) == [".[dev,nannyml]"]
