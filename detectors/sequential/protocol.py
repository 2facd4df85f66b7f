"""The contract every sequential change detector keeps, and the checks they share.

A sequential detector watches one ordered stream (a feature, the prediction, a
per-event loss or a 0/1 error indicator) and says *at which event* the stream
changed. Unlike the window statistics it does not merge across instances: its
answer depends on the order of events, so one Kafka partition owns it at a time
(docs/architecture.md, "Mergeable state").

Commands and queries are kept apart, so a query never changes what it reports:

* ``update_many(values)`` is the only command. It feeds a micro-batch element
  by element, in order, and returns the 0-based positions *within the batch*
  at which a drift was detected. Like river, a detector resets lazily: the
  element after a detection starts a fresh concept, so a batch can hold
  several detections and the flag is checked after every element.
* ``drift_detected``, ``n_seen`` and ``n_detections`` are queries.
* ``state()`` / ``from_state()`` turn the detector into versioned plain data
  (``{"kind", "v", "params", "n_seen", "n_detections", "drift_detected", ...}``,
  arrays through :mod:`detectors.arrays`) and back. Nothing is pickled, every
  float that can be "not set yet" (river's ``inf`` sentinels) is ``None``, so
  the state passes ``json.dumps(..., allow_nan=False)``.

Parameters are configuration: checked once in the constructor, with river's
defaults, and never changed. Everything that changes is state, created in one
``_reset()`` (the per-concept part) next to the lifetime counters.

What does not depend on the algorithm (the lifetime counters, the queries over
them, the state header and its checks) lives once in :class:`DetectorBase`,
and ``warning_detected`` in :class:`WarningMixin`; a detector supplies its
parameters, its ``update_many`` and its own state fields.

These detectors are the one place where the hot path loops over events in
Python (everywhere else works on numpy vectors). Their statistics are
recurrences with forgetting factors, running minima and lazy resets; a
vectorised form (``lfilter``, cumulative sums) rounds differently, and a
detection point that moves by one event is a different answer from river's.
Each ``update_many`` therefore runs river's operations in river's order, with
locals instead of attributes, which is still faster than river itself for
all but ADWIN (whose river version is compiled) and KSWIN (vectorised in
chunks, see its module).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

STATE_HEADER_KEYS = frozenset({"kind", "v", "params", "n_seen", "n_detections", "drift_detected"})
"""Keys every detector state has; each detector adds its own."""


@runtime_checkable
class SequentialDetector(Protocol):
    """A change detector fed one ordered stream in micro-batches."""

    kind: ClassVar[str]
    """Registry name, also the ``kind`` of the saved state."""

    @property
    def drift_detected(self) -> bool:
        """Whether the last element fed was a detection (reset lazily on the next one)."""
        ...

    @property
    def n_seen(self) -> int:
        """Every element ever fed, across resets and state round trips."""
        ...

    @property
    def n_detections(self) -> int:
        """Every detection ever made, across resets and state round trips."""
        ...

    @property
    def params(self) -> dict[str, Any]:
        """The constructor arguments, as plain data."""
        ...

    def update_many(self, values: ArrayLike) -> NDArray[np.int64]:
        """Feed ``values`` in order; return the positions in the batch where drift was detected."""
        ...

    def state(self) -> dict[str, Any]:
        """Everything needed to continue exactly where this detector stands, as plain data."""
        ...

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild a detector from :meth:`state`; ValueError on another kind or version."""
        ...


# --- parameters -----------------------------------------------------------------------------


def check_number(
    kind: str,
    name: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A finite real parameter inside the given bounds, or a ValueError that names both."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{kind}: {name} must be a number, got {value!r}")
    number = float(value)
    bad = not math.isfinite(number)
    if low is not None:
        bad = bad or number < low or (low_open and number == low)
    if high is not None:
        bad = bad or number > high or (high_open and number == high)
    if bad:
        raise ValueError(
            f"{kind}: {name} must be {_interval(low, high, low_open, high_open)}, got {value!r}"
        )
    return number


