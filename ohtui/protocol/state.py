"""One conversation's state as its events tell it: a pure reducer, so the TUI, ``ohtui tail`` and scripts agree.

Feed every event of one conversation to :meth:`ConversationState.apply` (and status frames to
:meth:`ConversationState.apply_status`); the same events in give the same state out, whatever arrives late. Events
carry ids, and a gap repair can deliver an old one after newer ones: the newest id wins, so nothing moves backwards.
A new conversation gets a new state (:meth:`ConversationState.reset` for a holder that stays).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from ohtui.protocol.actions import Action
from ohtui.protocol.base import Event
from ohtui.protocol.enums import ActionConfirmationStatus, AgentState, EventSource
from ohtui.protocol.metrics import Metrics
from ohtui.protocol.observations import AgentStateChangedObservation, ErrorObservation
from ohtui.protocol.rules import awaits_confirmation
from ohtui.protocol.status import StatusUpdate


class Approvals(StrEnum):
    """Whether the agent asks before it acts: known from the server (or from the stream, once it asks)."""

    ASK = "ask"
    AUTO = "auto"


@dataclass
class ConversationState:
    agent_state: AgentState = AgentState.LOADING
    reason: str = ""
    """Why the agent is in its state (the ``agent_state_changed`` reason), or the error it stopped on."""
    pending: Action | None = None
    """The agent's action awaiting the user's confirmation, as stored."""
    metrics: Metrics | None = None
    """The newest accumulated LLM metrics."""
    title: str | None = None
    last_error: str | None = None
    """The newest error observation's text."""
    approvals: Approvals | None = None
    _state_id: int = field(default=-1, repr=False)
    _metrics_id: int = field(default=-1, repr=False)

    def reset(self) -> None:
        """Back to a conversation nothing is known of yet (another conversation opens)."""
        fresh = ConversationState()
        self.__dict__.update(fresh.__dict__)

    def apply(self, event: Event) -> bool:
        """Take what matters from one event; True when anything changed."""
        event_id = event.id if event.id is not None else max(self._state_id, self._metrics_id) + 1
        changed = False
        if isinstance(event, AgentStateChangedObservation) and event_id >= self._state_id:
            self._state_id = event_id
            changed = self._set_agent_state(event.agent_state, event.extras.reason)
        # Not ``getattr``: this runs for every event of a replay, and a missing attribute goes through pydantic's
        # ``__getattr__``, which raises (most events have no llm_metrics).
        metrics = event.field_values.get("llm_metrics")
        if isinstance(metrics, Metrics) and event_id >= self._metrics_id:
            self._metrics_id = event_id
            self.metrics = metrics
            changed = True
        if isinstance(event, Action):
            changed = self._apply_action(event, event_id) or changed
        elif isinstance(event, ErrorObservation):
            self.last_error = event.content
            if self.agent_state is AgentState.ERROR and not self.reason:
                self.reason = event.content
            changed = True
        return changed

    def apply_status(self, status: StatusUpdate) -> bool:
        if status.conversation_title is not None and status.conversation_title != self.title:
            self.title = status.conversation_title
            return True
        return False

    @property
    def awaiting_confirmation(self) -> bool:
        """An action is pending and the agent waits for the user's answer: confirm and reject mean something."""
        return awaits_confirmation(self.agent_state) and self.pending is not None

    def _set_agent_state(self, state: AgentState, reason: str) -> bool:
        changed = state is not self.agent_state or reason != self.reason
        if state is not AgentState.AWAITING_USER_CONFIRMATION and self.pending is not None:
            self.pending = None
            changed = True
        if state is AgentState.AWAITING_USER_CONFIRMATION and self.approvals is None:
            self.approvals = Approvals.ASK
        self.agent_state = state
        self.reason = reason
        return changed

    def _apply_action(self, action: Action, event_id: int) -> bool:
        confirmation = action.args.field_values.get("confirmation_state")
        awaited = confirmation is ActionConfirmationStatus.AWAITING_CONFIRMATION or (
            # Only run/run_ipython args carry confirmation_state on the wire (§2.4): for the other kinds, the agent
            # action stored right after the awaiting_user_confirmation state is the one awaited.
            confirmation is None
            and action.source is EventSource.AGENT
            and event_id > self._state_id
            and self.agent_state is AgentState.AWAITING_USER_CONFIRMATION
            and self.pending is None
        )
        if awaited:
            self.pending = action
            return True
        if confirmation is not None and self.pending is not None and event_id > (self.pending.id or -1):
            self.pending = None
            return True
        return False
