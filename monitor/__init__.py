"""drift-monitor: streaming drift monitoring (the daemon), and its checks for notebooks.

``from monitor import check_file, check_frame`` judges a file or a table against a
model's reference as the daemon judges a window (see :mod:`monitor.check`). The
names are imported on first use, so the daemon and the CLI do not pay for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.check import CheckError, CheckResult, check_file, check_frame

__all__ = ["CheckError", "CheckResult", "check_file", "check_frame"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from monitor import check

        return getattr(check, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
