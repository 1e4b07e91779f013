"""The Socket.IO endpoint against a real python-socketio client on 127.0.0.1 (OPENHANDS_V0.md §1, §9)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import socketio

from ohtui.protocol import (
    AgentState,
    AgentStateChangedObservation,
    ChangeAgentStateAction,
    CmdOutputObservation,
    CmdRunAction,
    EventSource,
    MessageAction,
    NullAction,
    NullObservation,
    RecallAction,
    RecallType,
    event_to_dict,
)
from ohtui.server import OhtuiServer, ServerConfig
from ohtui.store import Database
from tests.socket_helpers import WAIT, V0Client, is_state, running_server, v0_client


async def refused(url: str, **query: Any) -> Any:
    client = V0Client()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(url, **query)
    await client.close()
    return client.connect_error


class TestConnectMatrix:
    async def test_no_conversation_id_is_refused(self, tmp_path: Path) -> None:
        async with running_server(tmp_path) as server:
            error = await refused(server.url, session_api_key=server.key)
        assert error == {"message": "No conversation_id in query params"}

    async def test_wrong_key_is_refused(self, tmp_path: Path) -> None:
        async with running_server(tmp_path) as server:
            error = await refused(server.url, conversation_id="c1", session_api_key="nope")
            assert server.manager is not None and server.manager.get_live("c1") is None
        assert error == {"message": "invalid_session_api_key"}

    async def test_missing_key_is_refused_not_a_crash(self, tmp_path: Path) -> None:
        async with running_server(tmp_path) as server:
            error = await refused(server.url, conversation_id="c1")
            async with v0_client(server.url, conversation_id="c1", session_api_key=server.key) as client:
                assert client.sio.connected
        assert error == {"message": "invalid_session_api_key"}

    async def test_unknown_conversation_is_created_on_connect(self, tmp_path: Path) -> None:
        async with running_server(tmp_path) as server:
            async with v0_client(server.url, conversation_id="brand-new", session_api_key=server.key) as client:
                frames = await client.frames_until(is_state("awaiting_user_input"))
            assert server.db.conversations.get("brand-new") is not None
        # A new conversation starts after the join, so its first events arrive live: environment shown as agent,
        # and the environment's change_agent_state not forwarded (§1.5), as upstream does.
        assert [(f["source"], f.get("observation") or f.get("action")) for f in frames if "source" in f] == [
            ("agent", "agent_state_changed"),
            ("agent", "agent_state_changed"),
        ]
        statuses = [f["id"] for f in frames if f.get("status_update")]
        assert statuses == ["STATUS$STARTING_RUNTIME", "STATUS$RUNTIME_STARTED", "STATUS$READY"]

    @pytest.mark.parametrize("garbage", ["undefined", "null", "", "1.5", "abc"])
    async def test_garbage_latest_event_id_replays_everything(self, tmp_path: Path, garbage: str) -> None:
        async with running_server(tmp_path) as server:
            async with v0_client(server.url, conversation_id="c", session_api_key=server.key) as first:
                await first.frames_until(is_state("awaiting_user_input"))
            async with v0_client(
                server.url, conversation_id="c", session_api_key=server.key, latest_event_id=garbage
            ) as client:
                frames = await client.frames_until(is_state("awaiting_user_input"))
        assert frames[0]["id"] == 1  # 0 is the held-back loading state, replaced by the last state

    async def test_unknown_providers_are_ignored(self, tmp_path: Path) -> None:
        async with (
            running_server(tmp_path) as server,
            v0_client(
                server.url, conversation_id="c", session_api_key=server.key, providers_set="github,martian"
            ) as client,
        ):
            assert client.sio.connected

    async def test_server_started_without_key_makes_one_and_refuses_keyless_clients(self, tmp_path: Path) -> None:
        async with running_server(tmp_path) as server:
            assert server.key is not None and len(server.key) >= 16
            error = await refused(server.url, conversation_id="c")
            assert error == {"message": "invalid_session_api_key"}
            assert server.db.conversations.get("c") is None


def _seed(db_path: Path, conversation_id: str) -> list[int]:
    """A stored history exercising every replay rule; returns the ids a stock client must see, in order."""
    db = Database(db_path)
    try:
        db.conversations.create(conversation_id, agent_name="echo")
        events = db.events(conversation_id)
        env, user, agent = EventSource.ENVIRONMENT, EventSource.USER, EventSource.AGENT
        seeded = [
            (AgentStateChangedObservation(agent_state=AgentState.LOADING), env),  # 0 held, superseded
            (ChangeAgentStateAction(agent_state=AgentState.AWAITING_USER_INPUT), env),  # 1 replayed as stored
            (AgentStateChangedObservation(agent_state=AgentState.AWAITING_USER_INPUT), env),  # 2 held
            (MessageAction(content="hi"), user),  # 3
            (RecallAction(recall_type=RecallType.WORKSPACE_CONTEXT, query="hi"), user),  # 4 skipped
            (AgentStateChangedObservation(agent_state=AgentState.RUNNING), env),  # 5 held
            (NullObservation(cause=4), env),  # 6 skipped
            (CmdRunAction(command="ls"), agent),  # 7
            (CmdOutputObservation(command="ls", content="a\n", metadata={"exit_code": 0}, cause=7), env),  # 8
            (NullAction(), agent),  # 9 skipped
            (MessageAction(content="done", wait_for_response=True), agent),  # 10
            (AgentStateChangedObservation(agent_state=AgentState.AWAITING_USER_INPUT), env),  # 11 held, sent last
        ]
        for event, source in seeded:
            events.append(event, source)
    finally:
        db.close()
    return [1, 3, 7, 8, 10, 11]


class TestReplay:
    async def _replayed(self, tmp_path: Path, latest_event_id: int) -> list[dict[str, Any]]:
        expected = _seed(tmp_path / "server" / "ohtui.db", "seeded")
        async with (
            running_server(tmp_path) as server,
            v0_client(
                server.url, conversation_id="seeded", session_api_key=server.key, latest_event_id=latest_event_id
            ) as client,
        ):
            frames = await client.frames_until(lambda f: f.get("id") == 11)
            assert server.manager is not None
            await server.manager.flush(server.manager.get_live("seeded"))  # type: ignore[arg-type]
            assert client.drain() == []
        assert [f["id"] for f in frames] == [i for i in expected if i > latest_event_id]
        return frames

    async def test_replay_from_the_start_skips_and_holds(self, tmp_path: Path) -> None:
        frames = await self._replayed(tmp_path, -1)
        assert frames[0]["source"] == "environment" and frames[0]["action"] == "change_agent_state"
        assert frames[-1]["extras"]["agent_state"] == "awaiting_user_input"
        by_id = {f["id"]: f for f in frames}
        assert by_id[8]["source"] == "environment"  # replay sends the stored dict as is
        assert by_id[8]["success"] is True

    async def test_replay_from_a_middle_id(self, tmp_path: Path) -> None:
        frames = await self._replayed(tmp_path, 6)
        assert [f["id"] for f in frames] == [7, 8, 10, 11]

    async def test_replay_after_the_last_id_sends_nothing(self, tmp_path: Path) -> None:
        _seed(tmp_path / "server" / "ohtui.db", "seeded")
        async with (
            running_server(tmp_path) as server,
            v0_client(server.url, conversation_id="seeded", session_api_key=server.key, latest_event_id=11) as client,
        ):
            assert client.drain() == []

    async def test_history_follows_the_connect_acknowledgement(self, tmp_path: Path) -> None:
        """Replay runs after the handler returns (§9 fix): a replay inside it kept the server from reading pongs,
        so Engine.IO dropped any client whose history took longer than ping interval + timeout to send."""
        expected = _seed(tmp_path / "server" / "ohtui.db", "seeded")
        order: list[str] = []
        client = V0Client()
        client.sio.on("connect", lambda: order.append("connect"))
        client.sio.on("oh_event", lambda frame: (order.append("event"), client.frames.put_nowait(frame)))
        async with running_server(tmp_path) as server:
            await client.connect(server.url, conversation_id="seeded", session_api_key=server.key)
            try:
                frames = await client.frames_until(lambda f: f.get("id") == 11)
            finally:
                await client.close()
        assert [f["id"] for f in frames] == expected
        assert order == ["connect"] + ["event"] * len(expected)

    async def test_batched_replay_sends_every_stored_event_as_stored(self, tmp_path: Path) -> None:
        _seed(tmp_path / "server" / "ohtui.db", "seeded")
        batches: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
        client = V0Client()
        client.sio.on("oh_events", batches.put_nowait)
        async with running_server(tmp_path) as server:
            await client.connect(server.url, conversation_id="seeded", session_api_key=server.key, ohtui_batch=1)
            try:
                received: list[dict[str, Any]] = []
                while not received or received[-1]["id"] < 11:
                    received += await asyncio.wait_for(batches.get(), 10)
            finally:
                await client.close()
            stored = [event_to_dict(event) for event in server.db.events("seeded").search()]
        assert received == stored  # Null*, Recall and every agent_state_changed included, in id order
        assert client.drain() == []  # nothing of the history came per event

    async def test_batched_replay_as_lines_sends_the_stored_text(self, tmp_path: Path) -> None:
        _seed(tmp_path / "server" / "ohtui.db", "seeded")
        batches: asyncio.Queue[Any] = asyncio.Queue()
        client = V0Client()
        client.sio.on("oh_events", batches.put_nowait)
        async with running_server(tmp_path) as server:
            await client.connect(
                server.url,
                conversation_id="seeded",
                session_api_key=server.key,
                ohtui_batch=1,
                ohtui_batch_format="lines",
            )
            try:
                lines: list[str] = []
                while not lines or json.loads(lines[-1])["id"] < 11:
                    batch = await asyncio.wait_for(batches.get(), 10)
                    assert isinstance(batch, bytes)  # a binary attachment: no JSON string escaping on the way
                    lines += batch.decode().split("\n")
            finally:
                await client.close()
            stored = [row.json for row in server.db.events("seeded").search_raw()]
        assert lines == stored

    async def test_batches_as_lines_wait_for_the_client_to_store_them(self, tmp_path: Path) -> None:
        """At most UNACKNOWLEDGED batches go out before the client acknowledges one (ohtui's client does once it has
        stored it): a client that reads but never stores gets that many, then is disconnected as stalled."""
        from ohtui.protocol import event_from_dict
        from ohtui.server.replay import UNACKNOWLEDGED
        from tests.samples import load_samples

        samples = [event_from_dict({k: v for k, v in raw.items() if k != "id"}) for _, raw in load_samples()]
        with Database(tmp_path / "server" / "ohtui.db") as seed:
            seed.events("long").append_many(samples * 200)  # a dozen batches
        received: list[bytes] = []
        never = asyncio.Event()
        client = V0Client()

        async def never_stored(data: bytes) -> bool:
            received.append(data)
            await never.wait()  # no acknowledgement
            return True

        client.sio.on("oh_events", never_stored)
        # The replay gives up on a client after ping interval + timeout without progress.
        async with running_server(tmp_path, ping_interval=0.3, ping_timeout=0.5) as server:
            query = {"conversation_id": "long", "ohtui_batch": 1, "ohtui_batch_format": "lines"}
            await client.connect(server.url, session_api_key=server.key, **query)
            try:
                await asyncio.wait_for(client.disconnected.wait(), WAIT)
            finally:
                never.set()
                await client.close()
        assert len(received) == UNACKNOWLEDGED


class TestLiveFlow:
    async def test_echo_flow_states_and_source_rewrite(self, tmp_path: Path) -> None:
        async with running_server(tmp_path) as server:
            async with v0_client(server.url, conversation_id="c", session_api_key=server.key) as client:
                await client.frames_until(is_state("awaiting_user_input"))
                ack = await client.action({"action": "message", "args": {"content": "hello", "image_urls": []}})
                frames = await client.frames_until(is_state("awaiting_user_input"))
        titles = [f for f in frames if f.get("status_update")]
        assert titles == [{"status_update": True, "type": "info", "message": "c", "conversation_title": "hello"}]
        frames = [f for f in frames if not f.get("status_update")]
        assert isinstance(ack, dict) and isinstance(ack["id"], int)
        echo = frames[0]
        assert (echo["id"], echo["source"], echo["action"], echo["args"]["content"]) == (
            ack["id"],
            "user",
            "message",
            "hello",
        )
        states = [f["extras"]["agent_state"] for f in frames if f.get("observation") == "agent_state_changed"]
        assert states == ["running", "awaiting_user_input"]
        assert all(f["source"] in ("agent", "user") for f in frames)  # environment rewritten live (§1.5)
        reply = next(f for f in frames if f.get("action") == "message" and f["source"] == "agent")
        assert reply["args"]["wait_for_response"] is True and "hello" in reply["args"]["content"]
        ids = [f["id"] for f in frames]
        assert ids == sorted(ids)

    async def test_two_clients_in_one_room_both_see_everything(self, tmp_path: Path) -> None:
        async with running_server(tmp_path) as server:
            query = {"conversation_id": "shared", "session_api_key": server.key}
            async with v0_client(server.url, **query) as alice, v0_client(server.url, **query) as bob:
                await alice.frames_until(is_state("awaiting_user_input"))
                await bob.frames_until(is_state("awaiting_user_input"))
                await alice.action({"action": "message", "args": {"content": "from alice"}})
                await bob.action({"action": "message", "args": {"content": "from bob"}})
                seen_by_alice = await alice.frames_until(lambda f: f.get("args", {}).get("content") == "from bob")
                seen_by_bob = await bob.frames_until(lambda f: f.get("args", {}).get("content") == "from bob")
        alice_ids = [f["id"] for f in seen_by_alice if "source" in f]  # events, not the title update
        assert alice_ids == [f["id"] for f in seen_by_bob if "source" in f]

    async def test_legacy_oh_action_event_name_is_accepted(self, tmp_path: Path) -> None:
        async with running_server(tmp_path) as server:
            async with v0_client(server.url, conversation_id="c", session_api_key=server.key) as client:
                await client.frames_until(is_state("awaiting_user_input"))
                ack = await client.sio.call("oh_action", {"action": "message", "args": {"content": "old"}})
                assert isinstance(ack["id"], int)

    async def test_client_supplied_id_and_source_are_replaced(self, tmp_path: Path) -> None:
        async with running_server(tmp_path) as server:
            async with v0_client(server.url, conversation_id="c", session_api_key=server.key) as client:
                await client.frames_until(is_state("awaiting_user_input"))
                ack = await client.action(
                    {
                        "id": 999,
                        "source": "agent",
                        "timestamp": "1999-01-01",
                        "action": "message",
                        "args": {"content": "x"},
                    }
                )
                stored = server.db.events("c").get(ack["id"])
        assert ack["id"] != 999 and stored.source is EventSource.USER and stored.timestamp != "1999-01-01"

    async def test_disconnect_leaves_the_agent_running(self, tmp_path: Path) -> None:
        async with running_server(tmp_path) as server:
            async with v0_client(server.url, conversation_id="c", session_api_key=server.key) as client:
                await client.frames_until(is_state("awaiting_user_input"))
            assert server.manager is not None and server.manager.get_live("c") is not None


class TestBadInput:
    @pytest.mark.parametrize(
        ("payload", "words"),
        [
            ("just text", "JSON object"),
            ([1, 2], "JSON object"),
            ({"action": "teleport", "args": {}}, "unknown action"),
            ({"action": "run", "args": {"command": 5}}, "args.command"),
            ({"action": "recall", "args": {"recall_type": None, "query": "q"}}, "args.recall_type"),  # kept in history
            ({"observation": "run", "content": "", "extras": {"command": "x"}}, "actions only"),
            ({"action": "change_agent_state", "args": {"agent_state": "finished"}}, ""),
            ({"nothing": True}, "neither"),
        ],
    )
    async def test_malformed_action_gets_an_error_frame_and_nothing_is_stored(
        self, tmp_path: Path, payload: Any, words: str
    ) -> None:
        async with running_server(tmp_path) as server:
            async with v0_client(server.url, conversation_id="c", session_api_key=server.key) as client:
                await client.frames_until(is_state("awaiting_user_input"))
                before = server.db.events("c").count()
                ack = await client.action(payload)
                frame = await client.next_frame()
                assert server.db.events("c").count() == before
                assert client.sio.connected
        assert ack == frame and frame["error"] is True and words in frame["message"]

    async def test_oversized_action_gets_a_clear_error(self, tmp_path: Path) -> None:
        async with running_server(tmp_path, max_payload=64 * 1024) as server:
            async with v0_client(server.url, conversation_id="c", session_api_key=server.key) as client:
                await client.frames_until(is_state("awaiting_user_input"))
                ack = await client.action({"action": "message", "args": {"content": "x" * 100_000}})
                assert client.sio.connected
        assert ack["error"] is True and "over the limit" in ack["message"]


async def test_stop_flushes_and_restart_keeps_everything(tmp_path: Path) -> None:
    config = ServerConfig(data_dir=tmp_path)
    server = OhtuiServer(config)
    await server.start()
    async with v0_client(server.url, conversation_id="c", session_api_key=server.key) as client:
        await client.frames_until(is_state("awaiting_user_input"))
        await client.action({"action": "message", "args": {"content": "keep me"}})
        await client.frames_until(is_state("awaiting_user_input"))
        await server.stop()
        await asyncio.wait_for(client.disconnected.wait(), 10)
    db = Database(tmp_path / "ohtui.db")
    try:
        contents = [e.args.content for e in db.events("c").search() if isinstance(e, MessageAction)]
    finally:
        db.close()
    assert "keep me" in contents


def test_replay_rules_on_stored_rows_match_the_rules_on_events(tmp_path: Path) -> None:
    """Replay decides from the stored row's type (no parse); it must agree with the rules on parsed events."""
    from ohtui.protocol import event_from_dict
    from ohtui.server.forwarding import is_agent_state_row, row_skipped_on_replay, skipped_on_replay
    from tests.samples import load_samples

    with Database(tmp_path / "rows.db") as db:
        events = db.events("c")
        stored = [events.append(event_from_dict({**raw, "id": None}) if "id" in raw else event_from_dict(raw))
                  for _, raw in load_samples()]  # fmt: skip
        rows = list(events.search_raw())
    assert len(rows) == len(stored) == 38
    for event, row in zip(stored, rows, strict=True):
        assert row_skipped_on_replay(row) == skipped_on_replay(event), event.kind
        assert is_agent_state_row(row) == isinstance(event, AgentStateChangedObservation), event.kind
    assert sum(map(row_skipped_on_replay, rows)) >= 3  # the samples hold NullAction, NullObservation, RecallAction


def test_live_source_rewrite_on_stored_text_matches_a_reencoded_copy(tmp_path: Path) -> None:
    """Environment feedback goes live as an agent event by editing the stored JSON; that must be exactly the JSON of
    the event with its source changed, for every sample shown live."""
    from ohtui.protocol import event_from_dict, event_to_json
    from ohtui.server.forwarding import live_text
    from tests.samples import load_samples

    rewritten = 0
    with Database(tmp_path / "live.db") as db:
        events = db.events("c")
        for _, raw in load_samples():
            stored = events.append(event_from_dict({**raw, "id": None}), EventSource.ENVIRONMENT)
            text = next(events.search_raw(stored.id, stored.id)).json
            live = live_text(stored, text)
            if live is None:
                continue
            expected = event_to_json(stored.model_copy(update={"source": EventSource.AGENT}))
            assert live == expected, stored.kind
            rewritten += 1
    assert rewritten >= 4  # cmd output, agent state, recall and error observations
