"""Which stored events a socket sees, and in what form: replay (§1.2 step 9) and live forwarding (§1.5)."""

from __future__ import annotations

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
    event_to_json,
)
from ohtui.store import StoredRow
from ohtui.store.filters import row_types

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
