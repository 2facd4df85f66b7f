"""The schema walker: checks that read plain data (as YAML gives it) into typed values.

A *check* is a function ``(value, path) -> parsed value`` that raises
``CheckError`` with every problem it found, each prefixed with the path of the
offending key (``models.fraud.window.events``). Containers run the checks of
all their entries before raising, which is how every error is collected. A
:class:`Section` reads a fixed-key mapping into a frozen dataclass; rules that
relate several keys of one section (exactly one of ``events`` and ``seconds``)
run only once each key of that section is valid on its own, so they never
repeat the consequence of an error already reported.

Nothing here knows drift-monitor's sections: they are declared with these checks
in :mod:`monitor.config.sections`. Text substituted from the environment arrives
as :class:`FromEnv` (numeric checks read it as a number) or :class:`Unresolved`
(already reported, so skipped).

The walker is hand-rolled rather than a schema library because the messages
are the product here: paths, the nearest valid key, what was expected.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import reprlib
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Generic, NamedTuple, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_T = TypeVar("_T")
_D = TypeVar("_D", bound="DataclassInstance")
Check = Callable[[object, str], _T]
"""Parse ``value`` found at ``path``, or raise ``CheckError`` with every problem found."""


class FromEnv(str):
    """Text that came (partly) from the environment, which has no types: numeric checks
    read it as a number, so ``port: ${PORT:-9108}`` works."""


class Unresolved(str):
    """Text naming an unset variable; already reported, so checks skip it silently."""


class CheckError(Exception):
    """Raised by a check; ``problems`` are complete messages, each starting with its path.

    Empty when the only problem was already reported elsewhere (an unset variable).
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems)
        self.problems = problems

    @classmethod
    def at(cls, path: str, message: str) -> CheckError:
        return cls([f"{where(path)}: {message}"])


_PLAIN_KEY: Final = re.compile(r"[A-Za-z0-9_-]+")


def join_path(path: str, key: object) -> str:
    """``models`` + ``fraud`` -> ``models.fraud``; odd keys are quoted: ``consumer["a.b"]``."""
    if isinstance(key, str) and _PLAIN_KEY.fullmatch(key):
        return f"{path}.{key}" if path else key
    quoted = f'"{key}"' if isinstance(key, str) else repr(key)
    return f"{path}[{quoted}]"


def where(path: str) -> str:
    """The root has an empty path; messages still need a subject."""
    return path or "top level"


def short_repr(value: object) -> str:
    """A short repr for messages (int -> str raises for very long integers)."""
    if isinstance(value, int) and value.bit_length() > 256:
        return "a very large integer"
    return reprlib.repr(value)


