"""Socket.IO handlers: connect with replay (§1.2), client actions (§1.3), disconnect (§1.6), with the fixes of §9."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qs

import socketio

from ohtui.agent.errors import IllegalAction
from ohtui.protocol import (
    Action,
    AgentStateChangedObservation,
    ErrorFrame,
    Event,
    OpaqueEvent,
    ProtocolError,
    event_from_dict,
    event_to_dict,
)
from ohtui.server.auth import KEY_QUERY, key_matches
from ohtui.server.conversations import ConversationManager, full_room_of, room_of
from ohtui.server.forwarding import skipped_on_replay
from ohtui.server.replay import ReplaySender, ReplayStalled
from ohtui.store import EventStore, StoreError

log = logging.getLogger(__name__)

REFUSED_NO_CONVERSATION = "No conversation_id in query params"
REFUSED_BAD_KEY = "invalid_session_api_key"
_CLIENT_ASSIGNED = ("id", "timestamp", "source", "cause")


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def parse_latest_event_id(raw: str | None) -> int:
    """``latest_event_id`` as upstream reads it: an int, anything else (``undefined``, ``null``…) is -1."""
    try:
        return int(raw) if raw is not None else -1
    except ValueError:
        return -1


class SocketHandlers:
    """The ``oh_event`` / ``oh_user_action`` endpoint. One instance per server."""

    def __init__(
        self,
        sio: socketio.AsyncServer,
        manager: ConversationManager,
        *,
        key: str | None,
        max_payload: int,
        stall_timeout: float = 45.0,
    ):
        self._sio = sio
        self._stall_timeout = stall_timeout
        self._manager = manager
        self._key = key
        self._max_payload = max_payload
        self._conversation_of: dict[str, str] = {}
        sio.on("connect", self.connect)
        sio.on("disconnect", self.disconnect)
        sio.on("oh_user_action", self.user_action)
        sio.on("oh_action", self.user_action)
        sio.on("ohtui_ping", self.ping)

    def connections(self, conversation_id: str) -> list[str]:
        return [sid for sid, cid in self._conversation_of.items() if cid == conversation_id]

    async def connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        latest_event_id = parse_latest_event_id(_first(query, "latest_event_id"))
        conversation_id = _first(query, "conversation_id")
        if not conversation_id:
            raise socketio.exceptions.ConnectionRefusedError(REFUSED_NO_CONVERSATION)
        given = _first(query, KEY_QUERY)
        if given is None and isinstance(auth, dict):
            given = auth.get(KEY_QUERY)
        if not key_matches(self._key, given):
            raise socketio.exceptions.ConnectionRefusedError(REFUSED_BAD_KEY)
        try:
            conversation = await self._manager.ensure_running(conversation_id)
        except StoreError as error:
            raise socketio.exceptions.ConnectionRefusedError(f"Failed to access conversation events: {error}") from None
        except Exception:
            log.exception("could not start conversation %s", conversation_id)
            raise socketio.exceptions.ConnectionRefusedError("Failed to join conversation") from None
        complete = _first(query, "ohtui_batch") in ("1", "true")
        try:
            await self._replay_then_join(sid, conversation.events, conversation_id, latest_event_id, complete=complete)
        except ReplayStalled as error:
            raise socketio.exceptions.ConnectionRefusedError(str(error)) from None

    async def _replay_then_join(
        self, sid: str, events: EventStore, conversation_id: str, after_id: int, *, complete: bool
    ) -> None:
        """Replay history to this socket, then join its room with nothing lost and nothing sent twice.

        Replay runs up to the conversation's ``processed_upto`` (what the rooms have been sent); events stored
        meanwhile are replayed in further rounds. The room is joined when a round ends caught up, with no await
        between that check and the join, so every later event reaches this socket through the room.

        A stock client gets upstream's replay (§1.2: Null*/RecallAction skipped, the last agent_state_changed held
        to the end); a ``complete`` (ohtui) client gets every stored event in id order, batched.
        """
        conversation = self._manager.get_live(conversation_id)
        if conversation is None:
            raise socketio.exceptions.ConnectionRefusedError("Failed to join conversation")
        sender = ReplaySender(self._sio, sid, batched=complete, stall_timeout=self._stall_timeout)
        held: AgentStateChangedObservation | None = None
        sent_upto = after_id
        while True:
            upto = conversation.processed_upto
            if sent_upto >= upto:
                if held is None:
                    break
                state, held = held, None
                await sender.send(event_to_dict(state))
                await sender.flush()
                continue
            for event in events.search(start_id=sent_upto + 1, end_id=upto):
                if complete:
                    await sender.send(event_to_dict(event))
                elif isinstance(event, AgentStateChangedObservation):
                    held = event
                elif not skipped_on_replay(event):
                    await sender.send(event_to_dict(event))
            await sender.flush()
            sent_upto = upto
        # enter_room never suspends (the default manager's version is synchronous inside), so the caught-up check
        # above and the join happen in one step of the event loop.
        room = full_room_of(conversation_id) if complete else room_of(conversation_id)
        await self._sio.enter_room(sid, room)
        self._conversation_of[sid] = conversation_id

    async def ping(self, sid: str, data: Any = None) -> dict[str, Any]:
        """Acknowledged at once: lets ohtui's client measure the round trip (stock clients never send it)."""
        return {}

    async def disconnect(self, sid: str, reason: Any = None) -> None:
        conversation_id = self._conversation_of.pop(sid, None)
        if conversation_id is None:
            log.debug("disconnect_from_uninitialized_session:%s", sid)

    async def user_action(self, sid: str, data: Any = None) -> dict[str, Any]:
        """Store a client action; answer the sender (ack and, on error, an error frame on ``oh_event``)."""
        conversation_id = self._conversation_of.get(sid)
        if conversation_id is None:
            return await self._refuse(sid, f"no_connected_session:{sid}")
        action, problem = self.parse_client_action(data, self._max_payload)
        if action is None:
            return await self._refuse(sid, problem)
        try:
            stored = await self._manager.submit(conversation_id, action)
        except IllegalAction as error:
            return await self._refuse(sid, str(error))
        except StoreError as error:
            return await self._refuse(sid, f"could not store the action: {error}")
        return {"id": stored.id}

    async def _refuse(self, sid: str, message: str) -> dict[str, Any]:
        frame = ErrorFrame(message=message).model_dump(mode="json")
        await self._sio.emit("oh_event", frame, to=sid)
        return frame

    @staticmethod
    def parse_client_action(data: Any, max_payload: int) -> tuple[Action | None, str]:
        """A client payload as an action ready to store, or ``(None, what was wrong)``."""
        if not isinstance(data, dict):
            return None, f"an action must be a JSON object, got {type(data).__name__}"
        try:
            size = len(json.dumps(data))
        except (TypeError, ValueError, RecursionError):
            return None, "the action is not valid JSON data"
        if size > max_payload:
            return None, f"the action is {size} bytes, over the limit of {max_payload} bytes"
        try:
            event = event_from_dict(data)
        except ProtocolError as error:
            return None, f"invalid action: {error}"
        if isinstance(event, OpaqueEvent) or not isinstance(event, Action):
            kind = event.kind if isinstance(event, Event) else "?"
            what = "action" if "action" in data else "observation"
            if what == "observation":
                return None, "clients may send actions only, not observations"
            return None, f"unknown action type {kind!r}"
        return event.model_copy(update=dict.fromkeys(_CLIENT_ASSIGNED)), ""
