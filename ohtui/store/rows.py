"""How events become rows of the ``events`` table: the per-event work of every write, kept small.

A write costs, per event, one ``event_to_json`` (most of it), one stamped copy of the event (appends), one row tuple
and SQLite's insert. Everything else is done once per batch or once per class, and rows are inserted many to a
statement (:func:`insert_rows`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from itertools import chain
from typing import Any

from ohtui.protocol import Event, EventSource, OpaqueEvent, event_to_json
from ohtui.protocol.fast import copy_with_values
from ohtui.protocol.record import EventRecord
from ohtui.store.schema import ID_BITS, MAX_EVENT_ID

Row = tuple[int, str, int, str | None, str | None, int, int | None, str]
"""``(key, kind, is_action, source, timestamp, hidden, cause, json)``, the columns of ``INSERT_SQL`` in order."""

Mask = Callable[[Event, str], tuple[Event, str]]
"""Secret masking: an event and its JSON in, the same or masked ones out (``SecretMasker.mask``)."""

INSERT_SQL = (
    "INSERT INTO events (key, kind, is_action, source, timestamp, hidden, cause, json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)

# sqlite3's executemany resets and re-binds its statement for every row, about a fifth of SQLite's cost of a row
# here; one statement with many VALUES tuples pays that once per chunk. 100 rows is 800 parameters, far below every
# SQLite build's limit (999 before 3.32), and bigger chunks gain nothing measurable.
_CHUNK = 100
_CHUNK_SQL = INSERT_SQL + ", (?, ?, ?, ?, ?, ?, ?, ?)" * (_CHUNK - 1)

_SOURCE_TEXT: dict[EventSource | None, str | None] = {source: source.value for source in EventSource}
_SOURCE_TEXT[None] = None
_STAMPED = frozenset({"id", "timestamp", "source"})


def key(pk: int, event_id: int) -> int:
    """The events-table key of (conversation, id): one integer, so a conversation is one key range."""
    return (pk << ID_BITS) | event_id


def source_text(source: EventSource | None) -> str | None:
    return _SOURCE_TEXT[source]


def stamped_rows(
    batch: Sequence[Event],
    first_key: int,
    first_id: int,
    timestamp: str,
    source: EventSource | None,
    mask: Mask | None,
) -> tuple[list[Event], list[Row]]:
    """What an append stores: the batch stamped with ids ``first_id, first_id + 1, …``, one timestamp and ``source``
    (when given), masked by ``mask`` (when secrets are registered), and its rows.

    Each copy is what ``model_copy(update=...)`` makes (a shallow copy with some field values replaced, no
    validation) without its generic overhead (:func:`~ohtui.protocol.fast.copy_with_values`). This is the loop of
    every append, so :func:`row_of` is written out in it: a Python call per event and step would cost more than the
    step."""
    stored: list[Event] = []
    rows: list[Row] = []
    fixed_source = _SOURCE_TEXT[source] if source is not None else None
    for offset, event in enumerate(batch):
        values = event.field_values.copy()
        values["id"] = first_id + offset
        values["timestamp"] = timestamp
        if source is not None:
            values["source"] = source
        copy = copy_with_values(event, values, _STAMPED)
        text = event_to_json(copy)
        if mask is not None:
            copy, text = mask(copy, text)
            values = copy.field_values
        kind = values.get("action")
        if kind is not None:
            is_action = 1
        else:
            kind, is_action = type_columns(copy)
        row_source = fixed_source if fixed_source is not None else _SOURCE_TEXT[values["source"]]
        hidden = 1 if copy.hidden else 0
        rows.append((first_key + offset, kind, is_action, row_source, timestamp, hidden, values.get("cause"), text))
        stored.append(copy)
    return stored, rows


def type_columns(event: Event) -> tuple[str, int]:
    """``(kind, is_action)``: the ``action`` or ``observation`` field, read from the field values (a dict lookup, not
    a property call per event)."""
    values = event.field_values
    kind = values.get("action")
    if kind is not None:
        return kind, 1
    kind = values.get("observation")
    if kind is not None:
        return kind, 0
    if isinstance(event, OpaqueEvent):
        return event.kind, 1 if event.is_action else 0
    return event.kind, 0


def row_of(row_key: int, event: Event, source: str | None, timestamp: str | None, text: str) -> Row:
    """The row of ``event`` stored as ``text``, when the caller knows its key, source text and timestamp already.
    ``hidden`` is the property :class:`~ohtui.store.filters.EventFilter` reads, so SQL and Python agree on it."""
    kind, is_action = type_columns(event)
    return (row_key, kind, is_action, source, timestamp, 1 if event.hidden else 0, event.cause, text)


def record_row(row_key: int, record: EventRecord, text: str) -> Row:
    """The row of a record stored as ``text``, from its envelope (the model is not built)."""
    envelope = record.envelope
    source = envelope.source
    return (
        row_key,
        record.kind,
        1 if envelope.action is not None else 0,
        source.value if source is not None else None,
        envelope.timestamp,
        1 if record.details.hidden else 0,
        envelope.cause,
        text,
    )


def event_row(pk: int, event: Event, text: str) -> Row:
    """The row of a stored event (its id checked): its JSON plus the copies of fields that filters look at."""
    event_id = event.id
    if event_id is None or not 0 <= event_id <= MAX_EVENT_ID:
        raise ValueError(f"event id must be between 0 and {MAX_EVENT_ID}, got {event_id!r}")
    return row_of(key(pk, event_id), event, _SOURCE_TEXT[event.source], event.timestamp, text)


def insert_rows(conn: sqlite3.Connection, rows: Sequence[Row]) -> None:
    """Insert ``rows`` in order, :data:`_CHUNK` to a statement. A key that exists raises ``IntegrityError`` (the
    statement's rows are undone; the caller's transaction decides about the rest)."""
    whole = len(rows) - len(rows) % _CHUNK
    for start in range(0, whole, _CHUNK):
        params: list[Any] = list(chain.from_iterable(rows[start : start + _CHUNK]))
        conn.execute(_CHUNK_SQL, params)
    if whole < len(rows):
        conn.executemany(INSERT_SQL, rows[whole:])
