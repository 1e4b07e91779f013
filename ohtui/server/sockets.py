"""Socket.IO handlers: connect with replay (§1.2), client actions (§1.3), disconnect (§1.6), with the fixes of §9."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import parse_qs

import socketio

from ohtui.agent.errors import IllegalAction
from ohtui.protocol import (
    ErrorFrame,
)
from ohtui.server.auth import KEY_QUERY, key_matches
from ohtui.server.conversations import ConversationManager, full_room_of, room_of
from ohtui.server.forwarding import is_agent_state_row, row_skipped_on_replay
from ohtui.server.intake import parse_client_action
from ohtui.server.limits import RepeatedProblems
from ohtui.server.replay import ReplaySender, ReplayStalled
from ohtui.store import StoreError

log = logging.getLogger(__name__)

REFUSED_NO_CONVERSATION = "No conversation_id in query params"
REFUSED_BAD_KEY = "invalid_session_api_key"
_CLIENT_ASSIGNED = ("id", "timestamp", "source", "cause")
_CONNECT_TURNS = 200
_ACCEPTED = ("oh_user_action", "oh_action", "ohtui_ping")


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
        self._replays: dict[str, asyncio.Task[None]] = {}
        self._problems = RepeatedProblems(log)
        sio.on("connect", self.connect)
        sio.on("disconnect", self.disconnect)
        sio.on("oh_user_action", self.user_action)
        sio.on("oh_action", self.user_action)
        sio.on("ohtui_ping", self.ping)
        sio.on("*", self.other_event)

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
        as_lines = complete and _first(query, "ohtui_batch_format") == "lines"
        # History goes out after the handler returns, from a task of its own (a fix, §9): python-socketio runs the
        # connect handler inline in the socket's read loop, so a replay inside it would leave the client's pongs
        # unread and Engine.IO would close a connection whose replay outlasts ping interval + timeout.
        self._conversation_of[sid] = conversation_id
        if conversation.processed_upto <= latest_event_id:
            # Nothing to replay (a new conversation, or a client that has everything): join now, so whatever the
            # agent does next reaches this socket live.
            await self._sio.enter_room(sid, self._room(conversation_id, complete))
            return
        sender = ReplaySender(self._sio, sid, batched=complete, as_lines=as_lines, stall_timeout=self._stall_timeout)
        self._replays[sid] = asyncio.create_task(
            self._replay_then_join(sender, conversation_id, latest_event_id), name=f"ohtui-replay-{sid}"
        )

    async def _replay_then_join(self, sender: ReplaySender, conversation_id: str, after_id: int) -> None:
        sid = sender.sid
        try:
            if not await self._connected(sid):
                return
            await self._replay(sender, conversation_id, after_id)
        except ReplayStalled as error:
            log.info("disconnecting %s: %s", sid, error)
            await self._sio.disconnect(sid)
        except StoreError as error:
            log.error("replay to %s failed: %s", sid, error)
            await self._refuse(sid, f"Failed to access conversation events: {error}")
            await self._sio.disconnect(sid)
        finally:
            self._replays.pop(sid, None)

    async def _connected(self, sid: str) -> bool:
        """Whether the CONNECT packet has gone out (python-socketio sends it right after the handler returns, with
        no suspension in between; the check keeps a later library from putting history before it)."""
        for turn in range(_CONNECT_TURNS):
            if self._sio.manager.is_connected(sid, "/"):
                return True
            if sid not in self._conversation_of:
                return False  # disconnected meanwhile
            await asyncio.sleep(0 if turn < 10 else 0.01)
        log.warning("socket %s never completed its connection; no replay", sid)
        return False

    async def _replay(self, sender: ReplaySender, conversation_id: str, after_id: int) -> None:
        """Replay history to this socket, then join its room with nothing lost and nothing sent twice.

        Replay runs up to the conversation's ``processed_upto`` (what the rooms have been sent); events stored
        meanwhile are replayed in further rounds. The room is joined when a round ends caught up, with no await
        between that check and the join, so every later event reaches this socket through the room.

        A stock client gets upstream's replay (§1.2: Null*/RecallAction skipped, the last agent_state_changed held
        to the end); a ``complete`` (ohtui) client gets every stored event in id order, batched.
        """
        sid, complete = sender.sid, sender.batched
        conversation = self._manager.get_live(conversation_id)
        if conversation is None:
            await self._refuse(sid, "Failed to join conversation")
            await self._sio.disconnect(sid)
            return
        events = conversation.events
        oversized = self._manager.oversized
        held: str | None = None
        sent_upto = after_id
        while True:
            upto = conversation.processed_upto
            if sent_upto >= upto:
                if held is None:
                    break
                state, held = held, None
                await sender.send(state)
                await sender.flush()
                continue
            for row in events.search_raw(start_id=sent_upto + 1, end_id=upto):
                text = row.json
                if not oversized.fits(text):
                    if not complete:
                        continue
                    text = oversized.marker(conversation_id, row.id, row.kind, text)
                if complete:
                    await sender.send(text)
                elif is_agent_state_row(row):
                    held = text
                elif not row_skipped_on_replay(row):
                    await sender.send(text)
            await sender.flush()
            sent_upto = upto
        # enter_room never suspends (the default manager's version is synchronous inside), so the caught-up check
        # above and the join happen in one step of the event loop.
        if self._sio.manager.is_connected(sid, "/"):  # not if it left after the last round
            await self._sio.enter_room(sid, self._room(conversation_id, complete))

    @staticmethod
    def _room(conversation_id: str, complete: bool) -> str:
        return full_room_of(conversation_id) if complete else room_of(conversation_id)

    async def close(self) -> None:
        """Stop the replays still running (the server is stopping)."""
        replays = list(self._replays.values())
        self._replays.clear()
        for replay in replays:
            replay.cancel()
        await asyncio.gather(*replays, return_exceptions=True)

    async def ping(self, sid: str, data: Any = None) -> dict[str, Any]:
        """Acknowledged at once: lets ohtui's client measure the round trip (stock clients never send it)."""
        return {}

    async def disconnect(self, sid: str, reason: Any = None) -> None:
        replay = self._replays.pop(sid, None)
        if replay is not None:
            replay.cancel()
        self._problems.forget(sid)
        conversation_id = self._conversation_of.pop(sid, None)
        if conversation_id is None:
            log.debug("disconnect_from_uninitialized_session:%s", sid)

    async def user_action(self, sid: str, data: Any = None) -> dict[str, Any]:
        """Store a client action; answer the sender (ack and, on error, an error frame on ``oh_event``).

        Every frame gets an answer: a failure this code did not foresee is refused like any other, and logged."""
        conversation_id = self._conversation_of.get(sid)
        if conversation_id is None:
            return await self._refuse(sid, f"no_connected_session:{sid}")
        action, problem = parse_client_action(data, self._max_payload)
        if action is None:
            return await self._refuse(sid, problem)
        try:
            stored = await self._manager.submit(conversation_id, action)
        except IllegalAction as error:
            return await self._refuse(sid, str(error))
        except StoreError as error:
            return await self._refuse(sid, f"could not store the action: {error}")
        except Exception:
            log.exception("could not handle an action of %s in %s", sid, conversation_id)
            return await self._refuse(sid, "the server failed to handle this action; see its log")
        return {"id": stored.id}

    async def other_event(self, event: str, sid: str, *data: Any) -> dict[str, Any]:
        """An event name ohtui does not handle: answered with an error frame instead of silence."""
        return await self._refuse(sid, f"unknown event {event[:80]!r}: ohtui accepts {', '.join(_ACCEPTED)}")

    async def _refuse(self, sid: str, message: str) -> dict[str, Any]:
        self._problems.report(sid, "refused frame", message)
        frame = ErrorFrame(message=message).model_dump(mode="json")
        await self._sio.emit("oh_event", frame, to=sid)
        return frame
