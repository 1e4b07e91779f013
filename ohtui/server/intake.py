"""Client actions where they enter the server: parsed strictly, measured as they would be stored, then admitted.

History may be read leniently (:func:`ohtui.protocol.stored_event_from_dict`); what a client asks for is not: an
action that does not validate, is too large to deliver once stored, or holds text that is not Unicode is refused
here with a sentence saying why, and nothing is stored.
"""

from __future__ import annotations

from typing import Any

from ohtui.protocol import Action, Event, OpaqueEvent, ProtocolError, event_from_dict, event_to_json
from ohtui.server.limits import ENVELOPE_BYTES, utf8_size

_CLIENT_ASSIGNED = ("id", "timestamp", "source", "cause")


def parse_client_action(data: Any, max_bytes: int) -> tuple[Action | None, str]:
    """A client payload as an action ready to store, or ``(None, what was wrong)``."""
    if not isinstance(data, dict):
        return None, f"an action must be a JSON object, got {type(data).__name__}"
    try:
        event = event_from_dict(data)
    except ProtocolError as error:
        return None, f"invalid action: {error}"
    if isinstance(event, OpaqueEvent) or not isinstance(event, Action):
        kind = event.kind if isinstance(event, Event) else "?"
        if "action" not in data:
            return None, "clients may send actions only, not observations"
        return None, f"unknown action type {kind!r}"
    return admit_action(event, max_bytes)


def admit_action(action: Action, max_bytes: int) -> tuple[Action | None, str]:
    """``action`` without what the server assigns (id, timestamp, source, cause), or ``(None, why not)``.

    The size that counts is the action's as it would be stored, which is what every later frame carries."""
    action = action.model_copy(update=dict.fromkeys(_CLIENT_ASSIGNED))
    try:
        size = utf8_size(event_to_json(action)) + ENVELOPE_BYTES
    except ProtocolError:
        return None, "the action holds text that is not valid Unicode (a lone surrogate such as \\ud800)"
    if size > max_bytes:
        return None, f"the action is {size:,} bytes as stored, over the limit of {max_bytes:,} bytes"
    return action, ""
