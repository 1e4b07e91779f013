"""No input may wedge a conversation: the server never stores what it cannot deliver, answers every frame, never
sends a frame over the transport's limit, and reads a flood of attachments without holding it in memory."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import aiohttp
import pytest

from ohtui.client.status import ConnectionState
from ohtui.protocol import ErrorFrame, EventSource, MessageAction, UndeliveredObservation
from ohtui.protocol.summary import summary
from ohtui.server.limits import DEFAULT_MAX_ACTION_BYTES, DELIVERABLE_EVENT_BYTES, TRANSPORT_MESSAGE_LIMIT
from ohtui.store import Database
from ohtui.tui.widgets.event_log.event_rows import is_error
from tests.client_helpers import store_until
from tests.serve_process import ServeProcess
from tests.socket_helpers import is_state, running_server, v0_client
from tests.test_client import client_for

MIB = 1024 * 1024


def _message(content: str) -> dict[str, object]:
    return {"action": "message", "args": {"content": content}}


async def test_a_message_too_large_to_deliver_is_refused_with_the_limit_and_the_conversation_stays_readable(
    tmp_path: Path,
) -> None:
    async with running_server(tmp_path) as server:
        async with v0_client(server.url, conversation_id="c", session_api_key=server.key) as sender:
            await sender.frames_until(is_state("awaiting_user_input"))
            before = server.db.events("c").latest_id()
            answer = await sender.action(_message("x" * int(1.9 * MIB)))
            assert (
                answer["error"] is True and f"over the limit of {DEFAULT_MAX_ACTION_BYTES:,} bytes" in answer["message"]
            )
            assert server.db.events("c").latest_id() == before
            assert "id" in await sender.action(_message("after"))
            await sender.frames_until(is_state("awaiting_user_input"))
        async with client_for(server.url, tmp_path, server.key) as (connection, store, log):
            latest = server.db.events("c").latest_id()
            await store_until(store, lambda: store.latest_id() >= latest)
            assert connection.state is ConnectionState.CONNECTED
        for row in server.db.events("c").search_raw(0, None):
            assert len(row.json.encode()) < DELIVERABLE_EVENT_BYTES


async def test_every_frame_with_a_lone_surrogate_gets_an_answer(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server:
        async with v0_client(server.url, conversation_id="c", session_api_key=server.key) as client:
            await client.frames_until(is_state("awaiting_user_input"))
            before = server.db.events("c").latest_id()
            answers = await asyncio.gather(*(client.action(_message(f"hi\ud800 {n}")) for n in range(300)))
            assert all(a["error"] is True and "not valid Unicode" in a["message"] for a in answers)
            assert server.db.events("c").latest_id() == before
            assert "id" in await client.action(_message("valid"))


def _seed_with_an_oversized_event(db_path: Path) -> tuple[int, int]:
    """A conversation whose middle event (as an older database or an import may hold) is over the frame limit."""
    with Database(db_path) as db:
        db.conversations.create("big", agent_name="echo")
        events = db.events("big")
        events.append(MessageAction(content="before"), EventSource.USER)
        big = events.append(MessageAction(content="y" * (TRANSPORT_MESSAGE_LIMIT // 2 + 1000)), EventSource.USER)
        last = events.append(MessageAction(content="after"), EventSource.USER)
        assert big.id is not None and last.id is not None
        return big.id, last.id


async def test_an_oversized_stored_event_becomes_a_marker_for_ohtui_and_is_skipped_for_stock_clients(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    big_id, last_id = _seed_with_an_oversized_event(tmp_path / "server" / "ohtui.db")
    caplog.set_level(logging.WARNING, logger="ohtui.server.forwarding")
    async with running_server(tmp_path) as server:
        async with v0_client(server.url, conversation_id="big", session_api_key=server.key) as stock:
            frames = await stock.frames_until(lambda f: isinstance(f, dict) and f.get("message") == "after")
            assert big_id not in [frame.get("id") for frame in frames if isinstance(frame, dict)]
        for attempt in range(2):
            async with client_for(server.url, tmp_path, server.key, "big") as (connection, store, log):
                await store_until(store, lambda: store.latest_id() >= last_id)
                marker = store.get(big_id)
                assert isinstance(marker, UndeliveredObservation), attempt
                assert marker.extras.event_bytes > DELIVERABLE_EVENT_BYTES and "was not sent" in marker.content
                assert [e.id for e in store.search()] == list(range(store.latest_id() + 1))
                assert ConnectionState.RECONNECTING not in log.states
                assert not store.missing_ranges(0, store.latest_id())
                assert "was not sent" in summary(marker)
                assert is_error(marker)
    logged = [r for r in caplog.records if f"event {big_id} " in r.getMessage()]
    assert len(logged) == 1


def _rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


async def _until_closed(ws: aiohttp.ClientWebSocketResponse) -> None:
    async for _ in ws:
        pass


async def _flood(url: str, key: str, total: int, chunk: int) -> tuple[int, int]:
    """Send ``total`` bytes of binary attachments, connecting again whenever the server closes the socket; returns
    what was sent and over how many connections."""
    sent = connections = 0
    socket_url = f"{url}/socket.io/?EIO=4&transport=websocket&conversation_id=f&session_api_key={key}"
    blob = b"\0" * chunk
    async with aiohttp.ClientSession() as session:
        while sent < total:
            connections += 1
            async with session.ws_connect(socket_url) as ws:
                await ws.receive_str()
                await ws.send_str("40")
                await ws.send_str('451000-["oh_user_action",{"_placeholder":true,"num":0}]')
                reader = asyncio.create_task(_until_closed(ws))
                while sent < total and not reader.done():
                    try:
                        await asyncio.wait_for(ws.send_bytes(blob), 10)
                    except (ConnectionError, aiohttp.ClientError, TimeoutError):
                        break
                    sent += chunk
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
    return sent, connections


async def test_a_flood_of_binary_attachments_is_not_buffered(tmp_path: Path) -> None:
    serve = ServeProcess(tmp_path / "server")
    try:
        url = await serve.start()
        assert serve.process is not None
        pid = serve.process.pid
        async with v0_client(url, conversation_id="f", session_api_key=serve.key) as client:
            await client.frames_until(is_state("awaiting_user_input"))
            baseline = _rss_kib(pid)
            sent, connections = await _flood(url, serve.key or "", 300 * MIB, MIB)
            assert sent >= 300 * MIB and connections > 1
            peak = _rss_kib(pid, "VmHWM")
            assert peak - baseline <= 64 * 1024, (baseline, peak)
            assert "id" in await client.action(_message("still answering"))
    finally:
        await serve.ensure_gone()


async def test_ten_thousand_refused_frames_make_a_few_log_lines(tmp_path: Path) -> None:
    serve = ServeProcess(tmp_path / "server")
    try:
        url = await serve.start()
        async with v0_client(url, conversation_id="c", session_api_key=serve.key) as client:
            await client.frames_until(is_state("awaiting_user_input"))
            lines_before = len(serve.stderr_lines)
            for start in range(0, 10_000, 500):
                await asyncio.gather(*(client.action({"action": n}) for n in range(start, start + 500)))
        await serve.stop()
    finally:
        await serve.ensure_gone()
    logged = serve.stderr_lines[lines_before:]
    refusals = [line for line in logged if "refused frame" in line]
    assert 1 <= len(refusals) <= 10, refusals
    assert sum(len(line) for line in logged) < 8_000
    assert any("10000 in all" in line for line in refusals)


async def test_an_oversized_live_event_reaches_ohtui_clients_as_a_marker(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server:
        async with client_for(server.url, tmp_path, server.key, "live") as (connection, store, log):
            await store_until(store, lambda: store.latest_id() >= 0)
            events = server.db.events("live")
            stored = events.append(MessageAction(content="z" * (TRANSPORT_MESSAGE_LIMIT // 2 + 1000)), EventSource.USER)
            await store_until(store, lambda: store.has(stored.id or 0))
            assert isinstance(store.get(stored.id or 0), UndeliveredObservation)


async def test_a_client_reports_and_fetches_an_event_an_older_server_sends_over_the_limit(tmp_path: Path) -> None:
    """An older ohtui (or another server) sends the oversized event whole, which closes the client's websocket on
    every replay: the client notices that the connection keeps ending at the same place, says so, and fetches the
    event over REST instead of reconnecting forever."""
    big_id, last_id = _seed_with_an_oversized_event(tmp_path / "server" / "ohtui.db")
    reports: list[ErrorFrame] = []
    async with running_server(tmp_path) as server:
        server.manager.oversized.fits = lambda text: True  # type: ignore[method-assign, union-attr]
        async with client_for(server.url, tmp_path, server.key, "big", on_error=reports.append) as (conn, store, log):
            await store_until(store, lambda: store.latest_id() >= last_id, timeout=60)
            fetched = store.get(big_id)
            assert isinstance(fetched, MessageAction) and len(fetched.args.content) > TRANSPORT_MESSAGE_LIMIT // 2
            assert [e.id for e in store.search()] == list(range(store.latest_id() + 1))
    assert any(f"event {big_id} did not arrive over the socket" in frame.message for frame in reports), reports
