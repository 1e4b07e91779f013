"""The agent controller: one conversation's agent state and its agent loop (OPENHANDS_V0.md §1.4, §1.7).

What it records and in which order is written in ``ohtui/agent/README.md``, with a map of this package:
:class:`AgentController` (``facade``) owns the lock and the lifecycle; ``recording`` is the one writer of events;
``confirmation`` holds the pending action; ``loop`` steps the agent; ``runner`` hands actions to the runtime;
``texts`` holds what goes on the wire.
"""

from ohtui.agent.controller.facade import AgentController
from ohtui.agent.controller.texts import (
    ALWAYS_ALLOW_ARG,
    ERROR_ACTION_NOT_EXECUTED_ERROR,
    ERROR_ACTION_NOT_EXECUTED_ERROR_ID,
    ERROR_ACTION_NOT_EXECUTED_STOPPED,
    ERROR_ACTION_NOT_EXECUTED_STOPPED_ID,
    NO_RUNTIME,
    RESTART_REASON,
    THOUGHT_LOGGED,
    USER_REJECTED,
)
from ohtui.protocol.rules import TRANSIENT_STATES

__all__ = [
    "ALWAYS_ALLOW_ARG",
    "ERROR_ACTION_NOT_EXECUTED_ERROR",
    "ERROR_ACTION_NOT_EXECUTED_ERROR_ID",
    "ERROR_ACTION_NOT_EXECUTED_STOPPED",
    "ERROR_ACTION_NOT_EXECUTED_STOPPED_ID",
    "NO_RUNTIME",
    "RESTART_REASON",
    "THOUGHT_LOGGED",
    "TRANSIENT_STATES",
    "USER_REJECTED",
    "AgentController",
]
