"""The embedded server, on its own thread and event loop, so agent work and replay never stall the UI's loop.

The UI reaches it exactly as it would a remote server: through the real Socket.IO client over loopback.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from ohtui.config import LLMSettings
from ohtui.server import OhtuiServer, ServerConfig
from ohtui.server import loop as server_loop


class EmbeddedServer:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.server = OhtuiServer(config)
        self._loop = server_loop.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="ohtui-embedded-server", daemon=True)
        self.url: str | None = None
        self.key: str | None = None

    def _submit(self, coroutine: Any) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    async def run(self, coroutine: Any) -> Any:
        """Run ``coroutine`` on the server's loop (for things that must live beside it) and await its result."""
        return await asyncio.wrap_future(self._submit(coroutine))

    def call(self, function: Callable[..., Any], *args: Any) -> None:
        """Call ``function(*args)`` on the server's loop (thread-safe)."""
        self._loop.call_soon_threadsafe(function, *args)

    def use_llm_settings(self, llm: LLMSettings) -> None:
        """Conversations started from now on use ``llm`` (thread-safe: applied on the server's loop)."""
        self.call(self.server.use_llm_settings, llm)

    def start_blocking(self, timeout: float = 30.0) -> tuple[str, str | None]:
        """Start from synchronous code (scripts, tests that run the app on its own loop)."""
        if not self._thread.is_alive():
            self._thread.start()
        self.url, self.key = self._submit(self.server.start()).result(timeout)
        return self.url, self.key

    def run_blocking(self, coroutine: Any, timeout: float = 30.0) -> Any:
        return self._submit(coroutine).result(timeout)

    async def start(self) -> tuple[str, str | None]:
        """Start the thread and the server; awaitable from the UI's loop without blocking it."""
        if not self._thread.is_alive():
            self._thread.start()
        self.url, self.key = await asyncio.wrap_future(self._submit(self.server.start()))
        return self.url, self.key

    async def _stop_server(self) -> None:
        """Stop the server, then cancel what the libraries left sleeping (Engine.IO's per-socket ping tasks)."""
        await self.server.stop()
        current = asyncio.current_task()
        leftovers = [task for task in asyncio.all_tasks() if task is not current]
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)

    async def stop(self) -> None:
        """Stop the server (agents closed, everything stored), then the thread. Idempotent."""
        if not self._thread.is_alive():
            return
        try:
            await asyncio.wait_for(asyncio.wrap_future(self._submit(self._stop_server())), 20)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            await asyncio.to_thread(self._thread.join, 10)
            if not self._thread.is_alive():
                self._loop.close()

    def stop_blocking(self) -> None:
        """For exit paths with no running loop."""
        if self._thread.is_alive():
            try:
                self._submit(self._stop_server()).result(20)
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(10)
