"""One conversation's connection to a V0 server: our own reconnect loop, ordered intake, dedupe, gap repair, sends.

The library's reconnection is off (it does not retry after a server-side disconnect and cannot resume by id); every
attempt builds a fresh client whose query carries ``latest_event_id`` = the highest id in the local store. Frames go
from a plain handler into one queue and one consumer task applies them, so they are applied in arrival order. An id
already stored is dropped and counted; a hole below the highest id is fetched over REST, never skipped. An event
that does not validate is history all the same: stored as received (an ``InvalidEvent``), counted and logged once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from functools import partial
from typing import Any
from urllib.parse import urlencode

import socketio

from ohtui.client.backoff import BackoffPolicy
from ohtui.client.intake import REPLAY_DONE, Intake
from ohtui.client.outbox import Outbox, SendOutcome
from ohtui.client.repair import Repair
from ohtui.client.reporter import StatusReporter
from ohtui.client.rest import RestClient
from ohtui.client.status import ConnectionChanged, ConnectionState
from ohtui.protocol import Action, ErrorFrame, Event, StatusUpdate
from ohtui.protocol.intents import client_payload
from ohtui.store import EventStore

log = logging.getLogger(__name__)

_STALLS_BEFORE_REST = 2


class _SocketClient(socketio.AsyncClient):
    """Also signals a transport lost while the namespace is still connecting.

    Upstream replays history inside its connect handler, before the CONNECT packet, so a long replay must not hit a
    short connect timeout; but a transport that drops meanwhile is only noticed by the library at that timeout.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.transport_lost = asyncio.Event()

    async def _handle_eio_disconnect(self, reason: Any = None) -> None:
        self.transport_lost.set()
        await super()._handle_eio_disconnect(reason)


