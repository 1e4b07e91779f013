"""The main pane: every event of a conversation as compact rows, virtualised with Textual's Line API.

Nothing here is a widget per event. Rows are small slotted objects (the protocol event, its grouped observations,
a height); ``_offsets`` is the prefix sum of the visible rows' heights, so ``render_line(y)`` finds its row by
bisection and renders only what is on screen. Rendered lines are cached per row and width in a bounded LRU.

Heights are exact for everything but wrapped text (chat messages and expanded cells), whose height depends on the
width: those start from an estimate and are measured when they first come into view, which corrects the offsets
below them. Appends keep the offsets valid in O(1); a change in the middle marks them stale from that row, and the
next read rebuilds the tail with ``itertools.accumulate``.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator
from itertools import accumulate, islice
from time import monotonic
from typing import ClassVar, NamedTuple

from rich.cells import cell_len
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from rich.theme import Theme
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.timer import Timer

from ohtui.protocol import (
    AgentState,
    AgentStateChangedObservation,
    Event,
    EventSource,
    InvalidEvent,
    MessageAction,
    OpaqueEvent,
)
from ohtui.protocol.summary import clean, clock_time, kind_label, state_label, summary
from ohtui.tui.heap import HeldCounter
from ohtui.tui.widgets.event_rows import (
    SOURCE_ALIASES,
    RowKind,
    body_blocks,
    count_lines,
    is_action,
    is_error,
    result_mark,
    search_text,
    source_label,
    traits,
)

KIND_WIDTH = 8
_KEPT_WHOLE = (OpaqueEvent, InvalidEvent)
"""Events kept whole (unknown, or invalid history): whether they act is read from their raw dict."""


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

_ID_STEP = 1024
"""Row keys are ``id * _ID_STEP + n``: events without an id sort after the highest id seen when they arrived."""

BURST_EVENTS = 200
"""Events added since the last repaint that make a burst (a replay): the log then repaints at most every
:data:`BURST_REPAINT` seconds. A repaint while following renders a screenful of new rows, and at the screen's 60 frames
a second, a replay into the app spent over half its time painting rows nobody could read."""
BURST_REPAINT = 0.25

_TOUCHED_LIMIT = 5000
"""Rows touched while a search is active past which the next step searches the whole view again instead."""

_BADGES = {"user": " user  ", "agent": " agent ", "env": "  env  ", "?": "   ?   "}
_MARKDOWN_THEME = Theme(
    {
        "markdown.code": "bold",
        "markdown.code_block": "none",
        "markdown.block_quote": "italic",
        "markdown.h1": "bold underline",
        "markdown.h2": "bold",
        "markdown.h3": "bold italic",
        "markdown.table.border": "dim",
        "markdown.table.header": "bold",
    }
)
"""Rich's defaults paint inline code ``on black``; drop every hard-coded background so light themes stay legible."""


class _Row:
    """One top-level cell: an event plus the observations it caused. ``height`` is exact or an estimate."""

    __slots__ = (
        "body",
        "children",
        "event",
        "expanded",
        "height",
        "key",
        "kind",
        "measured",
        "noise",
        "uid",
        "version",
    )

    def __init__(self, event: Event, key: int, uid: int, kind: RowKind, noise: bool) -> None:
        self.event = event
        self.key = key
        self.uid = uid
        self.kind = kind
        self.children: list[Event] | None = None
        self.expanded = False
        self.noise = noise
        self.body = 0
        self.height = 1
        self.measured = -1
        self.version = 0

    @property
    def wraps(self) -> bool:
        return self.kind is RowKind.PROSE or self.expanded

    def events(self) -> Iterator[Event]:
        yield self.event
        if self.children:
            yield from self.children


def _row_key(row: _Row) -> int:
    return row.key


def _index_of(rows: list[_Row], row: _Row) -> int:
    """Where ``row`` itself is in ``rows`` (sorted by key; several rows may share a key), or -1."""
    index = bisect_left(rows, row.key, key=_row_key)
    while index < len(rows) and rows[index].key == row.key:
        if rows[index] is row:
            return index
        index += 1
    return -1


def _event_order(event: Event) -> float:
    return event.id if event.id is not None else float("inf")


