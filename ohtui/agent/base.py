"""What the controller drives: an :class:`Agent` decides, a :class:`Runtime` acts.

Both are collaborators the controller does not trust: whatever they raise is caught and recorded as an ``error``
state, never allowed to reach the server.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar, Protocol, runtime_checkable

from ohtui.protocol import Action, Event, Observation, SystemMessageAction

__all__ = ["RUNNABLE_KINDS", "Agent", "Runtime", "is_runnable"]

# Upstream's ``Action.runnable``: the kinds a runtime executes (§2.4). Everything else is handled by the controller.
RUNNABLE_KINDS: frozenset[str] = frozenset(
    {"run", "run_ipython", "read", "write", "edit", "browse", "browse_interactive", "call_tool_mcp"}
)


def is_runnable(action: Action) -> bool:
    """Whether ``action`` goes to the runtime (and so needs confirmation in confirmation mode)."""
    return action.kind in RUNNABLE_KINDS


class Agent(ABC):
    """Chooses the next action from the conversation so far. One instance serves one conversation."""

    name: ClassVar[str]

    @abstractmethod
    async def step(self, history: Sequence[Event]) -> Action:
        """The next action, given the events this agent may see (stored, not hidden), oldest first.

        Awaited on the server's event loop: do slow work (LLM calls) asynchronously. An exception puts the
        conversation in the ``error`` state with ``"ExceptionClass: message"`` as the reason.
        """

    def reset(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Forget per-run scratch state. Called when the user stops the agent and when it fails."""

    def system_message(self) -> SystemMessageAction | None:
        """The system prompt to record (source agent) when a conversation starts, if the agent has one."""
        return None


@runtime_checkable
class Runtime(Protocol):
    """Turns runnable actions (:data:`RUNNABLE_KINDS`) into observations. Called for one action at a time."""

    async def run_action(self, action: Action) -> Observation:
        """Execute ``action``; the controller sets the observation's ``cause`` and ``tool_call_metadata``."""
        ...

    async def interrupt(self) -> None:
        """Make the ``run_action`` in progress (if any) return soon, like Ctrl-C."""
        ...

    async def close(self) -> None:
        """Release what the runtime holds (processes, files). No call follows."""
        ...
