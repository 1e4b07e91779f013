"""The one writer of a conversation's events: every event the controller stores goes through a :class:`Recorder`.

It also keeps the agent state those events record, tells the server about new states and status updates, and wakes
whoever waits for a change (see ``ohtui/agent/README.md`` for the sequences it records).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ohtui.agent.controller.tasks import BackgroundTasks
from ohtui.protocol import (
    Action,
    AgentState,
    AgentStateChangedExtras,
    AgentStateChangedObservation,
    ErrorExtras,
    ErrorObservation,
    Event,
    EventSource,
    NullObservation,
    Observation,
    RuntimeStatus,
    StatusUpdate,
    event_from_dict,
    event_to_dict,
)

if TYPE_CHECKING:
    from ohtui.store import EventStore

__all__ = ["Recorder", "rebuild"]

log = logging.getLogger(__name__)

_E = TypeVar("_E", bound=Event)


def _same_class(template: _E, event: Event) -> _E:
    if not isinstance(event, type(template)):
        raise TypeError(f"expected a {type(template).__name__}, got {type(event).__name__}")
    return event


def rebuild(event: _E, *, drop: tuple[str, ...] = (), **args: Any) -> _E:
    """A fresh, unstored copy of ``event`` with some ``args`` replaced or dropped; ``message`` is derived again."""
    data = event_to_dict(event)
    for key in ("id", "timestamp", "source"):
        data.pop(key, None)
    if args or drop:
        data["args"] = {key: value for key, value in {**data["args"], **args}.items() if key not in drop}
    return _same_class(event, event_from_dict(data))


class Recorder:
    """Stores events in one conversation's :class:`EventStore`, and keeps the agent state they record.

    ``on_status`` receives status updates (not stored); ``on_state`` every new state, after its
    ``agent_state_changed`` is stored. Callbacks are called synchronously; a coroutine they return is run as a
    task of ``tasks``; their exceptions are logged and ignored. Every store, state change or :meth:`notify` wakes
    :meth:`wait_until`.
    """

    def __init__(
        self,
        events: EventStore,
        tasks: BackgroundTasks,
        *,
        name: str,
        on_status: Callable[[StatusUpdate], object] | None = None,
        on_state: Callable[[AgentState], object] | None = None,
    ) -> None:
        self.events = events
        self._tasks = tasks
        self._name = name
        self._on_status = on_status
        self._on_state = on_state
        self._state = AgentState.LOADING
        self._changed = asyncio.Event()  # replaced after every change: waiters hold the old one

    @property
    def state(self) -> AgentState:
        return self._state

    # ----------------------------------------------------------------------------------------------- events

    def append(self, event: _E, source: EventSource) -> _E:
        """Store ``event`` as new (any id, timestamp or source it carries is dropped); return it as stored."""
        if event.id is not None or event.timestamp is not None or event.source is not None:
            event = event.model_copy(update={"id": None, "timestamp": None, "source": None})
        stored = self.events.append(event, source)
        self.notify()
        return _same_class(event, stored)

    def observation(self, action: Action, observation: Observation) -> None:
        """Upstream's runtime rule: cause = the action, its tool_call_metadata, its source; null ones dropped."""
        if isinstance(observation, NullObservation):
            return
        observation = observation.model_copy(
            update={"cause": action.id, "tool_call_metadata": action.tool_call_metadata}
        )
        self.append(observation, action.source or EventSource.AGENT)

    def not_executed(self, action: Action, content: str, error_id: str) -> None:
        """Answer an action that will never run with an ``error`` observation (one of the texts' NOT_EXECUTED)."""
        self.append(
            ErrorObservation(
                content=content,
                extras=ErrorExtras(error_id=error_id),
                cause=action.id,
                tool_call_metadata=action.tool_call_metadata,
            ),
            action.source or EventSource.AGENT,
        )

    # ----------------------------------------------------------------------------------------------- states

    def set_state(self, state: AgentState, reason: str = "", *, first: Callable[[], None] | None = None) -> None:
        """Move to ``state`` and record it; no event when it does not change (as upstream).

        ``first`` runs once the state has moved, before its ``agent_state_changed`` is stored: what ends a run
        (answering its action) is stored ahead of the state that says it ended.
        """
        if state is self._state:
            return
        self._state = state
        if first is not None:
            first()
        self.record_state(state, reason)

    def record_state(self, state: AgentState, reason: str = "") -> None:
        """Store ``agent_state_changed state`` even if it is the state already held (a new conversation's loading)."""
        self._state = state
        extras = AgentStateChangedExtras(agent_state=state, reason=reason)
        self.append(AgentStateChangedObservation(extras=extras), EventSource.ENVIRONMENT)
        self._emit(self._on_state, state)

    def restore(self, state: AgentState) -> None:
        """Hold ``state`` as the store last recorded it, storing nothing; :meth:`announce` tells ``on_state``."""
        self._state = state

    def announce(self) -> None:
        self._emit(self._on_state, self._state)
        self.notify()

    def status(self, status: RuntimeStatus, message: str = "", level: str = "info") -> None:
        self._emit(self._on_status, StatusUpdate(type=level, id=status.value, message=message))

    # ----------------------------------------------------------------------------------------------- waiting

    def notify(self) -> None:
        """Wake :meth:`wait_until`: something its predicates may read has changed."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Return once ``predicate()`` holds; it is re-checked after every change this tells about."""
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    await self._changed.wait()
        except TimeoutError:
            raise TimeoutError(f"condition not met within {timeout} s (agent state: {self._state})") from None

    def _emit(self, callback: Callable[[Any], object] | None, value: Any) -> None:
        if callback is None:
            return
        try:
            result = callback(value)
            if inspect.isawaitable(result):
                self._tasks.spawn(result)
        except Exception:
            log.exception("agent %s: callback %r failed", self._name, callback)
