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
from ohtui.protocol.observations import ErrorObservation
from ohtui.protocol.record import EventRecord
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
    title: str | None = None
    approvals: Approvals | None = None
    pending_record: EventRecord | None = None
    """The agent's action awaiting the user's confirmation (:attr:`pending` is its model)."""
    metrics_record: EventRecord | None = None
    """The newest event carrying LLM metrics (:attr:`metrics` reads them)."""
    error_record: EventRecord | None = None
    """The newest error observation (:attr:`last_error` is its text)."""
    _state_id: int = field(default=-1, repr=False)
    _metrics_id: int = field(default=-1, repr=False)

    def reset(self) -> None:
        """Back to a conversation nothing is known of yet (another conversation opens)."""
        fresh = ConversationState()
        self.__dict__.update(fresh.__dict__)

    def apply(self, item: EventRecord | Event) -> bool:
        """Take what matters from one event (a record: only its envelope is read, a model is built only for what
        is shown later); True when anything changed."""
        record = item if isinstance(item, EventRecord) else EventRecord.from_event(item)
        event_id = record.id if record.id is not None else max(self._state_id, self._metrics_id) + 1
        changed = False
        if not record.is_action and record.kind == _STATE_KIND and event_id >= self._state_id:
            state = _agent_state(record.details.agent_state)
            if state is not None:
                self._state_id = event_id
                changed = self._set_agent_state(state, record.details.reason or "")
        if record.has_metrics and event_id >= self._metrics_id:
            self._metrics_id = event_id
            self.metrics_record = record
            changed = True
        if record.is_action:
            changed = self._apply_action(record, event_id) or changed
        elif record.kind == _ERROR_KIND:
            self.error_record = record
            if self.agent_state is AgentState.ERROR and not self.reason:
                self.reason = self.last_error or ""
            changed = True
        return changed

    def apply_status(self, status: StatusUpdate) -> bool:
        if status.conversation_title is not None and status.conversation_title != self.title:
            self.title = status.conversation_title
            return True
        return False

    @property
    def pending(self) -> Action | None:
        event = self.pending_record.event if self.pending_record is not None else None
        return event if isinstance(event, Action) else None

    @property
    def metrics(self) -> Metrics | None:
        if self.metrics_record is None:
            return None
        metrics = self.metrics_record.event.field_values.get("llm_metrics")
        return metrics if isinstance(metrics, Metrics) else None

    @property
    def last_error(self) -> str | None:
        event = self.error_record.event if self.error_record is not None else None
        return event.content if isinstance(event, ErrorObservation) else None

    @property
    def awaiting_confirmation(self) -> bool:
        """An action is pending and the agent waits for the user's answer: confirm and reject mean something."""
        return awaits_confirmation(self.agent_state) and self.pending_record is not None

    def _set_agent_state(self, state: AgentState, reason: str) -> bool:
        changed = state is not self.agent_state or reason != self.reason
        if state is not AgentState.AWAITING_USER_CONFIRMATION and self.pending_record is not None:
            self.pending_record = None
            changed = True
        if state is AgentState.AWAITING_USER_CONFIRMATION and self.approvals is None:
            self.approvals = Approvals.ASK
        self.agent_state = state
        self.reason = reason
        return changed

    def _apply_action(self, record: EventRecord, event_id: int) -> bool:
        confirmation = record.details.confirmation_state
        awaited = confirmation == _AWAITING or (
            # Only run/run_ipython args carry confirmation_state on the wire (§2.4): for the other kinds, the agent
            # action stored right after the awaiting_user_confirmation state is the one awaited.
            confirmation is None
            and record.source is EventSource.AGENT
            and event_id > self._state_id
            and self.agent_state is AgentState.AWAITING_USER_CONFIRMATION
            and self.pending_record is None
        )
        if awaited:
            self.pending_record = record
            return True
        pending = self.pending_record
        if confirmation is not None and pending is not None and event_id > (pending.id or -1):
            self.pending_record = None
            return True
        return False


_STATE_KIND = "agent_state_changed"
_ERROR_KIND = "error"
_AWAITING = ActionConfirmationStatus.AWAITING_CONFIRMATION.value
_STATES = {state.value: state for state in AgentState}


def _agent_state(value: str | None) -> AgentState | None:
    return _STATES.get(value) if value is not None else None
