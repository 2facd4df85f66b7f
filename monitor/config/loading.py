"""Reading a configuration: YAML text (or data already parsed) in, a frozen ``Config`` out.

Loading goes through three stages, and each stage reports every problem it
finds instead of stopping at the first, so one ``drift-monitor validate`` run
shows the user everything to fix:

1. ``load_config`` reads the file with a YAML loader that also rejects
   duplicate keys (plain PyYAML keeps the last one silently).
2. ``${VAR}`` and ``${VAR:-default}`` in string values are replaced from the
   environment, so secrets and per-host settings stay out of the file. A
   value that came from the environment may stand for a number
   (``port: ${PORT:-9108}``).
3. :data:`monitor.config.sections.CONFIG` reads the plain data into the frozen
   dataclasses of :mod:`monitor.config.model`, with the checks of
   :mod:`monitor.config.schema`.

The first two stages are here; which file to read (``-c`` or
``$DRIFT_MONITOR_CONFIG``) is the command line's business (:mod:`monitor.cli`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any, Final

import yaml

from monitor.config.model import Config
from monitor.config.schema import CheckError, FromEnv, Unresolved, apply_check, join_path, where
from monitor.config.sections import CONFIG, OPTIONAL_SECTIONS
from monitor.errors import ConfigError

# --------------------------------------------------------------------------- public entry points


def load_config(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Config:
    """Read, substitute and validate the YAML file at ``path``.

    ``environ`` defaults to ``os.environ``; tests pass their own. Raises
    ``ConfigError`` listing every problem, including unreadable files and
    YAML syntax errors (with line and column).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError([f"{os.fspath(path)}: no such file"]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{os.fspath(path)}: cannot read: {exc}"]) from exc
    return parse_config(_parse_yaml(text, os.fspath(path)), environ)


def parse_config(data: object, environ: Mapping[str, str] | None = None) -> Config:
    """Validate already-parsed data (as YAML would produce it) into a ``Config``.

    Used directly by the demo and the tests, which build their config as dicts.
    """
    problems: list[str] = []
    resolved = _substitute(data, os.environ if environ is None else environ, "", problems)
    if isinstance(resolved, dict):
        # Every top-level section but `models` may be left out and then takes its defaults.
        resolved = {section: {} for section in OPTIONAL_SECTIONS} | resolved
    try:
        config = apply_check(CONFIG, resolved, "")
    except CheckError as exc:
        problems.extend(exc.problems)
    else:
        if not problems:
            return config
    raise ConfigError(problems)


# --------------------------------------------------------------------------- stage 1: YAML


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that records duplicate keys instead of letting the last one win."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[str] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[Hashable] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor` may legitimately be overridden by the keys beside it
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                continue  # the base class reports unhashable keys itself
            if key in seen:
                mark = key_node.start_mark
                self.duplicates.append(
                    f"line {mark.line + 1}, column {mark.column + 1}: duplicate key {key!r}"
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def _parse_yaml(text: str, name: str) -> object:
    """YAML text to plain data; syntax errors and duplicate keys become ``ConfigError``."""
    loader = _StrictLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        position = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = "; ".join(part for part in (exc.context, exc.problem) if part)
        raise ConfigError([f"{name}: {position}{what}"]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([f"{name}: {exc}"]) from exc
    finally:
        loader.dispose()
    if loader.duplicates:
        raise ConfigError([f"{name}: {problem}" for problem in loader.duplicates])
    return data


# --------------------------------------------------------------------------- stage 2: environment

_VARIABLE: Final = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _substitute(
    value: object, environ: Mapping[str, str], path: str, problems: list[str]
) -> object:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string value (not in keys).

    As in the shell, the default also applies when the variable is set but empty.
    """
    if isinstance(value, str):
        missing: list[str] = []

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if environ.get(name) or (default is None and name in environ):
                return environ[name]
            if default is not None:
                return default
            missing.append(name)
            return match.group(0)

        text, count = _VARIABLE.subn(replace, value)
        for name in missing:
            problems.append(
                f"{where(path)}: environment variable {name!r} is not set "
                f"(write ${{{name}:-default}} to give a default)"
            )
        if missing:
            return Unresolved(text)
        return FromEnv(text) if count else value
    if isinstance(value, Mapping):
        return {k: _substitute(v, environ, join_path(path, k), problems) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_substitute(v, environ, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    return value
