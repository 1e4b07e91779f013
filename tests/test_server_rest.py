"""The REST API: conversations, events paging, posting actions, key checks and JSON errors."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ohtui.server import OhtuiServer
from ohtui.server.limits import incoming_message_limit
from tests.socket_helpers import is_state, running_server, v0_client


async def call(
    server: OhtuiServer, method: str, path: str, *, key: str | None = "server", **kwargs: Any
) -> tuple[int, Any]:
    headers = {"X-Session-API-Key": server.key} if key == "server" and server.key else {}
    if key not in ("server", None):
        headers = {"X-Session-API-Key": key}
    headers.update(kwargs.pop("headers", {}))
    async with aiohttp.ClientSession() as session:
        async with session.request(method, f"{server.url}{path}", headers=headers, **kwargs) as response:
            return response.status, await response.json(content_type=None)


async def test_health_needs_no_key(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server:
        status, body = await call(server, "GET", "/api/health", key=None)
    assert status == 200 and body["status"] == "ok"


@pytest.mark.parametrize("key", [None, "wrong"])
async def test_api_needs_the_key(tmp_path: Path, key: str | None) -> None:
    async with running_server(tmp_path) as server:
        status, body = await call(server, "GET", "/api/conversations", key=key)
    assert status == 401 and body["error"] == "invalid_session_api_key"


async def test_key_in_query_is_accepted(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server:
        status, _ = await call(server, "GET", f"/api/conversations?session_api_key={server.key}", key=None)
    assert status == 200


async def test_conversation_lifecycle(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server:
        status, created = await call(
            server, "POST", "/api/conversations", json={"title": "first", "initial_user_msg": "hi"}
        )
        assert status == 201
        conversation_id = created["conversation_id"]
        status, info = await call(server, "GET", f"/api/conversations/{conversation_id}")
        assert status == 200
        assert (info["title"], info["status"], info["conversation_version"]) == ("first", "RUNNING", "V0")
        assert info["runtime_status"] == "STATUS$READY"
        _, listing = await call(server, "GET", "/api/conversations")
        assert [c["conversation_id"] for c in listing["results"]] == [conversation_id]
        _, events = await call(server, "GET", f"/api/conversations/{conversation_id}/events?limit=100")
        assert any(e.get("args", {}).get("content") == "hi" and e["source"] == "user" for e in events["events"])
        status, _ = await call(server, "DELETE", f"/api/conversations/{conversation_id}")
        assert status == 200
        status, body = await call(server, "GET", f"/api/conversations/{conversation_id}")
        assert status == 404 and body["error"] == "not_found"


async def test_duplicate_conversation_id_conflicts(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server:
        await call(server, "POST", "/api/conversations", json={"conversation_id": "same"})
        status, body = await call(server, "POST", "/api/conversations", json={"conversation_id": "same"})
    assert status == 409 and "same" in body["message"]


async def test_events_paging_and_has_more(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server:
        async with v0_client(server.url, conversation_id="c", session_api_key=server.key) as client:
            await client.frames_until(is_state("awaiting_user_input"))
            for n in range(3):
                await client.action({"action": "message", "args": {"content": f"m{n}"}})
                await client.frames_until(is_state("awaiting_user_input"))
        total = server.db.events("c").count()
        _, first = await call(server, "GET", "/api/conversations/c/events?start_id=0&limit=5")
        _, rest = await call(server, "GET", f"/api/conversations/c/events?start_id=5&limit={total}")
        _, ranged = await call(server, "GET", "/api/conversations/c/events?start_id=2&end_id=4")
        _, backwards = await call(server, "GET", "/api/conversations/c/events?reverse=true&limit=3")
    assert [e["id"] for e in first["events"]] == [0, 1, 2, 3, 4] and first["has_more"] is True
    assert [e["id"] for e in rest["events"]] == list(range(5, total)) and rest["has_more"] is False
    assert [e["id"] for e in ranged["events"]] == [2, 3, 4]
    assert [e["id"] for e in backwards["events"]] == [total - 1, total - 2, total - 3]


@pytest.mark.parametrize(
    ("query", "word"),
    [("limit=abc", "limit"), ("limit=5000", "limit"), ("start_id=x", "start_id"), ("end_id=1.5", "end_id")],
)
async def test_bad_event_query_is_a_json_400(tmp_path: Path, query: str, word: str) -> None:
    async with running_server(tmp_path) as server:
        await call(server, "POST", "/api/conversations", json={"conversation_id": "c"})
        status, body = await call(server, "GET", f"/api/conversations/c/events?{query}")
    assert status == 400 and word in body["message"]


async def test_post_event_goes_into_the_stream(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server:
        async with v0_client(server.url, conversation_id="c", session_api_key=server.key) as client:
            await client.frames_until(is_state("awaiting_user_input"))
            status, body = await call(
                server,
                "POST",
                "/api/conversations/c/events",
                json={"action": "message", "args": {"content": "via rest"}},
            )
            frames = await client.frames_until(is_state("awaiting_user_input"))
    assert status == 200 and body["success"] is True
    assert frames[0]["id"] == body["id"] and frames[0]["args"]["content"] == "via rest"


@pytest.mark.parametrize(
    ("body", "status_code"),
    [
        ({"action": "teleport", "args": {}}, 400),
        ({"action": "run", "args": {"command": []}}, 400),
        ({"action": "change_agent_state", "args": {"agent_state": "user_confirmed"}}, 409),
    ],
)
async def test_post_bad_event_is_refused_and_not_stored(tmp_path: Path, body: Any, status_code: int) -> None:
    async with running_server(tmp_path) as server:
        await call(server, "POST", "/api/conversations", json={"conversation_id": "c"})
        before = server.db.events("c").count()
        status, answer = await call(server, "POST", "/api/conversations/c/events", json=body)
        assert server.db.events("c").count() == before
    assert status == status_code and answer["error"] is True and answer["message"]


async def test_body_that_is_not_json_is_a_json_400(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server:
        await call(server, "POST", "/api/conversations", json={"conversation_id": "c"})
        status, body = await call(
            server, "POST", "/api/conversations/c/events", data=b"{nope", headers={"Content-Type": "application/json"}
        )
    assert status == 400 and "JSON" in body["message"]


async def test_oversized_body_is_a_json_413(tmp_path: Path) -> None:
    async with running_server(tmp_path, max_payload=10_000) as server:
        await call(server, "POST", "/api/conversations", json={"conversation_id": "c"})
        before = server.db.events("c").latest_id()
        content = "x" * (incoming_message_limit(10_000) + 1)
        status, body = await call(
            server, "POST", "/api/conversations/c/events", json={"action": "message", "args": {"content": content}}
        )
        assert status == 413 and body["error"]
        assert server.db.events("c").latest_id() == before


async def test_action_over_the_limit_as_stored_is_refused_with_the_limit(tmp_path: Path) -> None:
    async with running_server(tmp_path, max_payload=10_000) as server:
        await call(server, "POST", "/api/conversations", json={"conversation_id": "c"})
        before = server.db.events("c").latest_id()
        status, body = await call(
            server, "POST", "/api/conversations/c/events", json={"action": "message", "args": {"content": "x" * 6_000}}
        )
        assert status == 400 and body["error"] is True
        assert "over the limit of 10,000 bytes" in body["message"]
        assert server.db.events("c").latest_id() == before


async def test_unknown_route_is_a_json_404(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server:
        status, body = await call(server, "GET", "/api/nothing-here")
    assert status == 404 and body["error"] == "not_found"


async def test_agent_state_is_live_while_running_and_recorded_when_stopped(tmp_path: Path) -> None:
    """The metadata catches up with state changes half a second later; the API shows the live state meanwhile, and
    the last state is in the metadata as soon as the conversation stops."""
    from ohtui.store import Database

    async with running_server(tmp_path) as server:
        assert server.manager is not None
        async with v0_client(server.url, conversation_id="c", session_api_key=server.key) as client:
            await client.frames_until(is_state("awaiting_user_input"))
            _, info = await call(server, "GET", "/api/conversations/c")
            assert info["agent_state"] == "awaiting_user_input"
            await server.manager.close("c")
            _, info = await call(server, "GET", "/api/conversations/c")
            assert (info["status"], info["agent_state"]) == ("STOPPED", "awaiting_user_input")
    with Database(tmp_path / "server" / "ohtui.db") as db:
        stored = db.conversations.get("c")
    assert stored is not None and stored.agent_state == "awaiting_user_input"


async def test_event_counts_are_read_off_the_event_loop_and_only_where_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counting a conversation's events walks all of them (35 ms per 100,000): the listing and the conversation's
    own info count in a thread, and the routes that do not show the count (events, posting, starting) skip it."""
    async with running_server(tmp_path) as server:
        conversations = server.db.conversations
        counted_on: list[int] = []
        loop_thread = threading.get_ident()
        real_get, real_list = conversations.get, conversations.list

        def get(conversation_id: str, *, count_events: bool = True) -> Any:
            if count_events:
                counted_on.append(threading.get_ident())
            return real_get(conversation_id, count_events=count_events)

        def listing() -> Any:
            counted_on.append(threading.get_ident())
            return real_list()

        monkeypatch.setattr(conversations, "get", get)
        monkeypatch.setattr(conversations, "list", listing)
        status, created = await call(server, "POST", "/api/conversations", json={"initial_user_msg": "hi"})
        assert status == 201
        path = f"/api/conversations/{created['conversation_id']}"
        status, _ = await call(server, "POST", f"{path}/events", json={"action": "message", "args": {"content": "x"}})
        assert status == 200
        status, _ = await call(server, "GET", f"{path}/events")
        assert status == 200
        assert counted_on == []
        status, info = await call(server, "GET", path)
        assert status == 200 and info["event_count"] == server.db.events(created["conversation_id"]).count()
        status, listing_body = await call(server, "GET", "/api/conversations")
        assert status == 200 and listing_body["results"][0]["event_count"] == info["event_count"]
    assert len(counted_on) == 2 and loop_thread not in counted_on
