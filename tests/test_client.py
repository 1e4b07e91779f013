"""The client state machine against the real server, through the loopback fault proxy (issue 5 checks)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from ohtui.client.backoff import BackoffPolicy
from ohtui.client.connection import Connection
from ohtui.client.intake import Intake
from ohtui.client.outbox import OutboxFull
from ohtui.client.reporter import StatusReporter
from ohtui.client.status import ConnectionChanged, ConnectionState
from ohtui.protocol import (
    AgentState,
    AgentThinkAction,
    EventSource,
    InvalidEvent,
    MessageAction,
    stored_event_from_json,
)
from ohtui.protocol.intents import request_state, user_message
from ohtui.protocol.record import EventRecord
from ohtui.server import OhtuiServer
from ohtui.store import Database, EventStore
from tests.client_helpers import StateLog, comparable, contiguous, store_until
from tests.faultproxy import FaultProxy
from tests.samples import history_with_invalid_events
from tests.socket_helpers import running_server

FAST = BackoffPolicy(base=0.05, cap=0.3, stable_after=0.5)


@asynccontextmanager
async def client_for(
    url: str, tmp_path: Path, key: str | None, conversation_id: str = "c", **options: Any
) -> AsyncIterator[tuple[Connection, EventStore, StateLog]]:
    db = Database(tmp_path / f"client-{random.random()}.db")
    store = db.events(conversation_id)
    log = StateLog()
    options.setdefault("backoff", FAST)
    connection = Connection(url, conversation_id, store, key=key, on_change=log, ping_every=0.5, **options)
    await connection.start()
    try:
        yield connection, store, log
    finally:
        await connection.close()
        db.close()


async def wait_settled(server: OhtuiServer, conversation_id: str, store: EventStore) -> None:
    """Wait until the client's store holds every id the server has."""
    expected = server.db.events(conversation_id)
    latest = expected.latest_id()
    await store_until(store, lambda: store.latest_id() >= latest and not store.missing_ranges(0, latest), timeout=30)


async def test_connects_mirrors_exactly_and_sends(tmp_path: Path) -> None:
    """With ohtui's extension (complete replay + the full room) the mirror equals the server's store exactly."""
    async with running_server(tmp_path) as server, client_for(server.url, tmp_path, server.key) as (conn, store, log):
        await log.wait_for(ConnectionState.CONNECTED)
        outcome = await conn.send(user_message("hello"))
        assert outcome.accepted and outcome.event_id is not None
        await wait_settled(server, "c", store)
        await store_until(store, lambda: _agent_replied(store))
        await wait_settled(server, "c", store)
        assert comparable(store, keep_source=True) == comparable(server.db.events("c"), keep_source=True)
        assert log.states == [ConnectionState.CONNECTING, ConnectionState.CONNECTED]
        assert conn.status.counters.gaps_repaired == 0
        assert conn.status.counters.events_received == server.db.events("c").count()


async def test_stock_protocol_holes_are_repaired_over_rest(tmp_path: Path) -> None:
    """Without the extension, §1.2/§1.5 skip events; the client fetches every hole over REST, never skips it."""
    async with running_server(tmp_path) as server:
        async with client_for(server.url, tmp_path, server.key, batch=False) as (conn, store, log):
            await log.wait_for(ConnectionState.CONNECTED)
            await conn.send(user_message("hello"))
            await store_until(store, lambda: _agent_replied(store))
            await wait_settled(server, "c", store)
            assert comparable(store) == comparable(server.db.events("c"))
            assert conn.status.counters.gaps_repaired >= 1
        async with client_for(server.url, tmp_path, server.key, batch=False) as (conn, store, log):
            await wait_settled(server, "c", store)  # a fresh mirror: replay skips Null*/recall, REST fills them
            assert contiguous(store)


def _agent_replied(store: EventStore) -> bool:
    return any(isinstance(e, MessageAction) and e.source is EventSource.AGENT for e in store.search())


