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

_CLIENT_KEYS = ("action", "args")


def user_message(text: str, image_urls: Sequence[str] = (), file_urls: Sequence[str] = ()) -> MessageAction:
    return MessageAction(args=MessageArgs(content=text, image_urls=list(image_urls), file_urls=list(file_urls)))


def request_state(state: AgentState) -> ChangeAgentStateAction:
    """Ask for an agent state: stop, pause, resume, confirm or reject (:mod:`ohtui.protocol.rules` says when)."""
    return ChangeAgentStateAction(args=ChangeAgentStateArgs(agent_state=state))


def always_allow() -> ChangeAgentStateAction:
    """Confirm the pending action and let the agent act without asking for the rest of the session."""
    args = ChangeAgentStateArgs.model_validate(
        {"agent_state": AgentState.USER_CONFIRMED.value, ALWAYS_ALLOW_ARG: True}, strict=False
    )
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
