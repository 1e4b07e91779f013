"""Waiting on a client's state and on its local store without polling."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ohtui.client.status import ConnectionChanged, ConnectionState
from ohtui.protocol import event_to_dict
from ohtui.store import EventStore

WAIT = 20.0


class StateLog:
    """``on_change`` target: keeps every snapshot and wakes waiters."""

    def __init__(self) -> None:
        self.changes: list[ConnectionChanged] = []
        self._changed = asyncio.Condition()

    def __call__(self, change: ConnectionChanged) -> None:
        self.changes.append(change)
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    @property
    def states(self) -> list[ConnectionState]:
        collapsed: list[ConnectionState] = []
        for change in self.changes:
            if not collapsed or collapsed[-1] is not change.state:
                collapsed.append(change.state)
        return collapsed

    @property
    def last(self) -> ConnectionChanged:
        return self.changes[-1]

    async def wait_for(self, *states: ConnectionState, timeout: float = WAIT, after: int = 0) -> ConnectionChanged:
        """The first snapshot at index >= ``after`` whose state is one of ``states``."""
        return await self.wait_until(lambda change: change.state in states, timeout=timeout, after=after)

    async def wait_until(
        self, predicate: Callable[[ConnectionChanged], bool], timeout: float = WAIT, after: int = 0
    ) -> ConnectionChanged:
        async with asyncio.timeout(timeout), self._changed:
            while True:
                for change in self.changes[after:]:
                    if predicate(change):
                        return change
                await self._changed.wait()


async def store_until(store: EventStore, predicate: Callable[[], bool], timeout: float = WAIT) -> None:
    """Wait until ``predicate()`` holds, re-checking whenever the store gets an event."""
    changed = asyncio.Event()
    name = f"waiter-{id(changed)}"
    store.subscribe(name, lambda event: changed.set())
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                changed.clear()
                await changed.wait()
    finally:
        store.unsubscribe(name)


def comparable(store: EventStore, *, keep_source: bool = False) -> list[dict[str, Any]]:
    """Stored events as dicts. Without ``keep_source`` the source is left out: stock live forwarding shows
    environment events as agent (§1.5), so a mirror fed by it differs there and only there."""
    rows = []
    for event in store.search():
        data = event_to_dict(event)
        if not keep_source:
            data.pop("source", None)
        rows.append(data)
    return rows


def contiguous(store: EventStore) -> bool:
    ids = [event.id for event in store.search()]
    return ids == list(range(len(ids)))
