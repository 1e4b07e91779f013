"""Search: which rows hold a text, found a slice at a time so the screen never waits for a whole log.

A row matches when the needle is in its :func:`~ohtui.tui.widgets.event_log.event_rows.search_text` (summary and
body, case-insensitive), which needs its models. Most rows are ruled out before that: their stored JSON, lowercased,
does not hold the needle as JSON writes it (:class:`Matcher`). That shortcut is taken only where it cannot lose a
match: the needle cannot overlap what the search text adds to the JSON strings for the row's kinds
(:data:`~ohtui.tui.widgets.event_log.event_rows.SEARCH_FRAGMENTS`), and the text has no escape that the search text
would read differently. :class:`Search` scans the view from the cursor on, wrapping round, in slices the widget runs
between key presses; rows added or changed meanwhile are checked again when the user steps (the *touched* rows).
"""

from __future__ import annotations

import json
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from time import perf_counter

from ohtui.protocol import Event
from ohtui.protocol.record import EventRecord
from ohtui.tui.widgets.event_log.event_rows import BLANK, NUMBER, search_fragments, search_text
from ohtui.tui.widgets.event_log.loading import Models
from ohtui.tui.widgets.event_log.model import index_of
from ohtui.tui.widgets.event_log.rows import ACTS, KEPT_WHOLE, Entry, Row, row_key

TOUCHED_LIMIT = 5000
"""Rows touched while a search is active past which the next step searches the whole view again instead."""
CHUNK = 200
"""Rows read through the loader in one call while scanning (a few milliseconds' work)."""

_ESCAPES = ("\\u", "\\b", "\\f", "\x7f")
"""Escapes whose search text may differ from the JSON beyond escaping: ``\\u`` (what another encoder escapes, control
characters that summaries drop, joining what was around them), backspace, form feed and DEL (dropped too)."""
_TABS = (*_ESCAPES, "\\t")
"""The same for a needle with a space in it: a summary's tabs are expanded into spaces."""
_BLANK_CONTENT = re.compile(r'\s*"(?:\s|\\[nrt])*"')
"""What follows ``"content":`` when the content is blank."""

Test = Callable[[Sequence[Row]], list[bool]]


def overlaps(needle: str, fragment: str) -> bool:
    """Whether ``needle`` could match text that ``fragment`` is part of, joined to other text on either side."""
    if fragment in needle or needle in fragment:
        return True
    return any(
        needle.startswith(fragment[-n:]) or needle.endswith(fragment[:n])
        for n in range(1, min(len(needle), len(fragment)))
    )


def _blank_content(text: str) -> bool:
    """Whether the JSON's ``content`` is blank (or missing: blank by default)."""
    found = text.find('"content":')
    return found < 0 or _BLANK_CONTENT.match(text, found + 10) is not None


class Matcher:
    """Tests rows against one needle, reading what it needs through :class:`Models` (a chunk in one call)."""

    def __init__(self, needle: str, models: Models) -> None:
        self.needle = needle.lower()
        self.models = models
        self.parsed = 0
        """Models parsed to confirm a match (what the shortcut saves is the rest)."""
        self._encoded = json.dumps(self.needle, ensure_ascii=False)[1:-1] if "\n" not in self.needle else None
        self._escapes = _TABS if " " in self.needle else _ESCAPES
        self._literal: dict[tuple[str, bool], bool] = {}

    def __call__(self, rows: Sequence[Row]) -> list[bool]:
        models = self.models
        missing = [entry for row in rows for entry in row.entries() if models.cached(entry.key) is None]
        records = models.records(missing) if missing else {}
        return [self._matches(row, records) for row in rows]

    def _matches(self, row: Row, records: dict[int, EventRecord]) -> bool:
        entries = row.entries()
        if self._ruled_out(entries, records):
            return False
        events = [self._event(entry, records) for entry in entries]
        return self.needle in search_text(events[0], events[1:]).lower()

    def _event(self, entry: Entry, records: dict[int, EventRecord]) -> Event:
        cached = self.models.cached(entry.key)
        if cached is not None:
            return cached
        record = records.get(entry.key)
        if record is None:
            return self.models.get(entry)  # an error row: load and cache the stand-in
        self.parsed += 1
        return self.models.parse(entry, record)

    def _ruled_out(self, entries: list[Entry], records: dict[int, EventRecord]) -> bool:
        """True only if no entry's search text can hold the needle, judged from the stored JSON alone."""
        encoded = self._encoded
        if encoded is None:
            return False
        for entry in entries:
            record = records.get(entry.key)
            text = record.text if record is not None else None
            if text is None or not self._literal_kind(entry) or any(escape in text for escape in self._escapes):
                return False
            lowered = text.lower()
            if encoded in lowered:
                return False
            if self._blank_matters(entry) and _blank_content(text):
                return False
        return True

    def _literal_kind(self, entry: Entry) -> bool:
        if entry.flags & KEPT_WHOLE:
            return False
        acts = bool(entry.flags & ACTS)
        found = self._literal.get((entry.kind, acts))
        if found is None:
            found = self._literal[entry.kind, acts] = self._judge(search_fragments(entry.kind, acts))
        return found

    def _judge(self, fragments: tuple[str, ...] | None) -> bool:
        if fragments is None:
            return False
        for fragment in fragments:
            if fragment == NUMBER:
                if any(char.isdigit() for char in self.needle):
                    return False
            elif fragment != BLANK and overlaps(self.needle, fragment.lower()):
                return False
        return True

    def _blank_matters(self, entry: Entry) -> bool:
        fragments = search_fragments(entry.kind, bool(entry.flags & ACTS))
        return fragments is not None and BLANK in fragments


