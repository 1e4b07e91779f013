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
import gc
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from functools import partial
from typing import Any
from urllib.parse import urlencode

import socketio

from ohtui.client.backoff import BackoffPolicy
from ohtui.client.outbox import Outbox, SendOutcome
from ohtui.client.rest import RestClient, RestError
from ohtui.client.status import ConnectionChanged, ConnectionCounters, ConnectionState
from ohtui.protocol import (
    Action,
    ErrorFrame,
    Event,
    InvalidEvent,
    ProtocolError,
    StatusUpdate,
    parse_frame,
    stored_event_from_json,
)
from ohtui.protocol.intents import client_payload
from ohtui.store import EventStore, StoreError

log = logging.getLogger(__name__)

_REPLAY_DONE = object()
_COUNTER_REFRESH = 0.2
_REPAIR_RETRY = 1.0
_MAX_BATCH = 2000
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
        """``clock`` (for retry deadlines) and ``rng`` (backoff jitter) are injectable so a UI under test is
        deterministic; ``ping_every=0`` turns latency measurement off."""
        self.url = url.rstrip("/")
        self.conversation_id = conversation_id
        self.store = store
        self.key = key
        self.backoff = backoff or BackoffPolicy()
        self.batch = batch
        self._connect_timeout = connect_timeout
        self._ack_timeout = ack_timeout
        self._ping_every = ping_every
        self._on_change = on_change
        self._on_status = on_status
        self._on_error = on_error
        self._on_unstored = on_unstored
        self._clock = clock
        self._rng = rng
        self.rest = RestClient(self.url, key)
        self.outbox = Outbox(outbox_limit)
        self._status = ConnectionChanged(ConnectionState.IDLE, self.url, conversation_id)
        self._counters = ConnectionCounters()
        self._frames: asyncio.Queue[tuple[int, Any]] = asyncio.Queue()
        self._generation = 0
        self._sio: socketio.AsyncClient | None = None
        self._disconnected = asyncio.Event()
        self._wake = asyncio.Event()
        self._repair_wanted = asyncio.Event()
        self._closing = False
        self._tasks: list[asyncio.Task[None]] = []
        self._runner: asyncio.Task[None] | None = None
        self._refresh_handle: asyncio.TimerHandle | None = None
        self._pings_supported = True
        self.malformed_frames = 0
        self._invalid_seen = False  # an InvalidEvent was classified since the last store: count what is stored
        self._unstored_batches: set[asyncio.Future[None]] = set()

    # -- public -----------------------------------------------------------------------------------------------
    @property
    def status(self) -> ConnectionChanged:
        """The latest snapshot, with the counters as of now (listeners get them at most every 0.2 s)."""
        return replace(self._status, counters=self._counters)

    @property
    def state(self) -> ConnectionState:
        return self._status.state

    async def start(self) -> None:
        """Begin connecting in the background; progress is reported through ``on_change``."""
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self._consume(), name="ohtui-client-consume"),
            asyncio.create_task(self._repair(), name="ohtui-client-repair"),
        ]
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
        if self._refresh_handle is not None:
            self._refresh_handle.cancel()
        self._set_state(ConnectionState.CLOSED)

    async def send(self, action: Action) -> SendOutcome:
        """Send one user action (:mod:`ohtui.protocol.intents` makes them). While disconnected it waits in the outbox
        (``OutboxFull`` if that is full)."""
        payload = client_payload(action)
        if self.state is ConnectionState.CONNECTED and not len(self.outbox):
            return await self._emit(payload)
        item = self.outbox.put(payload)
        self._bump(sends_pending=len(self.outbox))
        return await item.outcome

    # -- the reconnect loop -----------------------------------------------------------------------------------
    async def _run(self) -> None:
        attempt = 0
        failing_since: float | None = None
        stalls = 0
        while not self._closing:
            self._set_state(ConnectionState.CONNECTING, attempt=attempt, next_retry_in=None, next_retry_at=None)
            latest_before = self.store.latest_id()
            refused = await self._connect_once()
            if refused is not None:
                self._set_state(ConnectionState.REFUSED, last_error=refused)
                return
            if self._sio is not None and self._sio.connected:
                connected_at = time.monotonic()
                failing_since = None
                self._set_state(ConnectionState.CONNECTED, attempt=attempt, last_error=None)
                await self._after_connect()
                await self._disconnected.wait()
                await self._drop_client()
                if self._closing:
                    return
                if time.monotonic() - connected_at >= self.backoff.stable_after:
                    attempt = 0
                stalls = 0 if self.store.latest_id() > latest_before else stalls + 1
                if stalls >= _STALLS_BEFORE_REST:
                    stalls = 0
                    await self._fetch_past_stall()
            failing_since = failing_since if failing_since is not None else time.monotonic()
            attempt += 1
            if self.backoff.gives_up(attempt, time.monotonic() - failing_since):
                self._set_state(ConnectionState.OFFLINE, attempt=attempt, next_retry_in=None, next_retry_at=None)
                return
            delay = self.backoff.delay(attempt, self._rng)
            self._set_state(
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
        self._generation += 1
        generation = self._generation
        self._disconnected = asyncio.Event()
        refusal: list[str] = []
        sio = _SocketClient(reconnection=False, handle_sigint=False)
        sio.on("oh_event", lambda data: self._frames.put_nowait((generation, data)))
        sio.on("oh_events", partial(self._on_batch, generation))
        sio.on("connect", lambda: self._frames.put_nowait((generation, _REPLAY_DONE)))
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
            self._status = replace(self._status, last_error=str(error) or "could not connect")
        except Exception as error:  # DNS, TLS, anything the transport raises: retry later
            await self._drop_client()
            self._status = replace(self._status, last_error=f"{type(error).__name__}: {error}")
        finally:
            lost.cancel()
        return None

    async def _on_batch(self, generation: int, data: Any) -> bool:
        """An ``oh_events`` frame: queued for the consumer, acknowledged once it is stored. An ohtui server sends the
        next history batch only while few are unacknowledged, so a client that parses slower than the server reads
        holds a few batches in memory, not the whole history."""
        stored = asyncio.get_running_loop().create_future()
        self._unstored_batches.add(stored)
        self._frames.put_nowait((generation, ("batch", data, stored)))
        try:
            await stored
        finally:
            self._unstored_batches.discard(stored)
        return True

    def _release_batches(self) -> None:
        """Answer every batch still waiting for the store (the connection is being dropped)."""
        for stored in list(self._unstored_batches):
            if not stored.done():
                stored.set_result(None)

    def _on_disconnect(self, generation: int) -> None:
        if generation == self._generation:
            self._disconnected.set()

    async def _after_connect(self) -> None:
        self._repair_wanted.set()
        await self._flush_outbox()
        if self._ping_every > 0 and self._pings_supported:
            self._tasks = [task for task in self._tasks if not task.done()]
            self._tasks.append(asyncio.create_task(self._ping(self._generation), name="ohtui-client-ping"))

    async def _drop_client(self) -> None:
        self._release_batches()
        sio, self._sio = self._sio, None
        if sio is not None:
            with contextlib.suppress(Exception):
                await sio.disconnect()
            with contextlib.suppress(Exception):
                await sio.shutdown()

    async def _ping(self, generation: int) -> None:
        """Round-trip latency via an acknowledged ``ohtui_ping`` (ohtui servers); off for servers that ignore it."""
        while generation == self._generation and self._sio is not None and self._sio.connected:
            sio = self._sio
            started = time.monotonic()
            try:
                await sio.call("ohtui_ping", timeout=min(5.0, self._ping_every * 2))
            except socketio.exceptions.TimeoutError:
                if self._status.latency is None:
                    self._pings_supported = False
                    return
            except Exception:
                return
            else:
                if generation == self._generation:
                    self._status = replace(self._status, latency=time.monotonic() - started)
                    self._publish_soon()
            _reraise_swallowed_cancel()
            await asyncio.sleep(self._ping_every)

    # -- intake ---------------------------------------------------------------------------------------------------
    async def _consume(self) -> None:
        """Apply frames in arrival order; whatever has queued up meanwhile goes into the store in one transaction."""
        while True:
            batch = [await self._frames.get()]
            # Whatever else has arrived, up to about _MAX_BATCH events (an oh_events frame holds hundreds): one
            # transaction for all of it, and the loop (the UI's, in the app) gets a turn between batches.
            size = _frame_size(batch[0][1])
            # An oh_events frame ends the group: it is acknowledged once stored, and the server sends the next
            # history batch only then, so it is stored without waiting for the frames queued behind it.
            while not self._frames.empty() and size < _MAX_BATCH and not _is_batch(batch[-1][1]):
                frame = self._frames.get_nowait()
                batch.append(frame)
                size += _frame_size(frame[1])
            try:
                with _collections_paused():
                    self._apply(batch)
            finally:
                for _, item in batch:  # acknowledged now: stored (or dropped, from a client gone)
                    if _is_batch(item) and not item[2].done():
                        item[2].set_result(None)

    def _apply(self, frames: list[tuple[int, Any]]) -> None:
        """Store the events of these frames in one transaction (two when the replay's end is among them)."""
        events: list[Event] = []
        texts: list[str | None] = []  # the JSON each event was parsed from, where the server sent text
        for generation, item in frames:
            if generation != self._generation:
                continue  # from a client already dropped; its events come again with the next replay
            if item is _REPLAY_DONE:
                self._store(events, texts)
                events, texts = [], []
                self._repair_wanted.set()
            elif _is_batch(item):
                if isinstance(item[1], (bytes, str)):
                    for line in self._lines(item[1]):
                        self._classify_line(line, events, texts)
                    continue
                for payload in item[1] if isinstance(item[1], list) else [item[1]]:
                    self._classify(payload, events, texts)
            else:
                self._classify(item, events, texts)
        self._store(events, texts)

    def _lines(self, batch: bytes | str) -> list[str]:
        """The events of a batch sent as lines of JSON (a binary attachment; older ohtui servers sent a string)."""
        if isinstance(batch, str):
            return batch.split("\n")
        try:
            return batch.decode().split("\n")
        except UnicodeDecodeError:
            # Keep every line that decodes; the others are counted, and gap repair fetches those events again.
            lines: list[str] = []
            for raw in batch.split(b"\n"):
                try:
                    lines.append(raw.decode())
                except UnicodeDecodeError as error:
                    self._ignore("an event that is not UTF-8 in a batch", error)
            return lines

    def _ignore(self, what: str, problem: Exception | None = None) -> None:
        """Count and log something from the server that cannot be stored (gap repair fetches events it leaves out)."""
        self.malformed_frames += 1
        log.warning("ignored %s from %s%s", what, self.url, f": {problem}" if problem is not None else "")

    def _classify_line(self, line: str, events: list[Event], texts: list[str | None]) -> None:
        """One event of an ``oh_events`` batch sent as lines of JSON: parsed from its text, stored as that text."""
        try:
            event = stored_event_from_json(line)
        except ProtocolError as error:
            self._ignore("a malformed event in a batch", error)
            return
        if event.id is None or event.id < 0:
            self._ignore(f"a batched event without a valid id ({event.id!r})")
            return
        if type(event) is InvalidEvent:
            self._invalid_seen = True
        events.append(event)
        texts.append(line)

    def _classify(self, payload: Any, events: list[Event], texts: list[str | None]) -> None:
        """Events with an id are collected for the store; everything else is handed to its listener now."""
        try:
            frame = parse_frame(payload)
        except ProtocolError as error:
            self._ignore("a malformed frame", error)
            return
        if isinstance(frame, StatusUpdate):
            if self._on_status is not None:
                self._on_status(frame)
        elif isinstance(frame, ErrorFrame):
            if self._on_error is not None:
                self._on_error(frame)
        elif frame.id is None:
            if self._on_unstored is not None:
                self._on_unstored(frame)  # e.g. the id-less "stopped" a closing upstream session sends
        elif frame.id < 0:
            self._ignore(f"an event with the invalid id {frame.id}")
        else:
            if type(frame) is InvalidEvent:
                self._invalid_seen = True
            events.append(frame)
            texts.append(None)

    def _store(self, events: list[Event], texts: list[str | None]) -> None:
        if not events:
            return
        try:
            results = self.store.insert_many(events, texts)
        except (StoreError, ValueError) as error:
            # Nothing of the batch is stored; the holes it leaves are fetched again by gap repair.
            log.error("could not store %d events from %s: %s", len(events), self.url, error)
            self._status = replace(self._status, last_error=f"local store: {error}")
            self._repair_wanted.set()
            return
        duplicates = sum(1 for result in results if result.duplicate)
        self._bump(
            events_received=self._counters.events_received + len(results) - duplicates,
            duplicates_dropped=self._counters.duplicates_dropped + duplicates,
        )
        if self._invalid_seen:
            self._invalid_seen = False
            self._count_invalid(event for event, result in zip(events, results, strict=True) if result.inserted)
        if any(result.gap_from is not None for result in results):
            self._repair_wanted.set()

    def _count_invalid(self, stored: Iterable[Event]) -> None:
        """Count the stored events that did not validate; the first is logged (with why), the rest only counted."""
        invalid = [event for event in stored if isinstance(event, InvalidEvent)]
        if not invalid:
            return
        if not self._counters.invalid_kept:
            first = invalid[0]
            log.warning(
                "event %s of conversation %s from %s does not validate and was kept as received (%s: %s); "
                "the connection counts any others",
                first.id,
                self.conversation_id,
                self.url,
                first.kind,
                first.problem,
            )
        self._bump(invalid_kept=self._counters.invalid_kept + len(invalid))

    async def _repair(self) -> None:
        """Fill holes below the highest stored id from REST, retrying while any remain."""
        while True:
            await self._repair_wanted.wait()
            self._repair_wanted.clear()
            if self.state is not ConnectionState.CONNECTED:
                continue
            holes = self.store.missing_ranges(0, self.store.latest_id())
            if not holes:
                continue
            try:
                for start, end in holes:
                    fetched = await self.rest.events(self.conversation_id, start, end)
                    stored = [event for event in fetched if self.store.insert(event).inserted]
                    self._count_invalid(stored)
                    if not self.store.missing_ranges(start, end):
                        self._bump(gaps_repaired=self._counters.gaps_repaired + 1)
            except RestError as error:
                log.info("gap repair failed, will retry: %s", error)
            if self.store.missing_ranges(0, self.store.latest_id()):
                await asyncio.sleep(_REPAIR_RETRY)
                self._repair_wanted.set()

    async def _fetch_past_stall(self) -> None:
        """The connection ended twice in a row without delivering anything new: a server may be sending an event
        this client cannot receive (over the 4 MiB a websocket message may hold, say), and would send it again on
        every reconnect. Ask for the next event over REST instead; say which event it was, either way."""
        next_id = self.store.latest_id() + 1
        try:
            fetched = await self.rest.events(self.conversation_id, next_id, next_id)
        except RestError as error:
            self._report(f"the connection keeps ending before event {next_id}, which REST cannot fetch either: {error}")
            return
        if not fetched:
            return  # nothing was waiting: the connection just dropped while idle
        self._store(fetched, [None] * len(fetched))
        self._report(
            f"event {next_id} did not arrive over the socket (the connection ended twice before it): fetched over REST"
        )

    def _report(self, problem: str) -> None:
        """A problem of this client's (not a refusal from the server): logged, in the status, and to ``on_error``."""
        log.warning("%s (%s)", problem, self.url)
        self._status = replace(self._status, last_error=problem)
        if self._on_error is not None:
            self._on_error(ErrorFrame(message=problem))

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
            self._bump(sends_pending=len(self.outbox))
            outcome = await self._emit(item.payload)
            if not item.outcome.done():
                item.outcome.set_result(outcome)

    # -- reporting ------------------------------------------------------------------------------------------------
    def _set_state(self, state: ConnectionState, **changes: Any) -> None:
        self._status = replace(self._status, state=state, counters=self._counters, **changes)
        if state is not ConnectionState.CONNECTED:
            self._status = replace(self._status, latency=None)
        self._publish()

    def _bump(self, **counters: int) -> None:
        self._counters = replace(self._counters, **counters)
        self._publish_soon()

    def _publish(self) -> None:
        if self._refresh_handle is not None:
            self._refresh_handle.cancel()
            self._refresh_handle = None
        self._status = replace(self._status, counters=self._counters)
        if self._on_change is not None:
            try:
                self._on_change(self._status)
            except Exception:
                log.exception("connection listener failed")

    def _publish_soon(self) -> None:
        """Counters change per event: report them at most every ``_COUNTER_REFRESH`` seconds."""
        if self._refresh_handle is None:
            self._refresh_handle = asyncio.get_running_loop().call_later(_COUNTER_REFRESH, self._publish)


def _reraise_swallowed_cancel() -> None:
    """Raise the cancellation of the running task if something swallowed it. Python 3.11's ``asyncio.wait_for`` (in
    the library's ``call``) returns the result when the acknowledgement and the cancel arrive together; the ping
    loop then went on pinging, and ``close()``, waiting for it, never returned (``ohtui tail`` ignored Ctrl-C)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _is_batch(item: Any) -> bool:
    """An ``oh_events`` frame as queued: ``("batch", data, stored)``."""
    return isinstance(item, tuple) and item[0] == "batch"


@contextlib.contextmanager
def _collections_paused() -> Iterator[None]:
    """No garbage collection while a batch is parsed and stored (synchronous, milliseconds).

    A batch's parsed events are acyclic and live only until they are stored and handed to subscribers, but collections
    triggered meanwhile would move them to older generations, and what accumulates there triggers full passes over
    everything the process holds: about 0.2 s of a 100,000-event replay (3.1 -> 2.9 s, medians of 4 interleaved runs).
    The collector's state is restored after, so a caller that paused it keeps it paused."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _frame_size(item: Any) -> int:
    """How many events a queued frame holds (an ``oh_events`` batch holds many)."""
    if _is_batch(item):
        if isinstance(item[1], list):
            return len(item[1])
        if isinstance(item[1], str):
            return item[1].count("\n") + 1
        if isinstance(item[1], bytes):
            return item[1].count(b"\n") + 1
    return 1


def _note_refusal(data: Any, refusals: list[str]) -> None:
    """A CONNECT_ERROR from the server carries a dict; the library reports transport failures as plain strings."""
    if isinstance(data, dict):
        message = data.get("message")
        refusals.append(message if isinstance(message, str) and message else "the server refused the connection")
