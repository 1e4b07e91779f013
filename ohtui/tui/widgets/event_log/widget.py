"""The event log: the conversation as rows, one line per event, actions with their observations, long output
collapsed. Here are its keys, its cursor, and search run in slices between key presses; what it draws and how it
follows the tail is :class:`~ohtui.tui.widgets.event_log.view.TranscriptView`'s."""

from __future__ import annotations

import logging
from time import monotonic
from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message

from ohtui.protocol import Event
from ohtui.tui.widgets.event_log.rows import Row
from ohtui.tui.widgets.event_log.search import Matcher
from ohtui.tui.widgets.event_log.styles import DEFAULT_CSS
from ohtui.tui.widgets.event_log.view import TranscriptView

SEARCH_SLICE = 0.008
"""Seconds of searching between two looks at the keyboard and the screen."""
SEARCH_PAUSE = 0.004
"""Seconds left to keys and repaints between two slices of a search."""
FRAME_FIRST = 0.05
"""Seconds a search waits, at most, for the frame showing what a key changed."""

log = logging.getLogger(__name__)


class EventLog(TranscriptView, can_focus=True):
    """The conversation as rows: one line per event, actions with their observations, long output collapsed."""

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
    DEFAULT_CSS = DEFAULT_CSS

    class SearchFinished(Message):
        """A search went through the whole log (at once for a short one, in slices for a long one)."""

        def __init__(self, text: str, matches: int) -> None:
            super().__init__()
            self.text = text
            self.matches = matches

    @property
    def cursor_event(self) -> Event | None:
        cursor = self._model.cursor
        return self._painter.events(cursor)[0] if cursor is not None else None

    @property
    def match_count(self) -> int:
        return len(self._search.matches)

    @property
    def match_index(self) -> int:
        """0-based position of the current match, -1 when there is none."""
        return self._search.index

    @property
    def searching(self) -> bool:
        """Whether a search is still going through the log (its matches so far are shown)."""
        return self._search.scanning

    def match_ids(self) -> list[int | None]:
        """The event ids of the rows matching the search, in order."""
        return [row.id for row in self._search.matches]

    def visible_events(self) -> list[Event]:
        """The head event of every visible row, in display order (reads every row's model: for tests)."""
        view, found = self._model.view, list[Event]()
        for start in range(0, len(view), 1000):
            chunk = view[start : start + 1000]
            self._painter.load(chunk)
            found.extend(self._models.get(row) for row in chunk)
        return found

    def grouped_events(self, event_id: int) -> list[Event]:
        """The event with this id and the observations grouped under it (empty if unknown)."""
        row = self._model.find_row(event_id)
        return self._painter.events(row) if row is not None else []

    def is_expanded(self, event_id: int) -> bool:
        row = self._model.find_row(event_id)
        return row is not None and row.expanded

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
        self._model.set_filter(kinds, sources, hide_hidden)
        self._new_count = 0
        if self._search.active:
            self._search.stale = True
            self._stop_search()
        self._sync_geometry()

    def toggle(self, event_id: int | None = None) -> bool:
        """Expand or collapse the cell (the cursor row by default). Returns whether it is now expanded."""
        row = self._model.cursor if event_id is None else self._model.find_row(event_id)
        if row is None or not self._viewport.toggle(row, self.scrollable_content_region.height):
            return False
        self._sync_geometry(follow=False)
        if row is self._model.cursor:
            self._scroll_to_row(row)
        return row.expanded

    def search(self, text: str) -> int:
        """Highlight ``text`` (case-insensitive) and move the cursor to the next match. Returns the matches found
        before this returns: all of them, unless the log is long enough to be searched in slices (``searching``
        says so; :class:`SearchFinished` is posted when done)."""
        self._run_search(text, jump=True)
        return len(self._search.matches)

    def search_next(self) -> int:
        return self._step_match(1)

    def search_previous(self) -> int:
        return self._step_match(-1)

    def _run_search(self, text: str, jump: bool) -> None:
        """Search from the cursor (or the top of the screen) on: a first slice now, the rest on a timer."""
        self._stop_search()
        model = self._model
        start = model.view_index(model.cursor) if model.cursor is not None else -1
        if start < 0:
            start = model.heights.row_at(int(self.scroll_offset.y))
        self._search.start(text, model.view, max(start, 0))
        self._query = text
        model.on_touch = self._search.touch if self._search.active else None  # rows to check again when stepping
        self._matcher = Matcher(text, self._models)
        self._jump_to_match = jump
        self._search_slice(first=True)
        if self._search.scanning:
            self._search_timer = self.set_interval(SEARCH_PAUSE, self._search_slice, name="event-log-search")
        self.refresh()

    def _search_slice(self, first: bool = False) -> None:
        """One slice of the search; a later one waits while a key's change waits for its frame (that comes first).
        The first match found is selected; the count in the corner follows."""
        search = self._search
        if not first and self._frame_due and monotonic() - self._frame_due < FRAME_FIRST:
            return
        before = len(search.matches)
        try:
            found = search.scan(self._matcher, SEARCH_SLICE)
        except Exception:  # a bug must not leave a timer failing forever: stop, keep what was found
            log.exception("the event log's search failed")
            search.scanning = False
            found = []
        if found and self._jump_to_match:
            self._jump_to_match = False
            self._select_match(search.step_to(found[0]))
        if not search.scanning:
            self._stop_search()
            self.post_message(self.SearchFinished(self._query, len(search.matches)))
        if len(search.matches) != before or not search.scanning:
            self._refresh_corner()

    def clear(self) -> None:
        self._stop_search()
        super().clear()

    def _stop_search(self) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
            self._search_timer = None
        self._search.scanning = False

    def _select_match(self, row: Row | None) -> None:
        if row is None:
            return
        self._frame_wanted()
        self._model.cursor = row
        self._scroll_to_row(row)
        self.refresh()

    def _step_match(self, step: int) -> int:
        search = self._search
        if not search.active:
            return -1
        if search.stale:
            self._run_search(search.needle, jump=False)  # the step below moves the cursor
        self._jump_to_match = False
        search.update(self._matcher, lambda row: row.shown)
        row = search.step(self._model.cursor, step)
        self._select_match(row)
        return search.index if row is not None else -1

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        index = self._model.heights.row_at(int(self.scroll_offset.y) + offset.y)
        if index < 0:
            return
        self._model.cursor = self._model.view[index]
        self.toggle()
        self.refresh()

    def _cursor_index(self) -> int:
        cursor = self._model.cursor
        return self._model.view_index(cursor) if cursor is not None else -1

    def _move_cursor(self, index: int) -> None:
        view = self._model.view
        if not view:
            return
        self._jump_to_match = False
        self._frame_wanted()
        cursor = self._model.cursor = view[max(0, min(index, len(view) - 1))]
        self._scroll_to_row(cursor)
        self.refresh()

    def _default_cursor(self) -> int:
        """With no cursor yet, start from the last row that is on screen."""
        scroll_y = int(self.scroll_offset.y)
        index = self._model.heights.row_at(scroll_y + max(self.scrollable_content_region.height - 1, 0))
        return index if index >= 0 else len(self._model.view) - 1

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
        if index >= 0:
            self._move_cursor(self._viewport.page_target(index, direction, self.scrollable_content_region.height))

    def action_page_up(self) -> None:
        self._page(-1)

    def action_page_down(self) -> None:
        self._page(1)

    def action_first(self) -> None:
        self._move_cursor(0)

    def action_last(self) -> None:
        self._move_cursor(len(self._model.view) - 1)
        self._following = True
        self._new_count = 0
        self.scroll_end(animate=False, immediate=True, x_axis=False)

    def action_toggle_row(self) -> None:
        if self._model.cursor is None:
            self._move_cursor(self._default_cursor())
        self.toggle()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """``n``/``N`` belong to the search only while one is active; otherwise the key falls through to the app."""
        if action in ("search_next", "search_previous"):
            return self._search.active
        return True

    def action_search_next(self) -> None:
        self.search_next()

    def action_search_previous(self) -> None:
        self.search_previous()
