"""Every Lua script drift-monitor runs in Redis, and the one way they are read.

A script is one or more of these files joined in order, so shared helpers come first:
``steps.lua`` (``in_steps``) for the state store's scripts, then ``alert_plan.lua`` for
those that apply an alert plan, then the script itself. Keeping them as files, not
strings in Python, lets them be read and diffed as the Lua they are; the package data in
pyproject.toml ships them.
"""

from __future__ import annotations

from importlib.resources import files

__all__ = ["source"]


def source(*names: str) -> str:
    """The Lua files joined, in order: the shared helpers first, then the script itself."""
    folder = files(__name__)
    return "\n".join(folder.joinpath(name).read_text(encoding="utf-8") for name in names)