class Connection:
    """Keeps ``store`` equal to the server's stream for ``conversation_id``. Runs on the caller's event loop."""

    def __init__(
        self,
        url: str,
        conversation_id: str,
        store: EventStore,
        *,
        key: str | None = None,
        backoff: BackoffPolicy | None = None,
        batch: bool = True,
        mirror: bool = True,
        outbox_limit: int = 100,
        connect_timeout: float = 120.0,
        ack_timeout: float = 30.0,
        ping_every: float = 5.0,
        on_change: Callable[[ConnectionChanged], object] | None = None,
        on_status: Callable[[StatusUpdate], object] | None = None,
        on_error: Callable[[ErrorFrame], object] | None = None,
        on_unstored: Callable[[Event], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        """``mirror=False``: ``store`` is the server's own (the embedded server shares it): what the socket carries is
        stored there already, so it is counted, not stored, and nothing is repaired. ``clock`` (for retry deadlines)
        and ``rng`` (backoff jitter) are injectable so a UI under test is deterministic; ``ping_every=0`` turns
        latency measurement off."""
        self.url = url.rstrip("/")
        self.conversation_id = conversation_id
        self.store = store
        self.key = key
        self.backoff = backoff or BackoffPolicy()
        self.batch = batch
        self._connect_timeout = connect_timeout
        self._ack_timeout = ack_timeout
        self._ping_every = ping_every
        self._clock = clock
        self._rng = rng
        self.rest = RestClient(self.url, key)
        self.outbox = Outbox(outbox_limit)
        self._reporter = StatusReporter(ConnectionChanged(ConnectionState.IDLE, self.url, conversation_id), on_change)
        self.mirror = mirror
        self._intake = Intake(
            store,
            self._reporter,
            source=self.url,
            stores=mirror,
            on_status=on_status,
            on_error=on_error,
            on_unstored=on_unstored,
        )
        self._repair = Repair(self.rest, self._intake, self._reporter, source=self.url, on_error=on_error)
        self._sio: socketio.AsyncClient | None = None
        self._disconnected = asyncio.Event()
        self._wake = asyncio.Event()
        self._closing = False
        self._tasks: list[asyncio.Task[None]] = []
        self._runner: asyncio.Task[None] | None = None
        self._pings_supported = True

    # -- public -----------------------------------------------------------------------------------------------
    @property
    def status(self) -> ConnectionChanged:
        """The latest snapshot, with the counters as of now (listeners get them at most every 0.2 s)."""
        return self._reporter.status

    @property
    def state(self) -> ConnectionState:
        return self._reporter.state

    @property
    def malformed_frames(self) -> int:
        """Frames from the server that could not be stored (logged as they came)."""
        return self._intake.malformed_frames

    async def start(self) -> None:
        """Begin connecting in the background; progress is reported through ``on_change``."""
        if self._tasks:
            return
        self._tasks = [asyncio.create_task(self._intake.consume(), name="ohtui-client-consume")]
        if self.mirror:
            self._tasks.append(asyncio.create_task(self._repair.run(), name="ohtui-client-repair"))
        self._runner = asyncio.create_task(self._run(), name="ohtui-client-run")

    def retry_now(self) -> None:
        """Skip the wait before the next attempt; from ``offline`` or ``refused``, start trying again."""
        if self._closing:
            return
        self._wake.set()
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run(), name="ohtui-client-run")

    async def close(self) -> None:
        """Disconnect and stop every task; sends still waiting are answered with an error."""
        self._closing = True
        self._wake.set()
        tasks = [t for t in (self._runner, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._drop_client()
        await self.rest.close()
        self.outbox.fail_all("the connection was closed")
        self._reporter.stop()
        self._reporter.set_state(ConnectionState.CLOSED)

    async def send(self, action: Action) -> SendOutcome:
        """Send one user action (:mod:`ohtui.protocol.intents` makes them). While disconnected it waits in the outbox
        (``OutboxFull`` if that is full)."""
        payload = client_payload(action)
        if self.state is ConnectionState.CONNECTED and not len(self.outbox):
            return await self._emit(payload)
        item = self.outbox.put(payload)
        self._reporter.bump(sends_pending=len(self.outbox))
        return await item.outcome

    # -- the reconnect loop -----------------------------------------------------------------------------------
    async def _run(self) -> None:
        attempt = 0
        failing_since: float | None = None
        stalls = 0
        while not self._closing:
            self._reporter.set_state(
                ConnectionState.CONNECTING, attempt=attempt, next_retry_in=None, next_retry_at=None
            )
            latest_before = self.store.latest_id()
            refused = await self._connect_once()
            if refused is not None:
                self._reporter.set_state(ConnectionState.REFUSED, last_error=refused)
                return
            if self._sio is not None and self._sio.connected:
                connected_at = time.monotonic()
                failing_since = None
                self._reporter.set_state(ConnectionState.CONNECTED, attempt=attempt, last_error=None)
                await self._after_connect()
                await self._disconnected.wait()
                await self._drop_client()
                if self._closing:
                    return
                if time.monotonic() - connected_at >= self.backoff.stable_after:
                    attempt = 0
                stalls = 0 if self.store.latest_id() > latest_before else stalls + 1
                if stalls >= _STALLS_BEFORE_REST and self.mirror:
                    stalls = 0
                    await self._repair.fetch_past_stall()
            failing_since = failing_since if failing_since is not None else time.monotonic()
            attempt += 1
            if self.backoff.gives_up(attempt, time.monotonic() - failing_since):
                self._reporter.set_state(
                    ConnectionState.OFFLINE, attempt=attempt, next_retry_in=None, next_retry_at=None
                )
                return
            delay = self.backoff.delay(attempt, self._rng)
            self._reporter.set_state(
                ConnectionState.RECONNECTING,
                attempt=attempt,
                next_retry_in=delay,
                next_retry_at=self._clock() + delay,
            )
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    def _query(self) -> str:
        params: dict[str, Any] = {
            "conversation_id": self.conversation_id,
            "latest_event_id": self.store.latest_id(),
        }
        if self.key:
            params["session_api_key"] = self.key
        if self.batch:
            params["ohtui_batch"] = 1
            params["ohtui_batch_format"] = "lines"  # servers that do not know it send lists of dicts instead
        return urlencode(params)

    async def _connect_once(self) -> str | None:
        """One attempt. Returns the server's refusal message, or None (connected, or failed in a retryable way)."""
        self._intake.generation += 1
        generation = self._intake.generation
        self._disconnected = asyncio.Event()
        refusal: list[str] = []
        sio = _SocketClient(reconnection=False, handle_sigint=False)
        sio.on("oh_event", partial(self._intake.put, generation))
        sio.on("oh_events", partial(self._intake.on_batch, generation))
        sio.on("connect", lambda: self._intake.put(generation, REPLAY_DONE))
        sio.on("connect_error", lambda data=None: _note_refusal(data, refusal))
        sio.on("disconnect", lambda *args: self._on_disconnect(generation))
        self._sio = sio
        connecting = asyncio.create_task(
            sio.connect(
                f"{self.url}?{self._query()}",
                transports=["websocket"],
                socketio_path="socket.io",
                wait_timeout=self._connect_timeout,
                retry=False,
            )
        )
        lost = asyncio.create_task(sio.transport_lost.wait())
        try:
            await asyncio.wait({connecting, lost}, return_when=asyncio.FIRST_COMPLETED)
            if not connecting.done():
                connecting.cancel()
                await asyncio.gather(connecting, return_exceptions=True)
                raise socketio.exceptions.ConnectionError("the connection dropped while connecting")
            await connecting
        except socketio.exceptions.ConnectionError as error:
            await self._drop_client()
            if refusal:
                return refusal[0]
            self._reporter.note(last_error=str(error) or "could not connect")
        except Exception as error:  # DNS, TLS, anything the transport raises: retry later
            await self._drop_client()
            self._reporter.note(last_error=f"{type(error).__name__}: {error}")
        finally:
            lost.cancel()
        return None

    def _on_disconnect(self, generation: int) -> None:
        if generation == self._intake.generation:
            self._disconnected.set()

    async def _after_connect(self) -> None:
        self._intake.repair_wanted.set()
        await self._flush_outbox()
        if self._ping_every > 0 and self._pings_supported:
            self._tasks = [task for task in self._tasks if not task.done()]
            self._tasks.append(asyncio.create_task(self._ping(self._intake.generation), name="ohtui-client-ping"))

    async def _drop_client(self) -> None:
        self._intake.release_batches()
        sio, self._sio = self._sio, None
        if sio is not None:
            with contextlib.suppress(Exception):
                await sio.disconnect()
            with contextlib.suppress(Exception):
                await sio.shutdown()

    async def _ping(self, generation: int) -> None:
        """Round-trip latency via an acknowledged ``ohtui_ping`` (ohtui servers); off for servers that ignore it."""
        while generation == self._intake.generation and self._sio is not None and self._sio.connected:
            sio = self._sio
            started = time.monotonic()
            try:
                await sio.call("ohtui_ping", timeout=min(5.0, self._ping_every * 2))
            except socketio.exceptions.TimeoutError:
                if self._reporter.status.latency is None:
                    self._pings_supported = False
                    return
            except Exception:
                return
            else:
                if generation == self._intake.generation:
                    self._reporter.note(latency=time.monotonic() - started)
                    self._reporter.publish_soon()
            _reraise_swallowed_cancel()
            await asyncio.sleep(self._ping_every)

    # -- sends ----------------------------------------------------------------------------------------------------
    async def _emit(self, payload: dict[str, Any]) -> SendOutcome:
        sio = self._sio
        if sio is None or not sio.connected:
            return SendOutcome(False, error="not connected")
        # The library forgets pending acknowledgements on disconnect without waking their callers: race the
        # acknowledgement against this connection's end, so a send never waits out the timeout for nothing.
        call = asyncio.ensure_future(sio.call("oh_user_action", payload, timeout=self._ack_timeout))
        lost = asyncio.ensure_future(self._disconnected.wait())
        try:
            await asyncio.wait({call, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
        if not call.done():
            call.cancel()
            await asyncio.gather(call, return_exceptions=True)
            return SendOutcome(False, error="the connection was lost before the server confirmed")
        try:
            answer = call.result()
        except socketio.exceptions.TimeoutError:
            return SendOutcome(False, error=f"the server did not confirm within {self._ack_timeout:g} s")
        except socketio.exceptions.SocketIOError as error:
            return SendOutcome(False, error=f"the connection was lost before the server confirmed ({error})")
        if isinstance(answer, dict):
            if answer.get("error") is True:
                return SendOutcome(False, error=str(answer.get("message", "refused")))
            event_id = answer.get("id")
            return SendOutcome(True, event_id=event_id if isinstance(event_id, int) else None)
        return SendOutcome(True)  # upstream acknowledges without saying the id

    async def _flush_outbox(self) -> None:
        while (item := self.outbox.peek()) is not None:
            if self._sio is None or not self._sio.connected:
                return
            self.outbox.pop()
            self._reporter.bump(sends_pending=len(self.outbox))
            outcome = await self._emit(item.payload)
            if not item.outcome.done():
                item.outcome.set_result(outcome)


def _reraise_swallowed_cancel() -> None:
    """Raise the cancellation of the running task if something swallowed it. Python 3.11's ``asyncio.wait_for`` (in
    the library's ``call``) returns the result when the acknowledgement and the cancel arrive together; the ping
    loop then went on pinging, and ``close()``, waiting for it, never returned (``ohtui tail`` ignored Ctrl-C)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _note_refusal(data: Any, refusals: list[str]) -> None:
    """A CONNECT_ERROR from the server carries a dict; the library reports transport failures as plain strings."""
    if isinstance(data, dict):
        message = data.get("message")
        refusals.append(message if isinstance(message, str) and message else "the server refused the connection")
