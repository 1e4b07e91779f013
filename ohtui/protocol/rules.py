"""The agent-state rules, written once: which states a user may ask for, from which states, and why not.

The controller refuses a user's ``change_agent_state`` with :func:`refusal`; the UI asks the same questions
(:func:`can_stop`, :func:`pause_or_resume`, :func:`awaits_confirmation`) to decide what its keys do, so the two
cannot disagree.
"""

from __future__ import annotations

from ohtui.protocol.enums import AgentState

TRANSIENT_STATES = frozenset(
    {
        AgentState.LOADING,
        AgentState.RUNNING,
        AgentState.USER_CONFIRMED,
        AgentState.USER_REJECTED,
        AgentState.RATE_LIMITED,
    }
)
"""States that only exist while a process is driving the agent: found last in a store, they mean it died."""

USER_TRANSITIONS: dict[AgentState, frozenset[AgentState]] = {
    # Stop ends a run in progress (or about to be): there is nothing to stop once the agent has settled.
    AgentState.STOPPED: frozenset(
        {
            AgentState.RUNNING,
            AgentState.PAUSED,
            AgentState.AWAITING_USER_CONFIRMATION,
            AgentState.USER_CONFIRMED,
            AgentState.RATE_LIMITED,
        }
    ),
    AgentState.PAUSED: frozenset({AgentState.RUNNING, AgentState.USER_CONFIRMED}),
    # Resume lets the agent carry on without a new message, from wherever it settled.
    AgentState.RUNNING: frozenset(
        {
            AgentState.PAUSED,
            AgentState.STOPPED,
            AgentState.ERROR,
            AgentState.RATE_LIMITED,
            AgentState.FINISHED,
            AgentState.REJECTED,
            AgentState.AWAITING_USER_INPUT,
        }
    ),
    AgentState.USER_CONFIRMED: frozenset({AgentState.AWAITING_USER_CONFIRMATION}),
    AgentState.USER_REJECTED: frozenset({AgentState.AWAITING_USER_CONFIRMATION}),
}
"""For each state a user may ask for, the states it may be asked from."""

AGENT_TARGETS = frozenset({AgentState.AWAITING_USER_INPUT, AgentState.PAUSED, AgentState.FINISHED, AgentState.REJECTED})
"""What an agent's own ``change_agent_state`` may ask for; other targets are recorded but not applied."""


def refusal(target: AgentState, state: AgentState) -> str | None:
    """Why a user may not ask for ``target`` while the agent is in ``state``, or None if they may."""
    allowed = USER_TRANSITIONS.get(target)
    if allowed is None:
        return (
            f"{target.value!r} is not a state a user can ask for"
            " (use stopped, paused, running, user_confirmed or user_rejected)"
        )
    if state in allowed:
        return None
    if target is state:
        return f"the agent is already {state.value}"
    if target in (AgentState.USER_CONFIRMED, AgentState.USER_REJECTED):
        return f"no action is awaiting confirmation (the agent is {state.value})"
    if target is AgentState.PAUSED:
        return f"only a running agent can be paused (the agent is {state.value})"
    if target is AgentState.STOPPED:
        return f"there is nothing to stop (the agent is {state.value})"
    if state is AgentState.AWAITING_USER_CONFIRMATION:
        return "an action is awaiting confirmation: confirm or reject it first"
    return f"the agent is already running (it is {state.value})"


def may_request(target: AgentState, state: AgentState) -> bool:
    return state in USER_TRANSITIONS.get(target, frozenset())


def can_stop(state: AgentState) -> bool:
    return may_request(AgentState.STOPPED, state)


def awaits_confirmation(state: AgentState) -> bool:
    """Whether confirm and reject mean anything now."""
    return may_request(AgentState.USER_CONFIRMED, state)


def pause_or_resume(state: AgentState) -> AgentState | None:
    """What the one pause/resume key asks for in ``state``: pause a run, resume a pause, or nothing (None)."""
    if may_request(AgentState.PAUSED, state):
        return AgentState.PAUSED
    if state is AgentState.PAUSED:
        return AgentState.RUNNING
    return None
