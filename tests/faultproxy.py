"""Loopback TCP fault proxy for the test suite (ARCHITECTURE.md, "Tests").

Sits between a client (e.g. a python-socketio ``AsyncClient``) and a server on 127.0.0.1 so tests
can reset, stall, slow down, cut and refuse connections without mocking anything in between.

Every connection is two independent directions (client→server, server→client). Each direction
is a reader task that stamps chunks with a delivery deadline and puts them in a *bounded* FIFO
queue, and a writer task that takes them off in order, waits for the deadline (latency) and for
the proxy to be flowing (stall), writes and drains. Because the queue is bounded, a slow or
stalled direction stops reading and TCP flow control pushes back on the sender, so memory per
connection stays bounded (``_QUEUE_CHUNKS * _CHUNK`` per direction plus the stream buffers) even
during a stall: held data is never dropped, but once the bound is reached the *sender* blocks.

Close semantics:

* ``reset_all()``, ``refuse(True)`` and ``stop()`` abort with ``SO_LINGER=0`` so peers see a
  real TCP RST (``ConnectionResetError``), like a crashed host or a middlebox reset.
* A peer RST on one side is propagated as an RST to the other side.
* ``cut_after()`` first flushes the allowed prefix to the kernel, then aborts both sides without
  ``SO_LINGER``: the client reads exactly the prefix and then EOF (an RST only if the client had
  sent bytes the proxy had not read yet, which the kernel turns into a reset).
* A clean EOF (half-close) is forwarded in order, after all data queued before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable
from types import TracebackType
from typing import Self

_CHUNK = 64 * 1024
_QUEUE_CHUNKS = 16
_TASK_PREFIX = "faultproxy"

_Item = tuple[float, bytes | None]  # (deliver-at loop time, chunk or None for EOF)


def _hard_abort(writer: asyncio.StreamWriter | None, *, rst: bool) -> None:
    """Abort a transport now, dropping its buffer; with ``rst`` make the kernel send a RST."""
    if writer is None:
        return
    transport = writer.transport
    if rst:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class _Link:
    """One proxied connection: the two socket pairs and the four pump tasks moving bytes."""

    def __init__(
        self,
        proxy: FaultProxy,
        number: int,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        server: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    ) -> None:
        self.proxy = proxy
        self.number = number
        self.client_reader, self.client_writer = client
        self.server_reader, self.server_writer = server
        # Bytes still allowed server→client before the cut; None means no cut armed.
        self.cut_remaining: int | None = proxy._cut
        self.tasks: list[asyncio.Task[None]] = []
        self.aborted = False

    async def run(self) -> None:
        """Pump both directions until both EOF (graceful close) or any side fails (abort)."""
        c2s: asyncio.Queue[_Item] = asyncio.Queue(_QUEUE_CHUNKS)
        s2c: asyncio.Queue[_Item] = asyncio.Queue(_QUEUE_CHUNKS)
        name = f"{_TASK_PREFIX}-{self.number}"
        self.tasks = [
            asyncio.create_task(self._read(self.client_reader, c2s), name=f"{name}-read-c2s"),
            asyncio.create_task(self._write(c2s, self.server_writer, to_client=False), name=f"{name}-write-c2s"),
            asyncio.create_task(self._read(self.server_reader, s2c), name=f"{name}-read-s2c"),
            asyncio.create_task(self._write(s2c, self.client_writer, to_client=True), name=f"{name}-write-s2c"),
        ]
        try:
            done, _ = await asyncio.wait(self.tasks, return_when=asyncio.FIRST_EXCEPTION)
            failed = any(not t.cancelled() and t.exception() is not None for t in done)
            if failed:
                self.abort(rst=True)
        except asyncio.CancelledError:
            self.abort(rst=True)  # cancelled from outside (stop, loop teardown): drop everything
            raise
        finally:
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            if not self.aborted:
                await self._close_gracefully()

    def abort(self, *, rst: bool) -> None:
        """Kill both sides at once; the pump tasks then end via EOF/errors or cancellation."""
        self.aborted = True
        _hard_abort(self.client_writer, rst=rst)
        _hard_abort(self.server_writer, rst=rst)
        for task in self.tasks:
            if task is not asyncio.current_task():
                task.cancel()

    async def _close_gracefully(self) -> None:
        """Both directions reached EOF: close normally so nothing buffered is lost."""
        for writer in (self.client_writer, self.server_writer):
            writer.close()
        for writer in (self.client_writer, self.server_writer):
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _read(self, reader: asyncio.StreamReader, queue: asyncio.Queue[_Item]) -> None:
        """Read chunks and queue them stamped with their delivery time (now + current latency)."""
        loop = asyncio.get_running_loop()
        while True:
            chunk = await reader.read(_CHUNK)
            await queue.put((loop.time() + self.proxy._latency, chunk or None))
            if not chunk:
                return

    async def _write(self, queue: asyncio.Queue[_Item], writer: asyncio.StreamWriter, *, to_client: bool) -> None:
        """Deliver queued chunks strictly in FIFO order, honouring latency, stall and cut."""
        loop = asyncio.get_running_loop()
        proxy = self.proxy
        while True:
            deliver_at, chunk = await queue.get()
            delay = deliver_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await proxy._flowing.wait()
            if chunk is None:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            if to_client and self.cut_remaining is not None and len(chunk) >= self.cut_remaining:
                await self._cut(writer, chunk[: self.cut_remaining])
                return
            writer.write(chunk)
            if to_client:
                proxy.bytes_to_client += len(chunk)
                if self.cut_remaining is not None:
                    self.cut_remaining -= len(chunk)
            else:
                proxy.bytes_to_server += len(chunk)
            await writer.drain()

    async def _cut(self, writer: asyncio.StreamWriter, head: bytes) -> None:
        """Send exactly ``head`` to the client, wait until it left our buffer, then abort both sides."""
        proxy = self.proxy
        if head:
            writer.write(head)
            proxy.bytes_to_client += len(head)
            writer.transport.set_write_buffer_limits(high=0)
            await writer.drain()  # with high=0 this returns only once the buffer is empty
        proxy.cuts += 1
        if proxy._cut_once:
            proxy._disarm_cut()
        self.abort(rst=False)
        proxy._notify()


class FaultProxy:
    """Asyncio TCP proxy on 127.0.0.1 that injects connection faults on demand.

    Counters (read them freely): ``connections_total`` (every accepted TCP connection, including
    refused ones and ones whose upstream connect failed), ``connections_refused``,
    ``upstream_failures``, ``live_connections`` (currently proxied), ``bytes_to_server``,
    ``bytes_to_client`` (bytes written onward by the proxy) and ``cuts``.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.connections_total = 0
        self.connections_refused = 0
        self.upstream_failures = 0
        self.bytes_to_server = 0
        self.bytes_to_client = 0
        self.cuts = 0
        self._server: asyncio.Server | None = None
        self._port: int | None = None
        self._links: set[_Link] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._closing = False
        self._refusing = False
        self._latency = 0.0
        self._cut: int | None = None
        self._cut_once = True
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._changed = asyncio.Event()

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on an ephemeral loopback port so parallel tests never collide."""
        self._closing = False
        self._server = await asyncio.start_server(self._on_accept, "127.0.0.1", 0)
        self._port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and RST every live connection; returns once all pump tasks are gone.

        A connection the kernel accepted in the very instant of stopping, but that asyncio had not
        handed to us yet, is RST as soon as it is.
        """
        self._closing = True
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            link.abort(rst=True)
        while self._handlers:
            pending = list(self._handlers)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        self._flowing.set()  # never leave a stall behind for the next start()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The listening port; only valid after ``start()``."""
        if self._port is None:
            raise RuntimeError("FaultProxy.start() has not been awaited")
        return self._port

    @property
    def url(self) -> str:
        """Base URL clients should connect to instead of the real server."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def live_connections(self) -> int:
        """Connections currently being proxied (refused/failed ones are never live)."""
        return len(self._links)

    # -- faults ----------------------------------------------------------------------------

    async def reset_all(self) -> None:
        """RST both sides of every live connection; new connections keep working afterwards."""
        links = list(self._links)
        for link in links:
            link.abort(rst=True)
        await self._wait_for(lambda: not any(link in self._links for link in links))

    def stall(self) -> None:
        """Stop forwarding in both directions on live and new connections, holding the data.

        Connections stay open. Held data is bounded: after ``_QUEUE_CHUNKS`` chunks per direction
        the proxy stops reading and the sender's TCP window closes.
        """
        self._flowing.clear()

    def unstall(self) -> None:
        """Resume forwarding; held data is delivered in its original order."""
        self._flowing.set()

    @property
    def stalled(self) -> bool:
        return not self._flowing.is_set()

    def set_latency(self, seconds: float) -> None:
        """Delay every chunk read from now on by ``seconds`` one way (each direction separately).

        Deadlines are stamped when a chunk is read and chunks leave strictly FIFO, so lowering the
        latency mid-stream never reorders bytes (a later chunk just waits behind an earlier one).
        """
        if seconds < 0:
            raise ValueError("latency must be >= 0")
        self._latency = seconds

    def cut_after(self, nbytes: int | None, *, once: bool = True) -> None:
        """Abort connections after ``nbytes`` more bytes have gone **server→client**.

        The budget applies per connection: live connections count from this call, new
        connections from their start. A chunk that crosses the limit is split, so the client
        receives exactly ``nbytes`` (handy for cutting mid-frame) and then EOF. With ``nbytes=0``
        the cut happens when the next server→client chunk arrives. With ``once`` (default) the
        first cut disarms the rule everywhere so reconnects succeed; with ``once=False`` every
        connection is cut until ``cut_after(None)``.
        """
        if nbytes is not None and nbytes < 0:
            raise ValueError("nbytes must be >= 0 or None")
        self._cut = nbytes
        self._cut_once = once
        for link in self._links:
            link.cut_remaining = nbytes

    def refuse(self, refusing: bool = True) -> None:
        """While refusing, accept then immediately RST new connections (a dead server).

        Live connections are not touched; combine with ``reset_all()`` to kill those too.
        """
        self._refusing = refusing

    # -- waiting ---------------------------------------------------------------------------

    async def wait_for_connections(self, n: int) -> None:
        """Wait until ``connections_total >= n`` (e.g. a client's n-th reconnect attempt)."""
        await self._wait_for(lambda: self.connections_total >= n)

    async def wait_for_live_connections(self, n: int) -> None:
        """Wait until exactly ``n`` connections are live (e.g. 0 once clients hung up)."""
        await self._wait_for(lambda: self.live_connections == n)

    async def wait_for_cuts(self, n: int) -> None:
        """Wait until ``cut_after`` has cut at least ``n`` connections."""
        await self._wait_for(lambda: self.cuts >= n)

    async def _wait_for(self, predicate: Callable[[], bool]) -> None:
        """Sleep on a pulsed event until ``predicate`` holds; no polling."""
        while not predicate():
            await self._changed.wait()

    def _notify(self) -> None:
        """Wake every waiter (they re-check their predicate) and arm a fresh event."""
        self._changed.set()
        self._changed = asyncio.Event()

    def _disarm_cut(self) -> None:
        self._cut = None
        for link in self._links:
            link.cut_remaining = None

    # -- connection handling ---------------------------------------------------------------

    def _on_accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        """Run each connection in a task we own, registered synchronously at accept time.

        Not handing asyncio a coroutine also avoids Python 3.11's start_server logging an error
        when the handler task ends cancelled (its done-callback calls ``task.exception()``).
        """
        self.connections_total += 1
        number = self.connections_total
        if self._closing or self._refusing:
            self.connections_refused += 1
            _hard_abort(client_writer, rst=True)
            self._notify()
            return
        task = asyncio.create_task(self._handle(number, client_reader, client_writer), name=f"{_TASK_PREFIX}-{number}")
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)
        self._notify()

    async def _handle(
        self, number: int, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        """Per accepted connection: connect upstream, then pump until either side ends it."""
        link: _Link | None = None
        server_writer: asyncio.StreamWriter | None = None
        try:
            try:
                server_reader, server_writer = await asyncio.open_connection(self.target_host, self.target_port)
            except OSError:
                self.upstream_failures += 1
                _hard_abort(client_writer, rst=True)
                return
            link = _Link(self, number, (client_reader, client_writer), (server_reader, server_writer))
            self._links.add(link)
            self._notify()
            await link.run()
        finally:
            if link is None:
                # Refused, upstream failed, or cancelled before pumping: no socket may outlive us.
                _hard_abort(client_writer, rst=True)
                _hard_abort(server_writer, rst=True)
            else:
                self._links.discard(link)  # link.run() already closed or aborted its sockets
            self._notify()
