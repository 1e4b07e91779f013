"""``Database``: one SQLite file per data directory, holding every conversation and its events.

Durability: WAL journal with ``synchronous=NORMAL``. A call that wrote has committed before it returns, and a
committed transaction is in the WAL file (the operating system's page cache) at that point, so it survives the process
being killed at any moment, SIGKILL included. A power loss or kernel crash can lose the transactions committed since
the last checkpoint's fsync (at most a few MB of WAL, typically the last second or so of writes); it does not corrupt
the file, and what survives is always a prefix of what was written (ids stay contiguous). See ohtui/store/README.md.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from ohtui import config
from ohtui.store.clock import wire_clock
from ohtui.store.connection import Connections
from ohtui.store.conversations import ConversationStore
from ohtui.store.events import EventStore

DATABASE_NAME = "ohtui.db"
DEFAULT_BUSY_TIMEOUT = 5.0


class Database:
    """The store of one data directory. Open it once per process and share it; it is thread-safe.

    ``path`` is the database file (default: ``config.data_dir() / "ohtui.db"``); missing directories are created.
    ``busy_timeout`` bounds, in seconds, how long a write waits for another process's write lock before failing with
    a :class:`StoreError`. A file that is not an ohtui database, is corrupt, or has a newer schema is refused with a
    :class:`StoreError` naming it; it is never modified.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        clock: Callable[[], str] = wire_clock,
    ):
        """``clock`` gives the timestamp of appended events (upstream's naive ISO form); tests inject a fixed one."""
        self.path = Path(path) if path is not None else config.data_dir() / DATABASE_NAME
        self._clock = clock
        self._conns = Connections(self.path, busy_timeout)
        self._stores: dict[str, EventStore] = {}
        self._stores_lock = threading.Lock()
        self.conversations = ConversationStore(self._conns, on_change=self._forget)

    @classmethod
    def in_data_dir(
        cls, data_dir: str | os.PathLike[str] | None = None, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT
    ) -> Database:
        """The database of a data directory (``--data-dir``, else ``OHTUI_DATA_DIR``, else the platform default)."""
        return cls(config.data_dir(data_dir) / DATABASE_NAME, busy_timeout=busy_timeout)

    def __repr__(self) -> str:
        return f"Database({str(self.path)!r})"

    def events(self, conversation_id: str) -> EventStore:
        """The event store of a conversation; the same object on every call, so subscribers are shared. The
        conversation's row is created by its first write if :attr:`conversations` does not have it yet."""
        if not isinstance(conversation_id, str) or not conversation_id:
            raise ValueError(f"conversation id must be a non-empty string, got {conversation_id!r}")
        with self._stores_lock:
            store = self._stores.get(conversation_id)
            if store is None:
                store = self._stores[conversation_id] = EventStore(self._conns, conversation_id, clock=self._clock)
            return store

    def _forget(self, conversation_id: str) -> None:
        with self._stores_lock:
            store = self._stores.get(conversation_id)
        if store is not None:
            store._forget()

    def close(self) -> None:
        """Close every connection; idempotent. Later calls raise :class:`StoreError`."""
        self._conns.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
