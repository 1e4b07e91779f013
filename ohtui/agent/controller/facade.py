"""The agent controller: one conversation's agent state and its agent loop, behind one lock.

What it records, and in which order, is the contract in ``ohtui/agent/README.md``; this class wires the parts that
do it (recording, confirmation, the loop, the runner) and owns the lifecycle: start or restore, user input, close.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ohtui.agent.base import Agent, Runtime, is_runnable
from ohtui.agent.controller.confirmation import Confirmation
from ohtui.agent.controller.loop import StepLoop
from ohtui.agent.controller.recording import Recorder
from ohtui.agent.controller.runner import ActionRunner
from ohtui.agent.controller.tasks import BackgroundTasks
from ohtui.agent.controller.texts import (
    ERROR_ACTION_NOT_EXECUTED_ERROR,
    ERROR_ACTION_NOT_EXECUTED_ERROR_ID,
    RESTART_REASON,
    USER_KINDS,
    WORKSPACE_CONTEXT_ADDED,
    error_reason,
)
from ohtui.agent.errors import IllegalAction
from ohtui.agent.history import first_user_message_id, last_agent_state, unanswered_agent_action
from ohtui.protocol import (
    Action,
    AgentState,
    ChangeAgentStateAction,
    ErrorObservation,
    Event,
    EventSource,
    MessageAction,
    NullObservation,
    Observation,
    RecallAction,
    RecallArgs,
    RecallExtras,
    RecallObservation,
    RecallType,
    RuntimeStatus,
    StatusUpdate,
    SystemMessageAction,
)
from ohtui.protocol.intents import request_state
from ohtui.protocol.rules import TRANSIENT_STATES, refusal

if TYPE_CHECKING:
    from ohtui.store import EventStore

__all__ = ["AgentController"]

log = logging.getLogger(__name__)

_STARTING = (RuntimeStatus.STARTING_RUNTIME, RuntimeStatus.RUNTIME_STARTED, RuntimeStatus.READY)


class AgentController:
    """Owns one conversation's :class:`AgentState` and runs its agent as an asyncio task.

    The server creates one per live conversation, calls :meth:`start`, hands every user action to :meth:`submit`
    (refusals raise :class:`IllegalAction`, nothing stored) and :meth:`close` when the conversation is unloaded.
    ``on_status`` receives runtime status updates (not stored); ``on_state`` every new state, after its
    ``agent_state_changed`` is stored. Callbacks are called synchronously; a coroutine they return is scheduled as a
    task; their exceptions are logged and ignored.

    Optional agent attributes the controller honours: ``confirmation_mode`` (true: confirmation is on even if the
    ``confirmation_mode`` argument is false; the LLM agent sets it by default), ``provided_runtime`` (a runtime the
    agent brings, used instead of ``runtime``: the replay agent's recorded observations), ``default_runtime()`` (a
    runtime to use when ``runtime`` is None: the LLM agent's local shell) and ``async aclose()`` (called by
    :meth:`close`).
    """

    def __init__(
        self,
        events: EventStore,
        agent: Agent,
        *,
        runtime: Runtime | None = None,
        confirmation_mode: bool = False,
        on_status: Callable[[StatusUpdate], object] | None = None,
        on_state: Callable[[AgentState], object] | None = None,
        max_iterations: int = 100,
        working_dir: str = "",
        close_timeout: float = 5.0,
    ) -> None:
        if max_iterations < 1:
            raise ValueError("max_iterations must be at least 1")
        self.agent = agent
        self.working_dir = working_dir
        self.close_timeout = close_timeout
        name = getattr(agent, "name", type(agent).__name__)
        self._name = name
        self._lock = asyncio.Lock()
        self._tasks = BackgroundTasks()
        self._runner = ActionRunner(agent, runtime, name=name)
        self._recorder = Recorder(events, self._tasks, name=name, on_status=on_status, on_state=on_state)
        mode = confirmation_mode or getattr(agent, "confirmation_mode", False) is True
        self._confirmation = Confirmation(self._recorder, mode=mode)
        self._loop = StepLoop(
            agent,
            self._recorder,
            self._confirmation,
            self._runner,
            self._tasks,
            self._lock,
            max_iterations=max_iterations,
            name=name,
        )
        self._started = False
        self._closed = False
        self._first_user_message_id: int | None = None  # found on the first user message, then kept

    # ----------------------------------------------------------------------------------------------- observing

    @property
    def events(self) -> EventStore:
        return self._recorder.events

    @property
    def runtime(self) -> Runtime | None:
        return self._runner.runtime

    @property
    def max_iterations(self) -> int:
        return self._loop.max_iterations

    @property
    def confirmation_mode(self) -> bool:
        return self._confirmation.mode

    @confirmation_mode.setter
    def confirmation_mode(self, on: bool) -> None:
        self._confirmation.mode = on

    @property
    def state(self) -> AgentState:
        return self._recorder.state

    @property
    def pending_action(self) -> Action | None:
        """The agent's runnable action that is awaiting confirmation or running, as stored."""
        return self._confirmation.pending

    @property
    def active(self) -> bool:
        """True while the agent is thinking (``step``) or its action is running."""
        return self._loop.active

    @property
    def closed(self) -> bool:
        return self._closed

    async def wait_until(self, predicate: Callable[[], bool], timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Return once ``predicate()`` holds; it is re-checked after every event or state change this stores."""
        await self._recorder.wait_until(predicate, timeout)

    async def wait_for_state(self, *states: AgentState, timeout: float | None = None) -> AgentState:  # noqa: ASYNC109
        """Return the state once it is one of ``states``; raise :class:`TimeoutError` after ``timeout`` seconds."""
        try:
            await self.wait_until(lambda: self.state in states, timeout)
        except TimeoutError:
            wanted = ", ".join(s.value for s in states)
            raise TimeoutError(f"agent state is {self.state}, not {wanted}, after {timeout} s") from None
        return self.state

    # ----------------------------------------------------------------------------------------------- lifecycle

    async def start(self, initial_message: MessageAction | None = None) -> None:
        """Record a new conversation's start, or restore an existing one's state (README: "New conversation",
        "Restart")."""
        if self._started:
            raise RuntimeError("AgentController.start() was already called")
        self._started = True
        async with self._lock:
            last = last_agent_state(self.events)
            if last is None:
                self._begin(initial_message)
                return
            for status in _STARTING:
                self._recorder.status(status)
            self._restore(last.agent_state)
            if initial_message is not None:
                self._on_user_message(self._recorder.append(initial_message, EventSource.USER))

    def _begin(self, initial_message: MessageAction | None) -> None:
        recorder = self._recorder
        recorder.record_state(AgentState.LOADING)
        for status in _STARTING:
            recorder.status(status)
        system = self._system_message()
        if system is not None:
            recorder.append(system, EventSource.AGENT)
        if initial_message is None:
            recorder.append(request_state(AgentState.AWAITING_USER_INPUT), EventSource.ENVIRONMENT)
            recorder.set_state(AgentState.AWAITING_USER_INPUT)
            return
        stored = recorder.append(initial_message, EventSource.USER)
        recorder.append(request_state(AgentState.RUNNING), EventSource.ENVIRONMENT)
        self._on_user_message(stored)

    def _system_message(self) -> SystemMessageAction | None:
        try:
            return self.agent.system_message()
        except Exception:
            log.exception("agent %s: system_message() failed; starting without one", self._name)
            return None

    def _restore(self, state: AgentState) -> None:
        self._recorder.restore(state)
        self._confirmation.restore(unanswered_agent_action(self.events))
        if state is not AgentState.AWAITING_USER_CONFIRMATION:
            self._confirmation.not_executed(ERROR_ACTION_NOT_EXECUTED_ERROR, ERROR_ACTION_NOT_EXECUTED_ERROR_ID)
        if state in TRANSIENT_STATES or (
            state is AgentState.AWAITING_USER_CONFIRMATION and self._confirmation.pending is None
        ):
            self._recorder.set_state(AgentState.AWAITING_USER_INPUT, reason=RESTART_REASON)
        else:
            self._recorder.announce()

    async def close(self) -> None:
        """Stop the loop, interrupt and close the runtime. Idempotent.

        Nothing is recorded for an idle agent. An agent caught mid-run is left as recorded (its last state is
        transient), so the next :meth:`start` on this store marks the restart; the runtime result of an action in
        progress is still stored if it arrives within ``close_timeout`` seconds of the interrupt.
        """
        if self._closed:
            return
        self._closed = True
        async with self._lock:
            loop_task, agent_call = self._loop.halt()
            pending = self._confirmation.pending
        if loop_task is not None:
            loop_task.cancel()
        if self._runner.busy_with is not None:
            await self._runner.interrupt()
        waiting = {t for t in (loop_task, agent_call) if t is not None} | set(self._tasks)
        if waiting:
            await asyncio.wait(waiting, timeout=self.close_timeout)
        if agent_call is not None and pending is not None and agent_call.done() and not agent_call.cancelled():
            async with self._lock:
                if agent_call.exception() is None and self._confirmation.pending is pending:
                    self._confirmation.observed(pending, agent_call.result())
        self._tasks.cancel()
        self._loop.forget()
        await self._runner.close()
        aclose = getattr(self.agent, "aclose", None)
        if aclose is not None:
            try:
                await aclose()
            except Exception:
                log.exception("agent %s: aclose() failed", self._name)
        self._recorder.notify()

    # ----------------------------------------------------------------------------------------------- user input

    def check(self, action: Event) -> str | None:
        """Why this user action is refused now, or None if :meth:`submit` would accept it."""
        if self._closed:
            return "this conversation is closed"
        if not isinstance(action, Action):
            return f"only actions can be sent to the agent, not a {action.kind!r} observation"
        kind = action.kind
        if not (kind in ("message", "change_agent_state") or is_runnable(action)):
            return f"a user cannot send a {kind!r} action (accepted: {USER_KINDS})"
        if not self._started or self.state is AgentState.LOADING:
            return "the agent is still starting; try again when it is ready"
        if not isinstance(action, ChangeAgentStateAction):
            return None
        return refusal(action.args.agent_state, self.state)

    async def submit(self, action: Action) -> Event:
        """Store a user action (source user, new id, server timestamp) and react to it; return the stored event.

        Raises :class:`IllegalAction` (nothing stored) if :meth:`check` refuses it.
        """
        stopped_task: asyncio.Task[None] | None = None
        async with self._lock:
            refused = self.check(action)
            if refused is not None:
                raise IllegalAction(refused)
            if isinstance(action, ChangeAgentStateAction):
                action = self._confirmation.take_always_allow(action)
            stored = self._recorder.append(action, EventSource.USER)
            if isinstance(stored, MessageAction):
                self._on_user_message(stored)
            elif isinstance(stored, ChangeAgentStateAction):
                stopped_task = await self._on_user_state(stored.args.agent_state)
            else:
                self._tasks.spawn(self._run_user_action(stored))
        if stopped_task is not None:
            # Let the cancelled loop unwind, so the caller sees a quiet controller; it cannot store anything.
            await asyncio.wait({stopped_task}, timeout=self.close_timeout)
        return stored

    async def allow_all(self) -> Event | None:
        """Always allow in this session: no more confirmations; the action awaiting one (if any) runs now.

        Returns the stored ``user_confirmed`` action, or None if nothing was awaiting confirmation.
        """
        self.confirmation_mode = False
        if self.state is not AgentState.AWAITING_USER_CONFIRMATION:
            return None
        try:
            return await self.submit(request_state(AgentState.USER_CONFIRMED))
        except IllegalAction:  # the state moved on meanwhile: nothing left to confirm
            return None

    def _on_user_message(self, message: MessageAction) -> None:
        """README "User message": recall, running, the recall's answer, then the agent steps."""
        recorder = self._recorder
        self._loop.user_spoke()
        self._confirmation.reject_for_message()
        if self._first_user_message_id is None:
            self._first_user_message_id = first_user_message_id(self.events)
        is_first = self._first_user_message_id == message.id
        recall_type = RecallType.WORKSPACE_CONTEXT if is_first else RecallType.KNOWLEDGE
        recall = recorder.append(
            RecallAction(args=RecallArgs(recall_type=recall_type, query=message.args.content)), EventSource.USER
        )
        recorder.set_state(AgentState.RUNNING)
        answer: Observation
        if is_first:
            extras = RecallExtras(
                recall_type=RecallType.WORKSPACE_CONTEXT,
                working_dir=self.working_dir,
                date=str(datetime.now(UTC).date()),
            )
            answer = RecallObservation(content=WORKSPACE_CONTEXT_ADDED, extras=extras, cause=recall.id)
        else:
            answer = NullObservation(content="", cause=recall.id)
        recorder.append(answer, EventSource.ENVIRONMENT)
        self._loop.ensure()

    async def _on_user_state(self, target: AgentState) -> asyncio.Task[None] | None:
        """Apply a user's legal state change; return the loop task a stop cancelled, if any."""
        if target is AgentState.STOPPED:
            return await self._loop.stop()
        if target is AgentState.PAUSED:
            self._recorder.set_state(AgentState.PAUSED)
        elif target is AgentState.RUNNING:
            self._loop.resume()
        elif target is AgentState.USER_CONFIRMED:
            self._loop.execute(self._confirmation.confirm())
        elif target is AgentState.USER_REJECTED:
            self._confirmation.reject(record_states=True)
        return None

    async def _run_user_action(self, action: Action) -> None:
        """A runnable action the user sent (the terminal): run it, store the result (source user, cause)."""
        try:
            observation = await self._runner.run(action)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.warning("agent %s: runtime failed on a user action: %s", self._name, error_reason(error))
            observation = ErrorObservation(content=error_reason(error))
        async with self._lock:
            self._confirmation.observed(action, observation)
