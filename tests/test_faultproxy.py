"""Tests of the loopback fault proxy itself, against plain asyncio servers on 127.0.0.1 port 0.

The later fault tests trust this proxy to reset, stall, delay, cut and refuse exactly as told, so
each behaviour is pinned here first. The only timing used is a short ``wait_for`` on something
that must NOT happen (``NEVER``); nothing asserts on speed.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Literal

import pytest

from tests.faultproxy import FaultProxy

NEVER = 0.2  # seconds to wait for something that must not happen
PATTERN = bytes(range(256)) * 8  # 2048 distinguishable bytes

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Upstream:
    """A tiny asyncio server standing in for ohtui, tracking its handlers so teardown is clean."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._run, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _run(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            await self._handler(reader, writer)
        except ConnectionError:
            pass  # the proxy reset us; that is what the tests do
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Echo until EOF, then close: the simplest server that exercises both directions."""
    while chunk := await reader.read(65536):
        writer.write(chunk)
        await writer.drain()


async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Send PATTERN unprompted, then wait for the client to hang up (server-push like socket.io)."""
    writer.write(PATTERN)
    await writer.drain()
    await reader.read()


@pytest.fixture
async def echo_server() -> AsyncIterator[Upstream]:
    server = Upstream(echo)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def greet_server() -> AsyncIterator[Upstream]:
    server = Upstream(greet)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def proxy(echo_server: Upstream) -> AsyncIterator[FaultProxy]:
    async with FaultProxy("127.0.0.1", echo_server.port) as fault_proxy:
        yield fault_proxy


async def connect(proxy: FaultProxy) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", proxy.port)


async def read_until_closed(reader: asyncio.StreamReader) -> tuple[bytes, Literal["eof", "reset"]]:
    """Collect everything until the connection ends and say whether it ended by EOF or RST."""
    data = bytearray()
    try:
        while chunk := await reader.read(65536):
            data += chunk
    except ConnectionResetError:
        return bytes(data), "reset"
    return bytes(data), "eof"


async def assert_nothing_arrives(reader: asyncio.StreamReader) -> None:
    """Cancelling StreamReader.read loses no data, so the bytes are still there afterwards."""
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.read(65536), NEVER)


def proxy_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("faultproxy")]


