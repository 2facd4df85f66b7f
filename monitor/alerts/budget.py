"""The false-alarm budget: from "at most F false alarms a week" to each window's significance.

A user states what they can live with, per model: ``drift.false_alarms_per_week: F``
or ``drift.false_alarms_per_million_events: G``. Each window is judged at the
family-wise level

    alpha_window = F / W      with W = 604800 s / (the window's duration in event time)
    alpha_window = G / M      with M = 1,000,000 / (the window's events)

and the evaluation's correction (Bonferroni or Holm) spreads ``alpha_window``
over the window's ``m`` tests, so a single test is significant below
``alpha_window / m``: Bonferroni over tests x windows-per-week (or per million
events). Under no drift, each window raises a drifted result with probability at
most ``alpha_window``, so the expected number of windows with a false alarm in a
week is at most ``W * alpha_window = F``; an alert (``for_windows: 1``) fires
only from such a window, so false alarms (episodes) are bounded by the same ``F``.
Methods that share a test (PSI, Jensen-Shannon, Wasserstein and KS of one numeric
signal share its KS test) are one test, as they reject together.

The window's duration is observed, not configured: an event-time window lasts its
``seconds``; a count window of ``N`` events lasts from its first to its last event
time, times ``N / (n - 1)`` for its ``n`` events so far (``N / (N - 1)`` once full: the
gap to the next window's first event). A window whose
duration cannot be observed (fewer than two events, or every event at one time)
falls back to ``drift.alpha``. Either way the result is a function of the
window's stored counts and times, so a window evaluated again after a crash gets
the same significance, and a replay the same decisions as the live stream.
``alpha_window`` never exceeds :data:`MAX_WINDOW_ALPHA`: a budget larger than the
windows a week holds (daily windows, a budget of 10 a week) is not spent on noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from monitor.config import DriftConfig, WindowConfig

SECONDS_PER_WEEK = 7 * 86400.0
EVENTS_PER_MILLION = 1_000_000.0
MAX_WINDOW_ALPHA = 0.05
"""The loosest family-wise significance a budget gives one window."""

Source = Literal["budget", "capped", "fallback"]


@dataclass(frozen=True, slots=True)
class WindowBudget:
    """The significance one window is judged at, and the false-alarm rate it implies."""

    alpha: float
    """Family-wise significance of the window's tests (before the correction over them)."""
    source: Source
    """``budget``: derived; ``capped``: derived, then held at :data:`MAX_WINDOW_ALPHA`;
    ``fallback``: ``drift.alpha``, the window's rate being unobservable."""
    false_alarms_per_week: float | None = None
    false_alarms_per_million_events: float | None = None
    windows_per_week: float | None = None
    windows_per_million_events: float | None = None

    @property
    def implied_per_week(self) -> float | None:
        """Expected false alarms a week at this window's rate: ``W * alpha`` (an upper bound)."""
        return None if self.windows_per_week is None else self.windows_per_week * self.alpha

    @property
    def implied_per_million_events(self) -> float | None:
        """Expected false alarms per million events: ``M * alpha`` (an upper bound)."""
        if self.windows_per_million_events is None:
            return None
        return self.windows_per_million_events * self.alpha

    def to_dict(self) -> dict[str, Any]:
        return {
            "false_alarms_per_week": self.false_alarms_per_week,
            "false_alarms_per_million_events": self.false_alarms_per_million_events,
            "alpha_per_window": self.alpha,
            "source": self.source,
            "windows_per_week": self.windows_per_week,
            "windows_per_million_events": self.windows_per_million_events,
            "implied_false_alarms_per_week": self.implied_per_week,
            "implied_false_alarms_per_million_events": self.implied_per_million_events,
        }


def window_seconds(
    window: WindowConfig, events: int, start_ts: float, end_ts: float
) -> float | None:
    """How long a window lasts in event time; None when its events do not say."""
    if window.seconds is not None:
        return window.seconds
    span = end_ts - start_ts
    if events < 2 or not span > 0:  # also refuses NaN
        return None
    # A count window still open (a checkpoint look) is timed as it will be when full.
    full = window.events if window.events is not None else events
    return span * full / (events - 1)


def window_budget(
    drift: DriftConfig, window: WindowConfig, events: int, start_ts: float, end_ts: float
) -> WindowBudget | None:
    """The significance of one closed window under the model's budget; None without one."""
    if not drift.budgeted:
        return None
    seconds = window_seconds(window, events, start_ts, end_ts)
    per_week = None if seconds is None else SECONDS_PER_WEEK / seconds
    size = window.events if window.events is not None else events
    per_million = EVENTS_PER_MILLION / size if size > 0 else None
    if drift.false_alarms_per_week is not None:
        derived = None if per_week is None else drift.false_alarms_per_week / per_week
    else:
        assert drift.false_alarms_per_million_events is not None
        budget = drift.false_alarms_per_million_events
        derived = None if per_million is None else budget / per_million
    source: Source
    if derived is None:
        alpha, source = drift.alpha, "fallback"
    elif derived > MAX_WINDOW_ALPHA:
        alpha, source = MAX_WINDOW_ALPHA, "capped"
    else:
        alpha, source = derived, "budget"
    return WindowBudget(
        alpha=alpha,
        source=source,
        false_alarms_per_week=drift.false_alarms_per_week,
        false_alarms_per_million_events=drift.false_alarms_per_million_events,
        windows_per_week=per_week,
        windows_per_million_events=per_million,
    )
