"""What a user can ask of a conversation, as typed actions, and the one wire form a client sends them in.

No layer above builds an action dict of its own: the UI, ``tail`` and the REST API make their actions here, and
:func:`client_payload` gives the dict ``oh_user_action`` carries (§1.3: the action and its args, as upstream's
frontend sends them; the server assigns id, timestamp and source).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ohtui.protocol.actions import Action, ChangeAgentStateAction, ChangeAgentStateArgs, MessageAction, MessageArgs
from ohtui.protocol.enums import AgentState
from ohtui.protocol.wire import event_to_dict

ALWAYS_ALLOW_ARG = "ohtui_always_allow"
"""ohtui-only arg of a user's ``change_agent_state user_confirmed``: confirm, and stop asking in this session."""
ACTION_ID_ARG = "ohtui_action_id"
"""ohtui-only arg of a confirmation or rejection: the id of the action the user answered. ohtui's server refuses the
answer when another action is pending (a confirmation given offline must not approve whatever is pending when it
arrives); stock servers ignore it."""

_CLIENT_KEYS = ("action", "args")


def user_message(text: str, image_urls: Sequence[str] = (), file_urls: Sequence[str] = ()) -> MessageAction:
    return MessageAction(args=MessageArgs(content=text, image_urls=list(image_urls), file_urls=list(file_urls)))


def request_state(state: AgentState, *, action_id: int | None = None) -> ChangeAgentStateAction:
    """Ask for an agent state: stop, pause, resume, confirm or reject (:mod:`ohtui.protocol.rules` says when). A
    confirmation or rejection names the action it answers with ``action_id``."""
    return _state_action(state, {ACTION_ID_ARG: action_id} if action_id is not None else {})


def always_allow(*, action_id: int | None = None) -> ChangeAgentStateAction:
    """Confirm the pending action and let the agent act without asking for the rest of the session."""
    extra: dict[str, Any] = {ALWAYS_ALLOW_ARG: True}
    if action_id is not None:
        extra[ACTION_ID_ARG] = action_id
    return _state_action(AgentState.USER_CONFIRMED, extra)


def answered_action(action: Action) -> int | None:
    """The id a confirmation or rejection names as the action it answers (:data:`ACTION_ID_ARG`), if any."""
    if not isinstance(action, ChangeAgentStateAction):
        return None
    value = (action.args.model_extra or {}).get(ACTION_ID_ARG)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _state_action(state: AgentState, extra: dict[str, Any]) -> ChangeAgentStateAction:
    if not extra:
        return ChangeAgentStateAction(args=ChangeAgentStateArgs(agent_state=state))
    args = ChangeAgentStateArgs.model_validate({"agent_state": state.value, **extra}, strict=False)
    return ChangeAgentStateAction(args=args)


def asks_always_allow(action: Action) -> bool:
    """Whether ``action`` is an :func:`always_allow` (a user_confirmed carrying the ohtui flag)."""
    return (
        isinstance(action, ChangeAgentStateAction)
        and action.args.agent_state is AgentState.USER_CONFIRMED
        and (action.args.model_extra or {}).get(ALWAYS_ALLOW_ARG) is True
    )


def client_payload(action: Action) -> dict[str, Any]:
    """The ``oh_user_action`` dict for ``action``."""
    data = event_to_dict(action)
    return {key: data[key] for key in _CLIENT_KEYS if key in data}
