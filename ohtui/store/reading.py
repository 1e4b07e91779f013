"""Reading an event store without parsing: stored rows, records from the columns or the text, the newest of a kind,
and the holes in a range. Each read is its own short query, in growing chunks for ranges, so a range of a million
events holds neither memory nor a read transaction, and an abandoned iterator costs nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple, TypeVar

from ohtui.protocol.record import EventRecord
from ohtui.store.connection import Connections
from ohtui.store.rows import key
from ohtui.store.schema import ID_BITS, MAX_EVENT_ID

FIRST_CHUNK = 64
MAX_CHUNK = 1024
_LOOKUP_CHUNK = 500
_T = TypeVar("_T")

_RECORD_COLUMNS = "SELECT key, kind, is_action, source, timestamp, hidden, cause FROM events"
_RECORD_TEXT_COLUMNS = "SELECT key, kind, is_action, source, timestamp, hidden, cause, json FROM events"
_RAW_SQL = "SELECT key, kind, is_action, json FROM events WHERE key BETWEEN ? AND ? ORDER BY key LIMIT ?"
_RECORDS_SQL = f"{_RECORD_COLUMNS} WHERE key BETWEEN ? AND ? ORDER BY key LIMIT ?"
_RECORDS_TEXT_SQL = f"{_RECORD_TEXT_COLUMNS} WHERE key BETWEEN ? AND ? ORDER BY key LIMIT ?"
_SPAN_SQL = "SELECT min(key), max(key), count(*) FROM events WHERE key BETWEEN ? AND ?"
_HOLES_SQL = (
    "SELECT key, next FROM (SELECT key, lead(key) OVER (ORDER BY key) AS next FROM events"
    " WHERE key BETWEEN ? AND ?) WHERE next > key + 1"
)


class StoredRow(NamedTuple):
    """One stored event as ``search_raw`` reads it: id, type (``action``/``observation`` value), and JSON text."""

    id: int
    kind: str
    is_action: bool
    json: str


def key_range(pk: int, start_id: int = 0, end_id: int = MAX_EVENT_ID) -> tuple[int, int]:
    """Inclusive key bounds of ids ``start_id..end_id`` of a conversation (clamped to the ids that can exist)."""
    base = pk << ID_BITS
    return base + max(start_id, 0), base + min(end_id, MAX_EVENT_ID)


def _ranged(
    conns: Connections, sql: str, pk: int, start_id: int, end_id: int, make: Callable[[Sequence[Any]], _T]
) -> Iterator[_T]:
    low, high = key_range(pk, start_id, end_id)
    chunk = FIRST_CHUNK
    while low <= high:
        rows = conns.read(sql, (low, high, chunk))
        yield from (make(row) for row in rows)
        if len(rows) < chunk:
            return
        low = rows[-1][0] + 1
        chunk = min(chunk * 2, MAX_CHUNK)


def _stored_row(row: Sequence[Any]) -> StoredRow:
    return StoredRow(row[0] & MAX_EVENT_ID, row[1], bool(row[2]), row[3])


def record_of(row: Sequence[Any]) -> EventRecord:
    """A record from a records query's row (from its text when the row has one, else from its columns)."""
    if len(row) == 8:
        return EventRecord.from_json(row[7])
    row_key, kind, is_action, source, timestamp, hidden, cause = row
    event_id = row_key & MAX_EVENT_ID
    return EventRecord.from_columns(event_id, kind, bool(is_action), source, timestamp, bool(hidden), cause)


def rows_in(conns: Connections, pk: int, start_id: int, end_id: int) -> Iterator[StoredRow]:
    return _ranged(conns, _RAW_SQL, pk, start_id, end_id, _stored_row)


def records_in(conns: Connections, pk: int, start_id: int, end_id: int, *, with_text: bool) -> Iterator[EventRecord]:
    return _ranged(conns, _RECORDS_TEXT_SQL if with_text else _RECORDS_SQL, pk, start_id, end_id, record_of)


def newest_record(
    conns: Connections, pk: int, upto: int, kind: str | None, is_action: bool | None, metrics: bool
) -> EventRecord | None:
    if upto < 0:
        return None
    conditions, params = ["key BETWEEN ? AND ?"], [*key_range(pk, 0, upto)]
    if kind is not None:
        conditions.append("kind = ?")
        params.append(kind)  # type: ignore[arg-type]
    if is_action is not None:
        conditions.append("is_action = ?")
        params.append(int(is_action))
    if metrics:
        # The top-level key as compact JSON holds it: inside a string its quotes would be escaped.
        conditions.append("""json LIKE '%"llm_metrics":{%'""")
    rows = conns.read(f"{_RECORD_TEXT_COLUMNS} WHERE {' AND '.join(conditions)} ORDER BY key DESC LIMIT 1", params)
    return record_of(rows[0]) if rows else None


def records_by_id(conns: Connections, pk: int, ids: Iterable[int]) -> list[EventRecord]:
    wanted = sorted({event_id for event_id in ids if 0 <= event_id <= MAX_EVENT_ID})
    found: list[EventRecord] = []
    for start in range(0, len(wanted), _LOOKUP_CHUNK):
        part = [key(pk, event_id) for event_id in wanted[start : start + _LOOKUP_CHUNK]]
        sql = f"{_RECORD_TEXT_COLUMNS} WHERE key IN ({', '.join('?' * len(part))}) ORDER BY key"
        found += [record_of(row) for row in conns.read(sql, part)]
    return found


def missing_ranges(conns: Connections, pk: int | None, start_id: int, end_id: int) -> list[tuple[int, int]]:
    if end_id < start_id:
        return []
    if pk is None:
        return [(start_id, end_id)]
    bounds = key_range(pk, start_id, end_id)
    low, high, present = conns.read(_SPAN_SQL, bounds)[0]
    if present == 0:
        return [(start_id, end_id)]
    if present == end_id - start_id + 1:
        return []
    low &= MAX_EVENT_ID
    high &= MAX_EVENT_ID
    holes = [(start_id, low - 1)] if low > start_id else []
    holes += [((a & MAX_EVENT_ID) + 1, (b & MAX_EVENT_ID) - 1) for a, b in conns.read(_HOLES_SQL, bounds)]
    if high < end_id:
        holes.append((high + 1, end_id))
    return holes
