"""An event as it travels once stored: its envelope read from the JSON text, its body parsed only when used.

Reading the envelope (id, time, source, cause, kind, and the few fields the conversation state needs) is one msgspec
decode that skips everything else, about 0.4 us an event here, where building the typed model costs 7 to 12 us. A
client stores what the server sent as it came, with these columns; the UI shows, groups and filters rows from them,
and an event becomes its protocol class (:attr:`EventRecord.event`) only when it is rendered in full, searched or
asked for. History is read leniently there too: a body that does not validate becomes an ``InvalidEvent``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ohtui.protocol.base import Action, Event, ProtocolError
from ohtui.protocol.enums import EventSource
from ohtui.protocol.opaque import OpaqueEvent
from ohtui.protocol.wire import event_to_json, stored_event_from_json


class _Details(msgspec.Struct, gc=False):
    """The few ``args`` / ``extras`` fields read without the model."""

    hidden: bool = False
    confirmation_state: str | None = None
    agent_state: str | None = None
    reason: str | None = None


class _Envelope(msgspec.Struct, gc=False):
    id: int | None = None
    timestamp: str | None = None
    source: EventSource | None = None
    cause: int | None = None
    action: str | None = None
    observation: str | None = None
    args: _Details | None = None
    extras: _Details | None = None
    llm_metrics: msgspec.Raw = msgspec.Raw()


_decode_envelope = msgspec.json.Decoder(_Envelope).decode
_SOURCES = {source.value: source for source in EventSource}


def _acts(event: Event) -> bool:
    if isinstance(event, OpaqueEvent):
        return event.is_action
    return isinstance(event, Action)


class EventRecord(msgspec.Struct, gc=False, eq=False):
    """One stored event's envelope, its text, and its model once someone needs it (a Struct: built in C, about
    half the cost of a slotted class here). Not tracked by the collector: nothing it holds refers back to it."""

    envelope: _Envelope
    text: str | None = None
    parsed: Event | None = None

    @classmethod
    def from_json(cls, text: str) -> EventRecord:
        """The record of one stored event's JSON. :class:`ProtocolError` when it has no readable envelope (not a
        JSON object, or no ``action``/``observation`` string); a body that does not validate is read later."""
        try:
            envelope = _decode_envelope(text)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return cls.from_event(stored_event_from_json(text), text)  # the lenient reader explains or keeps it
        if envelope.action is None and envelope.observation is None:
            return cls.from_event(stored_event_from_json(text), text)
        return cls(envelope, text)

    @classmethod
    def from_event(cls, event: Event, text: str | None = None) -> EventRecord:
        """The record of a model already built (an append, a REST page); ``text`` is its stored JSON if known."""
        values = event.field_values
        payload = values.get("args") or values.get("extras")
        fields: dict[str, Any] = payload.field_values if payload is not None else {}
        confirmation, agent_state, reason = (fields.get(k) for k in ("confirmation_state", "agent_state", "reason"))
        details = _Details(
            hidden=fields.get("hidden") is True,
            confirmation_state=str(confirmation) if confirmation is not None else None,
            agent_state=str(agent_state) if agent_state is not None else None,
            reason=reason if isinstance(reason, str) else None,
        )
        acts = _acts(event)
        metrics = values.get("llm_metrics")
        envelope = _Envelope(
            id=event.id,
            timestamp=event.timestamp,
            source=event.source,
            cause=event.cause,
            action=event.kind if acts else None,
            observation=None if acts else event.kind,
            args=details if acts else None,
            extras=None if acts else details,
            llm_metrics=msgspec.Raw(b"{}") if metrics is not None else msgspec.Raw(),
        )
        return cls(envelope, text, event)

    @classmethod
    def from_columns(
        cls,
        event_id: int,
        kind: str,
        is_action: bool,
        source: str | None,
        timestamp: str | None,
        hidden: bool,
        cause: int | None,
    ) -> EventRecord:
        """A record from a store's columns alone, without the text: enough to place, group, filter and label a row.
        Of the details only ``hidden`` is known (the others read as None) and ``has_metrics`` as False."""
        details = _Details(hidden=hidden) if hidden else _NO_DETAILS
        envelope = _Envelope(
            id=event_id,
            timestamp=timestamp,
            source=_SOURCES.get(source) if source is not None else None,
            cause=cause,
            action=kind if is_action else None,
            observation=None if is_action else kind,
            args=details if is_action else None,
            extras=None if is_action else details,
        )
        return cls(envelope)

    # -- the envelope -------------------------------------------------------------------------------------------
    @property
    def id(self) -> int | None:
        return self.envelope.id

    @property
    def kind(self) -> str:
        envelope = self.envelope
        return envelope.action if envelope.action is not None else envelope.observation or ""

    @property
    def is_action(self) -> bool:
        return self.envelope.action is not None

    @property
    def source(self) -> EventSource | None:
        return self.envelope.source

    @property
    def cause(self) -> int | None:
        return self.envelope.cause

    @property
    def timestamp(self) -> str | None:
        return self.envelope.timestamp

    @property
    def has_metrics(self) -> bool:
        metrics = bytes(self.envelope.llm_metrics)
        return bool(metrics) and metrics != b"null"

    @property
    def details(self) -> _Details:
        """``hidden``, ``confirmation_state``, ``agent_state`` and ``reason`` of its args or extras."""
        envelope = self.envelope
        found = envelope.args if envelope.action is not None else envelope.extras
        return found if found is not None else _NO_DETAILS

    # -- the body -----------------------------------------------------------------------------------------------
    @property
    def event(self) -> Event:
        """The event's protocol class, parsed from :attr:`text` on first use (leniently, as history is read)."""
        if self.parsed is None:
            if self.text is None:
                raise ProtocolError(f"event {self.id} has neither a model nor a text")
            self.parsed = stored_event_from_json(self.text)
        return self.parsed

    @property
    def json(self) -> str:
        """The stored JSON text (encoded from the model when the record was made from one)."""
        if self.text is None:
            self.text = event_to_json(self.event)
        return self.text

    def forget_event(self) -> None:
        """Drop the parsed model (the text stays): whoever keeps records long keeps them small."""
        if self.text is not None:
            self.parsed = None


_NO_DETAILS = _Details()