def check_probability(kind: str, name: str, value: object) -> float:
    """A confidence level strictly between 0 and 1, as the HDDM detectors take."""
    return check_number(kind, name, value, low=0.0, high=1.0, low_open=True, high_open=True)


def check_int(kind: str, name: str, value: object, *, low: int) -> int:
    """An integer parameter (not a bool, not a float) of at least ``low``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{kind}: {name} must be an integer, got {value!r}")
    if value < low:
        raise ValueError(f"{kind}: {name} must be an integer >= {low}, got {value!r}")
    return int(value)


def check_bool(kind: str, name: str, value: object) -> bool:
    """A true/false parameter; 0 and 1 are refused so that a typo in config is not a switch."""
    if not isinstance(value, bool):
        raise ValueError(f"{kind}: {name} must be true or false, got {value!r}")
    return value


def check_choice(kind: str, name: str, value: object, choices: Collection[str]) -> str:
    """One of a fixed set of strings, listing them on an error."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{kind}: {name} must be one of {sorted(choices)}, got {value!r}")
    return value


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"a finite number {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"a finite number {'<' if high_open else '<='} {high:g}"
    return "a finite number"


# --- input ----------------------------------------------------------------------------------


def as_values(kind: str, values: ArrayLike) -> list[float]:
    """A 1-D batch of finite numbers as Python floats, checked before any state changes.

    Missing values are the caller's business (the daemon counts them elsewhere):
    a NaN fed to a running mean would silently disable the detector for good.
    """
    values_list: list[float] = as_array(kind, values).tolist()
    return values_list


def as_errors(kind: str, values: ArrayLike) -> list[float]:
    """A 1-D batch of 0/1 error indicators (bools, ints or floats) as Python floats."""
    array = as_array(kind, values)
    bad = np.flatnonzero((array != 0.0) & (array != 1.0))
    if bad.size:
        raise ValueError(
            f"{kind}: value at position {int(bad[0])} is {array[bad[0]]}; this detector reads "
            "a binary error stream (1 = error, 0 = correct)"
        )
    values_list: list[float] = array.tolist()
    return values_list


