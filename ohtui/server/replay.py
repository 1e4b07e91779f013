"""Sending history to one socket: per event (stock, §1.2) or in ``oh_events`` batches (``ohtui_batch=1``, §9.7).

Events go out as they are stored (JSON text, put into the packet by :func:`ohtui.server.packets.send_event`): a
replay neither parses nor re-serializes them.

Sending has no backpressure: Engine.IO queues whatever it is given. After every ``chunk_bytes`` this sender waits
until the socket's writer has taken everything queued; the writer takes more only after writing what it holds, so
a client that stops reading makes the server hold at most about two chunks for it, and then the replay waits.

Batches sent as lines (ohtui's client) also ask for an acknowledgement, which ohtui's client gives once it has
stored the batch; at most :data:`UNACKNOWLEDGED` batches go out unacknowledged. A client that reads fast and parses
slowly would otherwise receive (and hold in memory) the whole history before it had stored a tenth of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import socketio

from ohtui.server.packets import eio_sid_of, send_event

BATCH_BYTES = 256 * 1024
"""An ``oh_events`` frame stays around this size, well under 1 MiB (and aiohttp's 4 MiB message limit)."""
CHUNK_BYTES = 512 * 1024
UNACKNOWLEDGED = 4
"""Batches (as lines) a client may have received and not yet stored: about 1 MB."""


class ReplayStalled(RuntimeError):
    """The client read nothing for ``stall_timeout`` seconds while history was being sent to it."""


class ReplaySender:
    def __init__(
        self,
        sio: socketio.AsyncServer,
        sid: str,
        *,
        batched: bool,
        as_lines: bool = False,
        stall_timeout: float,
        batch_bytes: int = BATCH_BYTES,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        self._sio = sio
        self.sid = sid
        self._eio_sid = eio_sid_of(sio, sid)
        self.batched = batched
        self._as_lines = as_lines
        self._stall_timeout = stall_timeout
        self._batch_bytes = batch_bytes
        self._chunk_bytes = chunk_bytes
        self._batch: list[str] = []
        self._batch_size = 0
        self._unflushed = 0
        self._unacknowledged = 0
        self._acknowledged = asyncio.Event()
        self.frames = 0
        self.events = 0

    async def send(self, text: str) -> None:
        """Queue one stored event (its JSON text)."""
        size = len(text)
        self.events += 1
        if not self.batched:
            await self._emit("oh_event", text, size)
            return
        if self._batch and self._batch_size + size > self._batch_bytes:
            await self._send_batch()
        self._batch.append(text)
        self._batch_size += size + 1

    async def flush(self) -> None:
        if self._batch:
            await self._send_batch()
        if self._unflushed:
            await self._drained()

    async def _send_batch(self) -> None:
        batch, size = self._batch, self._batch_size
        self._batch, self._batch_size = [], 0
        if self._as_lines:
            # The events' JSON, one per line (compact JSON has no raw newline), as a binary attachment: the client
            # parses each event straight from its text and stores that text; nothing is escaped into a JSON string
            # on the way (which cost the server about as much as the rest of the replay, and the client a decode).
            data = "\n".join(batch).encode()
            await self._window_open()
            self._unacknowledged += 1
            await self._sio.emit("oh_events", data, to=self.sid, callback=self._on_stored)
            await self._sent(size)
        else:
            await self._emit("oh_events", "[" + ",".join(batch) + "]", size)

    async def _emit(self, name: str, data_json: str, size: int) -> None:
        if self._eio_sid is not None:
            await send_event(self._sio, (self._eio_sid,), name, data_json)
        await self._sent(size)

    async def _sent(self, size: int) -> None:
        self.frames += 1
        self._unflushed += size
        if self._unflushed >= self._chunk_bytes:
            await self._drained()

    def _on_stored(self, *answer: Any) -> None:
        self._unacknowledged -= 1
        self._acknowledged.set()

    async def _window_open(self) -> None:
        while self._unacknowledged >= UNACKNOWLEDGED:
            self._acknowledged.clear()
            await self._unless_stalled(self._acknowledged.wait(), "stored no history batch")

    async def _drained(self) -> None:
        self._unflushed = 0
        queue = self._outgoing_queue()
        if queue is None:
            return
        await self._unless_stalled(queue.join(), "read nothing")

    async def _unless_stalled(self, progress: Awaitable[Any], stalled: str) -> None:
        """Wait for the client's ``progress``; :class:`ReplayStalled` if it makes none within the stall timeout."""
        try:
            await asyncio.wait_for(progress, self._stall_timeout)
        except TimeoutError:
            raise ReplayStalled(f"the client {stalled} for {self._stall_timeout:g} s during replay") from None

    def _outgoing_queue(self) -> asyncio.Queue[Any] | None:
        """Engine.IO's per-socket send queue (not public API: without it, replay runs without backpressure)."""
        try:
            queue = self._sio.eio.sockets[self._eio_sid].queue
        except (AttributeError, KeyError, TypeError):
            return None
        return queue if isinstance(queue, asyncio.Queue) else None