class EventLog(ScrollView, can_focus=True):
    """The conversation as rows: one line per event, actions with their observations, long output collapsed."""

    ALLOW_SELECT = False
    PREVIEW_LINES: ClassVar[int] = 3
    """Body lines a collapsed cell shows before ``… N more lines``."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Previous event", show=False, id="event_log.cursor_up"),
        Binding("down", "cursor_down", "Next event", show=False, id="event_log.cursor_down"),
        Binding("pageup", "page_up", "Page up", show=False, id="event_log.page_up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="event_log.page_down"),
        Binding("home", "first", "First event", show=False, id="event_log.first"),
        Binding("end", "last", "Last event, follow new ones", show=False, id="event_log.last"),
        Binding("enter", "toggle_row", "Expand/collapse", id="event_log.toggle"),
        Binding("n", "search_next", "Next match", show=False, id="event_log.search_next"),
        Binding("N", "search_previous", "Previous match", show=False, id="event_log.search_previous"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "event-log--time",
        "event-log--user",
        "event-log--agent",
        "event-log--env",
        "event-log--kind",
        "event-log--summary",
        "event-log--text",
        "event-log--user-text",
        "event-log--thought",
        "event-log--code",
        "event-log--output",
        "event-log--guide",
        "event-log--more",
        "event-log--ok",
        "event-log--pending",
        "event-log--error",
        "event-log--error-row",
        "event-log--added",
        "event-log--removed",
        "event-log--hunk",
        "event-log--separator",
        "event-log--unknown",
        "event-log--cursor",
        "event-log--cursor-bar",
        "event-log--match",
        "event-log--indicator",
    }

    DEFAULT_CSS = """
    EventLog {
        background: $surface;
        color: $foreground;
        overflow-x: hidden;
        overflow-y: scroll;
        scrollbar-size-vertical: 1;
        & > .event-log--time { color: $text-muted; }
        & > .event-log--user { background: $primary-muted; color: $text-primary; text-style: bold; }
        & > .event-log--agent { background: $accent-muted; color: $text-accent; text-style: bold; }
        & > .event-log--env { background: $panel; color: $text-muted; }
        & > .event-log--kind { color: $text-secondary; }
        & > .event-log--summary { color: $foreground; }
        & > .event-log--text { color: $foreground; }
        & > .event-log--user-text { color: $foreground; text-style: bold; }
        & > .event-log--thought { color: $text-muted; text-style: italic; }
        & > .event-log--code { color: $text-primary; }
        & > .event-log--output { color: $foreground; }
        & > .event-log--guide { color: $text-muted; }
        & > .event-log--more { color: $text-accent; text-style: italic; }
        & > .event-log--ok { color: $text-success; text-style: bold; }
        & > .event-log--pending { color: $text-warning; text-style: bold; }
        & > .event-log--error { color: $text-error; text-style: bold; }
        & > .event-log--error-row { background: $error-muted; }
        & > .event-log--added { color: $text-success; }
        & > .event-log--removed { color: $text-error; }
        & > .event-log--hunk { color: $text-accent; }
        & > .event-log--separator { color: $text-muted; }
        & > .event-log--unknown { color: $text-warning; text-style: italic; }
        & > .event-log--cursor { background: $boost; }
        & > .event-log--cursor-bar { color: $text-muted; }
        & > .event-log--match { background: $warning-muted; text-style: bold underline; }
        & > .event-log--indicator { background: $accent; color: $text; text-style: bold; }
        &:focus > .event-log--cursor { background: $primary 15%; }
        &:focus > .event-log--cursor-bar { color: $text-accent; }
    }
    """

    def __init__(
        self,
        *,
        preview_lines: int | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self.preview_lines = self.PREVIEW_LINES if preview_lines is None else preview_lines
        self._rows: list[_Row] = []
        self._view: list[_Row] = []
        self._shown: set[int] = set()
        self._offsets: list[int] = [0]
        self._valid = 0
        self._hosts: dict[int, _Row] = {}
        self._orphans: dict[int, list[_Row]] = {}
        self._seen: set[int] = set()
        self._max_id = -1
        self._no_id = 0
        self._uid = 0
        self._width = 80
        self._layout = WIDE
        self._kinds: frozenset[str] | None = None
        self._sources: frozenset[str] | None = None
        self._hide_noise = True
        self._cursor: _Row | None = None
        self._following = True
        self._new_count = 0
        self._search = ""
        self._matches: list[_Row] = []
        self._match_index = -1
        self._matches_stale = False  # the whole view must be searched again (a filter changed)
        # Rows added, removed or given a child since the matches were collected, while a search is active: stepping
        # to the next match checks only these, not every row (0.6 s with 100,000 events).
        self._touched: list[_Row] = []
        self._strips: LRUCache[int, tuple[tuple[int, int, int], list[Strip]]] = LRUCache(4096)
        self._style_generation = 0
        self._styles: dict[str, Style] = {}
        self._held = HeldCounter()
        self._synced_at = float("-inf")
        self._unsynced = 0
        self._sync_timer: Timer | None = None

    # ------------------------------------------------------------------ public API

    @property
    def following(self) -> bool:
        """Whether new events scroll the view (true while the user is at the bottom)."""
        return self._following

    @property
    def new_count(self) -> int:
        """Rows that arrived since the user scrolled away from the bottom."""
        return self._new_count

    @property
    def row_count(self) -> int:
        """Visible top-level rows (after grouping and the filter)."""
        return len(self._view)

    @property
    def latest_id(self) -> int:
        """The highest event id held, -1 when there is none."""
        return self._max_id

    @property
    def event_count(self) -> int:
        """Every event held, hidden or not."""
        return sum(1 + len(row.children or ()) for row in self._rows)

    @property
    def cursor_event(self) -> Event | None:
        return self._cursor.event if self._cursor is not None else None

    @property
    def match_count(self) -> int:
        return len(self._matches)

    @property
    def match_index(self) -> int:
        """0-based position of the current match, -1 when there is none."""
        return self._match_index

    def visible_events(self) -> list[Event]:
        """The head event of every visible row, in display order."""
        return [row.event for row in self._view]

    def grouped_events(self, event_id: int) -> list[Event]:
        """The event with this id and the observations grouped under it (empty if unknown)."""
        row = self._find_row(event_id)
        return list(row.events()) if row is not None else []

    def is_expanded(self, event_id: int) -> bool:
        row = self._find_row(event_id)
        return row is not None and row.expanded

    def render_row(self, event_id: int, width: int | None = None) -> list[Strip]:
        """The row holding this event as rendered at ``width`` (default: the current width), without cursor."""
        row = self._find_row(event_id)
        return self._row_strips(row, width or self._width) if row is not None else []

    def row_lines(self, event_id: int, width: int | None = None) -> list[str]:
        """The plain text of :meth:`render_row`; for tests and copying."""
        return [strip.text for strip in self.render_row(event_id, width)]

    def add_event(self, event: Event) -> None:
        self.add_events((event,))

    def add_events(self, events: Iterable[Event]) -> None:
        """Ingest a batch (thousands at once during replay); duplicates by id are ignored."""
        batch = sorted(events, key=_event_order)
        if not batch:
            return
        before = len(self._view)
        for event in batch:
            self._ingest(event)
        self._held.held(len(batch))  # a long conversation's events leave the collector's full passes (tui/heap.py)
        added = len(self._view) - before
        if not self._following and added > 0:
            self._new_count += added
        self._sync_paced(len(batch))

    def clear(self) -> None:
        self._rows.clear()
        self._view.clear()
        self._shown.clear()
        self._offsets = [0]
        self._valid = 0
        self._hosts.clear()
        self._orphans.clear()
        self._seen.clear()
        self._max_id = -1
        self._no_id = 0
        self._cursor = None
        self._following = True
        self._new_count = 0
        self._matches = []
        self._touched = []
        self._match_index = -1
        self._strips.clear()
        self._sync_geometry()

    def set_filter(
        self,
        kinds: set[str] | None = None,
        sources: set[str] | None = None,
        hide_hidden: bool = True,
    ) -> None:
        """Show only rows with one of ``kinds`` (action/observation types) from one of ``sources``.

        ``None`` means any. Grouped observations count for their cell: ``kinds={"error"}`` keeps actions that failed.
        ``hide_hidden=False`` also shows the noise the web UI hides (null, system, recall, env state changes, hidden).
        """
        self._kinds = frozenset(kinds) if kinds is not None else None
        self._sources = (
            frozenset(SOURCE_ALIASES.get(source, source) for source in sources) if sources is not None else None
        )
        self._hide_noise = hide_hidden
        self._rebuild_view()

    def toggle(self, event_id: int | None = None) -> bool:
        """Expand or collapse the cell (the cursor row by default). Returns whether it is now expanded."""
        row = self._cursor if event_id is None else self._find_row(event_id)
        if row is None or not self._expandable(row):
            return False
        row.expanded = not row.expanded
        row.version += 1
        row.measured = -1
        self._set_height(row, self._estimate(row))
        self._sync_geometry(follow=False)
        if row is self._cursor:
            self._scroll_to_row(row)
        return row.expanded

    def search(self, text: str) -> int:
        """Highlight ``text`` (case-insensitive) and move the cursor to the next match. Returns the match count."""
        self._search = text.lower()
        self._collect_matches()
        if self._matches:
            start = self._cursor_index()
            if start < 0:
                start = self._row_at(int(self.scroll_offset.y))
            index = bisect_left(self._matches, self._view[max(start, 0)].key, key=_row_key)
            self._select_match(index % len(self._matches))
        else:
            self._match_index = -1
        self.refresh()
        return len(self._matches)

    def search_next(self) -> int:
        return self._step_match(1)

    def search_previous(self) -> int:
        return self._step_match(-1)

    # ------------------------------------------------------------------ ingest

    def _ingest(self, event: Event) -> None:
        event_id = event.id
        if event_id is not None:
            if event_id in self._seen:
                return
            self._seen.add(event_id)
            if event_id > self._max_id:
                self._max_id = event_id
                self._no_id = 0
            key = event_id * _ID_STEP
        else:
            self._no_id = min(self._no_id + 1, _ID_STEP - 1)
            key = self._max_id * _ID_STEP + self._no_id
        found = traits(event)
        acts = found.action or (type(event) in _KEPT_WHOLE and is_action(event))
        cause = event.cause
        if cause is not None and not acts:
            host = self._hosts.get(cause)
            if host is not None:
                self._attach_child(host, event)
                return
        noise = (
            found.noise
            or (found.env_noise and event.source is EventSource.ENVIRONMENT)
            or (found.hideable and event.hidden)
        )
        self._uid += 1
        row = _Row(event, key, self._uid, found.kind, noise)
        self._prepare(row)
        if event_id is not None and found.action and not noise:
            self._hosts[event_id] = row
            orphans = self._orphans.pop(event_id, None)
            if orphans:
                for orphan in orphans:
                    self._remove_row(orphan)
                    self._attach_quiet(row, orphan.event)
                self._prepare(row)
        elif cause is not None and not acts:
            self._orphans.setdefault(cause, []).append(row)
        self._insert_row(row)

    def _prepare(self, row: _Row) -> None:
        """Body line count and height from scratch (new row, new child, expanded or collapsed)."""
        row.measured = -1
        if row.kind is RowKind.CELL:
            body = row.body = count_lines(body_blocks(row.event, row.children or ()))
            if not row.expanded:
                limit = self.preview_lines + 1
                row.height = 1 + (body if body <= limit else limit)
                return
        row.height = self._estimate(row)

    def _attach_quiet(self, host: _Row, event: Event) -> None:
        children = host.children
        if children is None:
            host.children = [event]
        elif event.id is None or children[-1].id is None or children[-1].id < event.id:
            children.append(event)
        else:
            insort(children, event, key=_event_order)
        host.version += 1
        self._touch(host)

    def _attach_child(self, host: _Row, event: Event) -> None:
        self._attach_quiet(host, event)
        self._prepare(host)
        visible = self._passes(host)
        if host.uid in self._shown:
            if visible:
                self._invalidate(self._view_index(host))
            else:
                self._view_remove(host)
        elif visible:
            self._view_insert(host)

    def _insert_row(self, row: _Row) -> None:
        rows = self._rows
        if not rows or rows[-1].key <= row.key:
            rows.append(row)
        else:
            rows.insert(bisect_right(rows, row.key, key=_row_key), row)
        self._touch(row)
        if self._passes(row):
            self._view_insert(row)

    def _remove_row(self, row: _Row) -> None:
        index = _index_of(self._rows, row)
        if index >= 0:
            del self._rows[index]
        self._touch(row)
        if row.uid in self._shown:
            self._view_remove(row)

    def _view_insert(self, row: _Row) -> None:
        view = self._view
        self._shown.add(row.uid)
        if not view or view[-1].key <= row.key:
            view.append(row)
            if self._valid == len(view) - 1:
                self._offsets.append(self._offsets[-1] + row.height)
                self._valid = len(view)
            return
        index = bisect_right(view, row.key, key=_row_key)
        view.insert(index, row)
        self._invalidate(index)

    def _view_remove(self, row: _Row) -> None:
        index = self._view_index(row)
        if index < 0:
            return
        del self._view[index]
        self._shown.discard(row.uid)
        self._invalidate(index)
        if row is self._cursor:
            self._cursor = self._view[min(index, len(self._view) - 1)] if self._view else None

    def _view_index(self, row: _Row) -> int:
        view = self._view
        if view and view[-1] is row:
            return len(view) - 1
        return _index_of(view, row)

    def _find_row(self, event_id: int) -> _Row | None:
        host = self._hosts.get(event_id)
        if host is not None:
            return host
        key = event_id * _ID_STEP
        index = bisect_left(self._rows, key, key=_row_key)
        if index < len(self._rows) and self._rows[index].key == key:
            return self._rows[index]
        return None

    # ------------------------------------------------------------------ filter

    def _passes(self, row: _Row) -> bool:
        if self._hide_noise and row.noise:
            return False
        kinds, sources = self._kinds, self._sources
        if kinds is not None and not any(event.kind in kinds for event in row.events()):
            return False
        return sources is None or any(
            event.source is not None and event.source.value in sources for event in row.events()
        )

    def _rebuild_view(self) -> None:
        width = self._width
        view = [row for row in self._rows if self._passes(row)]
        for row in view:
            if row.wraps and row.measured != width:
                row.height = self._estimate(row)
        self._view = view
        self._shown = {row.uid for row in view}
        self._offsets = [0]
        self._valid = 0
        if self._cursor is not None and self._cursor.uid not in self._shown:
            index = bisect_left(view, self._cursor.key, key=_row_key)
            self._cursor = view[min(index, len(view) - 1)] if view else None
        self._new_count = 0
        self._matches_stale = True
        self._sync_geometry()

    # ------------------------------------------------------------------ geometry

    def _invalidate(self, index: int) -> None:
        if index < self._valid:
            self._valid = max(index, 0)

    def _ensure_offsets(self) -> None:
        count = len(self._view)
        if self._valid >= count and len(self._offsets) == count + 1:
            return
        start = min(self._valid, count)
        del self._offsets[start + 1 :]
        heights = (row.height for row in islice(self._view, start, None))
        self._offsets.extend(islice(accumulate(heights, initial=self._offsets[start]), 1, None))
        self._valid = count

    def _total_height(self) -> int:
        self._ensure_offsets()
        return self._offsets[-1]

    def _row_at(self, y: int) -> int:
        """Index of the visible row covering content line ``y``; -1 past the end."""
        self._ensure_offsets()
        if y < 0 or y >= self._offsets[-1]:
            return -1
        return bisect_right(self._offsets, y) - 1

    def _set_height(self, row: _Row, height: int) -> None:
        if row.height == height:
            return
        row.height = height
        if row.uid in self._shown:
            self._invalidate(self._view_index(row))

    def _expandable(self, row: _Row) -> bool:
        return row.kind is RowKind.CELL and row.body > self.preview_lines + 1

    def _estimate(self, row: _Row) -> int:
        if row.kind is RowKind.SEPARATOR:
            return 1
        if row.kind is RowKind.PROSE:
            assert isinstance(row.event, MessageAction)
            return _wrapped_estimate(row.event.args.content, self._width - self._layout.text)
        if not row.expanded:
            limit = self.preview_lines + 1
            return 1 + (row.body if row.body <= limit else limit)
        text = "\n".join(text for text, _ in body_blocks(row.event, row.children or ()))
        return 1 + _wrapped_estimate(text, self._width - self._layout.body)

    def _sync_paced(self, added: int) -> None:
        """:meth:`_sync_geometry` now, or, in a burst, once :data:`BURST_REPAINT` has passed since the last one."""
        self._unsynced += added
        if self._sync_timer is not None:
            return  # due soon
        wait = BURST_REPAINT - (monotonic() - self._synced_at)
        if self._unsynced >= BURST_EVENTS and wait > 0 and self.is_attached:
            self._sync_timer = self.set_timer(wait, self._repaint_due, name="event-log-repaint")
        else:
            self._sync_geometry()

    def _repaint_due(self) -> None:
        self._sync_timer = None  # fired: nothing to stop
        self._sync_geometry()

    def _sync_geometry(self, follow: bool = True) -> None:
        if self._sync_timer is not None:
            self._sync_timer.stop()
            self._sync_timer = None
        self._synced_at = monotonic()
        self._unsynced = 0
        self.virtual_size = Size(0, self._total_height())
        if follow and self._following and self.is_attached:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.refresh()

    def _content_width(self) -> int:
        """The width rows are rendered at; before the first layout, the last known one."""
        width = self.scrollable_content_region.width if self.is_attached else 0
        return max(width, 20) if width else self._width

    def _relayout(self, width: int) -> None:
        """New width: wrapped rows go back to estimates until they are seen again."""
        self._width = width
        layout = NARROW if width < NARROW_BELOW else WIDE
        if layout != self._layout:
            self._layout = layout
            self._style_generation += 1
        for index, row in enumerate(self._view):
            if row.wraps:
                row.measured = -1
                height = self._estimate(row)
                if height != row.height:
                    row.height = height
                    self._invalidate(index)
        self._sync_geometry()

    def _measure_viewport(self) -> bool:
        """Render the wrapped rows on screen to learn their true height. Returns whether any height changed."""
        width = self._width
        top = int(self.scroll_offset.y)
        index = self._row_at(top)
        if index < 0:
            index = max(len(self._view) - 1, 0)
        bottom = top + self.scrollable_content_region.height
        changed = False
        view = self._view
        y = self._offsets[index] if index < len(self._offsets) else 0
        while index < len(view) and y < bottom:
            row = view[index]
            if row.wraps and row.measured != width:
                height = len(self._row_strips(row, width))
                row.measured = width
                if height != row.height:
                    row.height = height
                    self._invalidate(index)
                    changed = True
            y += row.height
            index += 1
        return changed

    def _scroll_to_row(self, row: _Row) -> None:
        index = self._view_index(row)
        if index < 0:
            return
        self._ensure_offsets()
        top, height = self._offsets[index], row.height
        viewport = self.scrollable_content_region.height
        scroll_y = int(self.scroll_offset.y)
        if top < scroll_y:
            self.scroll_to(y=top, animate=False)
        elif top + height > scroll_y + viewport:
            self.scroll_to(y=min(top, top + height - viewport), animate=False)

    # ------------------------------------------------------------------ Textual hooks

    def on_resize(self, event: events.Resize) -> None:
        width = self._content_width()
        if width != self._width:
            self._relayout(width)
        elif self._following:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if round(new_value) >= self.max_scroll_y:
            self._following = True
            if self._new_count:
                self._new_count = 0
                self.refresh()
        elif new_value < old_value:
            self._following = False

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style_generation += 1
        self._styles = {}

    def redraw(self) -> None:
        """Render every row afresh (cached lines drawn before the styles settled are dropped), and show every row
        added so far (a burst's pending repaint happens now)."""
        self._style_generation += 1
        self._styles = {}
        if self._sync_timer is not None:
            self._sync_geometry()
        self.refresh()

    def render_lines(self, crop: Region) -> list[Strip]:
        width = self._content_width()
        if width != self._width:
            self._relayout(width)
        if self._measure_viewport():
            self._ensure_offsets()
            self.call_later(self._sync_paced, 0)
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self._width
        base = self.rich_style
        content_y = int(self.scroll_offset.y) + y
        index = self._row_at(content_y)
        if index < 0:
            strip = Strip.blank(width, base)
        else:
            row = self._view[index]
            strips = self._row_strips(row, width)
            line = content_y - self._offsets[index]
            strip = strips[line] if line < len(strips) else Strip.blank(width)
            if self._search:
                strip = self._highlight(strip)
            if row is self._cursor:
                strip = self._cursor_line(strip)
            strip = strip.apply_style(base)
        if self._new_count and not self._following and y == self.scrollable_content_region.height - 1:
            label = f" ↓ {self._new_count} new "
            strip = Strip.join(
                [strip.crop(0, max(width - len(label), 0)), Strip([Segment(label, self._style("indicator"))])]
            )
        return strip

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        index = self._row_at(int(self.scroll_offset.y) + offset.y)
        if index < 0:
            return
        self._cursor = self._view[index]
        self.toggle()
        self.refresh()

    # ------------------------------------------------------------------ actions

    def _cursor_index(self) -> int:
        return self._view_index(self._cursor) if self._cursor is not None else -1

    def _move_cursor(self, index: int) -> None:
        if not self._view:
            return
        index = max(0, min(index, len(self._view) - 1))
        self._cursor = self._view[index]
        self._scroll_to_row(self._cursor)
        self.refresh()

    def _default_cursor(self) -> int:
        """With no cursor yet, start from the last row that is on screen."""
        scroll_y = int(self.scroll_offset.y)
        index = self._row_at(scroll_y + max(self.scrollable_content_region.height - 1, 0))
        return index if index >= 0 else len(self._view) - 1

    def action_cursor_up(self) -> None:
        index = self._cursor_index()
        self._move_cursor(self._default_cursor() if index < 0 else index - 1)

    def action_cursor_down(self) -> None:
        index = self._cursor_index()
        self._move_cursor(self._default_cursor() if index < 0 else index + 1)

    def _page(self, direction: int) -> None:
        index = self._cursor_index()
        if index < 0:
            index = self._default_cursor()
        if index < 0:
            return
        self._ensure_offsets()
        target_y = self._offsets[index] + direction * max(self.scrollable_content_region.height - 1, 1)
        target = self._row_at(max(target_y, 0))
        if target < 0:
            target = len(self._view) - 1
        if target == index:
            target += direction
        self._move_cursor(target)

    def action_page_up(self) -> None:
        self._page(-1)

    def action_page_down(self) -> None:
        self._page(1)

    def action_first(self) -> None:
        self._move_cursor(0)

    def action_last(self) -> None:
        self._move_cursor(len(self._view) - 1)
        self._following = True
        self._new_count = 0
        self.scroll_end(animate=False, immediate=True, x_axis=False)

    def action_toggle_row(self) -> None:
        if self._cursor is None:
            self._move_cursor(self._default_cursor())
        self.toggle()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """``n``/``N`` belong to the search only while one is active; otherwise the key falls through to the app."""
        if action in ("search_next", "search_previous"):
            return bool(self._search)
        return True

    def action_search_next(self) -> None:
        self.search_next()

    def action_search_previous(self) -> None:
        self.search_previous()

    # ------------------------------------------------------------------ search

    def _touch(self, row: _Row) -> None:
        if self._search and not self._matches_stale:
            self._touched.append(row)
            if len(self._touched) > _TOUCHED_LIMIT:
                self._matches_stale = True  # searching everything again is about as quick now
                self._touched = []

    def _matches_row(self, row: _Row) -> bool:
        return self._search in search_text(row.event, row.children or ()).lower()

    def _collect_matches(self) -> None:
        self._matches_stale = False
        self._touched = []
        self._matches = [row for row in self._view if self._matches_row(row)] if self._search else []

    def _update_matches(self) -> None:
        """The matches brought up to date: the touched rows checked again, or everything after a filter change."""
        if self._matches_stale:
            self._collect_matches()
            return
        touched, self._touched = self._touched, []
        matches = self._matches
        for row in dict.fromkeys(touched):  # each once, in order
            index = _index_of(matches, row)
            if index >= 0:
                del matches[index]
            if row.uid in self._shown and self._matches_row(row):
                insort(matches, row, key=_row_key)

    def _select_match(self, index: int) -> None:
        self._match_index = index
        row = self._matches[index]
        self._cursor = row
        self._scroll_to_row(row)
        self.refresh()

    def _step_match(self, step: int) -> int:
        if not self._search:
            return -1
        self._update_matches()
        if not self._matches:
            self._match_index = -1
            return -1
        cursor = self._cursor
        if cursor is None:
            index = 0 if step > 0 else len(self._matches) - 1
        elif step > 0:
            index = bisect_right(self._matches, cursor.key, key=_row_key) % len(self._matches)
        else:
            index = (bisect_left(self._matches, cursor.key, key=_row_key) - 1) % len(self._matches)
        self._select_match(index)
        return index

    def _highlight(self, strip: Strip) -> Strip:
        text = strip.text
        lowered = text.lower()
        term = self._search
        if term not in lowered or len(lowered) != len(text):
            return strip
        cuts: list[int] = []
        start = 0
        while (found := lowered.find(term, start)) >= 0:
            begin = cell_len(text[:found])
            cuts += [begin, begin + cell_len(text[found : found + len(term)])]
            start = found + len(term)
        cuts.append(strip.cell_length)
        match = self._style("match")
        pieces = strip.divide(cuts)
        out = [
            Strip([Segment(t, (s or Style()) + match, c) for t, s, c in piece], piece.cell_length)
            if number % 2
            else piece
            for number, piece in enumerate(pieces)
        ]
        return Strip.join(out)

    # ------------------------------------------------------------------ rendering

    def _style(self, name: str) -> Style:
        """Only what the component sets, so the cursor and row backgrounds show through.

        The partial style alone drops alpha (``$text-muted`` becomes pure white, unreadable on a light theme): take
        the colours from the full style, where they are blended against the background, but only those the
        component sets itself.
        """
        style = self._styles.get(name)
        if style is None:
            component = f"event-log--{name}"
            full = self.get_component_rich_style(component)
            own = self.get_component_rich_style(component, partial=True)
            style = Style(
                color=full.color if own.color is not None else None,
                bgcolor=full.bgcolor if own.bgcolor is not None else None,
                bold=own.bold,
                dim=own.dim,
                italic=own.italic,
                underline=own.underline,
                reverse=own.reverse,
                strike=own.strike,
            )
            self._styles[name] = style
        return style

    def _cursor_line(self, strip: Strip) -> Strip:
        bar = Strip([Segment("▌", self._style("cursor-bar"))], 1)
        return Strip.join([bar, strip.crop(1)]).apply_style(self._style("cursor"))

    def _row_strips(self, row: _Row, width: int) -> list[Strip]:
        key = (width, row.version, self._style_generation)
        cached = self._strips.get(row.uid)
        if cached is not None and cached[0] == key:
            return cached[1]
        strips = self._render_row(row, width)
        self._strips[row.uid] = (key, strips)
        return strips

    def _render_row(self, row: _Row, width: int) -> list[Strip]:
        if row.kind is RowKind.SEPARATOR:
            return [self._render_separator(row.event, width)]
        if row.kind is RowKind.PROSE:
            return self._render_prose(row.event, width)
        return self._render_cell(row, width)

    def _line(self, text: Text, width: int) -> Strip:
        text.truncate(width, overflow="ellipsis", pad=True)
        return Strip(list(text.render(self._rich_console())), width)

    def _rich_console(self) -> Console:
        return self.app.console

    def _prefix(self, event: Event) -> Text:
        source = source_label(event)
        text = Text(" ", end="", no_wrap=True)
        if self._layout.time:
            text.append(clock_time(event), self._style("time"))
            text.append(" ", self._gap())
        text.append(_BADGES[source], self._style(source if source != "?" else "env"))
        text.append(" ", self._gap())
        return text

    def _gap(self) -> Style:
        """Blank columns between fields. Styled apart from text, so SVG exports (snapshots) group them the same way
        every time: a plain space next to same-coloured text was sometimes merged into it and sometimes dropped."""
        return self._style("time")

    def _render_separator(self, event: Event, width: int) -> Strip:
        text = self._prefix(event)
        label = state_label(event) if isinstance(event, AgentStateChangedObservation) else summary(event)
        error = is_error(event)
        style = self._style("error" if error else "separator")
        if (
            isinstance(event, AgentStateChangedObservation)
            and event.agent_state is AgentState.AWAITING_USER_CONFIRMATION
        ):
            style = self._style("pending")
        room = max(width - self._layout.text, 0)
        label = f" {clean(label)} "
        if cell_len(label) + 4 > room:
            label = label[: max(room - 4, 0)]
        left = (room - cell_len(label)) // 2
        text.append("─" * left + label + "─" * (room - left - cell_len(label)), style)
        return self._line(text, width)

    def _render_prose(self, event: Event, width: int) -> list[Strip]:
        assert isinstance(event, MessageAction)
        room = max(width - self._layout.text, 10)
        console = self._rich_console()
        content = event.args.content
        if event.source is not None and event.source.value == "user":
            body = Text()
            body.append(clean_block(content), self._style("user-text"))  # a span: ``render`` ignores ``style=``
            lines = [list(line.render(console)) for line in body.wrap(console, room, overflow="fold")]
        else:
            theme = self.app.current_theme
            code_theme = "ansi_dark" if theme is None or theme.dark else "ansi_light"
            # Imported on first use: markdown-it and its rules cost ~50 ms of start-up, before the first frame.
            from rich.markdown import Markdown

            markdown = Markdown(content, code_theme=code_theme, hyperlinks=False)
            options = console.options.update(width=room, height=None, no_wrap=False, highlight=False)
            with console.use_theme(_MARKDOWN_THEME):
                lines = console.render_lines(markdown, options, style=self._style("text"), pad=False)
            while len(lines) > 1 and not "".join(seg.text for seg in lines[-1]).strip():
                lines.pop()
        if not lines:
            lines = [[]]
        prefix = self._prefix(event)
        head = list(prefix.render(console))
        indent = [Segment(" " * self._layout.text)]
        return [
            Strip(head + line if number == 0 else indent + line).adjust_cell_length(width)
            for number, line in enumerate(lines)
        ]

    def _render_cell(self, row: _Row, width: int) -> list[Strip]:
        event, children = row.event, row.children or ()
        errored = is_error(event) or any(is_error(child) for child in children)
        text = self._prefix(event)
        kind = kind_label(event)
        if len(kind) > KIND_WIDTH:
            kind = kind[: KIND_WIDTH - 1] + "…"
        text.append(kind.ljust(KIND_WIDTH), self._style("error" if errored else "kind"))
        text.append(" ", self._gap())
        mark = result_mark(event, children)
        text.append(mark[0] if mark else " ", self._style(mark[1]) if mark else self._gap())
        text.append(" ", self._gap())
        summary_style = "unknown" if isinstance(event, OpaqueEvent) else "summary"
        text.append(summary(event), self._style("error" if errored and not mark else summary_style))
        if errored:
            text.truncate(width, overflow="ellipsis", pad=True)
            text.stylize_before(self._style("error-row"), self._layout.text)
        strips = [self._line(text, width)]
        blocks = body_blocks(event, children)
        if not blocks:
            return strips
        lines = [(line, style) for block, style in blocks for line in block.split("\n")]
        room = max(width - self._layout.body, 10)
        guide = Segment(" " * self._layout.text + "│ ", self._style("guide"))
        console = self._rich_console()
        limit = self.preview_lines
        shown = lines if row.expanded or len(lines) <= limit + 1 else lines[:limit]
        for line, style in shown:
            body = self._body_text(line, style)
            if row.expanded:
                wrapped = body.wrap(console, room, overflow="fold") or [Text("")]
                for part in wrapped:
                    part.truncate(room, pad=True)
                    strips.append(Strip([guide, *part.render(console)]).adjust_cell_length(width))
            else:
                body.truncate(room, overflow="ellipsis", pad=True)
                strips.append(Strip([guide, *body.render(console)]).adjust_cell_length(width))
        if len(shown) < len(lines):
            more = Text()
            more.append(f"… {len(lines) - limit} more lines (enter to expand)", self._style("more"))
            more.truncate(room, overflow="ellipsis", pad=True)
            strips.append(Strip([guide, *more.render(console)]).adjust_cell_length(width))
        return strips

    def _body_text(self, line: str, style: str) -> Text:
        if style == "diff":
            if line.startswith("+") and not line.startswith("+++"):
                style = "added"
            elif line.startswith("-") and not line.startswith("---"):
                style = "removed"
            elif line.startswith("@@"):
                style = "hunk"
            else:
                style = "output"
        if style == "output" and "\x1b[" in line:
            ansi = Text.from_ansi(line.rstrip("\r").rsplit("\r", 1)[-1], no_wrap=True, end="")
            ansi.stylize_before(self._style("output"))
            return ansi
        text = Text(no_wrap=True, end="")
        text.append(clean(line), self._style(style))
        return text


def clean_block(text: str) -> str:
    return "\n".join(clean(line) for line in text.split("\n"))


def _wrapped_estimate(text: str, room: int) -> int:
    """Lines ``text`` takes when wrapped at ``room`` cells, counted in characters (exact for ASCII, no markup)."""
    room = max(room, 10)
    text = text.strip("\n")
    if len(text) < room and "\n" not in text:
        return 1
    return sum(len(line) // room + 1 for line in text.split("\n"))
