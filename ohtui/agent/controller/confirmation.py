"""The agent's runnable action still without an observation, and the user's say over it (confirmation mode)."""

from __future__ import annotations

from typing import Any

from ohtui.agent.controller.recording import Recorder, rebuild
from ohtui.agent.controller.texts import ALWAYS_ALLOW_ARG, USER_REJECTED
from ohtui.protocol import (
    Action,
    ActionConfirmationStatus,
    AgentState,
    ChangeAgentStateAction,
    EventSource,
    Observation,
    UserRejectObservation,
    event_to_dict,
)
from ohtui.protocol.intents import asks_always_allow

__all__ = ["Confirmation"]


class Confirmation:
    """Holds the pending action: the agent's runnable action as stored, awaiting confirmation or running.

    With ``mode`` on, a runnable action waits for the user (``awaiting_user_confirmation``) before it runs; the
    user's answer stores it again with the decision. Whatever answers the pending action (its observation, an error
    that says it never ran, a rejection) goes through here, so the pending action is never one already answered.
    """

    def __init__(self, recorder: Recorder, *, mode: bool) -> None:
        self.mode = mode
        self._recorder = recorder
        self._pending: Action | None = None

    @property
    def pending(self) -> Action | None:
        return self._pending

    def propose(self, action: Action) -> Action | None:
        """Store the agent's runnable ``action``; return it if it may run now, None if it waits for the user."""
        recorder = self._recorder
        if not self.mode:
            self._pending = recorder.append(action, EventSource.AGENT)
            return self._pending
        if "confirmation_state" in type(action.args).model_fields:
            action = rebuild(action, confirmation_state=ActionConfirmationStatus.AWAITING_CONFIRMATION.value)
        recorder.set_state(AgentState.AWAITING_USER_CONFIRMATION)
        self._pending = recorder.append(action, EventSource.AGENT)
        return None

    def confirm(self) -> Action:
        """The user confirmed: store the pending action again, ``confirmed``; return it, to be run."""
        confirmed = self._store_again(ActionConfirmationStatus.CONFIRMED)
        self._recorder.set_state(AgentState.USER_CONFIRMED)
        return confirmed

    def reject(self, *, record_states: bool = False) -> None:
        """Store the pending action again, ``rejected``, and the ``user_rejected`` observation that answers it.

        With ``record_states`` (the user pressed reject), ``user_rejected`` and then ``awaiting_user_input`` are
        recorded around the observation; a message that answered instead leaves the states to its own sequence.
        """
        recorder = self._recorder
        rejected = self._store_again(ActionConfirmationStatus.REJECTED)
        if record_states:
            recorder.set_state(AgentState.USER_REJECTED)
        self._pending = None
        recorder.append(
            UserRejectObservation(
                content=USER_REJECTED, cause=rejected.id, tool_call_metadata=rejected.tool_call_metadata
            ),
            rejected.source or EventSource.AGENT,
        )
        if record_states:
            recorder.set_state(AgentState.AWAITING_USER_INPUT)

    def reject_for_message(self) -> None:
        """The user answered a confirmation with a message instead of the buttons: the pending action is not run."""
        if self._recorder.state is AgentState.AWAITING_USER_CONFIRMATION and self._pending is not None:
            self.reject()

    def take_always_allow(self, action: ChangeAgentStateAction) -> ChangeAgentStateAction:
        """Apply the ohtui-only flag of a ``user_confirmed`` and return the action without it (what gets stored)."""
        if ALWAYS_ALLOW_ARG not in (action.args.model_extra or {}):
            return action
        if asks_always_allow(action):
            self.mode = False
        return rebuild(action, drop=(ALWAYS_ALLOW_ARG,))

    def observed(self, action: Action, observation: Observation) -> None:
        """Store the observation that answers ``action`` (the pending one or not)."""
        if action is self._pending:
            self._pending = None
        self._recorder.observation(action, observation)

    def not_executed(self, content: str, error_id: str) -> None:
        """Answer the pending action, if any, with an error saying it was not executed: its run ended early."""
        pending, self._pending = self._pending, None
        if pending is not None:
            self._recorder.not_executed(pending, content, error_id)

    def restore(self, unanswered: Action | None) -> None:
        """On a restart: ``unanswered`` (the last runnable agent action, unless answered) is pending again."""
        self._pending = unanswered

    def _store_again(self, status: ActionConfirmationStatus) -> Action:
        """Store the pending action again (new id, thought cleared) with the user's decision."""
        pending = self._pending
        assert pending is not None
        changes: dict[str, Any] = {}
        args = event_to_dict(pending)["args"]
        if "thought" in args:
            changes["thought"] = ""
        if "confirmation_state" in args:
            changes["confirmation_state"] = status.value
        self._pending = self._recorder.append(rebuild(pending, **changes), EventSource.AGENT)
        return self._pending