def describe(value: object) -> str:
    """What a value is, in the user's (YAML's) words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"an integer ({short_repr(value)})"
    if isinstance(value, float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({short_repr(value)})"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__}"


def suggest(word: str, valid: tuple[str, ...] | list[str]) -> str:
    """The nearest valid name, or all of them when nothing is near."""
    close = difflib.get_close_matches(word, valid, n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    if not valid:
        return "none are defined"
    return "expected one of " + ", ".join(repr(v) for v in valid)


def apply_check(check: Check[_T], value: object, path: str) -> _T:
    """Run a check; every container goes through here, so unresolved text is skipped once."""
    if isinstance(value, Unresolved):
        raise CheckError([])
    return check(value, path)


def optional(check: Check[_T]) -> Check[_T | None]:
    """``check``, but null is accepted and means "not set"."""

    def parse(value: object, path: str) -> _T | None:
        return None if value is None else check(value, path)

    return parse


def text(value: object, path: str) -> str:
    """Non-empty text. YAML turns unquoted ``1`` or ``yes`` into other types, hence the hint."""
    if not isinstance(value, str):
        hint = "; quote it if it is meant as text" if isinstance(value, int | float) else ""
        raise CheckError.at(path, f"expected a string, got {describe(value)}{hint}")
    if not value:
        raise CheckError.at(path, "must not be empty")
    return str(value)  # drops the FromEnv subclass


def boolean(value: object, path: str) -> bool:
    """true or false; environment values may say true/false/yes/no/1/0."""
    if isinstance(value, bool):
        return value
    if isinstance(value, FromEnv) and value.lower() in _ENV_BOOLEANS:
        return _ENV_BOOLEANS[value.lower()]
    raise CheckError.at(path, f"expected true or false, got {describe(value)}")


_ENV_BOOLEANS: Final = {
    "true": True,
    "yes": True,
    "1": True,
    "false": False,
    "no": False,
    "0": False,
}


def text_where(test: Callable[[str], str | None]) -> Check[str]:
    """Non-empty text that also passes ``test`` (None if fine, else the problem)."""

    def parse(value: object, path: str) -> str:
        result = text(value, path)
        problem = test(result)
        if problem is not None:
            raise CheckError.at(path, problem)
        return result

    return parse


class Bounds(NamedTuple):
    test: Callable[[float], bool]
    text: str


def between(low: float, high: float) -> Bounds:
    return Bounds(lambda x: low <= x <= high, f"between {low} and {high}")


def strictly_between(low: float, high: float) -> Bounds:
    return Bounds(lambda x: low < x < high, f"strictly between {low} and {high}")


def at_least(low: float) -> Bounds:
    return Bounds(lambda x: x >= low, f"of at least {low}")


def above(low: float) -> Bounds:
    return Bounds(lambda x: x > low, f"greater than {low}")


def _numeric(value: object) -> object:
    """Env-substituted text stands for a number if it reads as one; anything else is unchanged."""
    if isinstance(value, FromEnv):
        for parse in (int, float):
            try:
                return parse(value)
            except ValueError:
                continue
    return value


def integer(bounds: Bounds | None = None) -> Check[int]:
    expected = "an integer" + (f" {bounds.text}" if bounds else "")

    def parse(value: object, path: str) -> int:
        value = _numeric(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise CheckError.at(path, f"expected {expected}, got {describe(value)}")
        if bounds and not bounds.test(value):
            raise CheckError.at(path, f"expected {expected}, got {short_repr(value)}")
        return value

    return parse


def number(bounds: Bounds | None = None) -> Check[float]:
    """A finite float; integers are welcome (``seconds: 300``), booleans are not."""
    expected = "a number" + (f" {bounds.text}" if bounds else "")

    def parse(value: object, path: str) -> float:
        value = _numeric(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CheckError.at(path, f"expected {expected}, got {describe(value)}")
        try:
            result = float(value)
        except OverflowError:
            result = math.inf
        if not math.isfinite(result) or (bounds and not bounds.test(result)):
            raise CheckError.at(path, f"expected {expected}, got {short_repr(value)}")
        return result

    return parse


def one_of(options: tuple[str, ...]) -> Check[Any]:
    """One of the ``options`` (a Literal's values, hence the ``Any``)."""

    def parse(value: object, path: str) -> str:
        if not isinstance(value, str):
            listed = ", ".join(repr(o) for o in options)
            raise CheckError.at(path, f"expected one of {listed}, got {describe(value)}")
        if value not in options:
            raise CheckError.at(path, f"unknown value {value!r}; {suggest(value, options)}")
        return str(value)

    return parse


def names(what: str, valid: tuple[str, ...] | None = None) -> Check[tuple[str, ...]]:
    """A list of distinct names, each in ``valid`` if given."""

    def parse(value: object, path: str) -> tuple[str, ...]:
        if not isinstance(value, list | tuple):
            raise CheckError.at(path, f"expected a list of {what} names, got {describe(value)}")
        result: list[str] = []
        problems: list[str] = []
        for i, item in enumerate(value):
            at = f"{path}[{i}]"
            try:
                name = apply_check(text, item, at)
            except CheckError as exc:
                problems.extend(exc.problems)
                continue
            if valid is not None and name not in valid:
                problems.append(f"{at}: unknown {what} {name!r}; {suggest(name, valid)}")
            elif name in result:
                problems.append(f"{at}: {name!r} is listed twice")
            else:
                result.append(name)
        if problems:
            raise CheckError(problems)
        return tuple(result)

    return parse


def _mapping(value: object, path: str) -> tuple[dict[str, object], list[str]]:
    """The string-keyed entries of a mapping, and a problem for each other key."""
    if not isinstance(value, Mapping):
        raise CheckError.at(path, f"expected a mapping, got {describe(value)}")
    entries: dict[str, object] = {}
    problems: list[str] = []
    for key, item in value.items():
        if isinstance(key, str):
            entries[key] = item
        else:
            problems.append(f"{where(path)}: key {short_repr(key)} is not a string; quote it")
    return entries, problems


def table(
    entry: Callable[[str], Check[_T]],
    *,
    key_problem: Callable[[str], str | None] = lambda key: None if key else "must not be empty",
    at_least_one: bool = False,
) -> Check[Mapping[str, _T]]:
    """A mapping with user-chosen keys (models, features, properties...).

    ``entry(key)`` is the check for that key's value; ``key_problem`` judges the key.
    """

    def parse(value: object, path: str) -> Mapping[str, _T]:
        entries, problems = _mapping(value, path)
        if at_least_one and not entries and not problems:
            problems.append(f"{where(path)}: needs at least one entry")
        result: dict[str, _T] = {}
        for key, item in entries.items():
            at = join_path(path, key)
            bad_key = key_problem(key)
            if bad_key is not None:
                problems.append(f"{at}: {bad_key}")
                continue
            try:
                result[key] = apply_check(entry(key), item, at)
            except CheckError as exc:
                problems.extend(exc.problems)
        if problems:
            raise CheckError(problems)
        return MappingProxyType(result)

    return parse


def same_check(check: Check[_T]) -> Callable[[str], Check[_T]]:
    """For tables whose values are all checked alike, whatever the key."""
    return lambda _key: check


def walk(
    value: object, path: str, fields: Mapping[str, Check[object]], required: frozenset[str]
) -> dict[str, Any]:
    """Check each known key of a mapping; unknown and missing keys are problems too."""
    entries, problems = _mapping(value, path)
    values: dict[str, Any] = {}
    failed = False
    for key, item in entries.items():
        check = fields.get(key)
        at = join_path(path, key)
        if check is None:
            problems.append(f"{at}: unknown key; {suggest(key, list(fields))}")
            continue
        try:
            values[key] = apply_check(check, item, at)
        except CheckError as exc:
            problems.extend(exc.problems)
            failed = True
    for key in sorted(required - entries.keys()):
        problems.append(f"{join_path(path, key)}: required key missing")
    if problems or failed:
        raise CheckError(problems)
    return values


Rules = Callable[[_D, frozenset[str], str], Iterator[str]]
"""Cross-key rules of a section: ``(section, keys present, path) -> problems``."""


class Section(Generic[_D]):
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
        values = walk(value, path, self._fields, self._required)
        section = self._make(**values, **fixed)
        if self._rules is not None:
            problems = list(self._rules(section, frozenset(values), path))
            if problems:
                raise CheckError(problems)
        return section
