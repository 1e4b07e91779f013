"""Which stored events a socket sees, and in what form: replay (§1.2 step 9) and live forwarding (§1.5)."""

from __future__ import annotations

import logging
import re

from ohtui.protocol import (
    AgentStateChangedObservation,
    CmdOutputObservation,
    ErrorObservation,
    Event,
    EventSource,
    NullAction,
    NullObservation,
    RecallAction,
    RecallObservation,
    UndeliveredExtras,
    UndeliveredObservation,
    event_to_json,
)
from ohtui.server.limits import DELIVERABLE_EVENT_BYTES, is_deliverable, utf8_size
from ohtui.store import StoredRow
from ohtui.store.filters import row_types

log = logging.getLogger(__name__)

_SKIPPED_ON_REPLAY = (NullAction, NullObservation, RecallAction)
_ENVIRONMENT_SHOWN_LIVE = (CmdOutputObservation, AgentStateChangedObservation, RecallObservation, ErrorObservation)
_ENVIRONMENT_SOURCE = '"source":"environment"'
_AGENT_SOURCE = '"source":"agent"'


# The same rules on stored rows, derived from the classes: replay reads the store unparsed.
_SKIPPED_ROWS = row_types(_SKIPPED_ON_REPLAY)
_AGENT_STATE_ROWS = row_types((AgentStateChangedObservation,))


def skipped_on_replay(event: Event) -> bool:
    return isinstance(event, _SKIPPED_ON_REPLAY)


def row_skipped_on_replay(row: StoredRow) -> bool:
    return (row.is_action, row.kind) in _SKIPPED_ROWS


def is_agent_state_row(row: StoredRow) -> bool:
    """An ``agent_state_changed`` observation: replay holds the last one back to the end (§1.2)."""
    return (row.is_action, row.kind) in _AGENT_STATE_ROWS


def live_text(event: Event, stored_text: str) -> str | None:
    """The JSON sent to the stock room for a newly stored event (``stored_text`` is its JSON as stored), or None
    when upstream does not forward it live.

    Environment feedback to agent actions is shown to the UI as agent events, so its ``source`` is rewritten.
    """
    if isinstance(event, (NullAction, NullObservation)):
        return None
    if event.source in (EventSource.AGENT, EventSource.USER):
        return stored_text
    if event.source is EventSource.ENVIRONMENT and isinstance(event, _ENVIRONMENT_SHOWN_LIVE):
        # The stored JSON starts with "id", "timestamp", then "source" (§2.1 key order), so the first occurrence is
        # the field itself; nothing before it can contain the text.
        if stored_text.startswith('{"id":') and _ENVIRONMENT_SOURCE in stored_text:
            return stored_text.replace(_ENVIRONMENT_SOURCE, _AGENT_SOURCE, 1)
        return event_to_json(event.model_copy(update={"source": EventSource.AGENT}))
    return None


_STORED_TIMESTAMP = re.compile(r'"timestamp":"([^"\\]{1,64})"')


class Oversized:
    """Stored events too large for one frame (an older database, an import): never sent whole.

    ohtui's clients get an :class:`UndeliveredObservation` with the event's id in its place, which they store as the
    record of a known gap; stock clients get nothing. Each such event is logged once per server."""

    def __init__(self) -> None:
        self._logged: set[tuple[str, int]] = set()

    @staticmethod
    def fits(text: str) -> bool:
        return is_deliverable(text)

    def marker(self, conversation_id: str, event_id: int, kind: str, text: str) -> str:
        size = utf8_size(text)
        if (conversation_id, event_id) not in self._logged:
            self._logged.add((conversation_id, event_id))
            log.warning(
                "event %d (%s) of conversation %s is %d bytes, over the %d a frame may carry: not sent to clients",
                event_id,
                kind,
                conversation_id,
                size,
                DELIVERABLE_EVENT_BYTES,
            )
        found = _STORED_TIMESTAMP.search(text, 0, 200)
        content = (
            f"Event {event_id} ({kind or 'unknown'}, {size / 1_000_000:.1f} MB) is larger than one socket message may "
            f"carry ({DELIVERABLE_EVENT_BYTES / 1_000_000:.1f} MB) and was not sent; `ohtui export` on the server has "
            "it whole."
        )
        marker = UndeliveredObservation(
            id=event_id,
            timestamp=found.group(1) if found else None,
            source=EventSource.ENVIRONMENT,
            content=content,
            extras=UndeliveredExtras(event_bytes=size, limit=DELIVERABLE_EVENT_BYTES),
        )
        return event_to_json(marker)
