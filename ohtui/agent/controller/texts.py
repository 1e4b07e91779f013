"""The texts the controller puts on the wire, where a V0 client, an agent or a user reads them (OPENHANDS_V0.md §1.7,
§2.6). The ids and the first messages are upstream's; clients and agents may recognise them."""

from __future__ import annotations

from ohtui.protocol.intents import ALWAYS_ALLOW_ARG

__all__ = [
    "ALWAYS_ALLOW_ARG",
    "ERROR_ACTION_NOT_EXECUTED_ERROR",
    "ERROR_ACTION_NOT_EXECUTED_ERROR_ID",
    "ERROR_ACTION_NOT_EXECUTED_STOPPED",
    "ERROR_ACTION_NOT_EXECUTED_STOPPED_ID",
    "NO_RUNTIME",
    "RESTART_REASON",
    "THOUGHT_LOGGED",
    "USER_KINDS",
    "USER_REJECTED",
    "WORKSPACE_CONTEXT_ADDED",
    "error_reason",
    "max_iterations_reached",
    "retrying",
]

ERROR_ACTION_NOT_EXECUTED_STOPPED_ID = "AGENT_ERROR$ERROR_ACTION_NOT_EXECUTED_STOPPED"
ERROR_ACTION_NOT_EXECUTED_STOPPED = "Stop button pressed. The action has not been executed."
ERROR_ACTION_NOT_EXECUTED_ERROR_ID = "AGENT_ERROR$ERROR_ACTION_NOT_EXECUTED_ERROR"
ERROR_ACTION_NOT_EXECUTED_ERROR = (
    "The action has not been executed due to a runtime error. The runtime may have been restarted, so state it"
    " held (running processes, environment variables, the working directory) may be gone."
)
USER_REJECTED = "Action has been rejected by the user! Waiting for further user input."
THOUGHT_LOGGED = "Your thought has been logged."
WORKSPACE_CONTEXT_ADDED = "Added workspace context"
RESTART_REASON = "The server restarted while the agent was running."
NO_RUNTIME = "No runtime is attached to this conversation, so the action was not executed."

USER_KINDS = "message, change_agent_state and the runnable kinds (run, run_ipython, read, write, edit, browse, …)"
"""What a user may send, for the refusal of anything else."""


def error_reason(error: BaseException) -> str:
    """An error as the ``error`` state's reason and the error status's message: ``"ExceptionClass: message"``."""
    return f"{type(error).__name__}: {error}"


def retrying(attempt: int, attempts: int) -> str:
    """The message of a ``STATUS$LLM_RETRY`` status update."""
    return f"Retrying LLM request, {attempt} / {attempts}"


def max_iterations_reached(iterations: int, max_iterations: int) -> str:
    return (
        f"the agent took {iterations} steps since the user last spoke"
        f" (max_iterations={max_iterations}); send a message or resume to continue"
    )
