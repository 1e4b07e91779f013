"""The server's lifecycle: an aiohttp application with a python-socketio ``AsyncServer`` mounted at ``/socket.io``.

``OhtuiServer.start()`` binds and returns the URL and key (the TUI embeds it; tests use it), ``stop()`` closes the
agents, flushes what is queued to sockets and closes the database. ``ohtui serve`` runs the same thing headless.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from ohtui.config import LLMSettings
from ohtui.server.auth import new_session_key, served_key_problem
from ohtui.server.conversations import ConversationManager
from ohtui.server.limits import DEFAULT_MAX_ACTION_BYTES, MAX_ACTION_BYTES_CEILING, incoming_message_limit
from ohtui.server.packets import send_event
from ohtui.server.rest import RestApi
from ohtui.server.security import RequestGuard
from ohtui.server.socket_server import OhtuiSocketServer
from ohtui.server.sockets import SocketHandlers
from ohtui.store import Database

log = logging.getLogger(__name__)


class ServerError(RuntimeError):
    """The server cannot start as configured; the message says what to change."""


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 0
    data_dir: Path | None = None
    db_path: Path | None = None
    agent: str = "echo"
    agent_options: dict[str, Any] = field(default_factory=dict)
    """Constructor options of ``agent`` (the default agent)."""
    other_agent_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Options of the other agents, by name, for conversations created with another agent (e.g. the demo)."""
    key: str | None = None
    """The session key clients must present; a fresh random one when None (a server never runs without one)."""
    max_payload: int = DEFAULT_MAX_ACTION_BYTES
    """The largest client action accepted, in bytes as stored."""
    allowed_origins: tuple[str, ...] = ()
    """Web pages (origins, e.g. ``https://app.example.org``) allowed to call the server; ``*`` for any."""
    allowed_hosts: tuple[str, ...] = ()
    """``Host`` names accepted besides loopback ones (a reverse proxy's name)."""
    ping_interval: float = 25.0
    ping_timeout: float = 20.0
    confirmation_mode: bool = False
    runtime_factory: Callable[[str], Any] | None = None
    clock: Callable[[], str] | None = None
    """Timestamps of stored events (default: now, as upstream); tests and snapshots inject a fixed clock."""


class OhtuiServer:
    def __init__(self, config: ServerConfig | None = None, *, db: Database | None = None) -> None:
        self.config = config or ServerConfig()
        self._owns_db = db is None
        self._db = db
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self.key: str | None = None
        self.sio: OhtuiSocketServer | None = None
        self.manager: ConversationManager | None = None
        self.sockets: SocketHandlers | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise ServerError("the server is not started")
        return self._url

    @property
    def db(self) -> Database:
        if self._db is None:
            raise ServerError("the server is not started")
        return self._db

    async def start(self) -> tuple[str, str]:
        """Bind and serve; returns ``(url, key)``."""
        config = self.config
        key = _checked(config)
        self.key = key
        if self._db is None:
            db_path = config.db_path or (config.data_dir / "ohtui.db" if config.data_dir else None)
            clock = config.clock
            self._db = await asyncio.to_thread(lambda: Database(db_path, clock=clock) if clock else Database(db_path))
        sio = self.sio = _socket_server(config)
        self.manager = ConversationManager(
            self._db,
            self._emit,
            members=self._members,
            agent_name=config.agent,
            agent_options=config.agent_options,
            other_agent_options=config.other_agent_options,
            runtime_factory=config.runtime_factory,
            confirmation_mode=config.confirmation_mode,
        )
        self.sockets = SocketHandlers(
            sio,
            self.manager,
            key=key,
            max_payload=config.max_payload,
            stall_timeout=config.ping_interval + config.ping_timeout,
        )
        rest = RestApi(self.manager, key=key, max_payload=config.max_payload)
        guard = RequestGuard(
            bind_host=config.host, allowed_origins=config.allowed_origins, allowed_hosts=config.allowed_hosts
        )
        app = web.Application(
            middlewares=[guard.middleware, rest.middleware], client_max_size=incoming_message_limit(config.max_payload)
        )
        app.add_routes(rest.routes())
        sio.attach(app, socketio_path="socket.io")
        self._url = await self._listen(app)
        log.info("serving on %s", self._url)
        return self._url, key

    async def _listen(self, app: web.Application) -> str:
        config = self.config
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, config.host, config.port)
        try:
            await site.start()
        except OSError as error:
            await runner.cleanup()
            raise ServerError(f"cannot listen on {config.host}:{config.port}: {error.strerror or error}") from None
        self._runner = runner
        host, port = _bound_address(runner, config.host)
        return f"http://{host}:{port}"

    def use_llm_settings(self, llm: LLMSettings) -> None:
        """The LLM agent of conversations started from now on uses ``llm`` (running ones keep theirs)."""
        if self.manager is not None:
            self.manager.update_agent_options("llm", settings=llm)

    async def _emit(self, name: str, data_json: str, eio_sids: list[str]) -> None:
        if self.sio is not None and eio_sids:
            await send_event(self.sio, eio_sids, name, data_json)

    def _members(self, room: str) -> list[str]:
        """The Engine.IO session ids of the room's sockets: what :func:`send_event` sends to."""
        if self.sio is None:
            return []
        return [eio_sid for _, eio_sid in self.sio.manager.get_participants("/", room)]

    async def stop(self) -> None:
        """Stop agents, deliver what is queued, disconnect sockets, close the database. Idempotent."""
        if self.sockets is not None:
            await self.sockets.close()
        if self.manager is not None:
            await self.manager.close_all()
        if self.sio is not None:
            for sid, _ in list(self.sio.manager.get_participants("/", None)):
                await self.sio.disconnect(sid)
            await self.sio.shutdown()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.shutdown()
            await runner.cleanup()
        if self._db is not None and self._owns_db:
            db, self._db = self._db, None
            db.close()

    async def __aenter__(self) -> OhtuiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def _checked(config: ServerConfig) -> str:
    """The key to serve with (a new random one when none is given), once the configuration is known to be safe."""
    key = config.key or new_session_key()
    problem = served_key_problem(key)
    if problem is not None:
        raise ServerError(f"{problem}: use a random key (ohtui makes one when none is given)")
    if not 0 < config.max_payload <= MAX_ACTION_BYTES_CEILING:
        raise ServerError(
            f"the largest action must be between 1 and {MAX_ACTION_BYTES_CEILING} bytes, so that every stored "
            f"event fits in one socket message (got {config.max_payload})"
        )
    return key


def _socket_server(config: ServerConfig) -> OhtuiSocketServer:
    origins = list(config.allowed_origins)
    return OhtuiSocketServer(
        async_mode="aiohttp",
        # Origins are checked by RequestGuard for every request; Engine.IO only adds CORS answers for the ones
        # allowed, never with credentials (an empty list turns its own handling off).
        cors_allowed_origins="*" if "*" in origins else origins,
        cors_credentials=False,
        ping_interval=config.ping_interval,
        ping_timeout=config.ping_timeout,
        # The largest message read from a client (aiohttp enforces it while reading, before buffering it); ohtui's
        # own action limit is lower, so a too-large action gets an error frame, not a dropped socket.
        max_http_buffer_size=incoming_message_limit(config.max_payload),
        logger=False,
        engineio_logger=False,
    )


def _bound_address(runner: web.AppRunner, host: str) -> tuple[str, int]:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            bound_host = str(address[0])
            shown = f"[{bound_host}]" if ":" in bound_host else bound_host
            return shown, int(address[1])
    raise ServerError(f"could not read the bound address for {host}")
