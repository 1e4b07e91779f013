"""Delivery of stored events to subscribers, in id order per subscriber, without ever failing or stalling a write.

The store hands events over while it still holds its write lock (:meth:`Subscribers.enqueue`), so every subscriber's
queue is in commit order even with many writers; the callbacks themselves run after the lock is released.

* A sync callback runs on a thread that appended, after its append committed. Whoever finds the queue idle drains it,
  so calls never overlap or reorder, and a callback that appends from inside itself does not deadlock: its event is
  delivered right after the current callback returns. Keep sync callbacks short, they run on the writer's thread.
* An async callback runs on the event loop that was running when it subscribed (or the one passed explicitly). The
  hand-off is ``loop.call_soon_threadsafe``, so appends from any thread work; one task per subscriber awaits the
  callbacks one after another.

A callback that raises is logged and delivery goes on.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ohtui.protocol.record import EventRecord

logger = logging.getLogger("ohtui.store")

Callback = Callable[[EventRecord], Any]
"""Called with each stored event's record (its model is there already for appends; see ``EventRecord.event``)."""


def _is_async(callback: Callback) -> bool:
    if inspect.iscoroutinefunction(callback):
        return True
    call = getattr(type(callback), "__call__", None)  # noqa: B004  (a class with an async __call__)
    return call is not None and inspect.iscoroutinefunction(call)


class _Subscriber:
    def __init__(self, subscriber_id: str, callback: Callback) -> None:
        self.subscriber_id = subscriber_id
        self.callback = callback
        self.active = True

    def enqueue(self, events: Sequence[EventRecord]) -> None:
        raise NotImplementedError

    def drain(self) -> None:
        """Deliver what is queued, if no one else is doing so. A no-op for async subscribers."""

    def _failed(self, event: EventRecord) -> None:
        logger.exception("subscriber %r failed on event %s; delivery goes on", self.subscriber_id, event.id)


class _SyncSubscriber(_Subscriber):
    def __init__(self, subscriber_id: str, callback: Callback) -> None:
        super().__init__(subscriber_id, callback)
        self._mutex = threading.Lock()
        self._pending: deque[EventRecord] = deque()
        self._draining = False

    def enqueue(self, events: Sequence[EventRecord]) -> None:
        with self._mutex:
            self._pending.extend(events)

    def drain(self) -> None:
        with self._mutex:
            if self._draining:
                return
            self._draining = True
        try:
            while True:
                with self._mutex:
                    if not self.active:
                        self._pending.clear()
                    if not self._pending:
                        self._draining = False
                        return
                    # Everything queued at once: one lock round per batch, not per event (a replay stores
                    # hundreds per transaction). EventRecords queued meanwhile wait for the next round, still in order.
                    chunk = list(self._pending)
                    self._pending.clear()
                for event in chunk:
                    if not self.active:
                        break  # unsubscribed by a callback of this round
                    self._call(event)
        except BaseException:
            with self._mutex:
                self._draining = False
            raise

    def _call(self, event: EventRecord) -> None:
        try:
            result = self.callback(event)
            if result is not None and inspect.isawaitable(result):
                _discard(result)
                logger.error("subscriber %r returned an awaitable; subscribe an async def", self.subscriber_id)
        except Exception:
            self._failed(event)


def _discard(awaitable: Awaitable[Any]) -> None:
    close = getattr(awaitable, "close", None)
    if close is not None:
        close()


class _AsyncSubscriber(_Subscriber):
    def __init__(self, subscriber_id: str, callback: Callback, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(subscriber_id, callback)
        self.loop = loop
        self._pending: deque[EventRecord] = deque()  # touched only on the loop's thread
        self._runner: asyncio.Task[None] | None = None

    def enqueue(self, events: Sequence[EventRecord]) -> None:
        try:
            self.loop.call_soon_threadsafe(self._arrive, events)
        except RuntimeError:
            # The loop is closed: nothing can ever be delivered to this subscriber again.
            if self.active:
                self.active = False
                logger.warning("subscriber %r: its event loop is closed; no longer delivering", self.subscriber_id)

    def _arrive(self, events: Sequence[EventRecord]) -> None:
        if not self.active:
            return
        self._pending.extend(events)
        if self._runner is None:
            self._runner = self.loop.create_task(self._run(), name=f"ohtui.store subscriber {self.subscriber_id}")

    async def _run(self) -> None:
        try:
            while self._pending and self.active:
                event = self._pending.popleft()
                try:
                    await self.callback(event)
                except Exception:
                    self._failed(event)
        finally:
            self._runner = None
            if not self.active:
                self._pending.clear()


class Subscribers:
    """The subscribers of one event stream."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, _Subscriber] = {}
        self._ordered: tuple[_Subscriber, ...] = ()  # sorted by id, as upstream notifies; swapped whole

    def subscribe(self, subscriber_id: str, callback: Callback, loop: asyncio.AbstractEventLoop | None = None) -> None:
        if not callable(callback):
            raise TypeError(f"subscriber {subscriber_id!r}: callback must be callable")
        subscriber: _Subscriber
        if _is_async(callback):
            if loop is None:
                try:
                    loop = asyncio.get_running_loop()
                except RuntimeError:
                    raise ValueError(
                        f"subscriber {subscriber_id!r}: an async callback must subscribe from inside its event loop"
                        " (or pass loop=)"
                    ) from None
            subscriber = _AsyncSubscriber(subscriber_id, callback, loop)
        else:
            subscriber = _SyncSubscriber(subscriber_id, callback)
        with self._lock:
            if subscriber_id in self._by_id:
                raise ValueError(f"Subscriber ID already exists: {subscriber_id}")
            self._by_id[subscriber_id] = subscriber
            self._ordered = tuple(self._by_id[key] for key in sorted(self._by_id))

    def unsubscribe(self, subscriber_id: str) -> None:
        """Stop delivering to ``subscriber_id`` (events still queued for it are dropped). Unknown ids are ignored."""
        with self._lock:
            subscriber = self._by_id.pop(subscriber_id, None)
            self._ordered = tuple(self._by_id[key] for key in sorted(self._by_id))
        if subscriber is None:
            logger.debug("unsubscribe: no subscriber %r", subscriber_id)
        else:
            subscriber.active = False

    def __contains__(self, subscriber_id: str) -> bool:
        return subscriber_id in self._by_id

    def enqueue(self, events: Sequence[EventRecord]) -> tuple[_Subscriber, ...]:
        """Queue ``events`` (in id order) for everyone; call with the write lock held. Returns what to drain."""
        ordered = self._ordered
        if not events or not ordered:
            return ()
        batch = tuple(events)  # the caller gets the list back and may change it before a loop runs the hand-off
        for subscriber in ordered:
            subscriber.enqueue(batch)
        return ordered

    @staticmethod
    def drain(subscribers: tuple[_Subscriber, ...]) -> None:
        """Run the sync callbacks for what :meth:`enqueue` queued; call without the write lock."""
        for subscriber in subscribers:
            subscriber.drain()
