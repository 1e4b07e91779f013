"""Storing events that already have their ids (a client's mirror of a server, an import): which are new, which
are duplicates, and where the ids jump past the next one expected (a hole for gap repair to fill)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from ohtui.protocol.record import EventRecord
from ohtui.store.rows import Row, record_row
from ohtui.store.schema import ID_BITS, MAX_EVENT_ID

_SPAN_SLACK = 1024
_LOOKUP_CHUNK = 500
_KEYS_SQL = "SELECT key FROM events WHERE key BETWEEN ? AND ?"


@dataclass(frozen=True)
class InsertResult:
    """What ``insert`` did. ``gap_from`` is the id that was expected next when the event's id jumped past it."""

    inserted: bool
    duplicate: bool
    gap_from: int | None = None


DUPLICATE = InsertResult(inserted=False, duplicate=True)
INSERTED = InsertResult(inserted=True, duplicate=False)


def checked_id(event_id: int | None) -> int:
    if event_id is None:
        raise ValueError("insert needs an event with an id (the server's); append assigns new ids")
    if not 0 <= event_id <= MAX_EVENT_ID:
        raise ValueError(f"event id must be between 0 and {MAX_EVENT_ID}, got {event_id}")
    return event_id


def stored_keys(conn: sqlite3.Connection, pk: int, ids: list[int]) -> set[int]:
    """The keys of the ids that are stored already: one range read when the ids are about contiguous (a replay,
    whose range holds at most a little more than the batch), else lookups of the ids themselves."""
    base = pk << ID_BITS
    low, high = min(ids), max(ids)
    if high - low < len(ids) + _SPAN_SLACK:
        found = conn.execute(_KEYS_SQL, (base + low, base + high)).fetchall()
    else:
        found = []
        for start in range(0, len(ids), _LOOKUP_CHUNK):
            part = [base + event_id for event_id in ids[start : start + _LOOKUP_CHUNK]]
            sql = f"SELECT key FROM events WHERE key IN ({', '.join('?' * len(part))})"
            found += conn.execute(sql, part).fetchall()
    return {row[0] for row in found}


def new_rows(
    pk: int, records: Sequence[EventRecord], ids: list[int], present: set[int], expected: int
) -> tuple[list[InsertResult], list[EventRecord], list[Row], int]:
    """Per record its result, the new records, their rows, and the id expected next afterwards. Duplicates (stored
    already, or twice in the batch) cost a set lookup."""
    base = pk << ID_BITS
    results: list[InsertResult] = []
    inserted: list[EventRecord] = []
    rows: list[Row] = []
    for record, event_id in zip(records, ids, strict=True):
        row_key = base + event_id
        if row_key in present:
            results.append(DUPLICATE)
            continue
        present.add(row_key)
        rows.append(record_row(row_key, record, record.json))
        inserted.append(record)
        results.append(InsertResult(True, False, expected) if event_id > expected else INSERTED)
        expected = max(expected, event_id + 1)
    return results, inserted, rows, expected
