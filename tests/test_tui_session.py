"""The UI's Session against a real server: a conversation's history is posted in chunks with the loop running
between them, and what the connection stores meanwhile comes after it."""

from __future__ import annotations

import asyncio
from itertools import pairwise
from pathlib import Path

from textual.message import Message

from ohtui.protocol import EventSource, MessageAction
from ohtui.server import OhtuiServer, ServerConfig
from ohtui.store import Database
from ohtui.tui.session import HISTORY_CHUNK, EventsArrived, Session

WAIT = 30.0


async def test_history_is_posted_in_chunks_and_newer_events_after_it(tmp_path: Path) -> None:
    count = 2 * HISTORY_CHUNK + 500
    server = OhtuiServer(ServerConfig(data_dir=tmp_path / "server"))
    await server.start()
    history = server.db.events("long").append_many(
        [MessageAction(content=f"message {n}") for n in range(count)], EventSource.USER
    )
    with Database(tmp_path / "mirror.db") as mirror:  # the mirror holds all but the last 10
        mirror.events("long").insert_many(history[:-10])

    ticks = 0
    loop = asyncio.get_running_loop()

    def tick() -> None:  # counts the loop's iterations, to see whether the UI would have had turns
        nonlocal ticks
        ticks += 1
        loop.call_soon(tick)

    posted: list[tuple[int, EventsArrived]] = []
    caught_up = asyncio.Event()

    def post(message: Message) -> None:
        if isinstance(message, EventsArrived):
            posted.append((ticks, message))
            if not message.history and any((e.id or 0) >= count - 1 for e in message.records):
                caught_up.set()

    session = Session(server.url, key=server.key, mirror_path=tmp_path / "mirror.db", post=post)
    tick()
    try:
        async with asyncio.timeout(WAIT):
            await session.open("long")
            await caught_up.wait()
    finally:
        await session.close()
        await server.stop()

    chunks = [(at, message) for at, message in posted if message.history]
    assert [len(message.records) for _, message in chunks] == [HISTORY_CHUNK, HISTORY_CHUNK, 490]
    assert [e.id for _, message in chunks for e in message.records] == list(range(count - 10))
    # the loop ran between any two chunks
    assert all(earlier < later for (earlier, _), (later, _) in pairwise(chunks))
    # the events the connection fetched meanwhile (the last 10, and what starting the conversation added) were
    # posted after the history, none of them twice
    newer = [e.id for at, message in posted[len(chunks) :] for e in message.records]
    assert all(message.history for _, message in posted[: len(chunks)])
    assert newer[:10] == list(range(count - 10, count))
    assert len(newer) == len(set(newer))


async def test_with_the_embedded_server_the_session_reads_the_servers_own_store(tmp_path: Path) -> None:
    """No second copy of a local conversation: the history comes from the server's store, the socket resumes at its
    latest id, and what the agent stores from then on reaches the UI through that same store."""
    from ohtui.protocol.intents import user_message

    server = OhtuiServer(ServerConfig(data_dir=tmp_path / "server", agent="echo"))
    await server.start()
    server.db.conversations.create("local", agent_name="echo")
    server.db.events("local").append_many([MessageAction(content=f"old {n}") for n in range(50)], EventSource.USER)
    posted: list[EventsArrived] = []
    echoed = asyncio.Event()

    def post(message: Message) -> None:
        if isinstance(message, EventsArrived):
            posted.append(message)
            if any(record.kind == "message" and "Echo: hi" in (record.text or "") for record in message.records):
                echoed.set()

    session = Session(server.url, key=server.key, shared=server.db, post=post)
    try:
        async with asyncio.timeout(WAIT):
            await session.open("local")
            assert session.connection is not None and not session.connection.mirror
            history = [record for message in posted if message.history for record in message.records]
            assert [record.id for record in history][:50] == list(range(50))
            assert all(record.text is None for record in history)  # from the store's columns: nothing parsed
            outcome = await session.send(user_message("hi"))
            assert outcome.accepted
            await echoed.wait()
        assert session.connection.status.counters.duplicates_dropped == 0
    finally:
        await session.close()
        await server.stop()
