"""What one step reads of a conversation, so that a request fits the model's window however long the conversation.

A step never reads the whole history. It reads, from the store (through the history the controller gives it):

* the latest ``condensation`` action (V0's ``CondensationAction``: a summary and the range of ids it replaces),
  found with one search from the end that checks the kind in SQL; :class:`Context` remembers it, so later steps
  search only the rows stored since;
* the **head**: the first events, kept word for word: those before the condensation's range, else the events up to
  the first user message (the task); at most :data:`HEAD_SCAN` events are looked at;
* the **tail**: the events after the condensation's range (after the head when there is none), read backwards from
  the newest until the range, the head or the budget's ``reach`` stops it.

A request is head, summary, tail (:meth:`Recent.view`). When it would pass the budget's limit, or the tail did not
reach back that far (a long conversation that was never condensed), :mod:`~ohtui.agent.llm.condenser` replaces the
tail's older part with a summary. The rows read are bounded by the budget, not by the conversation's length.

An upstream condensation that lists ids (``forgotten_event_ids``) is read as the range from its lowest to its
highest id; earlier condensations are superseded by the latest one, as ours always cover the ones before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ohtui.agent.history import StoredHistory
from ohtui.agent.llm.prompt import PromptView, shown_chars
from ohtui.agent.llm.window import MESSAGE_TOKENS, Budget, text_tokens
from ohtui.protocol import CondensationAction, Event, EventSource, MessageAction

__all__ = ["HEAD_SCAN", "SUMMARY_LEAD", "Context", "Recent", "event_tokens", "forgotten_range"]

HEAD_SCAN = 64
"""The most events looked at, from the start, for the head."""
SUMMARY_LEAD = "A summary of the earlier part of this conversation, in place of its events:"


def event_tokens(event: Event) -> int:
    """The estimated tokens ``event`` adds to a request (0 when the model is not shown it)."""
    chars = shown_chars(event)
    return text_tokens(chars) + MESSAGE_TOKENS if chars else 0


def forgotten_range(condensation: CondensationAction) -> tuple[int, int] | None:
    """The first and last ids ``condensation`` replaces, or None if it names none."""
    ids = condensation.args.forgotten_event_ids
    if ids:
        return min(ids), max(ids)
    start, end = condensation.args.forgotten_events_start_id, condensation.args.forgotten_events_end_id
    return None if start is None or end is None else (start, end)


@dataclass(frozen=True)
class Recent:
    """What a step read: the head, the latest condensation, the tail (oldest first) and each tail event's tokens."""

    head: list[Event]
    condensation: CondensationAction | None
    tail: list[Event]
    sizes: list[int]
    complete: bool
    """The tail reaches back to the condensation's range (or the head, or the start): nothing between is unread."""

    @property
    def summary(self) -> str | None:
        """The latest condensation's summary, as the request shows it."""
        text = self.condensation.args.summary if self.condensation is not None else None
        return f"{SUMMARY_LEAD}\n{text}" if text else None

    @property
    def events(self) -> list[Event]:
        """Every event read, oldest first."""
        middle: list[Event] = [self.condensation] if self.condensation is not None else []
        return [*self.head, *middle, *self.tail]

    def view(self) -> PromptView:
        return PromptView(self.tail, summary=self.summary, head=self.head)


class Context:
    """One conversation's reads for the LLM agent; remembers the latest condensation between steps."""

    def __init__(self) -> None:
        self._latest: CondensationAction | None = None
        self._searched_to = -1

    def read(self, history: Sequence[Event], budget: Budget) -> Recent:
        condensation = self.latest_condensation(history)
        head = _head(history, condensation)
        boundary = _boundary(head, condensation)
        tail, sizes, complete = _read_back(history, boundary, budget.reach)
        if complete and boundary is None and head:  # read back to the start: the head is there too
            del tail[: len(head)], sizes[: len(head)]
        return Recent(head, condensation, tail, sizes, complete)

    def latest_condensation(self, history: Sequence[Event]) -> CondensationAction | None:
        """The newest condensation in ``history``: a search of the rows stored since the last one."""
        if not isinstance(history, StoredHistory):
            return next((e for e in reversed(history) if isinstance(e, CondensationAction)), None)
        if history.end_id < self._searched_to:  # not the history this agent has been reading: start again
            self._latest, self._searched_to = None, -1
        found = history.last((CondensationAction,), after=self._searched_to)
        self._searched_to = history.end_id
        if isinstance(found, CondensationAction):
            self._latest = found
        return self._latest


def _head(history: Sequence[Event], condensation: CondensationAction | None) -> list[Event]:
    """The events before the condensation's range, else up to the first user message (none if it is not near the
    start)."""
    forgotten = forgotten_range(condensation) if condensation is not None else None
    head: list[Event] = []
    for event in history:
        if forgotten is not None and (event.id is None or event.id >= forgotten[0]):
            return head
        if len(head) == HEAD_SCAN:
            return head if forgotten is not None else []
        head.append(event)
        if forgotten is None and isinstance(event, MessageAction) and event.source is EventSource.USER:
            return head
    return head if forgotten is not None else []


def _boundary(head: list[Event], condensation: CondensationAction | None) -> int | None:
    """The id at or below which nothing belongs in the tail (None: read back to the start)."""
    forgotten = forgotten_range(condensation) if condensation is not None else None
    if forgotten is not None:
        return forgotten[1]
    return head[-1].id if head else None


def _read_back(history: Sequence[Event], boundary: int | None, reach: int) -> tuple[list[Event], list[int], bool]:
    """The newest events down to ``boundary`` (exclusive) or until ``reach`` tokens are read, oldest first, with
    their tokens; whether the boundary (or the start) was reached. Each event counts at least a message's worth
    towards ``reach``, so events the model is not shown cannot make the read unbounded."""
    tail: list[Event] = []
    sizes: list[int] = []
    read = 0
    complete = True
    for event in reversed(history):
        if boundary is not None and event.id is not None and event.id <= boundary:
            break
        if read > reach:
            complete = False
            break
        size = event_tokens(event)
        tail.append(event)
        sizes.append(size)
        read += max(size, MESSAGE_TOKENS)
    tail.reverse()
    sizes.reverse()
    return tail, sizes, complete