def unused_port() -> int:
    """A loopback port with nothing listening, to play a server that is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_url_and_port(proxy: FaultProxy) -> None:
    assert proxy.port > 0
    assert proxy.url == f"http://127.0.0.1:{proxy.port}"


async def test_bytes_pass_both_ways_and_half_close(proxy: FaultProxy) -> None:
    reader, writer = await connect(proxy)
    writer.write(b"hello")
    assert await reader.readexactly(5) == b"hello"

    # Far more than the proxy's queues and socket buffers hold: backpressure must not deadlock.
    payload = PATTERN * 512  # 1 MiB
    sender = asyncio.create_task(_send(writer, payload))
    assert await reader.readexactly(len(payload)) == payload
    await sender

    assert proxy.bytes_to_server == proxy.bytes_to_client == 5 + len(payload)
    assert proxy.connections_total == 1
    assert proxy.live_connections == 1

    writer.write_eof()  # half-close is forwarded; the echo server then closes its side
    assert await read_until_closed(reader) == (b"", "eof")
    await proxy.wait_for_live_connections(0)
    writer.close()


async def _send(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    await writer.drain()


async def test_reset_all_kills_live_connections_and_new_ones_work(proxy: FaultProxy) -> None:
    clients = [await connect(proxy) for _ in range(2)]
    for reader, writer in clients:
        writer.write(b"x")
        assert await reader.readexactly(1) == b"x"
    assert proxy.live_connections == 2

    await proxy.reset_all()

    assert proxy.live_connections == 0
    for reader, writer in clients:
        assert await read_until_closed(reader) == (b"", "reset")
        writer.close()

    reader, writer = await connect(proxy)
    writer.write(b"again")
    assert await reader.readexactly(5) == b"again"
    assert proxy.connections_total == 3
    writer.close()


async def test_stall_holds_data_on_live_connection(proxy: FaultProxy) -> None:
    reader, writer = await connect(proxy)
    writer.write(b"before")
    assert await reader.readexactly(6) == b"before"

    proxy.stall()
    assert proxy.stalled
    writer.write(b"held")
    await assert_nothing_arrives(reader)
    assert proxy.bytes_to_server == 6  # held by the proxy, not lost somewhere downstream
    assert proxy.live_connections == 1  # stalled, not closed

    proxy.unstall()
    assert await reader.readexactly(4) == b"held"
    writer.close()


async def test_stall_applies_to_new_connections(proxy: FaultProxy) -> None:
    proxy.stall()
    reader, writer = await connect(proxy)
    await proxy.wait_for_live_connections(1)
    writer.write(b"held")
    await assert_nothing_arrives(reader)
    assert proxy.bytes_to_server == 0

    proxy.unstall()
    assert await reader.readexactly(4) == b"held"
    writer.close()


async def test_latency_delays_and_never_reorders(proxy: FaultProxy) -> None:
    reader, writer = await connect(proxy)
    proxy.set_latency(1.0)
    writer.write(b"first-")
    await assert_nothing_arrives(reader)  # still inside its one-way delay

    # A later chunk with no latency must queue behind the delayed one, not overtake it.
    proxy.set_latency(0)
    writer.write(b"second")
    assert await reader.readexactly(12) == b"first-second"
    writer.close()


async def test_latency_keeps_a_long_stream_in_order(proxy: FaultProxy) -> None:
    proxy.set_latency(0.01)
    reader, writer = await connect(proxy)
    payload = PATTERN * 128  # 256 KiB: many chunks through both delayed directions
    sender = asyncio.create_task(_send(writer, payload))
    assert await reader.readexactly(len(payload)) == payload
    await sender
    writer.close()


async def test_cut_after_cuts_new_connection_at_byte_count(greet_server: Upstream) -> None:
    async with FaultProxy("127.0.0.1", greet_server.port) as proxy:
        proxy.cut_after(100)
        reader, writer = await connect(proxy)
        assert await read_until_closed(reader) == (PATTERN[:100], "eof")
        writer.close()
        assert proxy.cuts == 1
        assert proxy.bytes_to_client == 100
        await proxy.wait_for_live_connections(0)

        # once=True (the default) disarmed the rule: the reconnect gets everything.
        reader, writer = await connect(proxy)
        assert await reader.readexactly(len(PATTERN)) == PATTERN
        writer.close()


async def test_cut_after_counts_from_the_call_on_live_connections(proxy: FaultProxy) -> None:
    reader, writer = await connect(proxy)
    writer.write(b"ping")
    assert await reader.readexactly(4) == b"ping"

    proxy.cut_after(3)
    writer.write(b"abcdef")
    assert await read_until_closed(reader) == (b"abc", "eof")
    await proxy.wait_for_cuts(1)
    await proxy.wait_for_live_connections(0)
    writer.close()


async def test_cut_after_every_connection_until_disabled(greet_server: Upstream) -> None:
    async with FaultProxy("127.0.0.1", greet_server.port) as proxy:
        proxy.cut_after(10, once=False)
        for _ in range(2):
            reader, writer = await connect(proxy)
            assert await read_until_closed(reader) == (PATTERN[:10], "eof")
            writer.close()
        assert proxy.cuts == 2

        proxy.cut_after(None)
        reader, writer = await connect(proxy)
        assert await reader.readexactly(len(PATTERN)) == PATTERN
        writer.close()


async def test_refuse_resets_new_connections_until_lifted(proxy: FaultProxy) -> None:
    proxy.refuse(True)
    reader, writer = await connect(proxy)
    assert await read_until_closed(reader) == (b"", "reset")
    writer.close()
    await proxy.wait_for_connections(1)
    assert proxy.connections_refused == 1
    assert proxy.live_connections == 0
    assert proxy.bytes_to_server == proxy.bytes_to_client == 0

    proxy.refuse(False)
    reader, writer = await connect(proxy)
    writer.write(b"ok")
    assert await reader.readexactly(2) == b"ok"
    assert proxy.connections_total == 2
    writer.close()


async def test_upstream_down_resets_the_client() -> None:
    async with FaultProxy("127.0.0.1", unused_port()) as proxy:
        reader, writer = await connect(proxy)
        assert await read_until_closed(reader) == (b"", "reset")
        writer.close()
        assert proxy.upstream_failures == 1
        assert proxy.live_connections == 0


async def test_wait_for_connections_wakes_on_the_nth(proxy: FaultProxy) -> None:
    waiter = asyncio.create_task(proxy.wait_for_connections(2))
    first = await connect(proxy)
    await proxy.wait_for_connections(1)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.shield(waiter), NEVER)
    second = await connect(proxy)
    await waiter
    assert proxy.connections_total == 2
    for _, writer in (first, second):
        writer.close()


async def test_stop_closes_listener_connections_and_tasks(echo_server: Upstream) -> None:
    proxy = FaultProxy("127.0.0.1", echo_server.port)
    await proxy.start()
    port = proxy.port
    clients = [await connect(proxy) for _ in range(2)]
    await proxy.wait_for_live_connections(2)
    proxy.stall()
    clients[0][1].write(b"held during stop")
    proxy.set_latency(5)

    await proxy.stop()

    assert proxy.live_connections == 0
    assert proxy_tasks() == []
    for reader, writer in clients:
        _, how = await read_until_closed(reader)
        assert how == "reset"
        writer.close()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
