"""Secret masking before storage (OPENHANDS_V0.md §3.2), a little stricter than upstream.

Upstream replaces secrets in every string value of the event dict except the top-level keys ``timestamp, id, source,
cause, action, observation, message``, recursing into dicts but not lists. Here lists are searched too (a secret in
``file_urls`` or in an MCP argument list is still a secret), and top-level ``message`` is masked as well: for known
types it is derived from the masked fields anyway, and for an opaque event it is a copy of raw text that would
otherwise leak. Longer secrets are replaced first, so a secret that contains another is not half-masked.

Masking costs nothing until a secret is registered, and little after: the compact JSON is searched first and the event
is only rebuilt when a secret appears in it.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from ohtui.protocol import (
    Event,
    InvalidEvent,
    ProtocolError,
    event_from_dict,
    event_to_dict,
    event_to_json,
    stored_event_from_dict,
)

SECRET_MASK = "<secret_hidden>"
PROTECTED_TOP_LEVEL = frozenset({"timestamp", "id", "source", "cause", "action", "observation"})


class SecretMasker:
    """The secrets of one event stream. Thread-safe: ``add`` swaps immutable tuples."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()
        # The form a secret takes inside JSON text; None when escaping changes it (then the JSON cannot be searched).
        self._needles: tuple[str, ...] | None = ()

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def add(self, *secrets: str) -> None:
        with self._lock:
            known = set(self._secrets)
            known.update(secret for secret in secrets if isinstance(secret, str) and secret)
            ordered = tuple(sorted(known, key=lambda s: (-len(s), s)))
            plain = all(json.dumps(secret, ensure_ascii=False)[1:-1] == secret for secret in ordered)
            self._needles = ordered if plain else None
            self._secrets = ordered

    def mask_text(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, SECRET_MASK)
        return text

    def mask_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.mask_text(value)
        if isinstance(value, dict):
            return {key: self.mask_value(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.mask_value(item) for item in value]
        return value

    def mask_dict(self, data: dict[str, Any]) -> dict[str, Any]:
        return {key: (value if key in PROTECTED_TOP_LEVEL else self.mask_value(value)) for key, value in data.items()}

    def mask(self, event: Event, text: str) -> tuple[Event, str]:
        """``event`` and its JSON ``text`` with every secret masked; the same objects when there is nothing to mask."""
        needles = self._needles
        if not self._secrets or (needles is not None and not any(needle in text for needle in needles)):
            return event, text
        data = event_to_dict(event)
        masked = self.mask_dict(data)
        if masked == data:
            return event, text
        # An event kept whole because it did not validate (history) is masked and kept whole again.
        parse = stored_event_from_dict if isinstance(event, InvalidEvent) else event_from_dict
        try:
            event = parse(masked)
        except ProtocolError as error:
            # Never store the unmasked event: refuse it. Only happens when a secret is part of an enum-like value.
            raise ValueError(f"masking a secret made event {event.id} invalid ({error}); it was not stored") from None
        return event, event_to_json(event)
