"""Events kept whole and written back unchanged: a type this version does not know (§9.4), or, read from history,
a known type whose body does not validate."""

from __future__ import annotations

from typing import Any

from pydantic import model_serializer

from ohtui.protocol.base import Event

_ASSIGNED = ("id", "timestamp", "source")


class OpaqueEvent(Event):
    """An ``action`` or ``observation`` of an unknown type. ``raw`` is the dict as received."""

    raw: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.raw.get("action", self.raw.get("observation", "")))

    @property
    def is_action(self) -> bool:
        return "action" in self.raw

    def derive_message(self) -> str:
        message = self.raw.get("message", "")
        return message if isinstance(message, str) else ""

    @model_serializer(mode="plain")
    def _as_raw(self) -> dict[str, Any]:
        """The raw dict, with the keys a store assigns (id, timestamp, source) taking their current values."""
        assigned: dict[str, Any] = {}
        for key in _ASSIGNED:
            value = getattr(self, key)
            if value is not None:
                assigned[key] = value.value if key == "source" else value
        if all(key in self.raw for key in assigned):
            return {**self.raw, **assigned}
        rest = {k: v for k, v in self.raw.items() if k not in assigned}
        return {**assigned, **rest}


class InvalidEvent(OpaqueEvent):
    """An event someone already stored (a server, an import, another program's serializer) that does not validate:
    kept whole like an unknown type, so reading history never loses or refuses an event. ``problem`` says what failed
    validation; it is derived on every read and never written (the event serializes to ``raw``, as received)."""

    problem: str
