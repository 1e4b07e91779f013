"""The agent loop: step the agent while the state is running, carry out what it asks for, end a run that stops or
fails (see ``ohtui/agent/README.md``, "Agent step", "Stop", "Error", "LLM retries")."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from ohtui.agent.base import Agent, is_runnable
from ohtui.agent.controller.confirmation import Confirmation
from ohtui.agent.controller.recording import Recorder
from ohtui.agent.controller.runner import ActionRunner
from ohtui.agent.controller.tasks import BackgroundTasks
from ohtui.agent.controller.texts import (
    ERROR_ACTION_NOT_EXECUTED_ERROR,
    ERROR_ACTION_NOT_EXECUTED_ERROR_ID,
    ERROR_ACTION_NOT_EXECUTED_STOPPED,
    ERROR_ACTION_NOT_EXECUTED_STOPPED_ID,
    THOUGHT_LOGGED,
    error_reason,
    max_iterations_reached,
    retrying,
)
from ohtui.agent.errors import MaxIterationsReached
from ohtui.agent.history import StoredHistory
from ohtui.agent.signals import ActionError, AgentFailure, reporting_to
from ohtui.protocol import (
    Action,
    AgentFinishAction,
    AgentRejectAction,
    AgentState,
    AgentThinkAction,
    AgentThinkObservation,
    ChangeAgentStateAction,
    ErrorObservation,
    Event,
    EventSource,
    MessageAction,
    NullAction,
    Observation,
    RuntimeStatus,
)
from ohtui.protocol.rules import AGENT_TARGETS

__all__ = ["StepLoop"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Step:
    history: Sequence[Event]
    seen_messages: int
    """User messages seen when the step began: more by its end means the user spoke meanwhile."""


class _Paused:
    pass


_PAUSED: Final = _Paused()


class StepLoop:
    """Runs one conversation's agent as an asyncio task, one step at a time, while the state says running.

    The slow parts (``agent.step``, the runtime call) run outside ``lock``; everything they lead to is stored under
    it. A generation counter, bumped by :meth:`stop` and :meth:`halt`, makes a loop that was stopped while it was
    away unable to store anything when it comes back. The methods that are not coroutines are called with ``lock``
    held.
    """

    def __init__(
        self,
        agent: Agent,
        recorder: Recorder,
        confirmation: Confirmation,
        runner: ActionRunner,
        tasks: BackgroundTasks,
        lock: asyncio.Lock,
        *,
        max_iterations: int,
        name: str,
    ) -> None:
        if max_iterations < 1:
            raise ValueError("max_iterations must be at least 1")
        self.max_iterations = max_iterations
        self._agent = agent
        self._recorder = recorder
        self._confirmation = confirmation
        self._runner = runner
        self._tasks = tasks
        self._lock = lock
        self._name = name
        self._run = 0  # generation; bumped by stop and halt
        self._halted = False
        self._task: asyncio.Task[None] | None = None
        self._to_execute: Action | None = None  # the pending action, once the loop may run it
        self._agent_call: asyncio.Future[Observation] | None = None  # the runtime call for the pending action
        self._stepping = False
        self._iterations = 0
        self._user_messages = 0

    @property
    def active(self) -> bool:
        """True while the agent is thinking (``step``) or its action is running."""
        return self._stepping or self._agent_call is not None

    # ----------------------------------------------------------------------------------------------- the user

    def user_spoke(self) -> None:
        """A user message: the agent's step budget starts again, and a step in flight learns it was spoken to."""
        self._user_messages += 1
        self._iterations = 0

    def resume(self) -> None:
        """The user asked for running: a pause goes on where it was; a settled agent steps with a fresh budget."""
        if self._recorder.state is not AgentState.PAUSED:
            self._iterations = 0
        self._recorder.set_state(AgentState.RUNNING)
        self.ensure()

    def execute(self, action: Action) -> None:
        """Run ``action`` (the pending one, just confirmed) next, then step on."""
        self._to_execute = action
        self.ensure()

    def ensure(self) -> None:
        """Start the loop unless one is alive (a live loop re-reads the state before every step)."""
        if self._halted or (self._task is not None and not self._task.done()):
            return
        self._task = asyncio.create_task(self._loop(self._run), name=f"agent-loop-{self._name}")

    async def stop(self) -> asyncio.Task[None] | None:
        """The user's stop: end the run, interrupting the agent's action; return the loop task it cancelled."""
        task = self._abandon()
        if task is not None:
            task.cancel()
        if self._agent_call is not None:
            if self._runner.busy_with is self._confirmation.pending:
                await self._runner.interrupt()
            else:  # not started yet (waiting for the runtime): it must not start
                self._agent_call.cancel()
        self._agent_call = None
        self._stepping = False
        self._end_run(AgentState.STOPPED, ERROR_ACTION_NOT_EXECUTED_STOPPED, ERROR_ACTION_NOT_EXECUTED_STOPPED_ID)
        return task

    def halt(self) -> tuple[asyncio.Task[None] | None, asyncio.Future[Observation] | None]:
        """Closing: no loop runs again. Returns the loop task (not yet cancelled) and the agent's runtime call."""
        self._halted = True
        return self._abandon(), self._agent_call

    def forget(self) -> None:
        """Closed: nothing is running any more, whatever was."""
        self._agent_call = None
        self._stepping = False

    def fail(self, error: BaseException) -> None:
        """End the run in ``error``: an error status update, the error observation, ``agent_state_changed error``."""
        reason = error_reason(error)
        status = error.status if isinstance(error, AgentFailure) else RuntimeStatus.ERROR
        self._recorder.status(status, reason, level="error")
        self._end_run(AgentState.ERROR, ERROR_ACTION_NOT_EXECUTED_ERROR, ERROR_ACTION_NOT_EXECUTED_ERROR_ID, reason)

    async def on_retry(self, run: int, attempt: int, attempts: int, rate_limited: bool) -> None:
        """The agent's LLM request failed and will be retried (see :mod:`ohtui.agent.signals`)."""
        async with self._lock:
            if run != self._run:
                return
            self._recorder.status(RuntimeStatus.LLM_RETRY, retrying(attempt, attempts))
            if rate_limited and self._recorder.state is AgentState.RUNNING:
                self._recorder.set_state(AgentState.RATE_LIMITED)

    def _abandon(self) -> asyncio.Task[None] | None:
        self._run += 1
        self._to_execute = None
        task, self._task = self._task, None
        return task

    def _end_run(self, state: AgentState, content: str, error_id: str, reason: str = "") -> None:
        """A run ended early: answer the action it left without an observation, let the agent forget, record it."""

        def before_the_state() -> None:
            self._confirmation.not_executed(content, error_id)
            self._agent_call = None
            try:
                self._agent.reset()
            except Exception:
                log.exception("agent %s: reset() failed", self._name)

        self._recorder.set_state(state, reason, first=before_the_state)

    # ----------------------------------------------------------------------------------------------- the loop

    async def _loop(self, run: int) -> None:
        try:
            while True:
                async with self._lock:
                    work = self._next(run)
                if work is None:
                    return
                if isinstance(work, _Step):
                    await self._step(run, work)
                elif isinstance(work, Action):
                    if not await self._execute(run, work):
                        return
                else:
                    await self._recorder.wait_until(
                        lambda: run != self._run or self._recorder.state is not AgentState.PAUSED
                    )
        finally:
            if self._task is asyncio.current_task():
                self._task = None
                self._stepping = False
                self._recorder.notify()

    def _next(self, run: int) -> _Step | Action | _Paused | None:
        """What the loop does next: a step, the confirmed action, waiting out a pause, or nothing (it ends)."""
        if run != self._run:
            return None
        if self._to_execute is not None:
            # Runs even if the user paused meanwhile: pausing halts the loop after the current step.
            action, self._to_execute = self._to_execute, None
            return action
        state = self._recorder.state
        if state is AgentState.PAUSED:
            return _PAUSED
        if state is not AgentState.RUNNING:
            return None
        if self._iterations >= self.max_iterations:
            self.fail(MaxIterationsReached(max_iterations_reached(self._iterations, self.max_iterations)))
            return None
        self._iterations += 1
        # What the agent may see, as stored when this step begins: streamed from the store, not kept here.
        events = self._recorder.events
        step = _Step(StoredHistory(events, events.latest_id()), self._user_messages)
        self._stepping = True
        self._recorder.notify()
        return step

    async def _step(self, run: int, step: _Step) -> None:
        try:
            with reporting_to(_Reporter(self, run)):
                action = await self._agent.step(step.history)
            if not isinstance(action, Action):
                raise TypeError(f"{self._name}.step() returned {type(action).__name__}, not an Action")
        except ActionError as error:
            async with self._lock:
                if run == self._run:
                    self._stepping = False
                    self._end_rate_limit()
                    log.info("agent %s: step gave an error for the model: %s", self._name, error)
                    self._recorder.append(
                        ErrorObservation(content=str(error), tool_call_metadata=error.tool_call_metadata),
                        EventSource.AGENT,
                    )
            return
        except Exception as error:
            async with self._lock:
                if run == self._run:
                    self._stepping = False
                    log.warning("agent %s: step failed: %s", self._name, error_reason(error))
                    self.fail(error)
            return
        async with self._lock:
            if run != self._run:
                return
            self._stepping = False
            self._end_rate_limit()
            self._to_execute = self._on_action(action, step.seen_messages)
            self._recorder.notify()

    def _end_rate_limit(self) -> None:
        if self._recorder.state is AgentState.RATE_LIMITED:
            self._recorder.set_state(AgentState.RUNNING)

    def _on_action(self, action: Action, seen_messages: int) -> Action | None:
        """Store the agent's action and apply its consequences; return it if the runtime must run it now."""
        if isinstance(action, NullAction):
            return None
        if is_runnable(action):
            return self._confirmation.propose(action)
        recorder = self._recorder
        stored = recorder.append(action, EventSource.AGENT)
        if isinstance(stored, AgentThinkAction):
            recorder.append(
                AgentThinkObservation(
                    content=THOUGHT_LOGGED, cause=stored.id, tool_call_metadata=stored.tool_call_metadata
                ),
                EventSource.AGENT,
            )
        elif isinstance(stored, MessageAction) and stored.args.wait_for_response:
            self._settle(AgentState.AWAITING_USER_INPUT, seen_messages)
        elif isinstance(stored, AgentFinishAction):
            self._settle(AgentState.FINISHED, seen_messages)
        elif isinstance(stored, AgentRejectAction):
            self._settle(AgentState.REJECTED, seen_messages)
        elif isinstance(stored, ChangeAgentStateAction) and stored.args.agent_state in AGENT_TARGETS:
            self._settle(stored.args.agent_state, seen_messages)
        return None

    def _settle(self, state: AgentState, seen_messages: int) -> None:
        """The agent stops for the user; if the user already spoke during that step, it carries on at once."""
        self._recorder.set_state(state)
        if self._user_messages != seen_messages and state is not AgentState.PAUSED:
            self._recorder.set_state(AgentState.RUNNING)

    async def _execute(self, run: int, action: Action) -> bool:
        """Run the agent's action in the runtime and store the result; whether the loop may go on."""
        call = self._tasks.spawn(self._runner.run(action))
        self._agent_call = call
        self._recorder.notify()
        try:
            observation = await asyncio.shield(call)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            async with self._lock:
                if run != self._run:
                    return False
                self._agent_call = None
                log.warning("agent %s: runtime failed: %s", self._name, error_reason(error))
                self.fail(error)
                return False
        async with self._lock:
            if run != self._run:
                log.info("agent %s: dropping the result of %s, the run was stopped", self._name, action.kind)
                return False
            self._agent_call = None
            self._confirmation.observed(action, observation)
            if self._recorder.state is AgentState.USER_CONFIRMED:
                self._recorder.set_state(AgentState.RUNNING)
            return True


class _Reporter:
    """What the agent's :func:`~ohtui.agent.signals.report_retry` reaches during one step of one run."""

    def __init__(self, loop: StepLoop, run: int) -> None:
        self._loop = loop
        self._run = run

    async def retrying(self, attempt: int, attempts: int, *, rate_limited: bool) -> None:
        await self._loop.on_retry(self._run, attempt, attempts, rate_limited=rate_limited)
