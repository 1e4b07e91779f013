"""The transcript: every event of a conversation as rows, grouped, deduplicated, ordered by id, and filtered.

Pure (no Textual): the widget renders it, and the tests drive it with records alone. Grouping follows ``cause``: an
observation whose action is held and can host it becomes a child of that action's row; one whose action has not
arrived yet (an orphan) stands alone until it does, then moves under it. Duplicates by id are dropped; events
without an id sort after the highest id seen when they arrived. ``view`` is the rows the filter passes, in order,
with their :class:`~ohtui.tui.widgets.event_log.heights.HeightIndex`. Nothing here holds a model or a text.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable
from sys import intern

from ohtui.protocol.record import EventRecord
from ohtui.tui.widgets.event_log.event_rows import SOURCE_ALIASES, RowKind
from ohtui.tui.widgets.event_log.heights import Geometry, HeightIndex, estimate
from ohtui.tui.widgets.event_log.rows import (
    HOST,
    ID_STEP,
    NOISE,
    SHOWN,
    Entry,
    Row,
    SeenIds,
    as_child,
    kind_of,
    make_entry,
    row_key,
)


def index_of(rows: list[Row], row: Row) -> int:
    """Where ``row`` itself is in ``rows`` (sorted by key; several rows may share a key), or -1."""
    index = bisect_left(rows, row.key, key=row_key)
    while index < len(rows) and rows[index].key == row.key:
        if rows[index] is row:
            return index
        index += 1
    return -1


def _record_order(record: EventRecord) -> float:
    event_id = record.id
    return event_id if event_id is not None else float("inf")


class Transcript:
    """Rows by key (``rows``), the shown ones (``view``), where they start (``heights``), and the cursor."""

    def __init__(self, geometry: Geometry | None = None) -> None:
        self.geometry = geometry or Geometry()
        self.rows: list[Row] = []
        self.view: list[Row] = []
        self.heights = HeightIndex(self.view)
        self.cursor: Row | None = None
        self.on_touch: Callable[[Row], None] | None = None
        """Told of every row added, removed or given a child (the search keeps its matches with it)."""
        self.event_count = 0
        self.latest_id = -1
        self._orphans: dict[int, list[Row]] = {}
        self._seen = SeenIds()
        self._no_id = 0
        self._kinds: frozenset[str] | None = None
        self._sources: frozenset[str] | None = None
        self._hide_noise = True

    def clear(self) -> None:
        self.rows = []
        self.view = []
        self.heights.reset(self.view)
        self.cursor = None
        self.event_count = 0
        self.latest_id = -1
        self._orphans.clear()
        self._seen.clear()
        self._no_id = 0

    # -- ingest -----------------------------------------------------------------------------------------------------
    def add(self, records: Iterable[EventRecord]) -> list[tuple[Entry, EventRecord]]:
        """Take a batch (thousands at once during a replay), in id order; duplicates by id are dropped. Returns the
        entries made, each with its record (the caller may keep what it needs from it; this keeps nothing)."""
        made: list[tuple[Entry, EventRecord]] = []
        for record in sorted(records, key=_record_order):
            entry = self._ingest(record)
            if entry is not None:
                made.append((entry, record))
        return made

    def _key(self, event_id: int | None) -> int | None:
        if event_id is not None:
            if not self._seen.add(event_id):
                return None
            if event_id > self.latest_id:
                self.latest_id = event_id
                self._no_id = 0
            return event_id * ID_STEP
        self._no_id = min(self._no_id + 1, ID_STEP - 1)
        return self.latest_id * ID_STEP + self._no_id

    def _ingest(self, record: EventRecord) -> Entry | None:
        key = self._key(record.id)
        if key is None:
            return None
        self.event_count += 1
        kind, acts, cause = intern(record.kind), record.is_action, record.cause
        found, noise = kind_of(record, kind, acts)
        if cause is not None and not acts:
            host = self.find_row(cause)
            if host is not None and host.flags & HOST:
                child = make_entry(record, key, kind, acts, None)
                self._attach(host, child)
                return child
        row = make_entry(record, key, kind, acts, found.kind)
        assert isinstance(row, Row)
        if noise:
            row.flags |= NOISE
        elif found.action and key % ID_STEP == 0:
            row.flags |= HOST
            for orphan in self._orphans.pop(key // ID_STEP, ()):
                self._remove_row(orphan)
                self._adopt(row, as_child(orphan))
        if row.form is RowKind.CELL and not row.children:
            row.height = self.geometry.collapsed(row.lines)
        else:
            row.height = estimate(row, self.geometry)
        if cause is not None and not acts and self.find_row(cause) is None:
            self._orphans.setdefault(cause, []).append(row)  # its action may come later (a gap repaired)
        self._insert_row(row)
        return row

    def _adopt(self, host: Row, child: Entry) -> None:
        children = host.children
        if children is None:
            host.children = [child]
        elif children[-1].key < child.key:
            children.append(child)
        else:
            insort(children, child, key=row_key)
        host.version += 1
        self._touch(host)

    def _attach(self, host: Row, child: Entry) -> None:
        self._adopt(host, child)
        self.restate(host)
        shown = self.passes(host)
        if host.flags & SHOWN:
            if not shown:
                self._view_remove(host)
        elif shown:
            self._view_insert(host)

    def restate(self, row: Row) -> None:
        """The row's counts changed (a child, an expansion, exact counts): its height from them again."""
        row.measured = -1
        self.set_height(row, estimate(row, self.geometry))

    def _insert_row(self, row: Row) -> None:
        rows = self.rows
        if not rows or rows[-1].key <= row.key:
            rows.append(row)
        else:
            rows.insert(bisect_right(rows, row.key, key=row_key), row)
        self._touch(row)
        if self._kinds is None and self._sources is None:
            shown = not (self._hide_noise and row.flags & NOISE)
        else:
            shown = self.passes(row)
        if shown:
            self._view_insert(row)

    def _remove_row(self, row: Row) -> None:
        index = index_of(self.rows, row)
        if index >= 0:
            del self.rows[index]
        self._touch(row)
        if row.flags & SHOWN:
            self._view_remove(row)

    def _touch(self, row: Row) -> None:
        if self.on_touch is not None:
            self.on_touch(row)

    # -- the view ---------------------------------------------------------------------------------------------------
    def _view_insert(self, row: Row) -> None:
        view = self.view
        row.flags |= SHOWN
        if not view or view[-1].key <= row.key:
            view.append(row)
            self.heights.appended()
            return
        index = bisect_right(view, row.key, key=row_key)
        view.insert(index, row)
        self.heights.invalidate(index)

    def _view_remove(self, row: Row) -> None:
        index = self.view_index(row)
        row.flags &= ~SHOWN
        if index < 0:
            return
        del self.view[index]
        self.heights.invalidate(index)
        if row is self.cursor:
            self.cursor = self.view[min(index, len(self.view) - 1)] if self.view else None

    def view_index(self, row: Row) -> int:
        view = self.view
        if view and view[-1] is row:
            return len(view) - 1
        return index_of(view, row) if row.flags & SHOWN else -1

    def set_height(self, row: Row, height: int) -> bool:
        """Returns whether the height changed."""
        if row.height == height:
            return False
        row.height = height
        if row.flags & SHOWN:
            self.heights.invalidate(self.view_index(row))
        return True

    def find_row(self, event_id: int) -> Row | None:
        """The top-level row of the event with this id (None for a grouped observation or an unknown id)."""
        key = event_id * ID_STEP
        rows = self.rows
        if rows and rows[-1].key == key:
            return rows[-1]
        index = bisect_left(rows, key, key=row_key)
        if index < len(rows) and rows[index].key == key:
            return rows[index]
        return None

    # -- the filter -------------------------------------------------------------------------------------------------
    def set_filter(self, kinds: Iterable[str] | None, sources: Iterable[str] | None, hide_noise: bool) -> None:
        """Show only rows with one of ``kinds`` from one of ``sources`` (``None``: any); grouped observations count
        for their cell. ``hide_noise=False`` also shows the noise the web UI hides."""
        self._kinds = frozenset(kinds) if kinds is not None else None
        self._sources = (
            frozenset(SOURCE_ALIASES.get(source, source) for source in sources) if sources is not None else None
        )
        self._hide_noise = hide_noise
        view = [row for row in self.rows if self.passes(row)]
        for row in self.view:
            row.flags &= ~SHOWN
        for row in view:
            row.flags |= SHOWN
            if row.wraps and row.measured != self.geometry.width:
                row.height = estimate(row, self.geometry)
        self.view = view
        self.heights.reset(view)
        cursor = self.cursor
        if cursor is not None and not cursor.flags & SHOWN:
            index = bisect_left(view, cursor.key, key=row_key)
            self.cursor = view[min(index, len(view) - 1)] if view else None

    def passes(self, row: Row) -> bool:
        if self._hide_noise and row.flags & NOISE:
            return False
        kinds, sources = self._kinds, self._sources
        if kinds is not None and not any(entry.kind in kinds for entry in row.entries()):
            return False
        return sources is None or any(
            entry.source is not None and entry.source.value in sources for entry in row.entries()
        )

    def relayout(self) -> None:
        """The width changed: wrapped rows go back to estimates until they are measured again."""
        for index, row in enumerate(self.view):
            if row.wraps:
                row.measured = -1
                height = estimate(row, self.geometry)
                if height != row.height:
                    row.height = height
                    self.heights.invalidate(index)
