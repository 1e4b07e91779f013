"""Events of a type this version does not know (§9.4): kept whole, written back unchanged."""

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
