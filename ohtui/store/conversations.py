"""``ConversationStore``: the conversations of a database and their metadata, in the same file as their events."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ohtui.protocol import Event, event_to_json
from ohtui.store.connection import Connections
from ohtui.store.errors import StoreError
from ohtui.store.events import utc_now
from ohtui.store.reading import key_range
from ohtui.store.rows import event_row, insert_rows
from ohtui.store.schema import ID_BITS, MAX_CONVERSATION_PK, MAX_EVENT_ID


class ConversationNotFoundError(StoreError, KeyError):
    """No conversation with that id. A ``KeyError`` too."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "conversation not found"


@dataclass(frozen=True)
class ConversationInfo:
    """A conversation's metadata. Times are timezone-aware UTC; ``event_count`` is the number of stored events, or
    None where the reader did not ask for it (counting walks every row of the conversation: 35 ms at 100,000)."""

    conversation_id: str
    title: str | None
    created_at: datetime
    updated_at: datetime
    agent_state: str | None
    agent_name: str | None
    event_count: int | None = 0


_COLUMNS = "SELECT c.conversation_id, c.title, c.created_at, c.updated_at, c.agent_state, c.agent_name"
_SELECT = (
    f"{_COLUMNS}, (SELECT count(*) FROM events e"
    f" WHERE e.key BETWEEN c.pk << {ID_BITS} AND (c.pk << {ID_BITS}) + {MAX_EVENT_ID}) FROM conversations c"
)
_SELECT_UNCOUNTED = f"{_COLUMNS}, NULL FROM conversations c"


def _info(row: tuple[Any, ...]) -> ConversationInfo:
    return ConversationInfo(
        conversation_id=row[0],
        title=row[1],
        created_at=datetime.fromisoformat(row[2]),
        updated_at=datetime.fromisoformat(row[3]),
        agent_state=row[4],
        agent_name=row[5],
        event_count=None if row[6] is None else int(row[6]),
    )


class ConversationStore:
    """List, create, read, update and delete conversations. Thread-safe."""

    def __init__(self, conns: Connections, on_change: Callable[[str], None]) -> None:
        self._conns = conns
        # Called (with the write lock held) when a conversation's rows are deleted or created wholesale, so the
        # cached EventStore of that id looks its key and next id up again.
        self._on_change = on_change

    def create(
        self, conversation_id: str | None = None, title: str | None = None, agent_name: str | None = None
    ) -> ConversationInfo:
        """A new conversation (id default: a fresh ``uuid4().hex``). An id that exists already: ``ValueError``."""
        return self.create_with_events((), conversation_id, title=title, agent_name=agent_name)

    def create_with_events(
        self,
        events: Iterable[Event],
        conversation_id: str | None = None,
        *,
        title: str | None = None,
        agent_name: str | None = None,
        agent_state: str | None = None,
    ) -> ConversationInfo:
        """A new conversation holding ``events`` as they are (each must have a distinct id), in one transaction:
        either all of it exists afterwards or none of it. Used by import."""
        conversation_id = conversation_id or uuid.uuid4().hex
        batch = list(events)
        seen: set[int] = set()
        for event in batch:
            if event.id is None or event.id < 0:
                raise ValueError(f"every event needs an id >= 0 to be stored as is, got {event.id!r}")
            if event.id in seen:
                raise ValueError(f"two events have the id {event.id}")
            seen.add(event.id)
        conns = self._conns
        now = utc_now()
        with conns.lock:
            try:
                with conns.transaction() as conn:
                    try:
                        cursor = conn.execute(
                            "INSERT INTO conversations (conversation_id, title, created_at, updated_at, agent_state,"
                            " agent_name) VALUES (?, ?, ?, ?, ?, ?)",
                            (conversation_id, title, now, now, agent_state, agent_name),
                        )
                    except sqlite3.IntegrityError:
                        raise ValueError(f"conversation {conversation_id} already exists") from None
                    pk = cursor.lastrowid
                    if pk is None or pk > MAX_CONVERSATION_PK:
                        raise StoreError(f"database {conns.path} has run out of conversation keys")
                    insert_rows(conn, [event_row(pk, event, event_to_json(event)) for event in batch])
            except sqlite3.Error as error:
                raise conns.error(error) from None
            self._on_change(conversation_id)
        created = datetime.fromisoformat(now)
        return ConversationInfo(conversation_id, title, created, created, agent_state, agent_name, len(batch))

    def get(self, conversation_id: str, *, count_events: bool = True) -> ConversationInfo | None:
        """The conversation's metadata, None if there is none. ``count_events=False`` leaves ``event_count`` None
        and costs one row read instead of a walk over the conversation's events."""
        select = _SELECT if count_events else _SELECT_UNCOUNTED
        rows = self._conns.read(f"{select} WHERE c.conversation_id = ?", (conversation_id,))
        return _info(rows[0]) if rows else None

    def get_or_create(
        self, conversation_id: str, *, title: str | None = None, agent_name: str | None = None
    ) -> ConversationInfo:
        found = self.get(conversation_id)
        if found is not None:
            return found
        try:
            return self.create(conversation_id, title=title, agent_name=agent_name)
        except ValueError:  # created meanwhile by another thread or process
            found = self.get(conversation_id)
            if found is None:
                raise
            return found

    def list(self) -> list[ConversationInfo]:
        """Every conversation, the most recently updated first (appending events counts as an update)."""
        return [_info(row) for row in self._conns.read(f"{_SELECT} ORDER BY c.updated_at DESC, c.pk DESC")]

    def update(
        self,
        conversation_id: str,
        *,
        title: str | None = None,
        agent_state: str | None = None,
        agent_name: str | None = None,
    ) -> None:
        """Set the given fields (None leaves a field as it is) and ``updated_at``. Unknown id:
        :class:`ConversationNotFoundError` (a ``KeyError``). Returns nothing: the server calls this on every agent
        state change, and reading the info back (:meth:`get`) counts the conversation's events."""
        changes: dict[str, str] = {"updated_at": utc_now()}
        for name, value in (("title", title), ("agent_state", agent_state), ("agent_name", agent_name)):
            if value is not None:
                changes[name] = value
        assignments = ", ".join(f"{name} = ?" for name in changes)
        conns = self._conns
        with conns.lock:
            try:
                cursor = conns.writer().execute(
                    f"UPDATE conversations SET {assignments} WHERE conversation_id = ?",
                    (*changes.values(), conversation_id),
                )
            except sqlite3.Error as error:
                raise conns.error(error) from None
        if cursor.rowcount == 0:
            raise ConversationNotFoundError(f"no conversation {conversation_id} in {conns.path}")

    def delete(self, conversation_id: str) -> bool:
        """Delete the conversation and all its events. False when there was no such conversation."""
        conns = self._conns
        with conns.lock:
            try:
                with conns.transaction() as conn:
                    row = conn.execute(
                        "SELECT pk FROM conversations WHERE conversation_id = ?", (conversation_id,)
                    ).fetchone()
                    if row is None:
                        return False
                    conn.execute("DELETE FROM events WHERE key BETWEEN ? AND ?", key_range(row[0]))
                    conn.execute("DELETE FROM conversations WHERE pk = ?", (row[0],))
            except sqlite3.Error as error:
                raise conns.error(error) from None
            self._on_change(conversation_id)
        return True
