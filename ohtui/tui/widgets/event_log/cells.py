"""An expanded cell as a wrapped document: its body lines, how many screen lines each takes, and those drawn.

A 3,000-line output, or a megabyte of it, is one row of the log; drawing all of it to show a screenful made every key
press wait for the whole cell. Here each body line's height is known without drawing it when it is short and plain
(one line), estimated otherwise from its width, and made exact when it is first drawn; ``starts`` (prefix sums) maps a
screen line of the cell to its body line by bisection, and only the lines asked for are drawn (and kept, a bounded
number). The cell's height can change as lines are drawn; the widget then moves the rows below.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Callable, Sequence
from itertools import accumulate

from rich.cells import cell_len
from textual.strip import Strip

from ohtui.protocol.summary import clean

DrawLine = Callable[[str, str], list[Strip]]
"""Draws one body line (text, style) wrapped at the cell's width."""

KEPT_LINES = 2000
"""Drawn body lines kept per cell (a few screenfuls); beyond that the oldest are drawn again when seen."""


def _plain_height(line: str, room: int) -> tuple[int, bool]:
    """A body line's screen lines, and whether that is exact without drawing it."""
    if len(line) <= room and line.isascii() and line.isprintable():
        return 1, True
    width = cell_len(clean(line))
    return max(1, -(-width // room)), False


class ExpandedCell:
    """The header strip and body lines of an expanded cell, drawn a line at a time."""

    def __init__(self, header: Strip, lines: Sequence[tuple[str, str]], room: int, draw: DrawLine) -> None:
        self.header = header
        self.lines = lines
        self.draw = draw
        heights = array("l")
        exact = bytearray(len(lines))
        for index, (line, _) in enumerate(lines):
            height, known = _plain_height(line, room)
            heights.append(height)
            exact[index] = known
        self.heights = heights
        self.exact = exact
        self.starts = array("l", accumulate(heights, initial=0))
        self.drawn: dict[int, list[Strip]] = {}

    @property
    def height(self) -> int:
        return 1 + self.starts[-1]

    def strip(self, y: int) -> Strip:
        """Screen line ``y`` of the cell (0 is the header); blank past the end."""
        if y == 0:
            return self.header
        index = bisect_right(self.starts, y - 1) - 1
        if index >= len(self.lines):
            return Strip.blank(self.header.cell_length)
        strips = self._drawn(index)
        offset = y - 1 - self.starts[index]
        return strips[offset] if offset < len(strips) else Strip.blank(self.header.cell_length)

    def settle(self, first: int, last: int) -> bool:
        """Draw the body lines shown on screen lines ``first`` to ``last`` of the cell, so their heights are exact.
        Returns whether the cell's height changed."""
        before = self.height
        y = max(first, 1)
        while y <= last and y < self.height:
            index = bisect_right(self.starts, y - 1) - 1
            if index >= len(self.lines):
                break
            self._drawn(index)
            y = 1 + self.starts[index + 1]
        return self.height != before

    def _drawn(self, index: int) -> list[Strip]:
        strips = self.drawn.get(index)
        if strips is None:
            if len(self.drawn) >= KEPT_LINES:
                self.drawn.clear()
            line, style = self.lines[index]
            strips = self.drawn[index] = self.draw(line, style)
            if not self.exact[index]:
                self.exact[index] = True
                if len(strips) != self.heights[index]:
                    self.heights[index] = len(strips)
                    self.starts[index + 1 :] = array("l", accumulate(self.heights[index:], initial=self.starts[index]))[
                        1:
                    ]
        return strips

    def all_strips(self) -> list[Strip]:
        """Every line (for tests and copying: draws the whole cell)."""
        return [self.header, *(strip for index in range(len(self.lines)) for strip in self._drawn(index))]
