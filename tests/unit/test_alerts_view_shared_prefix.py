"""The part of the dedup keys that ``drift-monitor alerts`` prints once, above them."""

from __future__ import annotations

from monitor.alerts_view import shared_prefix


def test_the_shared_prefix_stops_at_the_first_part_the_keys_differ_in() -> None:
    assert shared_prefix(["m/feature_drift/a", "m/data_quality/a"]) == "m/"


def test_the_shared_prefix_leaves_every_key_its_last_part() -> None:
    assert shared_prefix(["m/feature_drift/amount"]) == "m/feature_drift/"
    assert shared_prefix(["m/feature_drift/a", "m/feature_drift/a/b"]) == "m/feature_drift/"


def test_keys_without_a_shared_part_have_no_prefix() -> None:
    assert shared_prefix(["amount", "age"]) == ""
    assert shared_prefix([]) == ""
