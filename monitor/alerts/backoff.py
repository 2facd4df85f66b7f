"""When to try a failed delivery again: exponential backoff with jitter, and Retry-After.

Pure functions with the random source injected, so tests pin the schedule.
"""

from __future__ import annotations

import random
from email.utils import parsedate_to_datetime

RETRY_AFTER_CAP_SECONDS = 3600.0
"""A receiver may ask for a pause; one asking for more than an hour is capped, not obeyed."""


def backoff_seconds(
    attempt: int, initial: float, maximum: float, rng: random.Random | None = None
) -> float:
    """Delay after failed attempt number ``attempt`` (1-based): ``initial * 2**(attempt-1)``,
    capped at ``maximum``, then scaled by a random factor in [0.5, 1] ("equal jitter"), so
    instances that failed together do not retry together while the delay still grows."""
    base = min(maximum, initial * 2.0 ** max(attempt - 1, 0))
    return base * (0.5 + 0.5 * (rng or random).random())


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = when.timestamp() - now
    return min(max(seconds, 0.0), RETRY_AFTER_CAP_SECONDS)


def next_delay(
    attempt: int,
    initial: float,
    maximum: float,
    retry_after: float | None,
    rng: random.Random | None = None,
) -> float:
    """Our backoff, but never sooner than the receiver asked."""
    delay = backoff_seconds(attempt, initial, maximum, rng)
    return delay if retry_after is None else max(delay, retry_after)
