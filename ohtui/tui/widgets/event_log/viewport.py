"""The log's geometry as a screen sees it, without the widget: which rows are on a screen, measuring them, where
a page key moves the cursor, how far to scroll to show a row, and expanding or collapsing a cell."""

from __future__ import annotations

from ohtui.tui.widgets.event_log.event_rows import RowKind
from ohtui.tui.widgets.event_log.model import Transcript
from ohtui.tui.widgets.event_log.paint import Painter
from ohtui.tui.widgets.event_log.rows import EXPANDED, Row

MEASURE_PASSES = 3
"""Rounds of measuring per frame: rows that shrink bring more rows on screen, which are measured too (read with
the first, which reads half a screen more on either side)."""


def needs_measure(row: Row, width: int) -> bool:
    """Whether the row's height may be an estimate at ``width`` (an expanded cell's lines on screen may be)."""
    if row.flags & EXPANDED or not row.exact:
        return True
    return row.form is RowKind.PROSE and row.measured != width


class Viewport:
    """The transcript's rows between content lines ``top`` and ``top + height``, drawn by ``painter``."""

    def __init__(self, model: Transcript, painter: Painter) -> None:
        self.model = model
        self.painter = painter

    def on_screen(self, top: int, height: int) -> list[tuple[Row, int]]:
        """The rows on a screen starting at content line ``top``, each with its first content line."""
        heights, view = self.model.heights, self.model.view
        index = heights.row_at(top)
        if index < 0:
            index = max(len(view) - 1, 0)
        shown: list[tuple[Row, int]] = []
        y = heights.top(index) if index < len(view) else 0
        while index < len(view) and y < top + height:
            row = view[index]
            shown.append((row, y))
            y += row.height
            index += 1
        return shown

    def measure(self, top: int, height: int) -> bool:
        """Read the models of the rows on screen (one loader call) and measure those whose height is not known at
        this width. Returns whether any height changed."""
        width = self.model.geometry.width
        changed = False
        margin = height // 2  # rows that estimates shrinking may bring on screen: read in the same call
        self.painter.load(row for row, _ in self.on_screen(max(top - margin, 0), height + 2 * margin))
        for _ in range(MEASURE_PASSES):
            shown = self.on_screen(top, height)
            self.painter.load(row for row, _ in shown)
            moved = False
            for row, y in shown:
                if needs_measure(row, width):
                    measured = self.painter.measure(row, width, top - y, top + height - 1 - y)
                    moved = self.model.set_height(row, measured) or moved
            changed = changed or moved
            if not moved:
                break
        return changed

    def page_target(self, index: int, direction: int, height: int) -> int:
        """The row a page key moves the cursor to from row ``index``: a screen up or down, at least one row."""
        heights = self.model.heights
        target = heights.row_at(max(heights.top(index) + direction * max(height - 1, 1), 0))
        if target < 0:
            target = len(self.model.view) - 1
        return target + direction if target == index else target

    def scroll_for(self, row: Row, scroll_y: int, height: int) -> int | None:
        """Where to scroll so the row is on screen (its top, if it is taller than the screen); None: it is."""
        index = self.model.view_index(row)
        if index < 0:
            return None
        top = self.model.heights.top(index)
        if top < scroll_y:
            return top
        if top + row.height > scroll_y + height:
            return min(top, top + row.height - height)
        return None

    def toggle(self, row: Row, height: int) -> bool:
        """Expand or collapse the cell (its counts made exact first). Returns whether it changed."""
        self.painter.settle(row)
        if not self.model.geometry.expandable(row):
            return False
        row.flags ^= EXPANDED
        row.version += 1
        row.measured = -1
        self.model.set_height(row, self.painter.measure(row, self.model.geometry.width, 0, height))
        return True
