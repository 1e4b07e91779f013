"""What a web page can make a browser send to a local ``ohtui serve``, sent exactly so: refused, nothing stored.

A page cannot read the session key, but defence does not rest on it alone: the ``Origin`` of a browser request and
the ``Host`` of a DNS-rebound one are refused before the key is looked at, as Jupyter does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ohtui.server import OhtuiServer
from ohtui.server.security import RequestGuard, host_name
from tests.socket_helpers import running_server, v0_client

EVIL = "http://evil.example"
RUN = {"action": "run", "args": {"command": "id > pwned", "is_input": False, "thought": "", "blocking": False}}


def _port(server: OhtuiServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


async def _request(server: OhtuiServer, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, str], Any]:
    async with aiohttp.ClientSession() as session:
        async with session.request(method, f"{server.url}{path}", **kwargs) as response:
            return response.status, dict(response.headers), await response.json(content_type=None)


def _stored_nothing(server: OhtuiServer) -> bool:
    return server.db.conversations.list() == []


class TestSimpleRequestsFromAPage:
    """A ``text/plain`` POST is a "simple" request: a browser sends it without asking the server first."""

    @pytest.mark.parametrize("with_key", [False, True], ids=["no key", "even with the key"])
    async def test_cross_site_post_is_refused_and_stores_nothing(self, tmp_path: Path, with_key: bool) -> None:
        async with running_server(tmp_path) as server:
            headers = {"Origin": EVIL, "Content-Type": "text/plain;charset=UTF-8"}
            if with_key:
                headers["X-Session-API-Key"] = server.key or ""
            status, response_headers, body = await _request(
                server, "POST", "/api/conversations", data='{"conversation_id": "c"}', headers=headers
            )
            assert status == 403 and body["error"] == "origin_not_allowed"
            assert "Access-Control-Allow-Origin" not in response_headers
            status, _, _ = await _request(
                server, "POST", "/api/conversations/c/events", data=str(RUN).encode(), headers=headers
            )
            assert status == 403
            assert _stored_nothing(server)

    async def test_a_non_json_body_is_refused_even_without_an_origin(self, tmp_path: Path) -> None:
        async with running_server(tmp_path) as server:
            headers = {"Content-Type": "text/plain", "X-Session-API-Key": server.key or ""}
            status, _, body = await _request(
                server, "POST", "/api/conversations", data='{"conversation_id": "c"}', headers=headers
            )
            assert status == 415 and "application/json" in body["message"]
            assert _stored_nothing(server)


class TestWebsocketsFromAPage:
    async def test_a_socket_from_a_foreign_origin_is_refused_before_anything_starts(self, tmp_path: Path) -> None:
        async with running_server(tmp_path) as server:
            url = f"{server.url}/socket.io/?EIO=4&transport=websocket&conversation_id=c&session_api_key={server.key}"
            async with aiohttp.ClientSession() as session:
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await session.ws_connect(url, origin=EVIL)
            assert refused.value.status == 403
            assert _stored_nothing(server)

    async def test_the_polling_handshake_reflects_no_origin_and_no_credentials(self, tmp_path: Path) -> None:
        async with running_server(tmp_path) as server:
            status, headers, _ = await _request(
                server,
                "GET",
                f"/socket.io/?EIO=4&transport=polling&conversation_id=c&session_api_key={server.key}",
                headers={"Origin": EVIL},
            )
            assert status == 403
            assert "Access-Control-Allow-Origin" not in headers
            assert "Access-Control-Allow-Credentials" not in headers
            assert _stored_nothing(server)

    async def test_an_allowed_origin_connects(self, tmp_path: Path) -> None:
        async with running_server(tmp_path, allowed_origins=("https://app.example.org",)) as server:
            url = f"{server.url}/socket.io/?EIO=4&transport=websocket&conversation_id=c&session_api_key={server.key}"
            async with aiohttp.ClientSession() as session:
                async with session.ws_connect(url, origin="https://app.example.org") as ws:
                    opening = await ws.receive_str()
            assert opening.startswith("0{")
            status, headers, _ = await _request(
                server,
                "OPTIONS",
                "/api/conversations",
                headers={"Origin": "https://app.example.org", "Access-Control-Request-Method": "POST"},
            )
            assert status == 204 and headers["Access-Control-Allow-Origin"] == "https://app.example.org"
            assert "X-Session-API-Key" in headers["Access-Control-Allow-Headers"]
            assert "Access-Control-Allow-Credentials" not in headers


class TestHostHeader:
    @pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1.evil.example:{port}"])
    async def test_a_rebound_name_is_refused_on_rest_and_socket(self, tmp_path: Path, host: str) -> None:
        async with running_server(tmp_path) as server:
            host = host.format(port=_port(server))
            headers = {"Host": host, "X-Session-API-Key": server.key or ""}
            status, _, body = await _request(server, "GET", "/api/conversations", headers=headers)
            assert status == 403 and body["error"] == "host_not_allowed"
            status, _, _ = await _request(
                server, "POST", "/api/conversations", json={"conversation_id": "c"}, headers=headers
            )
            assert status == 403
            url = f"{server.url}/socket.io/?EIO=4&transport=websocket&conversation_id=c&session_api_key={server.key}"
            async with aiohttp.ClientSession() as session:
                with pytest.raises(aiohttp.WSServerHandshakeError):
                    await session.ws_connect(url, headers={"Host": host})
            assert _stored_nothing(server)

    @pytest.mark.parametrize("host", ["localhost:1", "127.0.0.1:8022", "[::1]:3000", "LOCALHOST", "127.0.0.1"])
    async def test_tunnel_style_loopback_names_on_any_port_still_work(self, tmp_path: Path, host: str) -> None:
        async with running_server(tmp_path) as server:
            headers = {"Host": host, "X-Session-API-Key": server.key or ""}
            status, _, _ = await _request(
                server, "POST", "/api/conversations", json={"conversation_id": "c"}, headers=headers
            )
            assert status == 201
            async with v0_client(server.url, conversation_id="c", session_api_key=server.key) as client:
                assert client.sio.connected

    async def test_an_allowed_host_name_works(self, tmp_path: Path) -> None:
        async with running_server(tmp_path, allowed_hosts=("ohtui.internal",)) as server:
            headers = {"Host": "ohtui.internal:443", "X-Session-API-Key": server.key or ""}
            status, _, _ = await _request(server, "GET", "/api/conversations", headers=headers)
            assert status == 200


def test_host_names_are_read_as_browsers_send_them() -> None:
    assert host_name("[::1]:3000") == "::1"
    assert host_name("Example.ORG.:80") == "example.org"
    assert host_name("localhost") == "localhost"
    guard = RequestGuard(bind_host="127.0.0.1")
    assert guard.host_allowed("127.0.0.2:5") and not guard.host_allowed(None) and not guard.host_allowed("")
    open_bind = RequestGuard(bind_host="0.0.0.0")
    assert open_bind.host_allowed("anything.example")
    assert not RequestGuard(bind_host="0.0.0.0", allowed_hosts=["a.example"]).host_allowed("b.example")
