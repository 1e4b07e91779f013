"""The log's geometry: the columns of a row, each row's height (exact or estimated), and where each row starts.

:class:`HeightIndex` keeps the prefix sums of the shown rows' heights in an ``array`` (8 bytes a row), so the row
covering a content line is found by bisection. Appends keep it valid in O(1); a change in the middle marks it stale
from that row, and the next read rebuilds the tail with ``itertools.accumulate``. Heights are exact for separators and
collapsed cells whose line counts came from a model; chat messages and expanded cells depend on the width, and rows
made from text alone have estimated counts: those start from :func:`estimate` and are measured when shown.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate, islice
from typing import NamedTuple

from ohtui.tui.widgets.event_log.event_rows import RowKind
from ohtui.tui.widgets.event_log.rows import EXPANDED, Row


class Layout(NamedTuple):
    """Columns of a row: gutter, ``HH:MM:SS`` (wide only), `` agent `` badge, then kind, mark and summary.

    Message text and cell bodies start under the kind column (``text``); body lines sit behind a ``│`` guide.
    """

    time: bool
    text: int

    @property
    def body(self) -> int:
        return self.text + 2


WIDE = Layout(time=True, text=18)
NARROW = Layout(time=False, text=9)
NARROW_BELOW = 64
"""Below this many columns the time column goes, so a side-by-side layout at 80x24 keeps room for summaries."""


@dataclass
class Geometry:
    """The width rows are laid out at, its layout, and how many body lines a collapsed cell shows."""

    width: int = 80
    layout: Layout = WIDE
    preview_lines: int = 3

    def resize(self, width: int) -> bool:
        """A new width; returns whether the layout (the columns) changed with it."""
        self.width = width
        layout = NARROW if width < NARROW_BELOW else WIDE
        changed = layout != self.layout
        self.layout = layout
        return changed

    def collapsed(self, body: int) -> int:
        """Height of a collapsed cell with ``body`` lines: its header, up to the preview, ``… N more lines``."""
        limit = self.preview_lines + 1
        return 1 + (body if body <= limit else limit)

    def expandable(self, row: Row) -> bool:
        return row.form is RowKind.CELL and row.body > self.preview_lines + 1


def estimate(row: Row, geometry: Geometry) -> int:
    """The row's height from its counts, before it is rendered (exact for separators and collapsed cells)."""
    if row.form is RowKind.SEPARATOR:
        return 1
    if row.form is RowKind.PROSE:
        return wrapped_estimate(row.size, row.lines, geometry.width - geometry.layout.text)
    if not row.flags & EXPANDED:
        return geometry.collapsed(row.body)
    return 1 + row.body


def wrapped_estimate(size: int, newlines: int, room: int) -> int:
    """Lines a text of ``size`` characters and ``newlines`` line breaks takes when wrapped at ``room`` cells."""
    room = max(room, 10)
    if size < room and not newlines:
        return 1
    return newlines + 1 + size // room


class HeightIndex:
    """Where each shown row starts: ``offsets[i]`` is the first content line of ``rows[i]``."""

    __slots__ = ("offsets", "rows", "valid")

    def __init__(self, rows: Sequence[Row]) -> None:
        self.reset(rows)

    def reset(self, rows: Sequence[Row]) -> None:
        self.rows = rows
        self.offsets = array("q", [0])
        self.valid = 0

    def invalidate(self, index: int) -> None:
        """Rows from ``index`` on moved or changed height."""
        if index < self.valid:
            self.valid = max(index, 0)

    def appended(self) -> None:
        """One row was appended to ``rows``: extend the sums at once if they were complete."""
        count = len(self.rows)
        if self.valid == count - 1 and len(self.offsets) == count:
            self.offsets.append(self.offsets[-1] + self.rows[-1].height)
            self.valid = count

    def ensure(self) -> None:
        rows, offsets = self.rows, self.offsets
        count = len(rows)
        if self.valid >= count and len(offsets) == count + 1:
            return
        start = min(self.valid, count)
        del offsets[start + 1 :]
        heights = (row.height for row in islice(rows, start, None))
        offsets.extend(islice(accumulate(heights, initial=offsets[start]), 1, None))
        self.valid = count

    def total(self) -> int:
        self.ensure()
        return self.offsets[-1]

    def top(self, index: int) -> int:
        """The first content line of row ``index``."""
        self.ensure()
        return self.offsets[index]

    def row_at(self, y: int) -> int:
        """Index of the row covering content line ``y``; -1 past the end."""
        self.ensure()
        if y < 0 or y >= self.offsets[-1]:
            return -1
        return bisect_right(self.offsets, y) - 1
