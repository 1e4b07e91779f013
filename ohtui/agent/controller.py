"""The agent controller: one conversation's agent state and its agent loop (OPENHANDS_V0.md §1.4, §1.7).

Everything it does is recorded in the conversation's event store, in upstream's order, so that a stock V0 client
replaying the store (or watching it live through the server) sees what it would see from OpenHands:

* **New conversation** (``start()`` on an empty store): ``agent_state_changed loading`` (environment); status updates
  ``STATUS$STARTING_RUNTIME``, ``STATUS$RUNTIME_STARTED``, ``STATUS$READY`` (through ``on_status``, not stored); the
  agent's ``system`` message if it has one (agent); ``change_agent_state awaiting_user_input`` (environment);
  ``agent_state_changed awaiting_user_input`` (environment). With an initial message, the last two are replaced by
  the ``message`` (user), ``change_agent_state running`` (environment) and the user-message sequence below.
* **User message**: ``message`` (user) → ``recall`` (user; ``workspace_context`` for the conversation's first user
  message, else ``knowledge``) → ``agent_state_changed running`` (unless already running) → ``recall`` observation
  (environment, cause = the recall; working_dir and UTC date) for the first message, else ``null`` observation
  (environment, cause = the recall) → the agent steps.
* **Agent step**: the action is stored with source agent. Runnable actions go to the runtime; the observation is
  stored with the action's source (agent) — upstream's runtime does the same — with ``cause`` = the action and the
  action's ``tool_call_metadata``. ``think`` → ``think`` observation "Your thought has been logged." (agent, cause).
  ``message`` with ``wait_for_response`` → ``awaiting_user_input``; ``finish`` → ``finished``; ``reject`` →
  ``rejected``; anything else: the loop goes on. ``null`` actions are not stored.
* **Confirmation mode**: a runnable action → ``agent_state_changed awaiting_user_confirmation`` *then* the action
  (``confirmation_state: awaiting_confirmation`` where its args have that field: run, run_ipython). The user's
  ``change_agent_state user_confirmed`` → the action again (agent, new id, thought cleared, ``confirmed``) →
  ``agent_state_changed user_confirmed`` → its observation → ``agent_state_changed running`` → next step.
  ``user_rejected`` → the action again (``rejected``) → ``agent_state_changed user_rejected`` → ``user_rejected``
  observation (agent, cause = the re-added action) → ``agent_state_changed awaiting_user_input``.
* **Stop**: the runtime is interrupted if it is running the agent's action, the loop task is cancelled, the action
  left without an observation (running or awaiting confirmation) gets ``error`` "Stop button pressed. …" (agent,
  cause, ``AGENT_ERROR$ERROR_ACTION_NOT_EXECUTED_STOPPED``), then ``agent_state_changed stopped``. A result the
  interrupted runtime returns later is dropped: the error observation already answers that action.
* **Error** (agent.step or the runtime raised, or ``max_iterations`` steps since the user last spoke): status update
  ``{"type": "error", "id": "STATUS$ERROR", "message": reason}``, an ``error`` observation for an action left
  without one (``AGENT_ERROR$ERROR_ACTION_NOT_EXECUTED_ERROR``), ``agent_state_changed error`` with
  ``reason = "ExceptionClass: message"``.
* **LLM retries** (the agent calls :func:`~ohtui.agent.signals.report_retry` during a step): status update
  ``STATUS$LLM_RETRY`` "Retrying LLM request, n / N"; for a rate limit, ``agent_state_changed rate_limited`` too, and
  ``agent_state_changed running`` once the step returns. An :class:`~ohtui.agent.signals.AgentFailure` ends the run
  like any error, with its own status id (``STATUS$ERROR_LLM_AUTHENTICATION`` …). An
  :class:`~ohtui.agent.signals.ActionError` (a malformed tool call) is recorded as an ``error`` observation (agent,
  with the tool call's metadata) and the agent steps again.
* **Always allow** (ohtui extension): ``change_agent_state user_confirmed`` whose args carry
  ``"ohtui_always_allow": true`` confirms the pending action and turns confirmation mode off for the rest of this
  controller's life (the flag is removed before the action is stored, so the store stays upstream-clean; a restart
  asks again). :meth:`AgentController.allow_all` does the same in process.
* **User state changes** (anything else is refused by :meth:`AgentController.check`, nothing stored): ``stopped``
  while running, paused, awaiting_user_confirmation, user_confirmed or rate_limited; ``paused`` while running or
  user_confirmed (the step in flight, and the action it returns, still complete); ``running`` from paused (the loop
  resumes) or from stopped, error, rate_limited, finished, rejected, awaiting_user_input (the agent steps again
  without a new message, with a fresh ``max_iterations`` budget); ``user_confirmed``/``user_rejected`` only while
  awaiting_user_confirmation. Messages are accepted in every state but loading: during awaiting_user_confirmation
  the pending action is rejected first (re-added ``rejected`` + ``user_rejected`` observation, no state changes);
  one that arrives while the agent is stepping is seen at its next step, and if that step settled the agent
  (awaiting_user_input, finished, rejected) it is recorded and followed at once by ``running``. The user's runnable
  actions (the terminal's ``run``) go to the same runtime, one at a time with the agent's; their observations are
  stored with source user (as upstream) and leave the agent state alone.
* **Restart** (``start()`` on a non-empty store): the state is the last recorded ``agent_state_changed``. If that was
  transient (loading, running, user_confirmed, user_rejected, rate_limited) the previous process died mid-run: the
  runnable action left without an observation gets the ``..._ERROR`` error observation and the state becomes
  ``awaiting_user_input`` with reason "The server restarted while the agent was running.". An action awaiting
  confirmation stays pending. Other states are restored as they are; nothing is stored unless an action was left
  without an observation (it gets the same error observation).
* **Close**: the loop is cancelled and the runtime interrupted and closed; nothing is recorded, so an agent that was
  mid-run is marked by the next restart (above). A result the runtime returns within ``close_timeout`` is stored.

Concurrency: all of this runs on one asyncio loop. State changes and the events they store happen under one lock
(the only await inside it is the runtime's ``interrupt`` on stop), so every sequence above is contiguous; the slow
parts (``agent.step``, ``runtime.run_action``) run outside the lock, and a generation counter (``_run``) makes a loop
that was stopped while it was away unable to store anything when it comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from ohtui.agent.base import Agent, Runtime, is_runnable
from ohtui.agent.errors import IllegalAction, MaxIterationsReached
from ohtui.agent.history import StoredHistory, first_user_message_id, last_agent_state, unanswered_agent_action
from ohtui.agent.signals import ActionError, AgentFailure, reporting_to
from ohtui.protocol import (
    Action,
    ActionConfirmationStatus,
    AgentFinishAction,
    AgentRejectAction,
    AgentState,
    AgentStateChangedExtras,
    AgentStateChangedObservation,
    AgentThinkAction,
    AgentThinkObservation,
    ChangeAgentStateAction,
    ChangeAgentStateArgs,
    ErrorExtras,
    ErrorObservation,
    Event,
    EventSource,
    MessageAction,
    NullAction,
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
    UserRejectObservation,
    event_from_dict,
    event_to_dict,
)
from ohtui.protocol.rules import AGENT_TARGETS, TRANSIENT_STATES, refusal

if TYPE_CHECKING:
    from ohtui.store import EventStore

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

log = logging.getLogger(__name__)

# Wire-visible strings a V0 client or agent may recognise (§1.7, §2.6).
ERROR_ACTION_NOT_EXECUTED_STOPPED_ID = "AGENT_ERROR$ERROR_ACTION_NOT_EXECUTED_STOPPED"
ERROR_ACTION_NOT_EXECUTED_STOPPED = "Stop button pressed. The action has not been executed."
ERROR_ACTION_NOT_EXECUTED_ERROR_ID = "AGENT_ERROR$ERROR_ACTION_NOT_EXECUTED_ERROR"
ERROR_ACTION_NOT_EXECUTED_ERROR = (
    "The action has not been executed due to a runtime error. The runtime may have been restarted, so state it"
    " held (running processes, environment variables, the working directory) may be gone."
)
USER_REJECTED = "Action has been rejected by the user! Waiting for further user input."
THOUGHT_LOGGED = "Your thought has been logged."
RESTART_REASON = "The server restarted while the agent was running."
NO_RUNTIME = "No runtime is attached to this conversation, so the action was not executed."
# ohtui-only arg of a user's ``change_agent_state user_confirmed``: confirm, and stop asking in this session.
ALWAYS_ALLOW_ARG = "ohtui_always_allow"

_USER_KINDS = "message, change_agent_state and the runnable kinds (run, run_ipython, read, write, edit, browse, …)"


_E = TypeVar("_E", bound=Event)


def _same_class(template: _E, event: Event) -> _E:
    if not isinstance(event, type(template)):
        raise TypeError(f"expected a {type(template).__name__}, got {type(event).__name__}")
    return event


def _rebuild(event: _E, **args: Any) -> _E:
    """A fresh, unstored copy of ``event`` with some ``args`` replaced; ``message`` is derived again."""
    data = event_to_dict(event)
    for key in ("id", "timestamp", "source"):
        data.pop(key, None)
    if args:
        data["args"] = {**data["args"], **args}
    return _same_class(event, event_from_dict(data))


def _state_action(state: AgentState) -> ChangeAgentStateAction:
    return ChangeAgentStateAction(args=ChangeAgentStateArgs(agent_state=state))


def _reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


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
        self.events = events
        self.agent = agent
        provided = getattr(agent, "provided_runtime", None)
        self._displaced_runtime = runtime if provided is not None else None
        if provided is None and runtime is None and callable(default := getattr(agent, "default_runtime", None)):
            provided = default()
        self.runtime = provided if provided is not None else runtime
        self.confirmation_mode = confirmation_mode or getattr(agent, "confirmation_mode", False) is True
        self.max_iterations = max_iterations
        self.working_dir = working_dir
        self.close_timeout = close_timeout
        self._on_status = on_status
        self._on_state = on_state

        self._state = AgentState.LOADING
        self._started = False
        self._closed = False
        self._lock = asyncio.Lock()
        self._changed = asyncio.Event()  # replaced after every change: waiters hold the old one
        self._run = 0  # generation of the agent loop; bumped by stop and close
        self._loop_task: asyncio.Task[None] | None = None
        self._pending: Action | None = None  # stored runnable agent action still without an observation
        self._to_execute: Action | None = None  # _pending, once the loop may run it
        self._agent_call: asyncio.Task[Observation] | None = None  # the runtime call for _pending
        self._runtime_lock = asyncio.Lock()
        self._runtime_busy_with: Action | None = None
        self._stepping = False
        self._iterations = 0
        self._user_messages = 0  # user messages seen; tells a loop that input arrived while it was stepping
        self._tasks: set[asyncio.Task[Any]] = set()
        self._first_user_message_id: int | None = None  # found on the first user message, then kept

    # ----------------------------------------------------------------------------------------------- observing

    @property
    def state(self) -> AgentState:
        return self._state

    @property
    def pending_action(self) -> Action | None:
        """The agent's runnable action that is awaiting confirmation or running, as stored."""
        return self._pending

    @property
    def active(self) -> bool:
        """True while the agent is thinking (``step``) or its action is running."""
        return self._stepping or self._agent_call is not None

    @property
    def closed(self) -> bool:
        return self._closed

    async def wait_until(self, predicate: Callable[[], bool], timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Return once ``predicate()`` holds; it is re-checked after every event or state change this stores."""
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    await self._changed.wait()
        except TimeoutError:
            raise TimeoutError(f"condition not met within {timeout} s (agent state: {self._state})") from None

    async def wait_for_state(self, *states: AgentState, timeout: float | None = None) -> AgentState:  # noqa: ASYNC109
        """Return the state once it is one of ``states``; raise :class:`TimeoutError` after ``timeout`` seconds."""
        try:
            await self.wait_until(lambda: self._state in states, timeout)
        except TimeoutError:
            wanted = ", ".join(s.value for s in states)
            raise TimeoutError(f"agent state is {self._state}, not {wanted}, after {timeout} s") from None
        return self._state

    # ----------------------------------------------------------------------------------------------- lifecycle

    async def start(self, initial_message: MessageAction | None = None) -> None:
        """Record a new conversation's start, or restore an existing one's state (see the module docstring)."""
        if self._started:
            raise RuntimeError("AgentController.start() was already called")
        self._started = True
        async with self._lock:
            last = last_agent_state(self.events)
            if last is None:
                self._begin(initial_message)
            else:
                self._status(RuntimeStatus.STARTING_RUNTIME)
                self._status(RuntimeStatus.RUNTIME_STARTED)
                self._status(RuntimeStatus.READY)
                self._restore(last.agent_state)
                if initial_message is not None:
                    stored = self._append(initial_message, EventSource.USER)
                    self._on_user_message(stored)

    def _begin(self, initial_message: MessageAction | None) -> None:
        self._record_state(AgentState.LOADING)
        self._status(RuntimeStatus.STARTING_RUNTIME)
        self._status(RuntimeStatus.RUNTIME_STARTED)
        self._status(RuntimeStatus.READY)
        system = self._system_message()
        if system is not None:
            self._append(system, EventSource.AGENT)
        if initial_message is None:
            self._append(_state_action(AgentState.AWAITING_USER_INPUT), EventSource.ENVIRONMENT)
            self._set_state(AgentState.AWAITING_USER_INPUT)
            return
        stored = self._append(initial_message, EventSource.USER)
        self._append(_state_action(AgentState.RUNNING), EventSource.ENVIRONMENT)
        self._on_user_message(stored)

    def _system_message(self) -> SystemMessageAction | None:
        try:
            return self.agent.system_message()
        except Exception:
            log.exception("agent %s: system_message() failed; starting without one", self._agent_name)
            return None

    def _restore(self, state: AgentState) -> None:
        self._state = state
        action = unanswered_agent_action(self.events)
        unanswered = action is not None
        if unanswered and state is AgentState.AWAITING_USER_CONFIRMATION:
            self._pending = action
        elif unanswered and action is not None:
            self._pending = action
            self._answer_pending(ERROR_ACTION_NOT_EXECUTED_ERROR, ERROR_ACTION_NOT_EXECUTED_ERROR_ID)
        if state in TRANSIENT_STATES or (state is AgentState.AWAITING_USER_CONFIRMATION and self._pending is None):
            self._set_state(AgentState.AWAITING_USER_INPUT, reason=RESTART_REASON)
        else:
            self._emit(self._on_state, state)
            self._notify()

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
            self._run += 1
            self._to_execute = None
            loop_task, self._loop_task = self._loop_task, None
            agent_call, pending = self._agent_call, self._pending
        if loop_task is not None:
            loop_task.cancel()
        if self._runtime_busy_with is not None:
            await self._interrupt_runtime()
        waiting: set[asyncio.Task[Any]] = {t for t in (loop_task, agent_call) if t is not None} | self._tasks
        if waiting:
            await asyncio.wait(waiting, timeout=self.close_timeout)
        if agent_call is not None and pending is not None and agent_call.done() and not agent_call.cancelled():
            async with self._lock:
                if agent_call.exception() is None and self._pending is pending:
                    self._store_observation(pending, agent_call.result())
        for task in list(self._tasks):
            task.cancel()
        self._agent_call = None
        self._stepping = False
        for runtime in (self.runtime, self._displaced_runtime):
            if runtime is not None:
                try:
                    await runtime.close()
                except Exception:
                    log.exception("agent %s: runtime.close() failed", self._agent_name)
        aclose = getattr(self.agent, "aclose", None)
        if aclose is not None:
            try:
                await aclose()
            except Exception:
                log.exception("agent %s: aclose() failed", self._agent_name)
        self._notify()

    # ----------------------------------------------------------------------------------------------- user input

    def check(self, action: Event) -> str | None:
        """Why this user action is refused now, or None if :meth:`submit` would accept it."""
        if self._closed:
            return "this conversation is closed"
        if not isinstance(action, Action):
            return f"only actions can be sent to the agent, not a {action.kind!r} observation"
        kind = action.kind
        if not (kind in ("message", "change_agent_state") or is_runnable(action)):
            return f"a user cannot send a {kind!r} action (accepted: {_USER_KINDS})"
        if not self._started or self._state is AgentState.LOADING:
            return "the agent is still starting; try again when it is ready"
        if not isinstance(action, ChangeAgentStateAction):
            return None
        return self._check_transition(action.args.agent_state)

    def _check_transition(self, target: AgentState) -> str | None:
        return refusal(target, self._state)

    async def submit(self, action: Action) -> Event:
        """Store a user action (source user, new id, server timestamp) and react to it; return the stored event.

        Raises :class:`IllegalAction` (nothing stored) if :meth:`check` refuses it.
        """
        stopped_task: asyncio.Task[None] | None = None
        async with self._lock:
            refusal = self.check(action)
            if refusal is not None:
                raise IllegalAction(refusal)
            if isinstance(action, ChangeAgentStateAction) and ALWAYS_ALLOW_ARG in (action.args.model_extra or {}):
                action = self._take_always_allow(action)
            stored = self._append(action, EventSource.USER)
            if isinstance(stored, MessageAction):
                self._on_user_message(stored)
            elif isinstance(stored, ChangeAgentStateAction):
                stopped_task = await self._on_user_state(stored.args.agent_state)
            else:
                self._spawn(self._run_user_action(stored))
        if stopped_task is not None:
            # Let the cancelled loop unwind, so the caller sees a quiet controller; it cannot store anything.
            await asyncio.wait({stopped_task}, timeout=self.close_timeout)
        return stored

    async def allow_all(self) -> Event | None:
        """Always allow in this session: no more confirmations; the action awaiting one (if any) runs now.

        Returns the stored ``user_confirmed`` action, or None if nothing was awaiting confirmation.
        """
        self.confirmation_mode = False
        if self._state is not AgentState.AWAITING_USER_CONFIRMATION:
            return None
        try:
            return await self.submit(_state_action(AgentState.USER_CONFIRMED))
        except IllegalAction:  # the state moved on meanwhile: nothing left to confirm
            return None

    def _take_always_allow(self, action: ChangeAgentStateAction) -> ChangeAgentStateAction:
        """Apply the ohtui-only flag of a user_confirmed and return the action without it (what gets stored)."""
        extra = action.args.model_extra or {}
        if extra.get(ALWAYS_ALLOW_ARG) is True and action.args.agent_state is AgentState.USER_CONFIRMED:
            self.confirmation_mode = False
        data = event_to_dict(action)
        data["args"].pop(ALWAYS_ALLOW_ARG, None)
        return _same_class(action, event_from_dict(data))

    def _on_user_message(self, message: MessageAction) -> None:
        self._user_messages += 1
        if self._state is AgentState.AWAITING_USER_CONFIRMATION and self._pending is not None:
            # The user answered with a message instead of the buttons: the pending action is not run.
            self._reject_pending()
        if self._first_user_message_id is None:
            self._first_user_message_id = first_user_message_id(self.events)
        is_first = self._first_user_message_id == message.id
        recall_type = RecallType.WORKSPACE_CONTEXT if is_first else RecallType.KNOWLEDGE
        recall_action = RecallAction(args=RecallArgs(recall_type=recall_type, query=message.args.content))
        recall = self._append(recall_action, EventSource.USER)
        self._iterations = 0
        self._set_state(AgentState.RUNNING)
        answer: Observation
        if is_first:
            extras = RecallExtras(
                recall_type=RecallType.WORKSPACE_CONTEXT,
                working_dir=self.working_dir,
                date=str(datetime.now(UTC).date()),
            )
            answer = RecallObservation(content="Added workspace context", extras=extras, cause=recall.id)
        else:
            answer = NullObservation(content="", cause=recall.id)
        self._append(answer, EventSource.ENVIRONMENT)
        self._ensure_loop()

    async def _on_user_state(self, target: AgentState) -> asyncio.Task[None] | None:
        """Apply a user's legal state change; return the loop task a stop cancelled, if any."""
        if target is AgentState.STOPPED:
            return await self._stop()
        if target is AgentState.PAUSED:
            self._set_state(AgentState.PAUSED)
        elif target is AgentState.RUNNING:
            if self._state is not AgentState.PAUSED:
                self._iterations = 0
            self._set_state(AgentState.RUNNING)
            self._ensure_loop()
        elif target is AgentState.USER_CONFIRMED:
            assert self._pending is not None
            self._to_execute = self._readd_pending(ActionConfirmationStatus.CONFIRMED)
            self._set_state(AgentState.USER_CONFIRMED)
            self._ensure_loop()
        elif target is AgentState.USER_REJECTED:
            assert self._pending is not None
            self._reject_pending(record_states=True)
        return None

    async def _stop(self) -> asyncio.Task[None] | None:
        self._run += 1
        loop_task, self._loop_task = self._loop_task, None
        if loop_task is not None:
            loop_task.cancel()
        self._to_execute = None
        if self._agent_call is not None:
            if self._runtime_busy_with is self._pending:
                await self._interrupt_runtime()
            else:  # not started yet (waiting for the runtime): it must not start
                self._agent_call.cancel()
        self._agent_call = None
        self._stepping = False
        self._set_state(AgentState.STOPPED)
        return loop_task

    def _readd_pending(self, status: ActionConfirmationStatus) -> Action:
        """Store the pending action again (new id, thought cleared) with its confirmation decision."""
        pending = self._pending
        assert pending is not None
        changes: dict[str, Any] = {}
        args = event_to_dict(pending)["args"]
        if "thought" in args:
            changes["thought"] = ""
        if "confirmation_state" in args:
            changes["confirmation_state"] = status.value
        readded = self._append(_rebuild(pending, **changes), EventSource.AGENT)
        self._pending = readded
        return readded

    def _reject_pending(self, *, record_states: bool = False) -> None:
        rejected = self._readd_pending(ActionConfirmationStatus.REJECTED)
        if record_states:
            self._set_state(AgentState.USER_REJECTED)
        self._pending = None
        self._append(
            UserRejectObservation(
                content=USER_REJECTED, cause=rejected.id, tool_call_metadata=rejected.tool_call_metadata
            ),
            rejected.source or EventSource.AGENT,
        )
        if record_states:
            self._set_state(AgentState.AWAITING_USER_INPUT)

    async def _run_user_action(self, action: Action) -> None:
        """A runnable action the user sent (the terminal): run it, store the result (source user, cause)."""
        try:
            observation = await self._call_runtime(action)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.warning("agent %s: runtime failed on a user action: %s", self._agent_name, _reason(error))
            observation = ErrorObservation(content=_reason(error))
        async with self._lock:
            self._store_observation(action, observation)

    # ----------------------------------------------------------------------------------------------- agent loop

    def _ensure_loop(self) -> None:
        """Start the agent loop unless one is alive (a live loop re-reads the state before every step)."""
        if self._closed or (self._loop_task is not None and not self._loop_task.done()):
            return
        self._loop_task = asyncio.create_task(self._agent_loop(self._run), name=f"agent-loop-{self._agent_name}")

    async def _agent_loop(self, run: int) -> None:
        """Step the agent while the state is running; execute what it asks for; wait while paused."""
        try:
            while True:
                to_run: Action | None = None
                history: Sequence[Event] | None = None
                seen_messages = 0
                async with self._lock:
                    if run != self._run:
                        return
                    if self._to_execute is not None:
                        # Runs even if the user paused meanwhile: pausing halts the loop after the current step.
                        to_run, self._to_execute = self._to_execute, None
                    elif self._state is AgentState.PAUSED:
                        pass
                    elif self._state is not AgentState.RUNNING:
                        return
                    elif self._iterations >= self.max_iterations:
                        self._fail(
                            MaxIterationsReached(
                                f"the agent took {self._iterations} steps since the user last spoke"
                                f" (max_iterations={self.max_iterations}); send a message or resume to continue"
                            )
                        )
                        return
                    else:
                        self._iterations += 1
                        history = self._agent_history()
                        seen_messages = self._user_messages
                        self._stepping = True
                        self._notify()
                if to_run is not None:
                    if not await self._execute(run, to_run):
                        return
                elif history is None:
                    await self.wait_until(lambda: run != self._run or self._state is not AgentState.PAUSED)
                else:
                    await self._step(run, history, seen_messages)
        finally:
            if self._loop_task is asyncio.current_task():
                self._loop_task = None
                self._stepping = False
                self._notify()

    async def _step(self, run: int, history: Sequence[Event], seen_messages: int) -> None:
        try:
            with reporting_to(_Reporter(self, run)):
                action = await self.agent.step(history)
            if not isinstance(action, Action):
                raise TypeError(f"{self._agent_name}.step() returned {type(action).__name__}, not an Action")
        except ActionError as error:
            async with self._lock:
                if run == self._run:
                    self._stepping = False
                    self._end_rate_limit()
                    log.info("agent %s: step gave an error for the model: %s", self._agent_name, error)
                    self._append(
                        ErrorObservation(content=str(error), tool_call_metadata=error.tool_call_metadata),
                        EventSource.AGENT,
                    )
            return
        except Exception as error:
            async with self._lock:
                if run == self._run:
                    self._stepping = False
                    log.warning("agent %s: step failed: %s", self._agent_name, _reason(error))
                    self._fail(error)
            return
        async with self._lock:
            if run != self._run:
                return
            self._stepping = False
            self._end_rate_limit()
            self._to_execute = self._on_agent_action(action, seen_messages)
            self._notify()

    def _end_rate_limit(self) -> None:
        if self._state is AgentState.RATE_LIMITED:
            self._set_state(AgentState.RUNNING)

    async def _on_retry(self, run: int, attempt: int, attempts: int, rate_limited: bool) -> None:
        """The agent's LLM request failed and will be retried (see :mod:`ohtui.agent.signals`)."""
        async with self._lock:
            if run != self._run:
                return
            self._status(RuntimeStatus.LLM_RETRY, f"Retrying LLM request, {attempt} / {attempts}")
            if rate_limited and self._state is AgentState.RUNNING:
                self._set_state(AgentState.RATE_LIMITED)

    def _on_agent_action(self, action: Action, seen_messages: int) -> Action | None:
        """Store the agent's action and apply its consequences; return it if the runtime must run it now."""
        if isinstance(action, NullAction):
            return None
        if is_runnable(action):
            if self.confirmation_mode:
                if "confirmation_state" in type(action.args).model_fields:
                    action = _rebuild(action, confirmation_state=ActionConfirmationStatus.AWAITING_CONFIRMATION.value)
                self._set_state(AgentState.AWAITING_USER_CONFIRMATION)
                self._pending = self._append(action, EventSource.AGENT)
                return None
            self._pending = self._append(action, EventSource.AGENT)
            return self._pending
        stored = self._append(action, EventSource.AGENT)
        if isinstance(stored, AgentThinkAction):
            self._append(
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
        self._set_state(state)
        if self._user_messages != seen_messages and state is not AgentState.PAUSED:
            self._set_state(AgentState.RUNNING)

    async def _execute(self, run: int, action: Action) -> bool:
        """Run the agent's action in the runtime and store the result; whether the loop may go on."""
        call = asyncio.ensure_future(self._call_runtime(action))
        self._tasks.add(call)
        call.add_done_callback(self._tasks.discard)
        call.add_done_callback(_consume)
        self._agent_call = call
        self._notify()
        try:
            observation = await asyncio.shield(call)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            async with self._lock:
                if run != self._run:
                    return False
                self._agent_call = None
                log.warning("agent %s: runtime failed: %s", self._agent_name, _reason(error))
                self._fail(error)
                return False
        async with self._lock:
            if run != self._run:
                log.info("agent %s: dropping the result of %s, the run was stopped", self._agent_name, action.kind)
                return False
            self._agent_call = None
            self._store_observation(action, observation)
            if self._state is AgentState.USER_CONFIRMED:
                self._set_state(AgentState.RUNNING)
            return True

    async def _call_runtime(self, action: Action) -> Observation:
        async with self._runtime_lock:
            if self.runtime is None:
                return ErrorObservation(content=NO_RUNTIME)
            self._runtime_busy_with = action
            try:
                observation = await self.runtime.run_action(action)
            finally:
                self._runtime_busy_with = None
        if not isinstance(observation, Observation):
            raise TypeError(f"runtime.run_action() returned {type(observation).__name__}, not an Observation")
        return observation

    async def _interrupt_runtime(self) -> None:
        if self.runtime is None:
            return
        try:
            await self.runtime.interrupt()
        except Exception:
            log.exception("agent %s: runtime.interrupt() failed", self._agent_name)

    def _store_observation(self, action: Action, observation: Observation) -> None:
        """Upstream's runtime rule: cause = the action, its tool_call_metadata, its source; null ones dropped."""
        if action is self._pending:
            self._pending = None
        if isinstance(observation, NullObservation):
            return
        observation = observation.model_copy(
            update={"cause": action.id, "tool_call_metadata": action.tool_call_metadata}
        )
        self._append(observation, action.source or EventSource.AGENT)

    def _fail(self, error: BaseException) -> None:
        reason = _reason(error)
        status = error.status if isinstance(error, AgentFailure) else RuntimeStatus.ERROR
        self._status(status, reason, level="error")
        self._set_state(AgentState.ERROR, reason=reason)

    def _agent_history(self) -> Sequence[Event]:
        """What the agent may see, as stored when this step begins: streamed from the store, not kept here."""
        return StoredHistory(self.events, self.events.latest_id())

    # ----------------------------------------------------------------------------------------------- recording

    def _set_state(self, state: AgentState, reason: str = "") -> None:
        """Move to ``state`` and record it; no event when it does not change (as upstream)."""
        if state is self._state:
            return
        self._state = state
        if state is AgentState.STOPPED:
            self._reset(ERROR_ACTION_NOT_EXECUTED_STOPPED, ERROR_ACTION_NOT_EXECUTED_STOPPED_ID)
        elif state is AgentState.ERROR:
            self._reset(ERROR_ACTION_NOT_EXECUTED_ERROR, ERROR_ACTION_NOT_EXECUTED_ERROR_ID)
        self._record_state(state, reason)

    def _record_state(self, state: AgentState, reason: str = "") -> None:
        self._state = state
        extras = AgentStateChangedExtras(agent_state=state, reason=reason)
        self._append(AgentStateChangedObservation(extras=extras), EventSource.ENVIRONMENT)
        self._emit(self._on_state, state)

    def _reset(self, content: str, error_id: str) -> None:
        """A run ended early: answer the action it left without an observation, let the agent forget."""
        self._answer_pending(content, error_id)
        self._agent_call = None
        try:
            self.agent.reset()
        except Exception:
            log.exception("agent %s: reset() failed", self._agent_name)

    def _answer_pending(self, content: str, error_id: str) -> None:
        pending, self._pending = self._pending, None
        if pending is None:
            return
        self._append(
            ErrorObservation(
                content=content,
                extras=ErrorExtras(error_id=error_id),
                cause=pending.id,
                tool_call_metadata=pending.tool_call_metadata,
            ),
            pending.source or EventSource.AGENT,
        )

    def _append(self, event: _E, source: EventSource) -> _E:
        if event.id is not None or event.timestamp is not None or event.source is not None:
            event = event.model_copy(update={"id": None, "timestamp": None, "source": None})
        stored = self.events.append(event, source)
        self._notify()
        return _same_class(event, stored)

    def _status(self, status: RuntimeStatus, message: str = "", level: str = "info") -> None:
        self._emit(self._on_status, StatusUpdate(type=level, id=status.value, message=message))

    def _emit(self, callback: Callable[[Any], object] | None, value: Any) -> None:
        if callback is None:
            return
        try:
            result = callback(value)
            if inspect.isawaitable(result):
                self._spawn(result)
        except Exception:
            log.exception("agent %s: callback %r failed", self._agent_name, callback)

    def _spawn(self, awaitable: Any) -> None:
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_consume)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    @property
    def _agent_name(self) -> str:
        return getattr(self.agent, "name", type(self.agent).__name__)


class _Reporter:
    """What the agent's :func:`~ohtui.agent.signals.report_retry` reaches during one step of one run."""

    def __init__(self, controller: AgentController, run: int) -> None:
        self._controller = controller
        self._run = run

    async def retrying(self, attempt: int, attempts: int, *, rate_limited: bool) -> None:
        await self._controller._on_retry(self._run, attempt, attempts, rate_limited)


def _is_user_message(event: Event) -> bool:
    return isinstance(event, MessageAction) and event.source is EventSource.USER


def _consume(task: asyncio.Future[Any]) -> None:
    """Retrieve a background task's exception so asyncio does not report it as never retrieved."""
    if not task.cancelled():
        with contextlib.suppress(Exception):
            task.exception()