class Search:
    """The needle, the rows matching it (by key), the current one, and the scan still to do."""

    def __init__(self) -> None:
        self.needle = ""
        self.matches: list[Row] = []
        self.current: Row | None = None
        self.touched: list[Row] = []
        self.stale = False
        """The whole view must be searched again (a filter changed, or too much changed since)."""
        self.scanning = False
        self._view: list[Row] = []
        self._next_key: float = 0
        self._stop_key: float = 0
        self._wrapped = False

    @property
    def active(self) -> bool:
        return bool(self.needle)

    @property
    def index(self) -> int:
        """0-based position of the current match, -1 when there is none."""
        return index_of(self.matches, self.current) if self.current is not None else -1

    def start(self, needle: str, view: list[Row], first: int) -> None:
        """Search ``view`` for ``needle`` (lowercased), from row ``first`` on, then from the top up to it."""
        self.needle = needle.lower()
        self.matches = []
        self.current = None
        self.touched = []
        self.stale = False
        self._view = view
        self.scanning = bool(self.needle) and bool(view)
        if self.scanning:
            self._stop_key = view[min(max(first, 0), len(view) - 1)].key
            self._next_key = self._stop_key
            self._wrapped = False

    def scan(self, test: Test, budget: float, chunk: int = CHUNK) -> list[Row]:
        """Scan on for about ``budget`` seconds (a chunk at least); returns the matches found, in scan order."""
        found: list[Row] = []
        deadline = perf_counter() + budget
        while self.scanning:
            rows = self._next_rows(chunk)
            for row, hit in zip(rows, test(rows) if rows else (), strict=True):
                if hit and self._add(row):
                    found.append(row)
            if perf_counter() >= deadline:
                break
        return found

    def _next_rows(self, count: int) -> list[Row]:
        view = self._view
        start = bisect_left(view, self._next_key, key=row_key)
        end = bisect_left(view, self._stop_key, key=row_key) if self._wrapped else len(view)
        rows = view[start : min(start + count, end)]
        if start + count < end:
            self._next_key = rows[-1].key + 1
        elif self._wrapped:
            self.scanning = False
        else:
            self._wrapped = True
            self._next_key = float("-inf")
        return rows

    def _add(self, row: Row) -> bool:
        matches = self.matches
        if not matches or matches[-1].key < row.key:
            matches.append(row)
            return True
        if index_of(matches, row) >= 0:
            return False
        matches.insert(bisect_right(matches, row.key, key=row_key), row)
        return True

    def touch(self, row: Row) -> None:
        if self.needle and not self.stale:
            self.touched.append(row)
            if len(self.touched) > TOUCHED_LIMIT:
                self.stale = True  # searching everything again is about as quick now
                self.touched = []

    def update(self, test: Test, shown: Callable[[Row], bool]) -> None:
        """Check the touched rows again: each leaves the matches, and comes back if it is shown and matches."""
        touched, self.touched = list(dict.fromkeys(self.touched)), []
        for row in touched:
            index = index_of(self.matches, row)
            if index >= 0:
                del self.matches[index]
        candidates = [row for row in touched if shown(row)]
        for row, hit in zip(candidates, test(candidates) if candidates else (), strict=True):
            if hit:
                self._add(row)

    def step(self, cursor: Row | None, direction: int) -> Row | None:
        """The match after (``direction`` 1) or before (-1) the cursor, wrapping round; it becomes the current."""
        matches = self.matches
        if not matches:
            self.current = None
            return None
        if cursor is None:
            index = 0 if direction > 0 else len(matches) - 1
        elif direction > 0:
            index = bisect_right(matches, cursor.key, key=row_key) % len(matches)
        else:
            index = (bisect_left(matches, cursor.key, key=row_key) - 1) % len(matches)
        self.current = matches[index]
        return self.current

    def step_to(self, row: Row) -> Row:
        self.current = row
        return row

    def forget_rows(self) -> None:
        """The rows are gone (the log was cleared): keep the needle for the rows to come."""
        self.matches = []
        self.current = None
        self.touched = []
        self.stale = False
        self.scanning = False
        self._view = []
