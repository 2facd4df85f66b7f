"""The exceptions drift-monitor raises, and which of them stop the daemon.

::

    DriftMonitorError            base of everything below
    ├── ConfigError              the config file is wrong: stop at start-up, list every problem
    ├── ReferenceDataError       a reference file or profile cannot be read or built: stop
    ├── StateError               Redis holds state this version cannot trust: stop
    └── ServiceUnavailable       Redis or Kafka cannot be reached: pause and retry, never drop

A bad *event* is not an exception at all: the decoder turns it into a
dead-letter record with a reason, and the daemon goes on. Only the daemon's
run loop decides between "retry" (``ServiceUnavailable``) and "stop" (the rest).
"""

from __future__ import annotations


class DriftMonitorError(Exception):
    """Base class of every error drift-monitor raises on purpose."""


class ConfigError(DriftMonitorError):
    """The configuration is invalid; ``problems`` lists every error found, each naming its path."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in self.problems))


class ReferenceDataError(DriftMonitorError):
    """A reference file or stored profile is missing, empty or unreadable."""


class StateError(DriftMonitorError):
    """State read back from Redis is corrupt or from an incompatible version."""


class ServiceUnavailable(DriftMonitorError):
    """A backing service (Redis, Kafka) is unreachable; the caller retries without losing data."""