def as_array(kind: str, values: ArrayLike) -> NDArray[np.float64]:
    """A 1-D batch of finite numbers as a float64 array (see :func:`as_values`)."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{kind}: update_many takes a 1-D array, got shape {array.shape}")
    if not (
        array.dtype == np.bool_
        or np.issubdtype(array.dtype, np.integer)
        or np.issubdtype(array.dtype, np.floating)
    ):
        raise ValueError(f"{kind}: update_many takes real numbers, got dtype {array.dtype}")
    floats = np.asarray(array, dtype=np.float64)
    finite = np.isfinite(floats)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        raise ValueError(f"{kind}: value at position {bad} is {floats[bad]}; values must be finite")
    return floats


# --- state ----------------------------------------------------------------------------------


def check_header(
    state: Mapping[str, Any], kind: str, version: int, keys: Collection[str]
) -> Mapping[str, Any]:
    """Refuse a state of another kind, another version, or with missing or unknown keys."""
    if not isinstance(state, Mapping):
        raise ValueError(f"{kind}: a detector state is a mapping, got {type(state).__name__}")
    if state.get("kind") != kind:
        raise ValueError(f"{kind}: cannot load a state of kind {state.get('kind')!r}")
    if state.get("v") != version:
        raise ValueError(
            f"{kind}: cannot load state version {state.get('v')!r}, this code reads version "
            f"{version}"
        )
    expected = STATE_HEADER_KEYS | set(keys)
    missing, unknown = expected - set(state), set(state) - expected
    if missing or unknown:
        raise ValueError(
            f"{kind}: malformed state: missing keys {sorted(missing)}, "
            f"unknown keys {sorted(unknown)}"
        )
    if not isinstance(state["params"], Mapping):
        raise ValueError(f"{kind}: state params must be a mapping")
    return state


def build(cls: type[Any], kind: str, params: Mapping[str, Any]) -> Any:
    """Construct ``cls(**params)``, turning unknown parameter names into a ValueError."""
    try:
        return cls(**params)
    except TypeError as error:
        raise ValueError(f"{kind}: bad params in state: {error}") from error


def read_int(state: Mapping[str, Any], key: str, *, low: int = 0) -> int:
    """An integer field of a saved state."""
    value = state[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"state field {key!r} must be an integer >= {low}, got {value!r}")
    return value


def read_float(state: Mapping[str, Any], key: str) -> float:
    """A finite float field of a saved state (JSON may have turned 1.0 into 1)."""
    value = state[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"state field {key!r} must be a finite number, got {value!r}")
    return float(value)


def read_optional_float(state: Mapping[str, Any], key: str) -> float | None:
    """A float field that is ``None`` while the quantity is not set yet."""
    return None if state[key] is None else read_float(state, key)


def read_bool(state: Mapping[str, Any], key: str) -> bool:
    """A boolean field of a saved state."""
    value = state[key]
    if not isinstance(value, bool):
        raise ValueError(f"state field {key!r} must be true or false, got {value!r}")
    return value


# --- the shared part ------------------------------------------------------------------------


class DetectorBase(ABC):
    """The half of :class:`SequentialDetector` that is the same for every algorithm.

    It owns the lifetime counters and the state header, so that what a saved
    state means outside the algorithm (and how a bad one is refused) is written
    once. A subclass calls ``super().__init__()`` after checking its parameters,
    since the base starts the first concept with the subclass's ``_reset()``.
    """

    kind: ClassVar[str]
    version: ClassVar[int]
    _STATE_KEYS: ClassVar[frozenset[str]]
    """The keys :meth:`_state_fields` returns, checked before anything is built."""

    _drift: bool

    def __init__(self) -> None:
        self._n_seen = 0
        self._n_detections = 0
        self._reset()

    @abstractmethod
    def _reset(self) -> None:
        """Start a new concept: what river's ``_reset`` creates, ``_drift = False`` included."""

    @property
    @abstractmethod
    def params(self) -> dict[str, Any]:
        """The constructor arguments, as plain data."""

    @abstractmethod
    def _state_fields(self) -> dict[str, Any]:
        """This detector's part of :meth:`state`, as plain data."""

    @abstractmethod
    def _load_fields(self, state: Mapping[str, Any]) -> None:
        """Set this detector's part of ``state`` on a fresh instance, checking each field."""

    @property
    def drift_detected(self) -> bool:
        return self._drift

    @property
    def n_seen(self) -> int:
        return self._n_seen

    @property
    def n_detections(self) -> int:
        return self._n_detections

    def _tally(self, n_values: int, found: list[int]) -> NDArray[np.int64]:
        """Add a fed batch to the lifetime counters; return its detections as ``update_many`` does.

        The counters change once per batch, after the loop, which works on locals (see the
        module docstring for why).
        """
        self._n_seen += n_values
        self._n_detections += len(found)
        return np.array(found, dtype=np.int64)

    def state(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "v": self.version,
            "params": self.params,
            "n_seen": self._n_seen,
            "n_detections": self._n_detections,
            "drift_detected": self._drift,
        } | self._state_fields()

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        check_header(state, cls.kind, cls.version, cls._STATE_KEYS)
        detector: Self = build(cls, cls.kind, state["params"])
        detector._n_seen = read_int(state, "n_seen")
        detector._n_detections = read_int(state, "n_detections")
        detector._drift = read_bool(state, "drift_detected")
        detector._load_fields(state)
        return detector


class WarningMixin:
    """``warning_detected`` for the detectors that, like river's binary ones, have a warning zone.

    A mixin rather than a level of the hierarchy: the warning is one more
    flag next to ``_drift``, set in ``_reset()`` and saved as the ``"warning"``
    field by each detector, nothing else changes.
    """

    _warning: bool

    @property
    def warning_detected(self) -> bool:
        """Whether the detector is in its warning zone after the last element."""
        return self._warning
