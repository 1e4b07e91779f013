"""A server process SIGKILLed and restarted on the same data mid-stream: the client's mirror ends equal."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ohtui.client.backoff import BackoffPolicy
from ohtui.client.connection import Connection
from ohtui.client.status import ConnectionState
from ohtui.protocol.intents import user_message
from ohtui.store import Database
from tests.client_helpers import StateLog, comparable, contiguous, store_until
from tests.faultproxy import FaultProxy
from tests.serve_process import ServeProcess

RESTARTS = 5


async def test_server_killed_and_restarted_five_times_mid_stream(tmp_path: Path) -> None:
    serve = ServeProcess(tmp_path / "server")
    await serve.start()
    proxy = FaultProxy("127.0.0.1", serve.port)
    await proxy.start()
    mirror = Database(tmp_path / "client.db")
    store = mirror.events("c")
    log = StateLog()
    connection = Connection(
        proxy.url, "c", store, key=serve.key, on_change=log, backoff=BackoffPolicy(base=0.05, cap=0.5), ping_every=0
    )
    try:
        await connection.start()
        await log.wait_for(ConnectionState.CONNECTED)

        async def talk() -> None:
            for n in range(60):
                await connection.send(user_message(f"message {n}"))  # outcomes may be errors while the server is down

        talker = asyncio.create_task(talk())
        for restart in range(RESTARTS):
            target = store.latest_id() + 15
            await store_until(store, lambda t=target: store.latest_id() >= t, timeout=60)
            await serve.kill()
            serve = ServeProcess(tmp_path / "server")
            await serve.start()
            proxy.target_port = serve.port
            mark = len(log.changes)
            await log.wait_for(ConnectionState.CONNECTED, after=mark, timeout=60)
            assert restart >= 0
        await asyncio.wait_for(talker, 120)
        code = await serve.stop()
        assert code == 0
        with Database(tmp_path / "server" / "ohtui.db") as server_db:
            expected = server_db.events("c")
            latest = expected.latest_id()
            # The mirror may still be catching up with the last events the server stored before it stopped: let
            # it reconnect to a final server to finish, as a user would.
            final = ServeProcess(tmp_path / "server")
            await final.start()
            proxy.target_port = final.port
            try:
                await store_until(store, lambda: store.latest_id() >= latest and not store.missing_ranges(), 60)
                assert comparable(store, keep_source=True)[: latest + 1] == comparable(expected, keep_source=True)
                assert contiguous(store)
            finally:
                await final.stop()
        assert connection.status.counters.duplicates_dropped >= 0
    finally:
        await connection.close()
        await proxy.stop()
        await serve.ensure_gone()
        mirror.close()
