"""Live conversations on one server: each has its store, its agent controller and its socket room."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ohtui.agent.controller import AgentController
from ohtui.agent.registry import AGENTS, create_agent
from ohtui.protocol import Action, Event, MessageAction, StatusUpdate
from ohtui.protocol.record import EventRecord
from ohtui.server.forwarding import Oversized, live_text
from ohtui.store import ConversationInfo, Database, EventStore

log = logging.getLogger(__name__)

_DRAIN_TIMEOUT = 5.0
_STATE_WRITE_DELAY = 0.5
"""Agent state changes reach the conversation metadata at most this often (seconds) while it runs."""
_TITLE_LENGTH = 60

Emit = Callable[[str, str, list[str]], Awaitable[None]]
"""``emit(event_name, data_json, recipients)``: send one frame, whose only argument is the JSON text ``data_json``,
to these sockets (the socket layer provides it). Events go as their JSON text: no dict and no second encoding."""

Members = Callable[[str], list[str]]
"""The sockets in a room right now, as the recipients ``Emit`` takes."""


def room_of(conversation_id: str) -> str:
    """The stock room (§1.1): live events filtered and rewritten as §1.5 says."""
    return f"room:{conversation_id}"


def full_room_of(conversation_id: str) -> str:
    """The room of ohtui clients (``ohtui_batch=1``): every stored event, as stored, one per frame."""
    return f"ohtui-full:{conversation_id}"


@dataclass
class Conversation:
    """One running conversation.

    Every stored event passes through ``_emits`` in id order; ``processed_upto`` is the highest id whose live
    delivery is settled (emitted to the room, or not forwarded by §1.5). A socket joining the room replays up to
    that id first, so it neither misses nor repeats an event.
    """

    conversation_id: str
    events: EventStore
    controller: AgentController
    processed_upto: int = -1
    last_status: StatusUpdate | None = None
    titled: bool = False
    """Whether the conversation has a title (checked once: reading its metadata counts its events)."""
    _emits: asyncio.Queue[EventRecord | StatusUpdate] = field(default_factory=asyncio.Queue)
    _sender: asyncio.Task[None] | None = None
    _actions: asyncio.Lock = field(default_factory=asyncio.Lock)
    _state_write: asyncio.TimerHandle | None = None

    @property
    def room(self) -> str:
        return room_of(self.conversation_id)

    @property
    def full_room(self) -> str:
        return full_room_of(self.conversation_id)


class ConversationManager:
    """Creates, starts, finds and closes conversations. Runs on the server's event loop."""

    def __init__(
        self,
        db: Database,
        emit: Emit,
        *,
        members: Members,
        agent_name: str = "echo",
        agent_options: dict[str, Any] | None = None,
        other_agent_options: dict[str, dict[str, Any]] | None = None,
        runtime_factory: Callable[[str], Any] | None = None,
        confirmation_mode: bool = False,
    ) -> None:
        self._db = db
        self._emit = emit
        self._members = members
        self._agent_name = agent_name
        self._agent_options = agent_options or {}
        self._other_agent_options = other_agent_options or {}
        self._runtime_factory = runtime_factory
        self._confirmation_mode = confirmation_mode
        self._live: dict[str, Conversation] = {}
        self.oversized = Oversized()
        self._starting: dict[str, asyncio.Future[Conversation]] = {}

    @property
    def db(self) -> Database:
        return self._db

    def get_live(self, conversation_id: str) -> Conversation | None:
        return self._live.get(conversation_id)

    def info(self, conversation_id: str, *, count_events: bool = True) -> ConversationInfo | None:
        return self._db.conversations.get(conversation_id, count_events=count_events)

    def create(
        self, conversation_id: str | None = None, title: str | None = None, agent_name: str | None = None
    ) -> ConversationInfo:
        """A new conversation, run by ``agent_name`` (default: the server's agent); ValueError for an unknown one."""
        if agent_name is not None and agent_name not in AGENTS:
            raise ValueError(f"unknown agent {agent_name!r}; known agents: {', '.join(sorted(AGENTS))}")
        return self._db.conversations.create(conversation_id, title=title, agent_name=agent_name or self._agent_name)

    def update_agent_options(self, agent_name: str, **changes: Any) -> None:
        """New constructor options for ``agent_name``, used by conversations started from now on."""
        if agent_name == self._agent_name:
            self._agent_options = {**self._agent_options, **changes}
        else:
            self._other_agent_options[agent_name] = {**self._other_agent_options.get(agent_name, {}), **changes}

    def _options_for(self, agent_name: str) -> dict[str, Any]:
        if agent_name == self._agent_name:
            return self._agent_options
        return self._other_agent_options.get(agent_name, {})

    async def ensure_running(self, conversation_id: str) -> Conversation:
        """The live conversation, created (as upstream does on connect) and started if needed."""
        live = self._live.get(conversation_id)
        if live is not None:
            return live
        pending = self._starting.get(conversation_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Conversation] = asyncio.get_running_loop().create_future()
        self._starting[conversation_id] = future
        try:
            conversation = await self._start(conversation_id)
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # consumed here; waiters re-raise it
            raise
        finally:
            self._starting.pop(conversation_id, None)
        future.set_result(conversation)
        return conversation

    async def _start(self, conversation_id: str) -> Conversation:
        info = self._db.conversations.get(conversation_id, count_events=False)
        if info is None:
            info = self._db.conversations.create(conversation_id, agent_name=self._agent_name)
        agent_name = info.agent_name or self._agent_name
        agent = create_agent(agent_name, **self._options_for(agent_name))
        runtime = self._runtime_factory(conversation_id) if self._runtime_factory else None
        events = self._db.events(conversation_id)
        holder: list[Conversation] = []
        controller = AgentController(
            events,
            agent,
            runtime=runtime,
            confirmation_mode=self._confirmation_mode,
            on_status=lambda status: self._on_status(holder[0], status),
            on_state=lambda state: self._on_state(holder[0]),
        )
        conversation = Conversation(conversation_id, events, controller, processed_upto=events.latest_id())
        holder.append(conversation)
        conversation._sender = asyncio.create_task(self._send_loop(conversation), name=f"emit:{conversation_id}")
        events.subscribe("server", lambda event: self._forward(conversation, event))
        self._live[conversation_id] = conversation
        await controller.start()
        return conversation

    def _forward(self, conversation: Conversation, record: EventRecord) -> None:
        """Store subscriber (sync, so order is the store's): queue the event for the rooms."""
        conversation._emits.put_nowait(record)

    def _on_status(self, conversation: Conversation, status: StatusUpdate) -> None:
        conversation.last_status = status
        conversation._emits.put_nowait(status)

    def _on_state(self, conversation: Conversation) -> None:
        """The agent state changed: record it in the metadata soon. A busy conversation changes state several times
        per user message, and a metadata write each time was a good part of a message's cost; while a conversation
        runs, readers take its live state (:meth:`agent_state`), so the metadata only has to catch up."""
        if conversation._state_write is None:
            loop = asyncio.get_running_loop()
            conversation._state_write = loop.call_later(_STATE_WRITE_DELAY, self._write_state, conversation)

    def _write_state(self, conversation: Conversation) -> None:
        if conversation._state_write is not None:
            conversation._state_write.cancel()
            conversation._state_write = None
        try:
            self._db.conversations.update(conversation.conversation_id, agent_state=conversation.controller.state.value)
        except Exception:  # the state is in the event log already; metadata is a convenience
            log.exception("could not record agent state of %s", conversation.conversation_id)

    def agent_state(self, info: ConversationInfo) -> str | None:
        """A conversation's agent state: the live one while it runs, else the one its metadata recorded."""
        live = self._live.get(info.conversation_id)
        return live.controller.state.value if live is not None else info.agent_state

    async def _send_loop(self, conversation: Conversation) -> None:
        while True:
            item = await conversation._emits.get()
            try:
                # Recipients and processed_upto are settled together, before any await: a socket that joins after
                # this point replays this event instead, so it gets it exactly once.
                stock_sids = self._members(conversation.room)
                full_sids = self._members(conversation.full_room)
                if isinstance(item, StatusUpdate):
                    if stock_sids or full_sids:
                        await self._emit("oh_event", item.model_dump_json(), stock_sids + full_sids)
                    continue
                if item.id is not None:
                    conversation.processed_upto = max(conversation.processed_upto, item.id)
                if stock_sids or full_sids:
                    await self._send_event(conversation, item, stock_sids, full_sids)
            except Exception:
                log.exception("emit to %s failed", conversation.room)
            finally:
                conversation._emits.task_done()

    async def _send_event(
        self, conversation: Conversation, record: EventRecord, stock_sids: list[str], full_sids: list[str]
    ) -> None:
        """One stored event to both rooms: its stored text as it is (no second encoding), rewritten for stock
        clients where §1.5 says so, and a marker in its place where it is too large for a frame."""
        text = record.json
        if not self.oversized.fits(text):
            marker = self.oversized.marker(conversation.conversation_id, record.id or 0, record.kind, text)
            if full_sids:
                await self._emit("oh_event", marker, full_sids)
            return
        stock = live_text(record.event, text) if stock_sids else None
        if stock == text:  # the same frame for both rooms: sent once
            await self._emit("oh_event", text, stock_sids + full_sids)
            return
        if stock is not None:
            await self._emit("oh_event", stock, stock_sids)
        if full_sids:
            await self._emit("oh_event", text, full_sids)

    async def flush(self, conversation: Conversation) -> None:
        """Wait until every queued live payload has been handed to the socket layer."""
        await conversation._emits.join()

    async def submit(self, conversation_id: str, action: Action) -> Event:
        """Store a client action through the controller (which may refuse it with ``IllegalAction``)."""
        conversation = await self.ensure_running(conversation_id)
        async with conversation._actions:
            stored = await conversation.controller.submit(action)
        if isinstance(stored, MessageAction) and not conversation.titled:
            self._title_from(conversation, stored.args.content)
        return stored

    def _title_from(self, conversation: Conversation, text: str) -> None:
        """A conversation without a title takes its first user message's first line, as upstream titles it."""
        info = self._db.conversations.get(conversation.conversation_id, count_events=False)
        line = text.strip().split("\n", 1)[0].strip()
        if info is not None and info.title:
            conversation.titled = True
        if info is None or info.title or not line:
            return
        conversation.titled = True
        title = line if len(line) <= _TITLE_LENGTH else line[: _TITLE_LENGTH - 1] + "…"
        self._db.conversations.update(conversation.conversation_id, title=title)
        status = StatusUpdate(type="info", message=conversation.conversation_id, conversation_title=title)
        conversation._emits.put_nowait(status)

    async def close(self, conversation_id: str) -> None:
        conversation = self._live.pop(conversation_id, None)
        if conversation is None:
            return
        conversation.events.unsubscribe("server")
        await conversation.controller.close()
        if conversation._state_write is not None:
            self._write_state(conversation)
        await self._drain_and_stop(conversation)

    async def _drain_and_stop(self, conversation: Conversation) -> None:
        sender = conversation._sender
        if sender is None:
            return
        if not sender.done():
            try:
                await asyncio.wait_for(conversation._emits.join(), _DRAIN_TIMEOUT)
            except TimeoutError:
                log.warning("dropping %d undelivered frames of %s", conversation._emits.qsize(), conversation.room)
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)

    async def close_all(self) -> None:
        for conversation_id in list(self._live):
            await self.close(conversation_id)

    async def delete(self, conversation_id: str) -> bool:
        await self.close(conversation_id)
        return self._db.conversations.delete(conversation_id)
