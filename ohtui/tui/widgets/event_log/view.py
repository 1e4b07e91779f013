"""The drawing half of the event log: a ``ScrollView`` that shows a transcript, follows its tail and paces repaints.

The transcript (``model.py``) holds the rows and the height index (``heights.py``) where they start; the painter
(``paint.py``) draws them from models read through the loader (``loading.py``). ``render_lines`` first reads the
models of the rows on screen in one loader call and measures those whose height was an estimate (``viewport.py``);
``render_line`` then draws only what is shown. The keys, the cursor and search are :class:`EventLog`'s
(``widget.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from time import monotonic
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.timer import Timer

from ohtui.protocol import Event
from ohtui.protocol.record import EventRecord
from ohtui.tui.heap import HeldCounter
from ohtui.tui.widgets.event_log.heights import Geometry
from ohtui.tui.widgets.event_log.loading import Loader, Models
from ohtui.tui.widgets.event_log.model import Transcript
from ohtui.tui.widgets.event_log.paint import Painter
from ohtui.tui.widgets.event_log.render import RowRenderer
from ohtui.tui.widgets.event_log.rows import Row
from ohtui.tui.widgets.event_log.search import Matcher, Search
from ohtui.tui.widgets.event_log.styles import COMPONENT_CLASSES, component_style
from ohtui.tui.widgets.event_log.viewport import Viewport

BURST_EVENTS = 200
"""Events added since the last repaint that make a burst (a replay): the log then repaints at most every
:data:`BURST_REPAINT` seconds. A repaint while following renders a screenful of new rows, and at the screen's 60 frames
a second, a replay into the app spent over half its time painting rows nobody could read."""
BURST_REPAINT = 0.25


class TranscriptView(ScrollView):
    """A transcript drawn with the Line API: rows on screen read and measured, the tail followed, repaints paced."""

    ALLOW_SELECT = False
    PREVIEW_LINES: ClassVar[int] = 3
    """Body lines a collapsed cell shows before ``… N more lines``."""
    COMPONENT_CLASSES: ClassVar[set[str]] = COMPONENT_CLASSES

    def __init__(
        self,
        *,
        preview_lines: int | None = None,
        loader: Loader | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._geometry = Geometry(preview_lines=self.PREVIEW_LINES if preview_lines is None else preview_lines)
        self._model = Transcript(self._geometry)
        self._models = Models()
        self._models.set_loader(loader)
        self._search = Search()
        self._matcher = Matcher("", self._models)
        self._query = ""  # the search as the user typed it (the search itself is case-insensitive)
        self._jump_to_match = False
        self._search_timer: Timer | None = None
        self._renderer = RowRenderer(self._style, lambda: self.app.console, self._dark, self._geometry)
        self._painter = Painter(self._models, self._renderer)
        self._viewport = Viewport(self._model, self._painter)
        self._styles: dict[str, Style] = {}
        self._held = HeldCounter()
        self._following = True
        self._new_count = 0
        self._synced_at = float("-inf")
        self._unsynced = 0
        self._sync_timer: Timer | None = None
        self._frame_due = 0.0
        """When a change the user made began to wait for its frame (0: none waits); work in slices yields to it."""

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
        return len(self._model.view)

    @property
    def latest_id(self) -> int:
        """The highest event id held, -1 when there is none."""
        return self._model.latest_id

    @property
    def event_count(self) -> int:
        """Every event held, hidden or not."""
        return self._model.event_count

    def set_loader(self, loader: Loader | None) -> None:
        """Read events (to show, search or expand them) through ``loader`` from now on: records with their text for
        the ids asked, read from the conversation's store. Set it before adding records it must be able to read;
        ``None`` keeps the records given from now on instead (the default, for tests)."""
        self._models.set_loader(loader)
        self._painter.clear()
        self.refresh()

    def render_row(self, event_id: int, width: int | None = None) -> list[Strip]:
        """The row holding this event as rendered at ``width`` (default: the current width), without cursor."""
        row = self._model.find_row(event_id)
        return self._painter.strips(row, width or self._geometry.width) if row is not None else []

    def row_lines(self, event_id: int, width: int | None = None) -> list[str]:
        """The plain text of :meth:`render_row`; for tests and copying."""
        return [strip.text for strip in self.render_row(event_id, width)]

    def add_event(self, event: Event) -> None:
        self.add_events((event,))

    def add_events(self, events: Iterable[Event]) -> None:
        """:meth:`add_records` for models (tests, and events made here)."""
        self.add_records([EventRecord.from_event(event) for event in events])

    def add_records(self, records: Sequence[EventRecord]) -> None:
        """Ingest a batch (thousands at once during replay); duplicates by id are ignored. Keeps no record: what
        it shows later it reads through the loader (the records' models, if they came parsed, warm its cache)."""
        if not records:
            return
        before = len(self._model.view)
        made = self._model.add(records)
        self._models.keep(made)
        self._held.held(len(made))  # a long conversation's rows leave the collector's full passes (tui/heap.py)
        added = len(self._model.view) - before
        if not self._following and added > 0:
            self._new_count += added
        self._sync_paced(len(made))

    def clear(self) -> None:
        self._model.clear()
        self._models.clear()
        self._painter.clear()
        self._search.forget_rows()
        self._following = True
        self._new_count = 0
        self._sync_geometry()

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
        self.virtual_size = Size(0, self._model.heights.total())
        if follow and self._following and self.is_attached:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.refresh()

    def _content_width(self) -> int:
        """The width rows are rendered at; before the first layout, the last known one."""
        width = self.scrollable_content_region.width if self.is_attached else 0
        return max(width, 20) if width else self._geometry.width

    def _relayout(self, width: int) -> None:
        """New width: wrapped rows go back to estimates until they are seen again."""
        if self._geometry.resize(width):
            self._painter.generation += 1
        self._model.relayout()
        self._sync_geometry()

    def _measure_viewport(self) -> bool:
        return self._viewport.measure(int(self.scroll_offset.y), self.scrollable_content_region.height)

    def _scroll_to_row(self, row: Row) -> None:
        target = self._viewport.scroll_for(row, int(self.scroll_offset.y), self.scrollable_content_region.height)
        if target is not None:
            self.scroll_to(y=target, animate=False)

    def on_resize(self, event: events.Resize) -> None:
        width = self._content_width()
        if width != self._geometry.width:
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
        self._frame_wanted()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._painter.generation += 1
        self._styles = {}

    def redraw(self) -> None:
        """Render every row afresh (cached lines drawn before the styles settled are dropped), and show every row
        added so far (a burst's pending repaint happens now)."""
        self._painter.generation += 1
        self._styles = {}
        if self._sync_timer is not None:
            self._sync_geometry()
        self.refresh()

    def _frame_wanted(self) -> None:
        if not self._frame_due:
            self._frame_due = monotonic()

    def _refresh_corner(self) -> None:
        """Draw the bottom line again (its corner says what is going on)."""
        self.refresh_line(int(self.scroll_offset.y) + self.scrollable_content_region.height - 1)

    def render_lines(self, crop: Region) -> list[Strip]:
        self._frame_due = 0.0
        width = self._content_width()
        if width != self._geometry.width:
            self._relayout(width)
        if self._measure_viewport():
            self.call_later(self._sync_paced, 0)
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self._geometry.width
        model = self._model
        content_y = int(self.scroll_offset.y) + y
        index = model.heights.row_at(content_y)
        if index < 0:
            strip = Strip.blank(width, self.rich_style)
        else:
            row = model.view[index]
            strip = self._painter.strip(row, width, content_y - model.heights.top(index))
            if self._search.active:
                strip = self._renderer.highlight(strip, self._search.needle)
            if row is model.cursor:
                strip = self._renderer.cursor_line(strip)
            strip = strip.apply_style(self.rich_style)
        if y == self.scrollable_content_region.height - 1:
            strip = self._indicator(strip, width)
        return strip

    def _indicator(self, strip: Strip, width: int) -> Strip:
        """The bottom line's corner: rows that arrived while scrolled away, a search still going."""
        labels = []
        if self._new_count and not self._following:
            labels.append(f" ↓ {self._new_count} new ")
        if self._search.scanning:
            labels.append(f" searching… {len(self._search.matches)} found ")
        if not labels:
            return strip
        label = "".join(labels)
        return Strip.join(
            [strip.crop(0, max(width - len(label), 0)), Strip([Segment(label, self._style("indicator"))])]
        )

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = component_style(self, f"event-log--{name}")
        return style

    def _dark(self) -> bool:
        theme = self.app.current_theme
        return theme is None or theme.dark
