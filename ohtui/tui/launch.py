"""What the UI runs on: the embedded server (when no URL is given), the session to the server, and the local mirror;
started together and shut down together, everything stored first.

A remote server's mirror persists per URL (a restart fetches only what is new); with the embedded server the UI
reads the server's own store, and there is no mirror.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.message import Message

from ohtui.client.backoff import BackoffPolicy
from ohtui.config import LLMSettings, Settings, cache_dir
from ohtui.server import ServerConfig, ServerError
from ohtui.tui.embedded import EmbeddedServer
from ohtui.tui.session import Session


@dataclass(frozen=True)
class Target:
    """Where the UI connects. ``url=None`` means the embedded server (started by the app, stopped on exit)."""

    url: str | None = None
    key: str | None = None
    conversation_id: str | None = None
    resume_latest: bool = False
    display_url: str | None = None
    """How the connection pane names the server (default: its URL)."""


class LaunchError(RuntimeError):
    """The embedded server did not start; the message says why."""


class Launcher:
    def __init__(
        self,
        target: Target,
        settings: Settings,
        *,
        server_config: ServerConfig | None = None,
        mirror_dir: Path | None = None,
        connection_options: dict[str, Any] | None = None,
    ) -> None:
        self.target = target
        self.settings = settings
        self._server_config = server_config
        self._mirror_dir = mirror_dir
        self._connection_options = connection_options or {}
        self.embedded: EmbeddedServer | None = None
        self.session: Session | None = None
        self._shut_down = False

    async def start(self, post: Callable[[Message], object]) -> Session:
        """Start the embedded server if there is no URL, then the session (not yet on any conversation)."""
        url, key = self.target.url, self.target.key
        if url is None:
            config = self._server_config or ServerConfig(host=self.settings.host, port=self.settings.port)
            self.embedded = EmbeddedServer(config)
            try:
                url, key = await self.embedded.start()
            except (ServerError, OSError) as error:
                raise LaunchError(f"the embedded server did not start: {error}") from None
        settings = self.settings
        shared = self.embedded.server.db if self.embedded is not None else None
        self.session = Session(
            url,
            key=key,
            mirror_path=self._mirror_path(url) if shared is None else None,
            shared=shared,
            post=post,
            backoff=BackoffPolicy(
                base=settings.backoff_base,
                cap=settings.backoff_cap,
                max_attempts=settings.max_attempts,
                give_up_after=settings.give_up_after,
            ),
            connection_options=self._connection_options,
        )
        return self.session

    def use_llm_settings(self, llm: LLMSettings) -> bool:
        """Conversations the embedded server starts from now on use ``llm``; False when there is no embedded server
        (a remote server has settings of its own)."""
        if self.embedded is None:
            return False
        self.embedded.use_llm_settings(llm)
        return True

    def _mirror_path(self, url: str) -> Path:
        folder = self._mirror_dir if self._mirror_dir is not None else cache_dir() / "mirrors"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{hashlib.sha256(url.encode()).hexdigest()[:16]}.db"

    async def shutdown(self) -> None:
        """Close the session and stop the embedded server (everything it holds is stored). Idempotent."""
        if self._shut_down:
            return
        self._shut_down = True
        if self.session is not None:
            await self.session.close()
        if self.embedded is not None:
            await self.embedded.stop()
