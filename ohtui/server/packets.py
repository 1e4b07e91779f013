"""Outgoing event frames: encoded once, handed to Engine.IO directly.

Events are stored as JSON text, and every frame ohtui sends carries one JSON value as its only argument (a stored
event, a JSON array of them, a status dict). :func:`send_event` writes the Socket.IO EVENT packet around that text
itself, so an event is neither parsed nor encoded again to be sent.

It also skips python-socketio's ``emit``, which starts an asyncio task per recipient and waits for them all: for
live events (one small frame each, several per user message) that machinery cost more than the send. The packet
put on each socket's Engine.IO queue is the one ``emit`` would have put there; a stock client cannot tell.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet


def event_packet(name: str, data_json: str) -> eio_packet.Packet:
    """The Engine.IO MESSAGE carrying the Socket.IO EVENT ``[name, <data_json>]`` on the default namespace."""
    return eio_packet.Packet(eio_packet.MESSAGE, f"{sio_packet.EVENT}[{json.dumps(name)},{data_json}]")


async def send_event(sio: socketio.AsyncServer, eio_sids: Iterable[str], name: str, data_json: str) -> None:
    """Queue the frame ``[name, <data_json>]`` for each socket (by Engine.IO session id), in call order.

    Engine.IO's per-socket queues are unbounded, so this never waits for a slow client; callers that send a lot
    (replay) apply their own backpressure. A socket that has gone is skipped (Engine.IO logs it)."""
    frame = event_packet(name, data_json)
    for eio_sid in eio_sids:
        await sio.eio.send_packet(eio_sid, frame)


def eio_sid_of(sio: socketio.AsyncServer, sid: str) -> str | None:
    """The Engine.IO session id behind a Socket.IO sid on the default namespace (None once it has gone)."""
    eio_sid: str | None = sio.manager.eio_sid_from_sid(sid, "/")
    return eio_sid
