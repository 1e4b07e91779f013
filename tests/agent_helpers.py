"""Test doubles of the controller's collaborators (an agent, a runtime) and helpers to read a conversation back.

They replace what the controller drives, never the controller or the store. Each one reports through
``asyncio.Queue``s (``started``) and is held back with ``release()``, so tests wait on signals, not on time.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable, Sequence
from typing import ClassVar

from ohtui.agent.base import Agent
from ohtui.protocol import (
    Action,
    AgentStateChangedObservation,
    ChangeAgentStateAction,
    CmdOutputMetadata,
    CmdOutputObservation,
    CmdRunAction,
    Event,
    MessageAction,
    Observation,
    SuccessObservation,
    SystemMessageAction,
)

__all__ = ["ScriptedAgent", "ScriptedRuntime", "shape", "shapes"]

_INTERRUPT = object()


class ScriptedAgent(Agent):
    """Returns the actions of ``script`` in order (an exception in the script is raised instead).

    Past the end it asks the user for input. With ``gated=True`` every step waits for :meth:`release`.
    ``histories`` keeps what each step was shown; ``started`` gets the step number as each step begins.
    """

    name: ClassVar[str] = "scripted"

    def __init__(
        self,
        script: Iterable[Action | BaseException] = (),
        *,
        gated: bool = False,
        system: SystemMessageAction | None = None,
    ) -> None:
        self.script: deque[Action | BaseException] = deque(script)
        self.gated = gated
        self.system = system
        self.histories: list[list[Event]] = []
        self.resets = 0
        self.started: asyncio.Queue[int] = asyncio.Queue()
        self._gate: asyncio.Queue[None] = asyncio.Queue()

    def release(self, steps: int = 1) -> None:
        for _ in range(steps):
            self._gate.put_nowait(None)

    async def step(self, history: Sequence[Event]) -> Action:
        self.histories.append(list(history))
        self.started.put_nowait(len(self.histories))
        if self.gated:
            await self._gate.get()
        if not self.script:
            return MessageAction(content="(end of script)", wait_for_response=True)
        item = self.script.popleft()
        if isinstance(item, BaseException):
            raise item
        return item

    def reset(self) -> None:
        self.resets += 1

    def system_message(self) -> SystemMessageAction | None:
        return self.system


def default_observation(action: Action) -> Observation:
    if isinstance(action, CmdRunAction):
        return CmdOutputObservation(
            content=f"output of {action.args.command}\n",
            command=action.args.command,
            metadata=CmdOutputMetadata(exit_code=0),
        )
    return SuccessObservation(content=f"{action.kind} done")


class ScriptedRuntime:
    """Answers each action with the next item of ``results`` (raising exceptions), else a plausible default.

    With ``gated=True`` each call waits for :meth:`release`; :meth:`interrupt` ends a waiting call the way a shell
    does on Ctrl-C (an exit code 130 result), unless ``deaf=True`` (a hung sandbox). ``started`` gets each action as
    its call begins.
    """

    def __init__(
        self, results: Iterable[Observation | BaseException] = (), *, gated: bool = False, deaf: bool = False
    ) -> None:
        self.results: deque[Observation | BaseException] = deque(results)
        self.gated = gated
        self.deaf = deaf
        self.actions: list[Action] = []
        self.interrupts = 0
        self.finished = 0
        self.closed = False
        self.started: asyncio.Queue[Action] = asyncio.Queue()
        self._gate: asyncio.Queue[object] = asyncio.Queue()

    def release(self) -> None:
        self._gate.put_nowait(None)

    async def run_action(self, action: Action) -> Observation:
        self.actions.append(action)
        self.started.put_nowait(action)
        try:
            if self.gated and await self._gate.get() is _INTERRUPT:
                command = action.args.command if isinstance(action, CmdRunAction) else action.kind
                return CmdOutputObservation(content="^C", command=command, metadata=CmdOutputMetadata(exit_code=130))
            if self.results:
                item = self.results.popleft()
                if isinstance(item, BaseException):
                    raise item
                return item
            return default_observation(action)
        finally:
            self.finished += 1

    async def interrupt(self) -> None:
        self.interrupts += 1
        if self.gated and not self.deaf:
            self._gate.put_nowait(_INTERRUPT)

    async def close(self) -> None:
        self.closed = True


def shape(event: Event) -> str:
    """``"source:kind"``, plus ``=state`` for state changes: enough to compare sequences at a glance."""
    text = f"{event.source.value if event.source else '-'}:{event.kind}"
    if isinstance(event, AgentStateChangedObservation):
        text += f"={event.agent_state.value}"
    elif isinstance(event, ChangeAgentStateAction):
        text += f"={event.args.agent_state.value}"
    return text


def shapes(events: Iterable[Event]) -> list[str]:
    return [shape(event) for event in events]
