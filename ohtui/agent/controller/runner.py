"""The conversation's runtime, given one action at a time, whoever sent it (the agent or the user's terminal)."""

from __future__ import annotations

import asyncio
import logging

from ohtui.agent.base import Agent, Runtime
from ohtui.agent.controller.texts import NO_RUNTIME
from ohtui.protocol import Action, ErrorObservation, Observation

__all__ = ["ActionRunner"]

log = logging.getLogger(__name__)


class ActionRunner:
    """Runs actions on a runtime, one at a time, and knows which one is running.

    The runtime is the agent's own ``provided_runtime`` if it has one (the replay agent's recorded observations;
    ``runtime`` is then only closed), else ``runtime``, else the agent's ``default_runtime()`` (the LLM agent's local
    shell), else none: every action is then answered with an error saying so.
    """

    def __init__(self, agent: Agent, runtime: Runtime | None, *, name: str) -> None:
        provided = getattr(agent, "provided_runtime", None)
        self._displaced = runtime if provided is not None else None
        if provided is None and runtime is None and callable(default := getattr(agent, "default_runtime", None)):
            provided = default()
        self.runtime: Runtime | None = provided if provided is not None else runtime
        self._name = name
        self._lock = asyncio.Lock()
        self.busy_with: Action | None = None
        """The action the runtime is running now (not one waiting for its turn)."""

    async def run(self, action: Action) -> Observation:
        async with self._lock:
            if self.runtime is None:
                return ErrorObservation(content=NO_RUNTIME)
            self.busy_with = action
            try:
                observation = await self.runtime.run_action(action)
            finally:
                self.busy_with = None
        if not isinstance(observation, Observation):
            raise TypeError(f"runtime.run_action() returned {type(observation).__name__}, not an Observation")
        return observation

    async def interrupt(self) -> None:
        if self.runtime is None:
            return
        try:
            await self.runtime.interrupt()
        except Exception:
            log.exception("agent %s: runtime.interrupt() failed", self._name)

    async def close(self) -> None:
        for runtime in (self.runtime, self._displaced):
            if runtime is not None:
                try:
                    await runtime.close()
                except Exception:
                    log.exception("agent %s: runtime.close() failed", self._name)
