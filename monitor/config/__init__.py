"""The daemon's configuration: read YAML, fill in ``${VAR}``, validate strictly, freeze.

Loading goes through three stages, and each stage reports every problem it
finds instead of stopping at the first, so one ``drift-monitor validate`` run
shows the user everything to fix:

1. ``load_config`` reads the file with a YAML loader that also rejects
   duplicate keys (plain PyYAML keeps the last one silently).
2. ``${VAR}`` and ``${VAR:-default}`` in string values are replaced from the
   environment, so secrets and per-host settings stay out of the file. A
   value that came from the environment may stand for a number
   (``port: ${PORT:-9108}``).
3. A small schema walker turns the plain data into the frozen dataclasses
   of :mod:`monitor.config.model`. Each section is declared once as a field
   table (key -> check) below; defaults live only in the dataclasses.

A *check* is a function ``(value, path) -> parsed value`` that raises
``_CheckError`` with every problem it found, each prefixed with the path of the
offending key (``models.fraud.window.events``). Containers run the checks of
all their entries before raising, which is how every error is collected.
Rules that relate several keys of one section (exactly one of ``events`` and
``seconds``) run only once each key of that section is valid on its own, so
they never repeat the consequence of an error already reported.

The walker is hand-rolled rather than a schema library because the messages
are the product here: paths, the nearest valid key, what was expected.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import reprlib
from collections.abc import Callable, Hashable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Generic, NamedTuple, TypeVar, get_args

import yaml

from detectors.methods import (
    ALL_METHODS,
    CATEGORICAL_METHODS,
    DEFAULT_THRESHOLDS,
    MULTIVARIATE_METHODS,
    NUMERIC_METHODS,
    QUALITY_METHODS,
    Thresholds,
)
from detectors.sequential import DETECTORS
from detectors.sequential import NUMERIC as SEQUENTIAL_NUMERIC
from detectors.sequential import make as make_detector
from monitor.config.model import (
    FOR_WINDOWS_WITHOUT_BUDGET,
    LABEL_FIELDS,
    PREDICTION_FIELDS,
    AlertingConfig,
    AlertKind,
    AlertRouteConfig,
    AlertRuleConfig,
    AlertSeverity,
    Config,
    Correction,
    DriftConfig,
    Grouping,
    HttpConfig,
    KafkaConfig,
    KafkaProperty,
    LabelsConfig,
    Levels,
    LogFormat,
    LoggingConfig,
    LogLevel,
    ModelConfig,
    PayloadConfig,
    RedisConfig,
    ReferenceConfig,
    RetrainConfig,
    SequentialConfig,
    SignalKind,
    SinkConfig,
    SinkType,
    Task,
    WindowConfig,
    deprecations,
    firing_windows,
)
from monitor.errors import ConfigError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


__all__ = [
    "FOR_WINDOWS_WITHOUT_BUDGET",
    "LABEL_FIELDS",
    "PREDICTION_FIELDS",
    "AlertKind",
    "AlertRouteConfig",
    "AlertRuleConfig",
    "AlertSeverity",
    "AlertingConfig",
    "Config",
    "ConfigError",
    "Correction",
    "DriftConfig",
    "Grouping",
    "HttpConfig",
    "KafkaConfig",
    "KafkaProperty",
    "LabelsConfig",
    "Levels",
    "LogFormat",
    "LogLevel",
    "LoggingConfig",
    "ModelConfig",
    "PayloadConfig",
    "RedisConfig",
    "ReferenceConfig",
    "RetrainConfig",
    "SequentialConfig",
    "SignalKind",
    "SinkConfig",
    "SinkType",
    "Task",
    "WindowConfig",
    "deprecations",
    "firing_windows",
    "load_config",
    "parse_config",
]


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
        resolved = {section: {} for section in _OPTIONAL_SECTIONS} | resolved
    try:
        config = _apply(_CONFIG, resolved, "")
    except _CheckError as exc:
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
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = "; ".join(part for part in (exc.context, exc.problem) if part)
        raise ConfigError([f"{name}: {where}{what}"]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([f"{name}: {exc}"]) from exc
    finally:
        loader.dispose()
    if loader.duplicates:
        raise ConfigError([f"{name}: {problem}" for problem in loader.duplicates])
    return data


# --------------------------------------------------------------------------- stage 2: environment

_VARIABLE: Final = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _FromEnv(str):
    """Text that came (partly) from the environment, which has no types: numeric checks
    read it as a number, so ``port: ${PORT:-9108}`` works."""


class _Unresolved(str):
    """Text naming an unset variable; already reported, so checks skip it silently."""


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
                f"{_where(path)}: environment variable {name!r} is not set "
                f"(write ${{{name}:-default}} to give a default)"
            )
        if missing:
            return _Unresolved(text)
        return _FromEnv(text) if count else value
    if isinstance(value, Mapping):
        return {k: _substitute(v, environ, _join(path, k), problems) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_substitute(v, environ, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    return value


# --------------------------------------------------------------------------- stage 3: checks

_T = TypeVar("_T")
_D = TypeVar("_D", bound="DataclassInstance")
Check = Callable[[object, str], _T]
"""Parse ``value`` found at ``path``, or raise ``_CheckError`` with every problem found."""


class _CheckError(Exception):
    """Raised by a check; ``problems`` are complete messages, each starting with its path.

    Empty when the only problem was already reported elsewhere (an unset variable).
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems)
        self.problems = problems

    @classmethod
    def at(cls, path: str, message: str) -> _CheckError:
        return cls([f"{_where(path)}: {message}"])


