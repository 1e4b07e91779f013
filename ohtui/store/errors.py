"""Store errors. Their messages are shown to users as they are: they name the file and say what to do."""

from __future__ import annotations


class StoreError(Exception):
    """Anything the store cannot do for a reason outside the caller's code: a corrupt, foreign, newer, locked or
    full database, or an unreadable import file."""


class EventNotFoundError(StoreError, KeyError):
    """``EventStore.get`` of an id that is not stored. A ``KeyError`` too, so ``except KeyError`` works."""

    def __str__(self) -> str:
        # KeyError quotes its argument; this message is for people.
        return str(self.args[0]) if self.args else "event not found"
