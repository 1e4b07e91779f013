"""Real python-socketio clients for tests: connect with a V0 query and collect what the server sends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import socketio

from ohtui.server import OhtuiServer, ServerConfig

WAIT = 10.0


@asynccontextmanager
async def running_server(tmp_path: Path, **options: Any) -> AsyncIterator[OhtuiServer]:
    server = OhtuiServer(ServerConfig(data_dir=tmp_path / "server", **options))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


class V0Client:
    """A stock-style V0 client: query parameters only, every ``oh_event`` payload queued in arrival order."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False, handle_sigint=False)
        self.frames: asyncio.Queue[Any] = asyncio.Queue()
        self.connect_error: Any = None
        self.disconnected = asyncio.Event()
        self.sio.on("oh_event", self.frames.put_nowait)
        self.sio.on("connect_error", self._on_connect_error)
        self.sio.on("disconnect", lambda *args: self.disconnected.set())

    def _on_connect_error(self, data: Any) -> None:
        self.connect_error = data

    async def connect(self, url: str, **query: Any) -> None:
        params = {k: v for k, v in query.items() if v is not None}
        await self.sio.connect(
            f"{url}?{urlencode(params)}", transports=["websocket"], socketio_path="socket.io", wait_timeout=WAIT
        )

    async def next_frame(self, timeout: float = WAIT) -> Any:
        return await asyncio.wait_for(self.frames.get(), timeout)

    async def frames_until(self, predicate: Any, timeout: float = WAIT) -> list[Any]:
        """Every frame up to and including the first one for which ``predicate(frame)`` is true."""
        seen: list[Any] = []
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.frames.get()
                seen.append(frame)
                if predicate(frame):
                    return seen

    def drain(self) -> list[Any]:
        items = []
        while not self.frames.empty():
            items.append(self.frames.get_nowait())
        return items

    async def action(self, payload: Any) -> Any:
        """Send ``oh_user_action`` and return the server's acknowledgement."""
        return await self.sio.call("oh_user_action", payload, timeout=WAIT)

    async def close(self) -> None:
        await self.sio.shutdown()


@asynccontextmanager
async def v0_client(url: str, **query: Any) -> AsyncIterator[V0Client]:
    client = V0Client()
    await client.connect(url, **query)
    try:
        yield client
    finally:
        await client.close()


def is_state(state: str) -> Any:
    def check(frame: Any) -> bool:
        return (
            isinstance(frame, dict)
            and frame.get("observation") == "agent_state_changed"
            and frame["extras"]["agent_state"] == state
        )

    return check
