"""Times as a person reads them: a local date and how long ago, never a raw epoch."""

from __future__ import annotations

import re
import time

import pytest

from monitor.when import humanise_epochs, local_time, relative, when_cells

NOW = 1_796_552_901.9


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0.4, "now"),
        (42.9, "42 s ago"),
        (3 * 60 + 59, "3 min ago"),
        (2 * 3600 + 5, "2 h ago"),
        (86_400 + 1, "1 day ago"),
        (374 * 86_400, "374 days ago"),
    ],
)
def test_relative_time_is_given_in_the_largest_whole_unit(seconds: float, shown: str) -> None:
    assert relative(NOW - seconds, NOW) == shown


def test_a_future_time_reads_in_so_long() -> None:
    assert relative(NOW + 180, NOW) == "in 3 min"


def test_local_time_is_the_machines_local_date_in_iso_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    try:
        assert local_time(1_764_182_400.0) == "2025-11-26 19:40:00"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_when_cells_are_empty_for_no_time() -> None:
    assert when_cells(None, NOW) == ("", "")


def test_an_epoch_in_a_reason_becomes_a_date_and_how_soon() -> None:
    text = humanise_epochs("breaching, but cooling down until event time 1796553081.9", NOW)
    assert (
        text == f"breaching, but cooling down until event time {local_time(NOW + 180)} (in 3 min)"
    )


def test_window_ids_and_counts_in_a_reason_are_not_taken_for_epochs() -> None:
    reason = "breached 2 of 3 window(s); window 123456789012, 42 events"
    assert humanise_epochs(reason, NOW) == reason
    assert not re.search(r"\d{4}-\d\d-\d\d", humanise_epochs(reason, NOW))
