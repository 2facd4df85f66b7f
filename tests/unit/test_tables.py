"""Tables that fit a width by giving up their least useful columns, never their names."""

from __future__ import annotations

from rich.text import Text

from monitor.tables import Column, natural_width, render, widths

NAME = Column("name")
NOTE = Column("note", shrink="truncate", rank=1, min_width=6)
ID = Column("id", align="right", shrink="drop", rank=0)


def _plain(lines: list[Text]) -> list[str]:
    return [line.plain for line in lines]


def test_a_table_that_fits_keeps_every_column_at_its_natural_width() -> None:
    assert widths([NAME, NOTE, ID], [10, 20, 4], 80) == [10, 20, 4]


def test_columns_give_way_lowest_rank_first_and_only_as_far_as_needed() -> None:
    # 10 + 20 + 4 + two gaps of 2 = 38; at 36 the id (rank 0) goes and nothing else.
    assert widths([NAME, NOTE, ID], [10, 20, 4], 36) == [10, 20, None]
    assert widths([NAME, NOTE, ID], [10, 20, 4], 30) == [10, 18, None]


def test_a_truncated_column_stops_at_its_minimum_width() -> None:
    assert widths([NAME, NOTE], [30, 20], 20) == [30, 6]


def test_names_stay_whole_even_when_the_table_cannot_fit() -> None:
    lines = _plain(render([NAME, ID], [["a_feature_name_longer_than_the_width", "7"]], 20))
    assert lines[1] == "a_feature_name_longer_than_the_width"


def test_a_truncated_cell_ends_with_an_ellipsis() -> None:
    lines = _plain(render([NAME, NOTE], [["x", "a long free-text note"]], 12))
    assert lines[1] == "x     a lon…"


def test_right_aligned_numbers_line_up_under_their_header() -> None:
    lines = _plain(render([NAME, ID], [["a", "7"], ["b", "12"]], 80))
    assert lines == ["name  id", "a      7", "b     12"]


def test_a_below_column_moves_to_an_indented_line_under_its_row_when_the_row_is_too_wide() -> None:
    reason = Column("reason", shrink="below")
    rows = [["signal_a", "breaching, but cooling down for a while yet"]]
    assert _plain(render([NAME, reason], rows, 80)) == [
        "name      reason",
        "signal_a  breaching, but cooling down for a while yet",
    ]
    assert _plain(render([NAME, reason], rows, 30)) == [
        "name",
        "signal_a",
        "    breaching, but cooling do…",
    ]


def test_the_natural_width_counts_the_gaps_between_columns() -> None:
    assert natural_width([NAME, ID], [["abcdef", "123"]]) == len("abcdef  123")


def test_a_styled_cell_keeps_its_style_in_the_line() -> None:
    (_, line) = render([NAME], [[Text("critical", style="red")]], 80)
    assert line.plain == "critical"
    assert [span.style for span in line.spans] == ["red"]
