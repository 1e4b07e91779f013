"""``EventStore``: the append-only event stream of one conversation (OPENHANDS_V0.md §3.2, §3.3), in SQLite.

The server appends (the store assigns ids 0, 1, 2, … and timestamps); the client mirrors with ``insert`` (keeping the
server's ids, ignoring duplicates, reporting gaps). Every write is committed before the call returns, so a returned
event survives a SIGKILL of the process; see ohtui/store/README.md for what a power loss can cost.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from itertools import chain, islice

from ohtui.protocol import Event, EventSource, ProtocolError, event_to_json, stored_event_from_json
from ohtui.protocol.record import EventRecord
from ohtui.store.clock import wire_clock
from ohtui.store.connection import Connections
from ohtui.store.errors import EventNotFoundError, StoreError
from ohtui.store.filters import EventFilter, sql_conditions
from ohtui.store.mirror import InsertResult, new_rows, stored_keys
from ohtui.store.mirror import checked_id as _checked_id
from ohtui.store.reading import (
    FIRST_CHUNK as _FIRST_CHUNK,
)
from ohtui.store.reading import (
    MAX_CHUNK as _MAX_CHUNK,
)
from ohtui.store.reading import (
    StoredRow,
    key_range,
    missing_ranges,
    newest_record,
    records_by_id,
    records_in,
    rows_in,
)
from ohtui.store.rows import INSERT_SQL, Row, insert_rows, key, stamped_rows
from ohtui.store.schema import MAX_CONVERSATION_PK, MAX_EVENT_ID
from ohtui.store.secrets import SecretMasker
from ohtui.store.subscribers import Callback, Subscribers

_BUMP_SQL = "UPDATE conversations SET updated_at = ? WHERE pk = ?"
# An append marks its conversation as updated at most this often, so a busy stream costs one extra UPDATE a second.
_BUMP_INTERVAL = 1.0
# The last events this store appended, kept parsed: an agent step reads the end of its conversation back (the echo
# agent looks for the last user message; the controller for what it just stored), and a server appends there.
_RECENT = 32


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _already_has_id(event: Event) -> ValueError:
    # Upstream's exact message (§3.2).
    return ValueError(
        f"Event already has an ID:{event.id}. It was probably added back to the EventStream from inside a handler,"
        " triggering a loop."
    )


def _as_source(source: EventSource | str | None) -> EventSource | None:
    return source if source is None or isinstance(source, EventSource) else EventSource(source)


class EventStore:
    """One conversation's events. Thread-safe; every call is short enough to make directly on an asyncio loop."""

    def __init__(self, conns: Connections, conversation_id: str, *, clock: Callable[[], str] = wire_clock) -> None:
        self._conns = conns
        self._clock = clock
        self.conversation_id = conversation_id
        self._pk: int | None = None
        self._next_id: int | None = None  # highest stored id + 1; None until first needed (and after a conflict)
        self._bumped_at = float("-inf")
        # Contiguous ids, oldest first. Stored events never change, so these stay right whoever appends after them.
        self._recent: deque[Event] = deque(maxlen=_RECENT)
        self._subscribers = Subscribers()
        self._secrets = SecretMasker()

    def __repr__(self) -> str:
        return f"EventStore({self.conversation_id!r}, {self._conns.path})"

    # -- writing ---------------------------------------------------------------------------------------------------

    def append(self, event: Event, source: EventSource | str | None = None) -> Event:
        """Store ``event`` as the next one: assign id and timestamp (and ``source`` if given), mask secrets, commit,
        then notify subscribers. Returns the stored event."""
        if event.id is not None:
            raise _already_has_id(event)
        return self._append([event], _as_source(source))[0]

    def append_many(self, events: Iterable[Event], source: EventSource | str | None = None) -> list[Event]:
        """``append`` for a batch, in one transaction: all stored with consecutive ids, or none."""
        batch = list(events)
        for event in batch:
            if event.id is not None:
                raise _already_has_id(event)
        return self._append(batch, _as_source(source)) if batch else []

    def _append(self, batch: Sequence[Event], source: EventSource | None) -> list[Event]:
        conns = self._conns
        with conns.lock:
            conn = conns.writer()
            try:
                pk = self._pk if self._pk is not None else self._create_pk(conn)
                first = self._next_id
                stored: list[Event] = []
                if first is not None:
                    # Fast path: the id after the last one this process wrote. Another process may have appended
                    # meanwhile; the primary key then refuses the rows and the locked path below numbers again.
                    stored, rows = self._number(pk, batch, first, source)
                    try:
                        self._write(conn, pk, rows)
                    except sqlite3.IntegrityError:
                        first = None
                if first is None:
                    # Under SQLite's write lock (BEGIN IMMEDIATE) nobody else can append between reading the end
                    # of the stream and writing after it, so this cannot conflict: no retry loop, no livelock.
                    with conns.transaction():
                        first = self._load_next_id(conn, pk)
                        stored, rows = self._number(pk, batch, first, source)
                        self._write_in_transaction(conn, pk, rows, time.monotonic())
            except sqlite3.Error as error:
                raise conns.error(error) from None
            self._next_id = first + len(batch)
            recent = self._recent
            if recent and recent[-1].id != first - 1:
                recent.clear()
            recent.extend(stored)
            deliver = self._subscribers.enqueue(
                [EventRecord.from_event(event, row[-1]) for event, row in zip(stored, rows, strict=True)]
            )
        Subscribers.drain(deliver)
        return stored

    def _number(
        self, pk: int, batch: Sequence[Event], first: int, source: EventSource | None
    ) -> tuple[list[Event], list[Row]]:
        """The batch stamped with ids ``first, first + 1, …`` and one timestamp (it is stored at once), as rows."""
        if first + len(batch) - 1 > MAX_EVENT_ID:
            raise ValueError(f"event id must be between 0 and {MAX_EVENT_ID}, got {first + len(batch) - 1}")
        mask = self._secrets.mask if self._secrets else None
        return stamped_rows(batch, key(pk, first), first, self._clock(), source, mask)

    def _write(self, conn: sqlite3.Connection, pk: int, rows: list[Row]) -> None:
        now = time.monotonic()
        if len(rows) == 1 and now - self._bumped_at < _BUMP_INTERVAL:
            conn.execute(INSERT_SQL, rows[0])  # autocommit: one statement is one transaction
            return
        with self._conns.transaction():
            self._write_in_transaction(conn, pk, rows, now)

    def _write_in_transaction(self, conn: sqlite3.Connection, pk: int, rows: list[Row], now: float) -> None:
        insert_rows(conn, rows)
        if now - self._bumped_at >= _BUMP_INTERVAL:
            conn.execute(_BUMP_SQL, (utc_now(), pk))
            self._bumped_at = now

    def insert(self, event: Event) -> InsertResult:
        """Mirror an event that already has its id (from the server). A duplicate id is ignored; an id past the
        expected next one is stored and reported as a gap (``gap_from``) so the caller can fetch what is missing."""
        return self.insert_many([event])[0]

    def insert_many(self, events: Iterable[Event], texts: Sequence[str | None] | None = None) -> list[InsertResult]:
        """``insert`` for a batch (a replay), in one transaction. Subscribers get the new events in batch order.

        ``texts``, when given, holds for each event the JSON it was parsed from (None where there is none): that text
        is stored as is instead of serializing the event again (unless secrets are registered, which rewrites it).
        """
        batch = list(events)
        if texts is not None and len(texts) != len(batch):
            raise ValueError(f"{len(texts)} texts for {len(batch)} events")
        given = texts if texts is not None and not self._secrets else [None] * len(batch)
        mask = self._secrets.mask if self._secrets else None
        records = []
        for event, known in zip(batch, given, strict=True):
            _checked_id(event.id)
            text = known if known is not None else event_to_json(event)
            if mask is not None:
                event, text = mask(event, text)
            records.append(EventRecord.from_event(event, text))
        return self._insert(records)

    def insert_records(self, records: Sequence[EventRecord]) -> list[InsertResult]:
        """``insert_many`` for events as a server sent them (their JSON text, the envelope read, the model not built):
        stored as sent, with the columns from the envelope. Subscribers get the new records in batch order.

        Secrets, when registered, need the model (masking rewrites fields): those records are parsed first."""
        if self._secrets:
            return self.insert_many([record.event for record in records], [record.text for record in records])
        return self._insert(records)

    def _insert(self, records: Sequence[EventRecord]) -> list[InsertResult]:
        """Store records that have their ids, in one transaction: a duplicate is skipped, a jump past the next
        expected id is stored and reported (``gap_from``)."""
        ids = [_checked_id(record.id) for record in records]
        if not ids:
            return []
        conns = self._conns
        with conns.lock:
            conn = conns.writer()
            try:
                pk = self._pk if self._pk is not None else self._create_pk(conn)
                expected = self._next_id if self._next_id is not None else self._load_next_id(conn, pk)
                now = time.monotonic()
                with conns.transaction():
                    # Under the write lock: what the query finds stored stays all that is stored until the commit.
                    present = stored_keys(conn, pk, ids)
                    results, inserted, rows, expected = new_rows(pk, records, ids, present, expected)
                    insert_rows(conn, rows)
                    bump = bool(rows) and now - self._bumped_at >= _BUMP_INTERVAL
                    if bump:
                        conn.execute(_BUMP_SQL, (utc_now(), pk))
            except sqlite3.Error as error:
                raise conns.error(error) from None
            self._next_id = expected
            if bump:
                self._bumped_at = now
            if inserted:
                self._recent.clear()  # it holds the events this process appended, in id order
            deliver = self._subscribers.enqueue(inserted)
        Subscribers.drain(deliver)
        return results

    def _create_pk(self, conn: sqlite3.Connection) -> int:
        """The conversation's key, creating its row on first write (appending is how a server starts one)."""
        now = utc_now()
        conn.execute(
            "INSERT OR IGNORE INTO conversations (conversation_id, created_at, updated_at) VALUES (?, ?, ?)",
            (self.conversation_id, now, now),
        )
        row = conn.execute("SELECT pk FROM conversations WHERE conversation_id = ?", (self.conversation_id,)).fetchone()
        pk = int(row[0])
        if pk > MAX_CONVERSATION_PK:
            raise StoreError(f"database {self._conns.path} has run out of conversation keys")
        self._pk = pk
        return pk

    def _load_next_id(self, conn: sqlite3.Connection, pk: int) -> int:
        row = conn.execute(_MAX_SQL, key_range(pk)).fetchone()
        self._next_id = 0 if row[0] is None else (int(row[0]) & MAX_EVENT_ID) + 1
        return self._next_id

    def _forget(self) -> None:
        """The conversation was deleted (or replaced): look everything up again. Call with the write lock held."""
        self._pk = None
        self._next_id = None
        self._bumped_at = float("-inf")
        self._recent.clear()

    # -- reading ---------------------------------------------------------------------------------------------------

    def _read_pk(self) -> int | None:
        if self._pk is not None:
            return self._pk
        rows = self._conns.read("SELECT pk FROM conversations WHERE conversation_id = ?", (self.conversation_id,))
        if not rows:
            return None
        self._pk = int(rows[0][0])  # keys are never reused (AUTOINCREMENT), and a delete here calls _forget
        return self._pk

    def _parse(self, event_id: int, text: str) -> Event:
        """A stored row as its event; one that does not validate (an older ohtui, an import) is kept whole as an
        ``InvalidEvent``, so only a row that is not an event at all cannot be read."""
        try:
            return stored_event_from_json(text)
        except ProtocolError as error:
            raise StoreError(
                f"event {event_id} of conversation {self.conversation_id} in {self._conns.path} cannot be read: {error}"
            ) from None

    def get(self, event_id: int) -> Event:
        """The event with this id; :class:`EventNotFoundError` (a ``KeyError``) when it is not stored."""
        pk = self._read_pk()
        rows = (
            [] if pk is None or not 0 <= event_id <= MAX_EVENT_ID else self._conns.read(_GET_SQL, (key(pk, event_id),))
        )
        if not rows:
            raise EventNotFoundError(f"no event {event_id} in conversation {self.conversation_id}")
        return self._parse(event_id, rows[0][0])

    def has(self, event_id: int) -> bool:
        pk = self._read_pk()
        if pk is None or not 0 <= event_id <= MAX_EVENT_ID:
            return False
        return bool(self._conns.read(_HAS_SQL, (key(pk, event_id),)))

    def latest_id(self) -> int:
        """The highest stored id, -1 when there is none."""
        pk = self._read_pk()
        if pk is None:
            return -1
        value = self._conns.read(_MAX_SQL, key_range(pk))[0][0]
        return -1 if value is None else int(value) & MAX_EVENT_ID

    def count(self) -> int:
        """How many events are stored. Walks the conversation's rows (no index is kept for it; see schema.py):
        about a millisecond per few thousand events."""
        pk = self._read_pk()
        return 0 if pk is None else int(self._conns.read(_COUNT_SQL, key_range(pk))[0][0])

    def search(
        self,
        start_id: int = 0,
        end_id: int | None = None,
        reverse: bool = False,
        filter: EventFilter | None = None,  # upstream's name
        limit: int | None = None,
    ) -> Iterator[Event]:
        """Events with ``start_id <= id <= end_id`` (``end_id`` inclusive, None = the latest at the first read),
        ascending or descending, that pass ``filter``; at most ``limit`` of them (None or 0: no limit, as upstream).

        Streams: rows are read in growing chunks, each on its own short read, so a search of a million events holds
        neither memory nor a read transaction, and an abandoned iterator costs nothing."""
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        return self._search(start_id, end_id, reverse, filter, limit or None)

    def _search(
        self, start_id: int, end_id: int | None, reverse: bool, flt: EventFilter | None, limit: int | None
    ) -> Iterator[Event]:
        pk = self._read_pk()
        if pk is None:
            return
        if end_id is None:
            end_id = self.latest_id()
        # The newest part of the range may be held parsed (:data:`_RECENT`): read from there, the rest from SQLite.
        cached = self._recent_upto(start_id, end_id)
        if cached:
            newest = [event for event in cached if flt is None or flt.include(event)]
            cached_from = cached[0].id
            assert cached_from is not None
            older = self._search(start_id, cached_from - 1, reverse, flt, limit)  # read lazily, chunk by chunk
            yield from islice(chain(reversed(newest), older) if reverse else chain(older, newest), limit)
            return
        conditions, params = sql_conditions(flt) if flt is not None else ([], [])
        where = " AND ".join(["key BETWEEN ? AND ?", *conditions])
        sql = f"SELECT key, json FROM events WHERE {where} ORDER BY key {'DESC' if reverse else 'ASC'} LIMIT ?"
        low, high = key_range(pk, start_id, end_id)
        chunk = min(limit, _MAX_CHUNK) if limit else _FIRST_CHUNK
        found = 0
        while low <= high:
            rows = self._conns.read(sql, (low, high, *params, chunk))
            for row_key, text in rows:
                event = self._parse(row_key & MAX_EVENT_ID, text)
                if flt is None or flt.include(event):
                    yield event
                    found += 1
                    if limit is not None and found >= limit:
                        return
            if len(rows) < chunk:
                return
            if reverse:
                high = rows[-1][0] - 1
            else:
                low = rows[-1][0] + 1
            chunk = min(chunk * 2, _MAX_CHUNK)

    def _recent_upto(self, start_id: int, end_id: int) -> tuple[Event, ...]:
        """The held recent events with ids in ``start_id..end_id``, if ``end_id`` is one of them (else none)."""
        recent = tuple(self._recent)  # one C call: a consistent copy even while another thread appends
        if not recent:
            return ()
        first = recent[0].id
        assert first is not None
        if not first <= end_id < first + len(recent) or end_id < start_id:
            return ()
        return recent[max(start_id - first, 0) : end_id - first + 1]

    def search_raw(self, start_id: int = 0, end_id: int | None = None) -> Iterator[StoredRow]:
        """Stored events in ascending id order as they are stored (the JSON text, unparsed), with the columns that
        replay rules look at. What a server sends history from: no parse and no re-serialization per event."""
        pk = self._read_pk()
        if pk is not None:
            yield from rows_in(self._conns, pk, start_id, self.latest_id() if end_id is None else end_id)

    def records(
        self, start_id: int = 0, end_id: int | None = None, *, with_text: bool = False
    ) -> Iterator[EventRecord]:
        """Stored events as records, ascending by id. Without text, from the columns alone (no JSON is read: what a
        viewer needs to place and label rows); with it, each record's envelope is read from its text."""
        pk = self._read_pk()
        if pk is not None:
            end = self.latest_id() if end_id is None else end_id
            yield from records_in(self._conns, pk, start_id, end, with_text=with_text)

    def newest_record(
        self, upto: int, *, kind: str | None = None, is_action: bool | None = None, metrics: bool = False
    ) -> EventRecord | None:
        """The newest stored record (with its text) at or before ``upto`` of this kind, or carrying LLM metrics."""
        pk = self._read_pk()
        return None if pk is None else newest_record(self._conns, pk, upto, kind, is_action, metrics)

    def records_by_id(self, ids: Iterable[int]) -> list[EventRecord]:
        """The stored records (with their text) of these ids, in id order; ids not stored are left out."""
        pk = self._read_pk()
        return [] if pk is None else records_by_id(self._conns, pk, ids)

    def missing_ranges(self, start_id: int = 0, end_id: int | None = None) -> list[tuple[int, int]]:
        """Inclusive ``(first, last)`` ranges of ids in ``start_id..end_id`` that are not stored (end_id None: the
        latest stored). What a mirror has to fetch to be complete."""
        end = self.latest_id() if end_id is None else end_id
        return missing_ranges(self._conns, self._read_pk(), max(start_id, 0), end)

    # -- subscribers and secrets -----------------------------------------------------------------------------------

    def subscribe(self, subscriber_id: str, callback: Callback, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Call ``callback(event)`` for every event stored from now on, in id order. Sync callbacks run on the thread
        that wrote; async ones on ``loop`` (default: the loop running now). Duplicate id: ``ValueError``."""
        self._subscribers.subscribe(subscriber_id, callback, loop)

    def unsubscribe(self, subscriber_id: str) -> None:
        self._subscribers.unsubscribe(subscriber_id)

    def add_secrets(self, *secrets: str) -> None:
        """From now on, replace each of these strings by ``<secret_hidden>`` before anything is stored (§3.2)."""
        self._secrets.add(*secrets)


_GET_SQL = "SELECT json FROM events WHERE key = ?"
_HAS_SQL = "SELECT 1 FROM events WHERE key = ?"
_MAX_SQL = "SELECT max(key) FROM events WHERE key BETWEEN ? AND ?"
_COUNT_SQL = "SELECT count(*) FROM events WHERE key BETWEEN ? AND ?"
