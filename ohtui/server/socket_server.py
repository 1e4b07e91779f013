"""python-socketio's server with ohtui's refusals at the packet level, before anything is buffered or dispatched.

A client of ohtui sends JSON only. A binary packet's header announces attachments that python-socketio would hold
in memory until the last one arrived (a client may announce millions), so the first sign of one closes that socket.
So does a packet that Engine.IO or Socket.IO cannot decode: left to the libraries, such a packet either ended the
request with a traceback and a broken connection, or was logged with a traceback and ignored, for every frame.

Websocket messages are checked as they are read (:class:`GatedWebSocket`, in place of Engine.IO's aiohttp wrapper),
so a bad one closes that connection with a close code and a reason; the polling transport's packets are checked at
the Socket.IO level (:meth:`OhtuiSocketServer._handle_eio_message`). One summarised log line per connection either
way; every other connection carries on.

Both hooks are internals of python-engineio and python-socketio 5 (pinned below 6 for that).
"""

from __future__ import annotations

import logging
from typing import Any

import socketio
from engineio import packet as eio_packet
from engineio.async_drivers.aiohttp import WebSocket
from socketio import packet as sio_packet

from ohtui.server.limits import RepeatedProblems

log = logging.getLogger(__name__)

_BINARY_TYPES = frozenset({str(sio_packet.BINARY_EVENT), str(sio_packet.BINARY_ACK)})
_EIO_TYPES = frozenset(str(kind) for kind in range(len(eio_packet.packet_names)))
_EIO_MESSAGE = str(eio_packet.MESSAGE)
_CLOSE_UNSUPPORTED = 1003
_CLOSE_POLICY = 1008


def packet_problem(data: object) -> tuple[int, str] | None:
    """Why a websocket message from a client is refused (a close code and a reason), or None."""
    if not isinstance(data, str):
        return _CLOSE_UNSUPPORTED, "binary messages are refused: ohtui accepts JSON frames only"
    if not data or data[0] not in _EIO_TYPES:
        return _CLOSE_POLICY, "not an Engine.IO packet"
    if data[0] != _EIO_MESSAGE:
        return None
    if data[1:2] in _BINARY_TYPES:
        return _CLOSE_UNSUPPORTED, "binary Socket.IO packets are refused: ohtui accepts JSON frames only"
    try:
        sio_packet.Packet(encoded_packet=data[1:])
    except (ValueError, TypeError, IndexError, RecursionError) as error:
        return _CLOSE_POLICY, f"malformed Socket.IO packet: {str(error)[:80]}"
    return None


class GatedWebSocket(WebSocket):
    """Engine.IO's aiohttp websocket, refusing a bad message by closing the connection (Engine.IO then ends the
    session as it would for a client that went away)."""

    async def wait(self) -> Any:
        data = await super().wait()
        problem = packet_problem(data)
        if problem is None:
            return data
        code, reason = problem
        log.warning("closing a websocket from %s: %s", self.environ.get("REMOTE_ADDR", "?"), reason)
        await self._sock.close(code=code, message=reason.encode()[:120])
        raise OSError(reason)


class OhtuiSocketServer(socketio.AsyncServer):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.problems = RepeatedProblems(log)
        self.eio._async = {**self.eio._async, "websocket": GatedWebSocket}

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        if not isinstance(data, str) or data[:1] in _BINARY_TYPES:
            await self._drop(eio_sid, "binary packet refused", "ohtui accepts JSON frames only")
            return
        try:
            await super()._handle_eio_message(eio_sid, data)
        except ValueError as error:  # python-socketio's word for a packet it cannot decode
            await self._drop(eio_sid, "malformed Socket.IO packet", f"{error}; closing the connection")

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any = None) -> None:
        self.problems.forget(eio_sid)
        await super()._handle_eio_disconnect(eio_sid, reason)

    async def _drop(self, eio_sid: str, kind: str, message: str) -> None:
        self.problems.report(eio_sid, kind, message)
        await self.eio.disconnect(eio_sid)
