"""Sends made while disconnected: a bounded FIFO whose items resolve to what the server said."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SendOutcome:
    """What became of one send. ``event_id`` is the stored id when the server said so (ohtui servers do)."""

    accepted: bool
    event_id: int | None = None
    error: str | None = None


class OutboxFull(RuntimeError):
    """More sends are waiting for a connection than the outbox holds; the caller is told, nothing is dropped."""


@dataclass
class PendingSend:
    payload: dict[str, Any]
    outcome: asyncio.Future[SendOutcome]


class Outbox:
    def __init__(self, limit: int = 100) -> None:
        self.limit = limit
        self._items: deque[PendingSend] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, payload: dict[str, Any]) -> PendingSend:
        if len(self._items) >= self.limit:
            raise OutboxFull(f"{self.limit} sends are already waiting for the connection")
        item = PendingSend(payload, asyncio.get_running_loop().create_future())
        self._items.append(item)
        return item

    def peek(self) -> PendingSend | None:
        return self._items[0] if self._items else None

    def pop(self) -> PendingSend:
        return self._items.popleft()

    def fail_all(self, reason: str) -> None:
        while self._items:
            item = self._items.popleft()
            if not item.outcome.done():
                item.outcome.set_result(SendOutcome(False, error=reason))
