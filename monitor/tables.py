"""Plain tables that fit a terminal's width by giving up their least useful columns first.

rich's own tables shrink every column at once, so at 80 columns a 30-feature model's
names came out cut ("compactne…") while numbers nobody needed kept their room. Here
each column says what it may give up when the table is too wide: nothing (names),
its tail (free text), its place (numbers are useless half-shown), or its place in
the row for a line of its own below it (a long reason), and in which order
(``rank``, lowest first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich.text import Text

GAP = 2  # spaces between columns
INDENT = " " * 4  # before a cell moved below its row

Cell = str | Text


@dataclass(frozen=True, slots=True)
class Column:
    """A column and what it may give up when the table is too wide."""

    header: str
    align: Literal["left", "right"] = "left"
    shrink: Literal["never", "truncate", "drop", "below"] = "never"
    rank: int = 0  # columns of lower rank give way first
    min_width: int = 8  # how narrow ``truncate`` may make it


def widths(columns: Sequence[Column], natural: Sequence[int], width: int) -> list[int | None]:
    """Each column's width (``None``: not in the row) so the table fits ``width`` if it can.

    Columns give way by rank until the table fits; what can never shrink is kept whole
    even when that is wider than ``width``.
    """
    sizes: list[int | None] = list(natural)
    for index in sorted(range(len(columns)), key=lambda i: columns[i].rank):
        excess = _total(sizes) - width
        if excess <= 0:
            break
        column, size = columns[index], sizes[index]
        if size is None or column.shrink == "never":
            continue
        if column.shrink in ("drop", "below"):
            sizes[index] = None
        else:
            sizes[index] = max(min(column.min_width, size), size - excess)
    return sizes


def natural_width(columns: Sequence[Column], rows: Sequence[Sequence[Cell]]) -> int:
    """How wide the table is with nothing given up."""
    return _total(_natural(columns, rows))


def render(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], width: int) -> list[Text]:
    """The header and one line per row (and one below it per ``below`` column moved there),
    each at most ``width`` cells wide if it can be."""
    sizes = widths(columns, _natural(columns, rows), width)
    below = [
        i
        for i, (c, size) in enumerate(zip(columns, sizes, strict=True))
        if c.shrink == "below" and size is None
    ]
    lines = [_line(columns, sizes, [Text(column.header, style="bold") for column in columns])]
    for row in rows:
        cells = _cells(row)
        lines.append(_line(columns, sizes, cells))
        lines.extend(_indented(cells[i], width) for i in below if cells[i])
    return lines


def _cells(row: Sequence[Cell]) -> list[Text]:
    return [cell if isinstance(cell, Text) else Text(cell) for cell in row]


def _natural(columns: Sequence[Column], rows: Sequence[Sequence[Cell]]) -> list[int]:
    cells = [_cells(row) for row in rows]
    return [
        max([len(column.header), *(row[i].cell_len for row in cells)])
        for i, column in enumerate(columns)
    ]


def _total(sizes: Sequence[int | None]) -> int:
    shown = [size for size in sizes if size is not None]
    return sum(shown) + GAP * max(len(shown) - 1, 0)


def _indented(cell: Text, width: int) -> Text:
    line = Text(INDENT) + cell
    line.truncate(width, overflow="ellipsis")
    return line


def _line(columns: Sequence[Column], sizes: Sequence[int | None], cells: list[Text]) -> Text:
    parts: list[Text] = []
    for column, size, cell in zip(columns, sizes, cells, strict=True):
        if size is None:
            continue
        shown = cell.copy()
        shown.truncate(size, overflow="ellipsis")
        padding = " " * (size - shown.cell_len)
        parts.append(Text(padding) + shown if column.align == "right" else shown + padding)
    line = Text(" " * GAP).join(parts)
    line.rstrip()
    return line