async def test_latency_is_measured(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server, client_for(server.url, tmp_path, server.key) as (conn, store, log):
        await log.wait_for(ConnectionState.CONNECTED)
        measured = await log.wait_until(lambda change: change.latency is not None)
        assert measured.latency is not None and 0 <= measured.latency < 5


async def test_wrong_key_is_refused_without_retrying(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server, FaultProxy("127.0.0.1", _port(server)) as proxy:
        async with client_for(proxy.url, tmp_path, "wrong-key") as (conn, store, log):
            refused = await log.wait_for(ConnectionState.REFUSED)
            assert refused.last_error == "invalid_session_api_key"
            with pytest.raises(TimeoutError):  # no retry storm: nothing reconnects on its own
                await asyncio.wait_for(proxy.wait_for_connections(2), 1.0)
            assert proxy.connections_total == 1


@pytest.mark.parametrize("batch", [True, False], ids=["ohtui-extension", "stock-protocol"])
async def test_resets_during_a_5000_event_stream_lose_nothing(tmp_path: Path, batch: bool) -> None:
    async with running_server(tmp_path, ping_interval=1, ping_timeout=1) as server:
        async with FaultProxy("127.0.0.1", _port(server)) as proxy:
            async with client_for(proxy.url, tmp_path, server.key, batch=batch) as (conn, store, log):
                await log.wait_for(ConnectionState.CONNECTED)
                assert server.manager is not None
                live = await server.manager.ensure_running("c")
                batches = 200
                reset_points = set(random.sample(range(batches), 20))
                for number in range(batches):
                    live.events.append_many(
                        [AgentThinkAction(thought=f"t{number}-{n}") for n in range(25)], EventSource.AGENT
                    )
                    if number in reset_points:
                        # Reset only a link that exists (it may be mid-handshake or mid-replay: all the better).
                        await proxy.wait_for_live_connections(1)
                        await proxy.reset_all()
                    await asyncio.sleep(0)  # let the emitter, the proxy and the client run between batches
                await wait_settled(server, "c", store)
                assert proxy.connections_total >= 21
                assert comparable(store, keep_source=batch) == comparable(server.db.events("c"), keep_source=batch)
                assert contiguous(store)


async def test_stalled_link_is_detected_and_recovered(tmp_path: Path) -> None:
    async with running_server(tmp_path, ping_interval=1, ping_timeout=1) as server:
        async with FaultProxy("127.0.0.1", _port(server)) as proxy:
            async with client_for(proxy.url, tmp_path, server.key) as (conn, store, log):
                await log.wait_for(ConnectionState.CONNECTED)
                mark = len(log.changes)
                proxy.stall()
                loop = asyncio.get_running_loop()
                stalled_at = loop.time()
                await log.wait_for(ConnectionState.RECONNECTING, after=mark, timeout=10)
                detected_after = loop.time() - stalled_at
                proxy.unstall()
                await log.wait_for(ConnectionState.CONNECTED, after=mark + 1, timeout=10)
                assert detected_after < 1 + 1 + 1.5  # ping interval + ping timeout, plus scheduling slack
                outcome = await conn.send(user_message("after the stall"))
                assert outcome.accepted


async def test_server_down_past_the_give_up_limit_goes_offline_then_retry(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server, FaultProxy("127.0.0.1", _port(server)) as proxy:
        policy = BackoffPolicy(base=0.05, cap=0.1, max_attempts=3)
        async with client_for(proxy.url, tmp_path, server.key, backoff=policy) as (conn, store, log):
            await log.wait_for(ConnectionState.CONNECTED)
            proxy.refuse(True)
            await proxy.reset_all()
            offline = await log.wait_for(ConnectionState.OFFLINE)
            assert offline.attempt == 4
            proxy.refuse(False)
            mark = len(log.changes)
            conn.retry_now()
            await log.wait_for(ConnectionState.CONNECTED, after=mark)


async def test_sends_while_disconnected_wait_in_order_and_the_outbox_is_bounded(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server, FaultProxy("127.0.0.1", _port(server)) as proxy:
        slow = BackoffPolicy(base=0.5, cap=0.5)
        async with client_for(proxy.url, tmp_path, server.key, backoff=slow, outbox_limit=3) as (conn, store, log):
            await log.wait_for(ConnectionState.CONNECTED)
            proxy.refuse(True)
            await proxy.reset_all()
            await log.wait_for(ConnectionState.RECONNECTING)
            sends = [asyncio.create_task(conn.send(user_message(f"queued {n}"))) for n in range(3)]
            await asyncio.sleep(0)
            with pytest.raises(OutboxFull):
                await conn.send(user_message("one too many"))
            assert len(conn.outbox) == 3
            proxy.refuse(False)
            outcomes = await asyncio.gather(*sends)
            assert all(o.accepted for o in outcomes)
            ids = [o.event_id for o in outcomes]
            assert ids == sorted(ids)
            texts = [server.db.events("c").get(i).args.content for i in ids]  # type: ignore[union-attr, arg-type]
            assert texts == ["queued 0", "queued 1", "queued 2"]


async def test_refused_action_outcome_carries_the_server_message(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server, client_for(server.url, tmp_path, server.key) as (conn, store, log):
        await log.wait_for(ConnectionState.CONNECTED)
        outcome = await conn.send(request_state(AgentState.USER_CONFIRMED))
    assert not outcome.accepted and outcome.error


def _port(server: OhtuiServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


async def test_history_arrives_as_lines_and_is_mirrored_byte_for_byte(tmp_path: Path) -> None:
    """ohtui's client asks for batches as lines of JSON: each event is parsed from its text and stored as that text,
    so the mirror holds exactly what the server stored. More batches than the server sends unacknowledged: the
    client acknowledges each once it is stored."""
    from ohtui.protocol import event_from_dict
    from ohtui.server.replay import BATCH_BYTES, UNACKNOWLEDGED
    from tests.samples import load_samples

    samples = [event_from_dict({k: v for k, v in raw.items() if k != "id"}) for _, raw in load_samples()]
    with Database(tmp_path / "server" / "ohtui.db") as seed:
        seed.events("c").append_many(samples * 200)
    collector_on: list[bool] = []  # while each stored event is handed over: batches are stored with it paused
    async with running_server(tmp_path) as server, client_for(server.url, tmp_path, server.key) as (conn, store, log):
        store.subscribe("test", lambda event: collector_on.append(gc.isenabled()))
        await log.wait_for(ConnectionState.CONNECTED)
        await wait_settled(server, "c", store)
        served = [(row.id, row.json) for row in server.db.events("c").search_raw()]
        mirrored = [(row.id, row.json) for row in store.search_raw()]
        assert gc.isenabled()
    assert collector_on and not any(collector_on)
    assert len(served) >= len(samples) * 200
    assert sum(len(text) for _, text in served) > 2 * UNACKNOWLEDGED * BATCH_BYTES
    assert mirrored == served
    assert conn.malformed_frames == 0


@pytest.mark.parametrize("batch", [True, False], ids=["lines", "stock"])
async def test_replayed_events_that_do_not_validate_are_stored_as_received_and_counted(
    tmp_path: Path, batch: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """History is read leniently: a replayed event (a batch line, an ``oh_event`` frame, or, for the stock replay
    that skips recall actions, a REST page) that does not validate is stored as the server holds it, counted, and
    logged once; nothing after it is lost."""
    texts = history_with_invalid_events()
    with Database(tmp_path / "server" / "ohtui.db") as seed:
        seed.events("c").insert_many([stored_event_from_json(text) for text in texts], texts)
    async with running_server(tmp_path) as server:
        async with client_for(server.url, tmp_path, server.key, batch=batch) as (conn, store, log):
            await log.wait_for(ConnectionState.CONNECTED)
            await wait_settled(server, "c", store)
            assert [row.json for row in store.search_raw(0, 3)] == texts
            assert [type(store.get(n)).__name__ for n in range(4)] == [
                "MessageAction", "InvalidEvent", "InvalidEvent", "AgentThinkAction"
            ]  # fmt: skip
            assert comparable(store) == comparable(server.db.events("c"))
            # ohtui's batches are stored as sent, their bodies read when used; stock frames are parsed on arrival,
            # where what does not validate is counted and the first logged.
            assert conn.status.counters.invalid_kept == (0 if batch else 2) and conn.malformed_frames == 0
    warnings = [record.getMessage() for record in caplog.records if "does not validate" in record.getMessage()]
    assert len(warnings) == (0 if batch else 1)
    assert batch or "args.content" in warnings[0]  # the stock replay skips recall


async def test_a_malformed_line_in_a_batch_is_counted_and_the_rest_is_kept(tmp_path: Path) -> None:
    with Database(tmp_path / "mirror.db") as db:
        store = db.events("c")
        intake = Intake(store, StatusReporter(ConnectionChanged(ConnectionState.IDLE, "u", "c"), None), source="u")
        good = '{"id":4,"timestamp":"2026-01-01T00:00:00.000000","source":"agent","message":"hi","action":"message","args":{"content":"hi","file_urls":[],"image_urls":[],"wait_for_response":false,"security_risk":-1},"timeout":null}'  # noqa: E501
        records: list[EventRecord] = []
        wrong_type = '{"id": 3, "action": "message", "args": {"content": 5}}'  # kept: history is read leniently
        for line in [wrong_type, "not json", good, '{"action":"message"}', '{"id": 5, "action": 7}']:
            intake._classify_line(line, records)
        assert intake.malformed_frames == 3  # not JSON, no id, not an event
        assert [record.id for record in records] == [3, 4] and [record.text for record in records] == [wrong_type, good]
        assert all(record.parsed is None for record in records)  # only the envelopes were read
        intake.store_records(records)
        assert store.get(4).message == "hi" and [row.json for row in store.search_raw()] == [wrong_type, good]
        assert isinstance(store.get(3), InvalidEvent)  # its body is read when it is used
        # A binary batch with a line that is not UTF-8: that line is counted, the others are kept.
        lines = intake._lines(good.replace('"id":4', '"id":5').encode() + b"\n\xff\xfe{}\n" + b"{}")
        assert intake.malformed_frames == 4
        assert lines == [good.replace('"id":4', '"id":5'), "{}"]
        assert intake._lines("a\nb") == ["a", "b"]  # what older ohtui servers sent


def test_pausing_collections_restores_the_collectors_state() -> None:
    from ohtui.client.intake import _collections_paused

    assert gc.isenabled()
    with pytest.raises(RuntimeError), _collections_paused():
        assert not gc.isenabled()
        raise RuntimeError("the batch failed")
    assert gc.isenabled()
    gc.disable()
    try:
        with _collections_paused():
            pass
        assert not gc.isenabled()  # paused by someone else (ohtui's start-up): left paused
    finally:
        gc.enable()


async def test_closing_is_not_stalled_by_a_cancel_the_ping_swallowed(tmp_path: Path) -> None:
    """Python 3.11's ``wait_for`` (inside the library's ``call``) returns the acknowledgement when it and a cancel
    arrive together, losing the cancel; the ping loop must still stop, or ``close()`` waits for it forever."""
    started = asyncio.Event()

    class AcknowledgedAsCancelled:
        """The first call returns though it was cancelled (the coincidence); later ones are plain."""

        connected = True

        async def call(self, *args: Any, **kwargs: Any) -> None:
            if started.is_set():
                await asyncio.Event().wait()
            started.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()

    with Database(tmp_path / "mirror.db") as db:
        connection = Connection("http://127.0.0.1:9", "c", db.events("c"), ping_every=0.01)
        connection._sio = AcknowledgedAsCancelled()  # type: ignore[assignment]
        ping = asyncio.create_task(connection._ping(connection._intake.generation))
        await started.wait()
        ping.cancel()
        done, _ = await asyncio.wait({ping}, timeout=5)
        assert done and ping.cancelled()


async def test_the_reporter_reports_states_at_once_and_counters_at_a_pace() -> None:
    seen: list[ConnectionChanged] = []
    reported = asyncio.Event()

    def listener(change: ConnectionChanged) -> None:
        seen.append(change)
        reported.set()

    reporter = StatusReporter(ConnectionChanged(ConnectionState.IDLE, "u", "c"), listener)
    reporter.set_state(ConnectionState.CONNECTED, latency=0.01)
    assert [change.state for change in seen] == [ConnectionState.CONNECTED]
    reported.clear()
    for n in range(100):
        reporter.bump(events_received=n + 1)
    assert len(seen) == 1 and reporter.status.counters.events_received == 100  # the snapshot is always current
    reporter.note(last_error="later")
    assert seen[-1].last_error is None
    await asyncio.wait_for(reported.wait(), 5)  # one report for the hundred bumps, a moment later
    assert len(seen) == 2 and seen[-1].counters.events_received == 100 and seen[-1].last_error == "later"
    reporter.set_state(ConnectionState.RECONNECTING)
    assert seen[-1].latency is None  # leaving connected forgets the latency
    reporter.stop()
