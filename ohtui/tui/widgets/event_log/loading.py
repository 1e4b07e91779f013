"""The parsed events the log needs now (the rows on screen, a search's candidates), read through a loader.

The log keeps no model and no text per row. What it shows, searches or expands it reads by id through its
:data:`Loader` (the app's: the conversation's local store; by default, the records it was given), a screenful or a
search slice in one call, and keeps the parsed models in a bounded LRU. Events without an id can be read from
nowhere: their records are pinned here. Nothing read here can break the view: a loader that raises or leaves ids
out, or a text that does not parse, gives an :class:`~ohtui.protocol.InvalidEvent` saying so, rendered as an error
row, and is logged.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence

from ohtui.protocol import Event, InvalidEvent, ProtocolError
from ohtui.protocol.record import EventRecord
from ohtui.tui.widgets.event_log.rows import ACTS, EXACT, ID_STEP, KEPT_WHOLE, Entry

Loader = Callable[[Sequence[int]], Sequence[EventRecord]]
"""Records (with their text) of these event ids (ascending, each once), in any order; ids it has no record for may be
left out. Called on the UI's thread, synchronously: once per repaint for the rows on screen that are not cached
(with half a screen either side), once per slice of a search (200 rows and their observations), and for a row the
API asks about (``cursor_event``, ``grouped_events``, expanding it). It may raise: the rows then show an error."""

CAPACITY = 4096
"""Models kept: a few screenfuls, the expanded cells' and the last search steps', whatever their size."""

log = logging.getLogger(__name__)


class Models:
    """Parsed events by row key: an LRU of :data:`CAPACITY`, filled through the loader."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self.loads = 0
        """Loader calls made (a screenful costs one)."""
        self.unreadable = 0
        """Events that could not be read: not returned by the loader, or a body that does not validate."""
        self._cache: OrderedDict[int, Event] = OrderedDict()
        self._loader: Loader | None = None
        self._given: dict[int, EventRecord] = {}
        self._pinned: dict[int, EventRecord] = {}

    def set_loader(self, loader: Loader | None) -> None:
        """Read events through ``loader`` from now on (None: from the records given since)."""
        self._loader = loader
        self._given.clear()
        self._cache.clear()

    def clear(self) -> None:
        self._given.clear()
        self._pinned.clear()
        self._cache.clear()

    def keep(self, made: Iterable[tuple[Entry, EventRecord]]) -> None:
        """Ingested: remember what no loader could give back, and the models of records that came parsed."""
        given = self._given if self._loader is None else None
        for entry, record in made:
            key = entry.key
            if key % ID_STEP:
                self._pinned[key] = record
            elif given is not None:
                given[key // ID_STEP] = record
            if record.parsed is not None:
                self._put(key, record.parsed)

    def cached(self, key: int) -> Event | None:
        return self._cache.get(key)

    def get(self, entry: Entry) -> Event:
        event = self._cache.get(entry.key)
        if event is None:
            self.load((entry,))
            event = self._cache[entry.key]
        else:
            self._cache.move_to_end(entry.key)
        return event

    def load(self, entries: Iterable[Entry]) -> None:
        """Make sure these entries' models are cached: one loader call for those that are not."""
        cache = self._cache
        missing: list[Entry] = []
        for entry in entries:
            if entry.key in cache:
                cache.move_to_end(entry.key)
            else:
                missing.append(entry)
        if not missing:
            return
        records = self.records(missing)
        for entry in missing:
            record = records.get(entry.key)
            self._put(entry.key, self.parse(entry, record) if record is not None else self._unread(entry))

    def records(self, entries: Sequence[Entry]) -> dict[int, EventRecord]:
        """The records of these entries by key, in one loader call (not cached: a search reads thousands)."""
        found: dict[int, EventRecord] = {}
        ids: list[int] = []
        for entry in entries:
            key = entry.key
            if key % ID_STEP:
                pinned = self._pinned.get(key)
                if pinned is not None:
                    found[key] = pinned
            elif self._loader is None:
                given = self._given.get(key // ID_STEP)
                if given is not None:
                    found[key] = given
            else:
                ids.append(key // ID_STEP)
        if ids:
            ids.sort()
            found.update(self._read(ids))
        return found

    def _read(self, ids: list[int]) -> dict[int, EventRecord]:
        assert self._loader is not None
        self.loads += 1
        try:
            records = self._loader(ids)
        except Exception:
            log.exception("the event log could not read %d events (ids %d to %d)", len(ids), ids[0], ids[-1])
            return {}
        return {record.id * ID_STEP: record for record in records if record.id is not None}

    def parse(self, entry: Entry, record: EventRecord) -> Event:
        """The record's model; an error row if it cannot be read at all. A body that does not validate is an
        ``InvalidEvent`` already (history is read leniently): counted, and marked so search reads it in full."""
        try:
            event = record.event
        except (ProtocolError, ValueError, RecursionError) as error:
            log.warning("event %s of the log does not parse: %s", record.id, error)
            _kept_whole(entry)
            self.unreadable += 1
            return _error_event(entry, f"could not parse it: {error}", {"text": record.text or ""})
        if isinstance(event, InvalidEvent) and _kept_whole(entry):
            self.unreadable += 1
        return event

    def _unread(self, entry: Entry) -> Event:
        log.warning("the event log's loader gave no record for event %s", entry.id)
        _kept_whole(entry)
        self.unreadable += 1
        return _error_event(entry, "not in the store", {})

    def _put(self, key: int, event: Event) -> None:
        cache = self._cache
        cache[key] = event
        cache.move_to_end(key)
        while len(cache) > self.capacity:
            cache.popitem(last=False)


def _kept_whole(entry: Entry) -> bool:
    """Mark the entry as read whole from now on, its counts to be taken again from what stands for it. Returns
    whether it was not marked yet."""
    if entry.flags & KEPT_WHOLE:
        return False
    entry.flags = (entry.flags | KEPT_WHOLE) & ~EXACT
    return True


def _error_event(entry: Entry, problem: str, extra: dict[str, str]) -> InvalidEvent:
    """A stand-in that renders as an error row: what the envelope said, and why the body is missing."""
    tag = "action" if entry.flags & ACTS else "observation"
    raw = {"id": entry.id, tag: entry.kind, **extra}
    stamp = f"0000-00-00T{entry.clock}" if entry.clock[0].isdigit() else None  # only its clock is shown
    return InvalidEvent(id=entry.id, timestamp=stamp, source=entry.source, raw=raw, problem=problem)
