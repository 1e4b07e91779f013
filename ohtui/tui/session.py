"""The UI's side of one conversation: a client :class:`Connection`, the store it reads, REST for listings.

A plain class on Textual's loop (the Toad pattern): it never touches widgets, it posts typed messages that the
app's handlers turn into screen updates. Events reach the UI only through the store, in batches of records (their
envelopes; the UI parses what it shows).

Against a remote server the store is the client's own mirror. With the embedded server it is the server's own
store (``shared``): the UI reads the history from it directly, the connection resumes from its latest id, and the
socket carries only what happens from then on; there is no second copy of a local conversation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.message import Message

from ohtui.client.backoff import BackoffPolicy
from ohtui.client.connection import Connection
from ohtui.client.outbox import OutboxFull, SendOutcome
from ohtui.client.rest import RestClient
from ohtui.client.status import ConnectionChanged
from ohtui.protocol import Action, ErrorFrame, Event, StatusUpdate
from ohtui.protocol.record import EventRecord
from ohtui.protocol.state import ConversationState
from ohtui.store import Database, EventStore
from ohtui.store.state import conversation_state

HISTORY_CHUNK = 2_000
"""Events of the mirror's history per :class:`EventsArrived` when a conversation opens: about 30 ms of reading and
parsing here, after which the UI gets a turn."""


class EventsArrived(Message):
    """Events newly stored, in store order, as records (a replay arrives as a few large batches). ``history``: read
    from the store when the conversation opened (their state is in :class:`ConversationOpened` already)."""

    def __init__(self, records: list[EventRecord], *, history: bool = False) -> None:
        self.records = records
        self.history = history
        super().__init__()


class ConnectionStatusChanged(Message):
    def __init__(self, status: ConnectionChanged) -> None:
        self.status = status
        super().__init__()


class StatusReceived(Message):
    def __init__(self, status: StatusUpdate) -> None:
        self.status = status
        super().__init__()


class ServerErrorReceived(Message):
    def __init__(self, frame: ErrorFrame) -> None:
        self.frame = frame
        super().__init__()


class ConversationOpened(Message):
    """A conversation opens: its state as of the history the store holds (the history's records follow)."""

    def __init__(self, conversation_id: str, state: ConversationState, store: EventStore) -> None:
        self.conversation_id = conversation_id
        self.state = state
        self.store = store
        super().__init__()


class Session:
    """Connects the UI to ``conversation_id`` on ``url`` and keeps it connected; switchable to another id."""

    def __init__(
        self,
        url: str,
        *,
        key: str | None,
        mirror_path: Path | None = None,
        shared: Database | None = None,
        post: Callable[[Message], object],
        backoff: BackoffPolicy | None = None,
        connection_options: dict[str, Any] | None = None,
    ) -> None:
        """The store is the embedded server's database (``shared``) or a mirror at ``mirror_path``.
        ``connection_options`` go to every :class:`Connection` (e.g. ``ping_every``, ``clock``, ``rng``)."""
        if (shared is None) == (mirror_path is None):
            raise ValueError("a session reads either the embedded server's store or a mirror of its own")
        self.url = url
        self.key = key
        self._post = post
        self._backoff = backoff
        self._connection_options = connection_options or {}
        self._shared = shared is not None
        self._db = shared if shared is not None else Database(mirror_path)
        self.rest = RestClient(url, key)
        self.connection: Connection | None = None
        self.store: EventStore | None = None
        self._pending: list[EventRecord] = []
        self._flush_scheduled = False
        self._holding = False

    @property
    def conversation_id(self) -> str | None:
        return self.connection.conversation_id if self.connection else None

    async def open(self, conversation_id: str) -> None:
        """Show what the store already holds while the connection fetches what is newer.

        The history is read from the store's columns (no JSON) and posted in chunks of :data:`HISTORY_CHUNK`, the
        loop getting a turn between them, so a long conversation opens at once and fills in. What is stored
        meanwhile is held back until the history before it has been posted; the log drops what it has already."""
        await self._close_connection()
        store = self._db.events(conversation_id)
        self.store = store
        self._holding = True
        if self._shared:  # stored by the server's thread: delivered on this loop
            store.subscribe("ui", self._on_stored_here, loop=asyncio.get_running_loop())
        else:
            store.subscribe("ui", self._on_stored)
        history_upto = store.latest_id()
        self._post(ConversationOpened(conversation_id, conversation_state(store, history_upto), store))
        self.connection = Connection(
            self.url,
            conversation_id,
            store,
            key=self.key,
            backoff=self._backoff,
            mirror=not self._shared,
            on_change=lambda status: self._post(ConnectionStatusChanged(status)),
            on_status=lambda status: self._post(StatusReceived(status)),
            on_error=lambda frame: self._post(ServerErrorReceived(frame)),
            on_unstored=self._on_unstored,
            **self._connection_options,
        )
        await self.connection.start()
        await self._post_history(store, history_upto)
        self._holding = False
        self._flush()

    async def _post_history(self, store: EventStore, upto: int) -> None:
        chunk: list[EventRecord] = []
        for record in store.records(0, upto):
            chunk.append(record)
            if len(chunk) >= HISTORY_CHUNK:
                self._post(EventsArrived(chunk, history=True))
                chunk = []
                await asyncio.sleep(0)  # the UI handles the chunk, paints, reads keys
        if chunk:
            self._post(EventsArrived(chunk, history=True))

    async def _on_stored_here(self, record: EventRecord) -> None:
        self._on_stored(record)

    def _on_stored(self, record: EventRecord) -> None:
        """Store subscriber: coalesce events stored in one loop iteration into one message."""
        self._pending.append(record)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._holding:
            return  # posted once the history is (open() flushes then)
        batch, self._pending = self._pending, []
        if batch:
            self._post(EventsArrived(batch))

    def _on_unstored(self, event: Event) -> None:
        self._post(EventsArrived([EventRecord.from_event(event)]))

    async def send(self, action: Action) -> SendOutcome:
        if self.connection is None:
            return SendOutcome(False, error="not connected to a conversation")
        try:
            return await self.connection.send(action)
        except OutboxFull as error:
            return SendOutcome(False, error=str(error))

    def retry(self) -> None:
        if self.connection is not None:
            self.connection.retry_now()

    async def _close_connection(self) -> None:
        if self.connection is not None:
            connection, self.connection = self.connection, None
            await connection.close()
        if self.store is not None:
            self.store.unsubscribe("ui")
            self.store = None
        self._pending = []
        self._holding = False

    async def close(self) -> None:
        await self._close_connection()
        await self.rest.close()
        if not self._shared:
            self._db.close()  # the embedded server's store is closed by the server
