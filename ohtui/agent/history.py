"""What the controller reads from the store instead of keeping a conversation's events in memory.

A server holds many conversations that nobody is looking at; keeping every parsed event of each one costs about
2 KB per event. The controller keeps none: it asks the store the few questions it has (the last agent state, the
last runnable agent action, the first user message) with filtered searches, and gives an agent a
:class:`StoredHistory`, a read-only sequence that streams from the store while the agent reads it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import overload

from ohtui.agent.base import RUNNABLE_KINDS
from ohtui.protocol import (
    ACTION_TYPES,
    Action,
    AgentStateChangedObservation,
    Event,
    EventSource,
    MessageAction,
    Observation,
)
from ohtui.store import EventFilter, EventStore

VISIBLE = EventFilter(exclude_hidden=True)
_STATES = EventFilter(include_types=(AgentStateChangedObservation,))
_USER_MESSAGES = EventFilter(include_types=(MessageAction,), source=EventSource.USER.value)
_RUNNABLE_BY_AGENT = EventFilter(
    include_types=tuple(cls for kind, cls in ACTION_TYPES.items() if kind in RUNNABLE_KINDS),
    source=EventSource.AGENT.value,
)
_OBSERVATIONS = EventFilter(include_types=(Observation,))


class StoredHistory(Sequence[Event]):
    """The events an agent may see (stored, not hidden) with ids up to ``end_id``, oldest first.

    Iterating (forwards or with ``reversed``) streams from the store, so an agent that looks back for the last
    user message reads a few rows, not the conversation. ``len`` and indexing load the whole history once and keep
    it for the life of this object (one agent step).
    """

    def __init__(self, events: EventStore, end_id: int) -> None:
        self._events = events
        self.end_id = end_id
        self._loaded: list[Event] | None = None

    def __iter__(self) -> Iterator[Event]:
        if self._loaded is not None:
            return iter(self._loaded)
        return self._events.search(0, self.end_id, filter=VISIBLE)

    def __reversed__(self) -> Iterator[Event]:
        if self._loaded is not None:
            return reversed(self._loaded)
        return self._events.search(0, self.end_id, reverse=True, filter=VISIBLE)

    def __len__(self) -> int:
        return len(self._load())

    @overload
    def __getitem__(self, index: int) -> Event: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Event]: ...

    def __getitem__(self, index: int | slice) -> Event | Sequence[Event]:
        return self._load()[index]

    def last(self, types: tuple[type[Event], ...], after: int = -1) -> Event | None:
        """The newest event of ``types`` with an id above ``after``: one search from the end, the type checked in SQL
        on the rows' kind column, so rows of other kinds are skipped unparsed."""
        found = self._events.search(after + 1, self.end_id, reverse=True, filter=_visible_of(types), limit=1)
        return next(found, None)

    def _load(self) -> list[Event]:
        if self._loaded is None:
            self._loaded = list(iter(self))
        return self._loaded

    def __repr__(self) -> str:
        return f"StoredHistory({self._events.conversation_id!r}, end_id={self.end_id})"


def _visible_of(types: tuple[type[Event], ...]) -> EventFilter:
    return EventFilter(exclude_hidden=True, include_types=types)


def last_agent_state(events: EventStore) -> AgentStateChangedObservation | None:
    found = next(events.search(reverse=True, filter=_STATES, limit=1), None)
    return found if isinstance(found, AgentStateChangedObservation) else None


def first_user_message_id(events: EventStore) -> int | None:
    found = next(events.search(filter=_USER_MESSAGES, limit=1), None)
    return None if found is None else found.id


def unanswered_agent_action(events: EventStore) -> Action | None:
    """The agent's last runnable action if no observation answers it (a restart interrupted it), else None."""
    action = next(events.search(reverse=True, filter=_RUNNABLE_BY_AGENT, limit=1), None)
    if not isinstance(action, Action) or action.id is None:
        return None
    answers = events.search(start_id=action.id + 1, filter=_OBSERVATIONS)
    if any(observation.cause == action.id for observation in answers):
        return None
    return action
