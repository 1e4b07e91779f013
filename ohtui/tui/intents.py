"""What the user's keys ask of the conversation: which action each means now, and saying so when it means none.

The rules come from :mod:`ohtui.protocol.rules` and the state from the app's :class:`ConversationState`, so a key
never disagrees with what the controller would accept. The actions are sent through whatever :class:`Sender` the
app has (its session); the outcome of each is reported, a refusal as the server worded it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ohtui.client.outbox import SendOutcome
from ohtui.protocol import Action, AgentState
from ohtui.protocol.intents import always_allow, request_state, user_message
from ohtui.protocol.rules import can_stop, pause_or_resume
from ohtui.protocol.state import ConversationState


class Sender(Protocol):
    async def send(self, action: Action) -> SendOutcome: ...


Notify = Callable[[str, str], None]
"""``notify(text, severity)``: "information", "warning" or "error"."""


def _shown(state: AgentState) -> str:
    return state.value.replace("_", " ")


class Intents:
    def __init__(
        self, state: Callable[[], ConversationState], sender: Callable[[], Sender | None], notify: Notify
    ) -> None:
        self._state = state
        self._sender = sender
        self._notify = notify

    # -- what each key means now (None: nothing, and the user has been told why) ---------------------------------
    def message(self, text: str) -> Action | None:
        text = text.strip()
        return user_message(text) if text else None

    def confirm(self, action_id: int | None = None, *, checked: bool = False) -> Action | None:
        """Confirm the pending action; with ``checked``, only if it is still the one the user saw (``action_id``)."""
        return request_state(AgentState.USER_CONFIRMED) if self._answers(action_id, checked) else None

    def reject(self, action_id: int | None = None, *, checked: bool = False) -> Action | None:
        return request_state(AgentState.USER_REJECTED) if self._answers(action_id, checked) else None

    def allow_all(self) -> Action | None:
        """Confirm the pending action and stop asking for the rest of the session (an ohtui extension)."""
        return always_allow() if self._state().awaiting_confirmation else None

    def stop(self) -> Action | None:
        state = self._state().agent_state
        if can_stop(state):
            return request_state(AgentState.STOPPED)
        self._notify(f"nothing to stop (the agent is {_shown(state)})", "information")
        return None

    def pause_or_resume(self) -> Action | None:
        state = self._state().agent_state
        target = pause_or_resume(state)
        if target is None:
            self._notify(f"the agent is {_shown(state)}: nothing to pause or resume", "information")
            return None
        return request_state(target)

    # -- sending ------------------------------------------------------------------------------------------------
    async def send(self, action: Action | None, what: str) -> SendOutcome | None:
        """Send ``action`` (nothing when None); a failure is reported with ``what`` it was."""
        if action is None:
            return None
        sender = self._sender()
        if sender is None:
            self._notify("not connected yet", "warning")
            return None
        outcome = await sender.send(action)
        if not outcome.accepted:
            self._notify(f"{what} not sent: {outcome.error}", "error")
        return outcome

    def _answers(self, action_id: int | None, checked: bool) -> bool:
        """A confirmation answers the action the user saw: not another one that took its place meanwhile."""
        state = self._state()
        if not state.awaiting_confirmation:
            return False
        return not checked or (state.pending is not None and state.pending.id == action_id)