_PLAIN_KEY: Final = re.compile(r"[A-Za-z0-9_-]+")


def _join(path: str, key: object) -> str:
    """``models`` + ``fraud`` -> ``models.fraud``; odd keys are quoted: ``consumer["a.b"]``."""
    if isinstance(key, str) and _PLAIN_KEY.fullmatch(key):
        return f"{path}.{key}" if path else key
    quoted = f'"{key}"' if isinstance(key, str) else repr(key)
    return f"{path}[{quoted}]"


def _where(path: str) -> str:
    """The root has an empty path; messages still need a subject."""
    return path or "top level"


def _show(value: object) -> str:
    """A short repr for messages (int -> str raises for very long integers)."""
    if isinstance(value, int) and value.bit_length() > 256:
        return "a very large integer"
    return reprlib.repr(value)


def _kind(value: object) -> str:
    """What a value is, in the user's (YAML's) words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"an integer ({_show(value)})"
    if isinstance(value, float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({_show(value)})"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__}"


def _hint(word: str, valid: tuple[str, ...] | list[str]) -> str:
    """The nearest valid name, or all of them when nothing is near."""
    close = difflib.get_close_matches(word, valid, n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    if not valid:
        return "none are defined"
    return "expected one of " + ", ".join(repr(v) for v in valid)


def _apply(check: Check[_T], value: object, path: str) -> _T:
    """Run a check; every container goes through here, so unresolved text is skipped once."""
    if isinstance(value, _Unresolved):
        raise _CheckError([])
    return check(value, path)


def _optional(check: Check[_T]) -> Check[_T | None]:
    """``check``, but null is accepted and means "not set"."""

    def optional(value: object, path: str) -> _T | None:
        return None if value is None else check(value, path)

    return optional


def _text(value: object, path: str) -> str:
    """Non-empty text. YAML turns unquoted ``1`` or ``yes`` into other types, hence the hint."""
    if not isinstance(value, str):
        hint = "; quote it if it is meant as text" if isinstance(value, int | float) else ""
        raise _CheckError.at(path, f"expected a string, got {_kind(value)}{hint}")
    if not value:
        raise _CheckError.at(path, "must not be empty")
    return str(value)  # drops the _FromEnv subclass


def _boolean(value: object, path: str) -> bool:
    """true or false; environment values may say true/false/yes/no/1/0."""
    if isinstance(value, bool):
        return value
    if isinstance(value, _FromEnv) and value.lower() in _ENV_BOOLEANS:
        return _ENV_BOOLEANS[value.lower()]
    raise _CheckError.at(path, f"expected true or false, got {_kind(value)}")


_ENV_BOOLEANS: Final = {
    "true": True,
    "yes": True,
    "1": True,
    "false": False,
    "no": False,
    "0": False,
}


def _text_where(test: Callable[[str], str | None]) -> Check[str]:
    """Non-empty text that also passes ``test`` (None if fine, else the problem)."""

    def text_where(value: object, path: str) -> str:
        text = _text(value, path)
        problem = test(text)
        if problem is not None:
            raise _CheckError.at(path, problem)
        return text

    return text_where


class _Bounds(NamedTuple):
    test: Callable[[float], bool]
    text: str


def _between(low: float, high: float) -> _Bounds:
    return _Bounds(lambda x: low <= x <= high, f"between {low} and {high}")


def _strictly_between(low: float, high: float) -> _Bounds:
    return _Bounds(lambda x: low < x < high, f"strictly between {low} and {high}")


def _at_least(low: float) -> _Bounds:
    return _Bounds(lambda x: x >= low, f"of at least {low}")


def _above(low: float) -> _Bounds:
    return _Bounds(lambda x: x > low, f"greater than {low}")


def _numeric(value: object) -> object:
    """Env-substituted text stands for a number if it reads as one; anything else is unchanged."""
    if isinstance(value, _FromEnv):
        for parse in (int, float):
            try:
                return parse(value)
            except ValueError:
                continue
    return value


def _integer(bounds: _Bounds | None = None) -> Check[int]:
    expected = "an integer" + (f" {bounds.text}" if bounds else "")

    def integer(value: object, path: str) -> int:
        value = _numeric(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise _CheckError.at(path, f"expected {expected}, got {_kind(value)}")
        if bounds and not bounds.test(value):
            raise _CheckError.at(path, f"expected {expected}, got {_show(value)}")
        return value

    return integer


def _number(bounds: _Bounds | None = None) -> Check[float]:
    """A finite float; integers are welcome (``seconds: 300``), booleans are not."""
    expected = "a number" + (f" {bounds.text}" if bounds else "")

    def number(value: object, path: str) -> float:
        value = _numeric(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _CheckError.at(path, f"expected {expected}, got {_kind(value)}")
        try:
            result = float(value)
        except OverflowError:
            result = math.inf
        if not math.isfinite(result) or (bounds and not bounds.test(result)):
            raise _CheckError.at(path, f"expected {expected}, got {_show(value)}")
        return result

    return number


def _one_of(options: tuple[str, ...]) -> Check[Any]:
    """One of the ``options`` (a Literal's values, hence the ``Any``)."""

    def one_of(value: object, path: str) -> str:
        if not isinstance(value, str):
            listed = ", ".join(repr(o) for o in options)
            raise _CheckError.at(path, f"expected one of {listed}, got {_kind(value)}")
        if value not in options:
            raise _CheckError.at(path, f"unknown value {value!r}; {_hint(value, options)}")
        return str(value)

    return one_of


def _kafka_property(value: object, path: str) -> KafkaProperty:
    """A librdkafka property value: any scalar, passed through as written."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool | int) or (isinstance(value, float) and math.isfinite(value)):
        return value
    raise _CheckError.at(path, f"expected a string, number or boolean, got {_kind(value)}")


def _names(what: str, valid: tuple[str, ...] | None = None) -> Check[tuple[str, ...]]:
    """A list of distinct names, each in ``valid`` if given."""

    def names(value: object, path: str) -> tuple[str, ...]:
        if not isinstance(value, list | tuple):
            raise _CheckError.at(path, f"expected a list of {what} names, got {_kind(value)}")
        result: list[str] = []
        problems: list[str] = []
        for i, item in enumerate(value):
            at = f"{path}[{i}]"
            try:
                name = _apply(_text, item, at)
            except _CheckError as exc:
                problems.extend(exc.problems)
                continue
            if valid is not None and name not in valid:
                problems.append(f"{at}: unknown {what} {name!r}; {_hint(name, valid)}")
            elif name in result:
                problems.append(f"{at}: {name!r} is listed twice")
            else:
                result.append(name)
        if problems:
            raise _CheckError(problems)
        return tuple(result)

    return names


def _mapping(value: object, path: str) -> tuple[dict[str, object], list[str]]:
    """The string-keyed entries of a mapping, and a problem for each other key."""
    if not isinstance(value, Mapping):
        raise _CheckError.at(path, f"expected a mapping, got {_kind(value)}")
    entries: dict[str, object] = {}
    problems: list[str] = []
    for key, item in value.items():
        if isinstance(key, str):
            entries[key] = item
        else:
            problems.append(f"{_where(path)}: key {_show(key)} is not a string; quote it")
    return entries, problems


def _table(
    entry: Callable[[str], Check[_T]],
    *,
    key_problem: Callable[[str], str | None] = lambda key: None if key else "must not be empty",
    at_least_one: bool = False,
) -> Check[Mapping[str, _T]]:
    """A mapping with user-chosen keys (models, features, properties...).

    ``entry(key)`` is the check for that key's value; ``key_problem`` judges the key.
    """

    def table(value: object, path: str) -> Mapping[str, _T]:
        entries, problems = _mapping(value, path)
        if at_least_one and not entries and not problems:
            problems.append(f"{_where(path)}: needs at least one entry")
        result: dict[str, _T] = {}
        for key, item in entries.items():
            at = _join(path, key)
            bad_key = key_problem(key)
            if bad_key is not None:
                problems.append(f"{at}: {bad_key}")
                continue
            try:
                result[key] = _apply(entry(key), item, at)
            except _CheckError as exc:
                problems.extend(exc.problems)
        if problems:
            raise _CheckError(problems)
        return MappingProxyType(result)

    return table


def _same_check(check: Check[_T]) -> Callable[[str], Check[_T]]:
    """For tables whose values are all checked alike, whatever the key."""
    return lambda _key: check


def _walk(
    value: object, path: str, fields: Mapping[str, Check[object]], required: frozenset[str]
) -> dict[str, Any]:
    """Check each known key of a mapping; unknown and missing keys are problems too."""
    entries, problems = _mapping(value, path)
    values: dict[str, Any] = {}
    failed = False
    for key, item in entries.items():
        check = fields.get(key)
        at = _join(path, key)
        if check is None:
            problems.append(f"{at}: unknown key; {_hint(key, list(fields))}")
            continue
        try:
            values[key] = _apply(check, item, at)
        except _CheckError as exc:
            problems.extend(exc.problems)
            failed = True
    for key in sorted(required - entries.keys()):
        problems.append(f"{_join(path, key)}: required key missing")
    if problems or failed:
        raise _CheckError(problems)
    return values


Rules = Callable[[_D, frozenset[str], str], Iterator[str]]
"""Cross-key rules of a section: ``(section, keys present, path) -> problems``."""


class _Section(Generic[_D]):
    """A fixed-key mapping read into the frozen dataclass ``cls``.

    ``fields`` must cover every dataclass field except ``name_field``, which
    is filled from the mapping key the section sits under (``models.fraud``);
    this is checked at import, so a field cannot be added to a dataclass and
    forgotten here. Absent keys take the dataclass defaults.
    """

    def __init__(
        self,
        cls: type[_D],
        fields: Mapping[str, Check[object]],
        rules: Rules[_D] | None = None,
        *,
        name_field: str | None = None,
    ) -> None:
        declared = {f.name for f in dataclasses.fields(cls)}
        if set(fields) | ({name_field} if name_field else set()) != declared:
            raise TypeError(f"the field table of {cls.__name__} does not match its dataclass")
        self._make: Callable[..., _D] = cls
        self._fields = fields
        self._rules = rules
        self._name_field = name_field
        self._required = frozenset(
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ) - {name_field}

    def __call__(self, value: object, path: str) -> _D:
        return self._build(value, path, {})

    def named(self, name: str) -> Check[_D]:
        """The check for a section whose ``name_field`` is ``name``."""
        assert self._name_field is not None
        fixed = {self._name_field: name}
        return lambda value, path: self._build(value, path, fixed)

    def _build(self, value: object, path: str, fixed: dict[str, str]) -> _D:
        values = _walk(value, path, self._fields, self._required)
        section = self._make(**values, **fixed)
        if self._rules is not None:
            problems = list(self._rules(section, frozenset(values), path))
            if problems:
                raise _CheckError(problems)
        return section


# --------------------------------------------------------------------------- the schema


def _kafka_topic_problem(topic: str) -> str | None:
    if len(topic) > 249 or topic in (".", "..") or not re.fullmatch(r"[A-Za-z0-9._-]+", topic):
        return "not a valid Kafka topic name (letters, digits, '.', '_', '-'; at most 249)"
    return None


def _scheme_problem(*schemes: str) -> Callable[[str], str | None]:
    def problem(url: str) -> str | None:
        if url.startswith(schemes):
            return None
        return f"expected a URL starting with {' or '.join(schemes)}, got {_show(url)}"

    return problem


def _key_prefix_problem(prefix: str) -> str | None:
    # Braces mark Redis Cluster hash tags; in the prefix they would override the key layout's own.
    return "must not contain '{' or '}'" if "{" in prefix or "}" in prefix else None


def _reference_path_problem(path: str) -> str | None:
    if path.lower().endswith(_REFERENCE_SUFFIXES):
        return None
    return f"expected a file ending in {', '.join(_REFERENCE_SUFFIXES)}, got {_show(path)}"


def _env_name_problem(name: str) -> str | None:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        return None
    return f"expected the name of an environment variable, got {_show(name)}"


def _reserved_property(reserved: Mapping[str, str]) -> Callable[[str], str | None]:
    """Properties the daemon sets itself, so a user value would be ignored or harmful."""

    def problem(key: str) -> str | None:
        return reserved.get(key) if key else "must not be empty"

    return problem


def _feature_name_problem(name: str) -> str | None:
    if not name:
        return "must not be empty"
    if name == "prediction":
        return "'prediction' is not a feature name; monitor it with the model's 'prediction' key"
    return None


def _method_name_problem(name: str) -> str | None:
    return None if name in ALL_METHODS else f"unknown method; {_hint(name, ALL_METHODS)}"


def _threshold(method: str) -> Check[Thresholds]:
    """One method's thresholds; the levels not given keep the method's defaults."""

    def threshold(value: object, path: str) -> Thresholds:
        given = _walk(value, path, _THRESHOLD_FIELDS, frozenset())
        merged = DEFAULT_THRESHOLDS[method]._replace(**given)
        if merged.warn > merged.critical:
            raise _CheckError.at(
                path, f"warn ({merged.warn}) must not be above critical ({merged.critical})"
            )
        return merged

    return threshold


def _merged_thresholds(value: object, path: str) -> Mapping[str, Thresholds]:
    """User thresholds over the defaults, so a config names only what it changes."""
    given = _table(_threshold, key_problem=_method_name_problem)(value, path)
    return MappingProxyType(dict(DEFAULT_THRESHOLDS) | dict(given))


def _exactly_one(path: str, first: tuple[str, object], second: tuple[str, object]) -> Iterator[str]:
    (a, a_value), (b, b_value) = first, second
    if a_value is None and b_value is None:
        yield f"{path}: needs either {a!r} or {b!r}"
    elif a_value is not None and b_value is not None:
        yield f"{path}: {a!r} and {b!r} exclude each other; keep one"


def _kafka_rules(kafka: KafkaConfig, present: frozenset[str], path: str) -> Iterator[str]:
    # Reading our own dead letters (or labels) as predictions would loop or corrupt the stream.
    if kafka.dead_letter_topic == kafka.predictions_topic:
        yield f"{_join(path, 'dead_letter_topic')}: must differ from predictions_topic"
    if kafka.labels_topic in (kafka.predictions_topic, kafka.dead_letter_topic):
        yield (
            f"{_join(path, 'labels_topic')}: "
            "must differ from predictions_topic and dead_letter_topic"
        )


def _reference_rules(ref: ReferenceConfig, present: frozenset[str], path: str) -> Iterator[str]:
    yield from _exactly_one(path, ("path", ref.path), ("from_stream", ref.from_stream))


def _window_rules(window: WindowConfig, present: frozenset[str], path: str) -> Iterator[str]:
    yield from _exactly_one(path, ("events", window.events), ("seconds", window.seconds))
    if window.events is not None:
        event_time_only = {"allowed_lateness_seconds", "min_events", "idle_partition_seconds"}
        for key in sorted(present & event_time_only):
            yield f"{_join(path, key)}: only applies to event-time windows ('seconds')"


def _drift_rules(drift: DriftConfig, present: frozenset[str], path: str) -> Iterator[str]:
    budgets = ("false_alarms_per_week", "false_alarms_per_million_events")
    given = [key for key in budgets if key in present and getattr(drift, key) is not None]
    if len(given) > 1:
        yield f"{path}: give one false-alarm budget, not both {given[0]} and {given[1]}"
    if given and drift.correction == "none":
        yield (
            f"{_join(path, 'correction')}: a false-alarm budget needs a correction over the "
            "window's tests (bonferroni or holm), not none"
        )


def _model_rules(model: ModelConfig, present: frozenset[str], path: str) -> Iterator[str]:
    if model.task == "regression" and model.prediction == "categorical":
        yield f"{_join(path, 'prediction')}: a regression model's prediction must be numeric"
    if model.task != "binary":
        for key in sorted(present & {"decision_threshold", "positive_class"}):
            yield f"{_join(path, key)}: only applies to task: binary"
    for detector in model.sequential.values():
        yield from _sequential_fits_model(
            detector, model, _join(_join(path, "sequential"), detector.name)
        )
    if model.drift.checkpoints > 1 and model.window.events is None:
        yield (
            f"{_join(_join(path, 'drift'), 'checkpoints')}: only count windows "
            "(window.events) are looked at before they close"
        )
    elif model.window.events is not None and model.drift.checkpoints > model.window.events:
        yield (
            f"{_join(_join(path, 'drift'), 'checkpoints')}: more looks than the window's "
            f"{model.window.events} events"
        )
    rules_path = _join(path, "alert_rules")
    for rule in model.alert_rules.values():
        yield from _alert_rule_fits_model(rule, model, _join(rules_path, rule.name))
    yield from _signal_rules_overlap(list(model.alert_rules.values()), rules_path)


def _sequential_fits_model(
    detector: SequentialConfig, model: ModelConfig, path: str
) -> Iterator[str]:
    numeric = [name for name, kind in model.features.items() if kind == "numeric"]
    if model.prediction == "numeric":
        numeric.append("prediction")
    if detector.signal == "error":
        if model.task is None:
            yield f"{_join(path, 'signal')}: 'error' needs the model's task (and labels_topic)"
    elif detector.signal not in numeric:
        choices = ", ".join([*numeric, "error"])
        yield (
            f"{_join(path, 'signal')}: {detector.signal!r} is not a numeric signal "
            f"(choose from {choices})"
        )
    elif detector.detector not in SEQUENTIAL_NUMERIC:
        yield (
            f"{_join(path, 'detector')}: {detector.detector} watches binary error streams; "
            f"use one of {', '.join(sorted(SEQUENTIAL_NUMERIC))} on {detector.signal!r}"
        )
    try:
        make_detector(detector.detector, **dict(detector.params))
    except (TypeError, ValueError) as error:
        yield f"{_join(path, 'params')}: {error}"


def _alert_rule_fits_model(rule: AlertRuleConfig, model: ModelConfig, path: str) -> Iterator[str]:
    """A rule can only watch what the model measures, and alert no earlier than its test."""
    signals = [*model.features, *(["prediction"] if model.prediction else [])]
    for i, signal in enumerate(rule.signals):
        if signal not in signals:
            yield f"{path}.signals[{i}]: unknown signal {signal!r}; {_hint(signal, signals)}"
    drift = model.drift
    methods = list(
        dict.fromkeys(drift.numeric_methods + drift.categorical_methods + drift.quality_methods)
    )
    for i, method in enumerate(rule.methods):
        if method not in methods:
            hint = _hint(method, methods)
            yield f"{path}.methods[{i}]: the model does not run {method!r}; {hint}"
    for method, levels in rule.thresholds.items():
        test = drift.thresholds[method]
        warn = test.warn if levels.warn is None else levels.warn
        critical = test.critical if levels.critical is None else levels.critical
        at = _join(_join(path, "thresholds"), method)
        if warn < test.warn:
            yield (
                f"{at}.warn: {warn} is below the drift test's own warn level ({test.warn}), "
                f"which would never flag it; lower drift.thresholds.{method}.warn instead"
            )
        elif warn > critical:
            yield f"{at}: warn ({warn}) must not be above critical ({critical})"
    if rule.grouping == "model" and rule.name in get_args(AlertKind):
        yield f"{path}: a rule grouped per model must not be named like an alert kind"


def _signal_rules_overlap(rules: list[AlertRuleConfig], path: str) -> Iterator[str]:
    """Two per-signal rules watching one signal would share a dedup key (model/kind/signal)."""
    per_signal = [r for r in rules if r.grouping == "signal"]
    for i, first in enumerate(per_signal):
        for second in per_signal[i + 1 :]:
            kinds = set(first.kinds) & set(second.kinds)
            both_all = not first.signals or not second.signals
            signals = set(first.signals) & set(second.signals)
            if kinds and (both_all or signals):
                yield (
                    f"{_join(path, second.name)}: watches the same signals and kinds as rule "
                    f"{first.name!r}; per-signal alerts would share a dedup key "
                    "(give each rule its own signals or kinds)"
                )


def _sink_rules(sink: SinkConfig, present: frozenset[str], path: str) -> Iterator[str]:
    for key in _SINK_NEEDS[sink.type]:
        if getattr(sink, key) is None:
            yield f"{_join(path, key)}: required for {sink.type} sinks"
    if sink.type != "github_actions" and sink.ref is not None:
        yield f"{_join(path, 'ref')}: only applies to github_actions sinks"
    if sink.backoff_initial_seconds > sink.backoff_max_seconds:
        yield (
            f"{_join(path, 'backoff_initial_seconds')}: must not be above backoff_max_seconds "
            f"({sink.backoff_max_seconds})"
        )
    if sink.type != "kafka" and sink.topic is not None:
        yield f"{_join(path, 'topic')}: only applies to kafka sinks"
    if sink.type == "kafka" and sink.url is not None:
        yield f"{_join(path, 'url')}: does not apply to kafka sinks (they use 'topic')"


def _config_rules(config: Config, present: frozenset[str], path: str) -> Iterator[str]:
    for model in config.models.values():
        at = _join("models", model.name)
        yield from _sink_references(config, model.alerts, _join(at, "alerts"), _ALERT_SINKS)
        for i, route in enumerate(model.alert_routes):
            route_at = f"{_join(at, 'alert_routes')}[{i}].sinks"
            yield from _sink_references(config, route.sinks, route_at, _ALERT_SINKS)
        if model.retrain is not None:
            retrain_at = _join(_join(at, "retrain"), "sinks")
            yield from _sink_references(config, model.retrain.sinks, retrain_at, _RETRAIN_SINKS)


def _sink_references(
    config: Config, names: tuple[str, ...], path: str, types: tuple[str, ...]
) -> Iterator[str]:
    """Named sinks exist and can carry what is sent to them (alerts or retraining triggers)."""
    sink_names = list(config.sinks)
    for i, name in enumerate(names):
        sink = config.sinks.get(name)
        if sink is None:
            yield f"{path}[{i}]: unknown sink {name!r}; {_hint(name, sink_names)}"
        elif sink.type not in types:
            yield (
                f"{path}[{i}]: sink {name!r} is of type {sink.type}, which cannot carry these "
                f"messages; use one of {', '.join(types)}"
            )


_OPTIONAL_SECTIONS: Final = ("kafka", "redis", "http", "logging", "sinks", "alerting")
_ALERT_SINKS: Final = ("webhook", "slack", "pagerduty", "alertmanager", "kafka")
_RETRAIN_SINKS: Final = ("webhook", "kafka", "airflow", "github_actions")
_REFERENCE_SUFFIXES: Final = (".jsonl", ".json", ".ndjson", ".csv", ".parquet")

_RESERVED_PRODUCER: Final = {"bootstrap.servers": "set kafka.bootstrap_servers instead"}
_RESERVED_CONSUMER: Final = _RESERVED_PRODUCER | {
    "group.id": "set kafka.group_id instead",
    # Offsets may be committed only once the state they cover is checkpointed in Redis.
    "enable.auto.commit": "the daemon commits offsets itself, after each checkpoint",
}

_SINK_NEEDS: Final[Mapping[str, tuple[str, ...]]] = {
    "webhook": ("url",),
    "slack": ("url",),
    "alertmanager": ("url",),
    "pagerduty": ("secret_env",),  # the routing key
    "kafka": ("topic",),
    "airflow": ("url",),
    "github_actions": ("url", "secret_env", "ref"),  # the token
}

_topic = _text_where(_kafka_topic_problem)
_THRESHOLD_FIELDS: Final[Mapping[str, Check[object]]] = {
    "warn": _number(_above(0)),
    "critical": _number(_above(0)),
}

_KAFKA = _Section(
    KafkaConfig,
    {
        "bootstrap_servers": _optional(_text),
        "group_id": _text,
        "predictions_topic": _topic,
        "labels_topic": _optional(_topic),
        "dead_letter_topic": _topic,
        "consumer": _table(
            _same_check(_kafka_property), key_problem=_reserved_property(_RESERVED_CONSUMER)
        ),
        "producer": _table(
            _same_check(_kafka_property), key_problem=_reserved_property(_RESERVED_PRODUCER)
        ),
        "batch_size": _integer(_between(1, 1_000_000)),
        "batch_timeout_ms": _integer(_between(1, 60_000)),
        "max_message_bytes": _integer(_at_least(1)),
        "create_topics": _boolean,
        "topic_partitions": _integer(_between(1, 10_000)),
    },
    _kafka_rules,
)


def _field_of(fields: tuple[str, ...]) -> Callable[[str], str | None]:
    return lambda key: None if key in fields else f"not an event field; {_hint(key, fields)}"


def _wire_names_clash(
    fields: tuple[str, ...], renamed: Mapping[str, str], path: str
) -> Iterator[str]:
    """Two fields may not end up under one name (mapped, or a mapped one onto an unmapped)."""
    owners: dict[str, list[str]] = {}
    for name in fields:
        owners.setdefault(renamed.get(name, name), []).append(name)
    for wire, names in owners.items():
        if len(names) > 1:
            yield f"{path}: {' and '.join(names)} would both be read from {wire!r}"


def _payload_rules(payload: PayloadConfig, present: frozenset[str], path: str) -> Iterator[str]:
    yield from _wire_names_clash(
        PREDICTION_FIELDS, payload.prediction_fields, _join(path, "prediction_fields")
    )
    yield from _wire_names_clash(LABEL_FIELDS, payload.label_fields, _join(path, "label_fields"))


_PAYLOAD = _Section(
    PayloadConfig,
    {
        "prediction_fields": _table(_same_check(_text), key_problem=_field_of(PREDICTION_FIELDS)),
        "label_fields": _table(_same_check(_text), key_problem=_field_of(LABEL_FIELDS)),
    },
    _payload_rules,
)

_REDIS = _Section(
    RedisConfig,
    {
        "url": _text_where(_scheme_problem("redis://", "rediss://", "unix://")),
        "key_prefix": _text_where(_key_prefix_problem),
        "history_size": _integer(_at_least(1)),
        "counts_history_size": _integer(_at_least(0)),
        "cluster": _boolean,
    },
)

_HTTP = _Section(HttpConfig, {"host": _text, "port": _integer(_between(0, 65535))})

_LOGGING = _Section(
    LoggingConfig,
    {
        "format": _one_of(get_args(LogFormat)),
        "level": _one_of(get_args(LogLevel)),
        "kafka_level": _one_of(get_args(LogLevel)),
    },
)

_REFERENCE = _Section(
    ReferenceConfig,
    {
        "path": _optional(_text_where(_reference_path_problem)),
        "from_stream": _optional(_integer(_at_least(1))),
        "bins": _integer(_between(4, 1000)),
        "max_categories": _integer(_between(1, 10_000)),
    },
    _reference_rules,
)

_WINDOW = _Section(
    WindowConfig,
    {
        "events": _optional(_integer(_at_least(1))),
        "seconds": _optional(_number(_above(0))),
        "allowed_lateness_seconds": _number(_at_least(0)),
        "min_events": _integer(_at_least(1)),
        "idle_partition_seconds": _number(_above(0)),
    },
    _window_rules,
)

_DRIFT = _Section(
    DriftConfig,
    {
        "numeric_methods": _names("method", NUMERIC_METHODS),
        "categorical_methods": _names("method", CATEGORICAL_METHODS),
        "quality_methods": _names("method", QUALITY_METHODS),
        "multivariate_methods": _names("method", MULTIVARIATE_METHODS),
        "thresholds": _merged_thresholds,
        "alpha": _number(_strictly_between(0, 1)),
        "correction": _one_of(get_args(Correction)),
        "false_alarms_per_week": _optional(_number(_above(0))),
        "false_alarms_per_million_events": _optional(_number(_above(0))),
        "checkpoints": _integer(_between(1, 100)),
    },
    _drift_rules,
)

_LEVEL_FIELDS: Final[Mapping[str, Check[object]]] = {
    "warn": _number(_above(0)),
    "critical": _number(_above(0)),
}


def _levels(value: object, path: str) -> Levels:
    return Levels(**_walk(value, path, _LEVEL_FIELDS, frozenset()))


_ALERT_RULE = _Section(
    AlertRuleConfig,
    {
        "kinds": _names("alert kind", get_args(AlertKind)),
        "signals": _names("signal"),
        "methods": _names("method", ALL_METHODS),
        "thresholds": _table(_same_check(_levels), key_problem=_method_name_problem),
        "for_windows": _optional(_integer(_between(1, 10_000))),
        "resolve_windows": _integer(_between(1, 10_000)),
        "resolve_ratio": _optional(_number(_between(0.01, 1))),
        "cooldown_seconds": _optional(_number(_at_least(0))),
        "grouping": _one_of(get_args(Grouping)),
    },
    name_field="name",
)

_ALERT_ROUTE = _Section(
    AlertRouteConfig,
    {
        "sinks": _names("sink"),
        "severities": _names("severity", get_args(AlertSeverity)),
    },
)


def _routes(value: object, path: str) -> tuple[AlertRouteConfig, ...]:
    if not isinstance(value, list | tuple):
        raise _CheckError.at(path, f"expected a list of routes, got {_kind(value)}")
    routes: list[AlertRouteConfig] = []
    problems: list[str] = []
    for i, item in enumerate(value):
        try:
            routes.append(_apply(_ALERT_ROUTE, item, f"{path}[{i}]"))
        except _CheckError as exc:
            problems.extend(exc.problems)
    if problems:
        raise _CheckError(problems)
    return tuple(routes)


_RETRAIN = _Section(
    RetrainConfig,
    {
        "sinks": _names("sink"),
        "min_critical_signals": _integer(_between(1, 10_000)),
        "for_windows": _integer(_between(1, 10_000)),
        "min_interval_seconds": _number(_at_least(0)),
        "kinds": _names("alert kind", get_args(AlertKind)),
    },
)

_SEQUENTIAL = _Section(
    SequentialConfig,
    {
        "signal": _text,
        "detector": _one_of(tuple(DETECTORS)),
        "params": _table(_same_check(_kafka_property)),
    },
    name_field="name",
)

_LABELS = _Section(
    LabelsConfig,
    {
        "ttl_seconds": _number(_above(0)),
        "max_pending": _integer(_at_least(1)),
        "min_labels": _integer(_at_least(1)),
    },
)

_MODEL = _Section(
    ModelConfig,
    {
        "reference": _REFERENCE,
        "window": _WINDOW,
        "features": _table(
            _same_check(_one_of(get_args(SignalKind))),
            key_problem=_feature_name_problem,
            at_least_one=True,
        ),
        "prediction": _optional(_one_of(get_args(SignalKind))),
        "task": _optional(_one_of(get_args(Task))),
        "decision_threshold": _number(),
        "positive_class": _optional(_text),
        "alerts": _names("sink"),
        "drift": _DRIFT,
        "alert_rules": _table(_ALERT_RULE.named, at_least_one=True),
        "alert_routes": _routes,
        "retrain": _optional(_RETRAIN),
        "labels": _LABELS,
        "sequential": _table(_SEQUENTIAL.named),
    },
    _model_rules,
    name_field="name",
)

_SINK = _Section(
    SinkConfig,
    {
        "type": _one_of(get_args(SinkType)),
        "url": _optional(_text_where(_scheme_problem("http://", "https://"))),
        "topic": _optional(_topic),
        "secret_env": _optional(_text_where(_env_name_problem)),
        "timeout_seconds": _number(_above(0)),
        "headers": _table(_same_check(_text)),
        "max_attempts": _integer(_between(1, 1000)),
        "backoff_initial_seconds": _number(_above(0)),
        "backoff_max_seconds": _number(_above(0)),
        "ref": _optional(_text),
    },
    _sink_rules,
    name_field="name",
)

_ALERTING = _Section(
    AlertingConfig,
    {
        "audit_size": _integer(_between(10, 10_000_000)),
        "dead_letter_size": _integer(_between(10, 10_000_000)),
        "claim_idle_seconds": _number(_between(1, 86_400)),
    },
)

_CONFIG = _Section(
    Config,
    {
        "kafka": _KAFKA,
        "redis": _REDIS,
        "http": _HTTP,
        "logging": _LOGGING,
        "models": _table(_MODEL.named, at_least_one=True),
        "sinks": _table(_SINK.named),
        "alerting": _ALERTING,
        "payload": _PAYLOAD,
    },
    _config_rules,
)
