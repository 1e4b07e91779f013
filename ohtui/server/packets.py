"""Outgoing Socket.IO packets whose event data is JSON text already: replay sends stored events as they are stored.

python-socketio encodes an event packet as ``json.dumps([name, *args])`` after walking the data for binary parts.
History is stored as JSON text, so parsing it only to have it dumped again is wasted work (most of a replay's cost).
A :class:`PreEncoded` argument is spliced into the packet verbatim; everything else is encoded as before, so the
frames are the same JSON a stock client would get from a dict.
"""

from __future__ import annotations

import json
from typing import Any

from socketio import packet


class PreEncoded:
    """One event argument that is valid JSON text already (a stored event, or a JSON array of them)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"PreEncoded({self.text[:40]!r}{'…' if len(self.text) > 40 else ''})"


class SplicingJSON:
    """The ``json`` module python-socketio encodes with, plus splicing of a single :class:`PreEncoded` argument."""

    loads = staticmethod(json.loads)

    @staticmethod
    def dumps(obj: Any, **kwargs: Any) -> str:
        if type(obj) is list and len(obj) == 2 and type(obj[1]) is PreEncoded:
            return "[" + json.dumps(obj[0], **kwargs) + "," + obj[1].text + "]"
        return json.dumps(obj, **kwargs)


class SplicingPacket(packet.Packet):
    """The server's packet class (``AsyncServer(serializer=SplicingPacket)``): only this server's packets splice;
    the library's default packet class, which a client in the same process uses, is left alone."""

    json = SplicingJSON
