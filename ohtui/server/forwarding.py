"""Which stored events a socket sees, and in what form: replay (§1.2 step 9) and live forwarding (§1.5)."""

from __future__ import annotations

from typing import Any

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
    event_to_dict,
)

_SKIPPED_ON_REPLAY = (NullAction, NullObservation, RecallAction)
_ENVIRONMENT_SHOWN_LIVE = (CmdOutputObservation, AgentStateChangedObservation, RecallObservation, ErrorObservation)


def skipped_on_replay(event: Event) -> bool:
    return isinstance(event, _SKIPPED_ON_REPLAY)


def live_payload(event: Event) -> dict[str, Any] | None:
    """The dict sent to the room for a newly stored event, or None when upstream does not forward it live.

    Environment feedback to agent actions is shown to the UI as agent events, so its ``source`` is rewritten.
    """
    if isinstance(event, (NullAction, NullObservation)):
        return None
    if event.source in (EventSource.AGENT, EventSource.USER):
        return event_to_dict(event)
    if event.source is EventSource.ENVIRONMENT and isinstance(event, _ENVIRONMENT_SHOWN_LIVE):
        payload = event_to_dict(event)
        payload["source"] = EventSource.AGENT.value
        return payload
    return None
