"""Durable, append-only event storage: one SQLite database per data directory (OPENHANDS_V0.md §3, §9.5).

Imports only ``ohtui.protocol`` and ``ohtui.config``. See ohtui/store/README.md for durability and the file format.
"""

from ohtui.store.conversations import ConversationInfo, ConversationNotFoundError, ConversationStore
from ohtui.store.errors import EventNotFoundError, StoreError
from ohtui.store.events import EventStore, InsertResult
from ohtui.store.filters import EventFilter
from ohtui.store.reading import StoredRow
from ohtui.store.secrets import SECRET_MASK
from ohtui.store.sqlite import DATABASE_NAME, Database

__all__ = [
    "DATABASE_NAME",
    "SECRET_MASK",
    "ConversationInfo",
    "ConversationNotFoundError",
    "ConversationStore",
    "Database",
    "EventFilter",
    "EventNotFoundError",
    "EventStore",
    "InsertResult",
    "StoreError",
    "StoredRow",
]
