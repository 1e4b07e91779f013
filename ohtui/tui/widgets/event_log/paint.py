"""Between the transcript and the screen: a row's models (through :class:`Models`), its strips, its true height.

Rows are drawn whole and kept in a bounded LRU keyed by the width, the row's version and the styles' generation,
except expanded cells, which are drawn a line at a time (:class:`ExpandedCell`). Measuring a row makes its counts
exact from its models (a row made from text alone starts from estimates) and, for wrapped rows, draws it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Generic, TypeVar

from textual.strip import Strip

from ohtui.protocol import Event
from ohtui.tui.widgets.event_log.cells import ExpandedCell
from ohtui.tui.widgets.event_log.event_rows import RowKind, traits
from ohtui.tui.widgets.event_log.loading import Models
from ohtui.tui.widgets.event_log.render import RowRenderer, body_lines
from ohtui.tui.widgets.event_log.rows import EXPANDED, Row, count_exactly

KEPT_ROWS = 1024
"""Rows kept drawn: a few screenfuls (a row's strips are a few kilobytes)."""
KEPT_CELLS = 8
"""Expanded cells kept with their drawn lines."""


Key = tuple[int, int, int]
"""What a row was drawn at: the width, the row's version, the styles' generation."""
_Drawn = TypeVar("_Drawn")


class _Kept(Generic[_Drawn]):
    """What was drawn for the last ``size`` rows used, each with the key it was drawn at."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._kept: OrderedDict[Row, tuple[Key, _Drawn]] = OrderedDict()

    def get(self, row: Row, key: Key) -> _Drawn | None:
        found = self._kept.get(row)
        if found is None or found[0] != key:
            return None
        self._kept.move_to_end(row)
        return found[1]

    def put(self, row: Row, key: Key, drawn: _Drawn) -> _Drawn:
        self._kept[row] = (key, drawn)
        self._kept.move_to_end(row)
        if len(self._kept) > self.size:
            self._kept.popitem(last=False)
        return drawn

    def clear(self) -> None:
        self._kept.clear()


class Painter:
    """Draws and measures rows at a width, reading their models through ``models``."""

    def __init__(self, models: Models, renderer: RowRenderer) -> None:
        self.models = models
        self.renderer = renderer
        self.generation = 0
        """Bumped when the styles change: everything kept is drawn again."""
        self._strips: _Kept[list[Strip]] = _Kept(KEPT_ROWS)
        self._cells: _Kept[ExpandedCell] = _Kept(KEPT_CELLS)

    def clear(self) -> None:
        self._strips.clear()
        self._cells.clear()

    def load(self, rows: Iterable[Row]) -> None:
        """The models of these rows and their children, read in one loader call if any is missing."""
        self.models.load(entry for row in rows for entry in row.entries())

    def events(self, row: Row) -> list[Event]:
        """The row's head and children, as models."""
        entries = row.entries()
        if len(entries) > 1:
            self.models.load(entries)
        return [self.models.get(entry) for entry in entries]

    def settle(self, row: Row) -> list[Event]:
        """Make the row's counts (and form) those of its models; returns the models."""
        events = self.events(row)
        form = traits(events[0]).kind  # a body that turned out unreadable is drawn as a cell
        if row.exact and form is row.form:
            return events
        row.form = form
        count_exactly(row, events[0], as_child=False)
        for child, event in zip(row.children or (), events[1:], strict=True):
            count_exactly(child, event, as_child=True)
        row.version += 1
        return events

    def measure(self, row: Row, width: int, first: int = 0, last: int = 0) -> int:
        """The row's true height at ``width``; an expanded cell draws its lines ``first`` to ``last`` to know it."""
        self.settle(row)
        if row.form is RowKind.SEPARATOR:
            return 1
        if row.flags & EXPANDED:
            cell = self.cell(row, width)
            cell.settle(first, last)
            return cell.height
        if row.form is RowKind.PROSE:
            row.measured = width
            return len(self.strips(row, width))
        return self.renderer.geometry.collapsed(row.body)

    def strips(self, row: Row, width: int) -> list[Strip]:
        """Every line of the row (an expanded cell drawn whole: for tests and copying)."""
        if row.flags & EXPANDED:
            return self.cell(row, width).all_strips()
        strips = self._strips.get(row, self._key(row, width))
        if strips is None:
            events = self.settle(row)  # first: counting may change the version
            strips = self._strips.put(row, self._key(row, width), self.renderer.row(row.form, events, width, False))
        return strips

    def strip(self, row: Row, width: int, y: int) -> Strip:
        """Line ``y`` of the row; blank past its end."""
        if row.flags & EXPANDED:
            return self.cell(row, width).strip(y)
        strips = self.strips(row, width)
        return strips[y] if y < len(strips) else Strip.blank(width)

    def cell(self, row: Row, width: int) -> ExpandedCell:
        cell = self._cells.get(row, self._key(row, width))
        if cell is None:
            events = self.settle(row)
            renderer = self.renderer
            drawn = ExpandedCell(
                renderer.header(events, width),
                body_lines(events),
                renderer.room(width),
                lambda line, style: renderer.body_line(line, style, width, expanded=True),
            )
            cell = self._cells.put(row, self._key(row, width), drawn)
        return cell

    def _key(self, row: Row, width: int) -> Key:
        return (width, row.version, self.generation)
