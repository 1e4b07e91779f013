"""A conversation's state read from its store without folding every event: the few events the state depends on.

:class:`~ohtui.protocol.state.ConversationState` is a reducer over every event; what it keeps is the newest of a few
kinds (the last state change, the action awaiting confirmation after it, the newest metrics, the newest error). So a
viewer that opens a long conversation reads those few rows and applies them in id order: the same state as folding
all of them, without reading or parsing the rest.
"""

from __future__ import annotations

from ohtui.protocol import AgentState
from ohtui.protocol.record import EventRecord
from ohtui.protocol.state import ConversationState
from ohtui.store.events import EventStore


def conversation_state(events: EventStore, upto: int | None = None) -> ConversationState:
    """The state of the conversation as of event ``upto`` (default: the latest stored)."""
    end = events.latest_id() if upto is None else upto
    state = ConversationState()
    if end < 0:
        return state
    wanted: dict[int, EventRecord] = {}
    last_state = events.newest_record(end, kind="agent_state_changed", is_action=False)
    if last_state is not None and last_state.id is not None:
        wanted[last_state.id] = last_state
        if last_state.details.agent_state == AgentState.AWAITING_USER_CONFIRMATION.value:
            for record in events.records(last_state.id + 1, end, with_text=True):
                if record.is_action and record.id is not None:
                    wanted[record.id] = record
    for found in (events.newest_record(end, kind="error", is_action=False), events.newest_record(end, metrics=True)):
        if found is not None and found.id is not None:
            wanted[found.id] = found
    for event_id in sorted(wanted):
        state.apply(wanted[event_id])
    return state
