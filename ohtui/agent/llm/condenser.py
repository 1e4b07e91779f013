"""Condensing: older turns replaced by a summary the model writes, recorded as V0's ``condensation`` action.

When a request would pass its budget's limit (:class:`~ohtui.agent.llm.window.Budget`), the agent plans a
condensation (:func:`plan`) and spends its step on one request that asks the model to summarise (:meth:`Plan.request`,
no tools); the step's action is then a ``CondensationAction`` (:meth:`Plan.action`) with the summary, the range of
ids it replaces (``forgotten_events_start_id`` .. ``forgotten_events_end_id``: from after the head to before the
turns kept) and ``summary_offset`` (the head's length), as upstream's ``LLMSummarizingCondenser`` writes it. The
controller stores it like any agent action the runtime does not run, and the loop steps again, now from the
summary. Every viewer sees the action in the transcript; a replay of the store reproduces the same prompts.

What the summary is asked about is bounded too: the recent turns kept word for word fill at most half of what the
conversation may take (:attr:`Budget.keep`), the turns summarised the rest of a request (the newest of them, if a
conversation that was never condensed holds more: the summary is then told that earlier events are not shown),
with the previous summary and the head for context. The summary itself is cut to :attr:`Budget.summary`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ohtui.agent.llm.context import Recent
from ohtui.agent.llm.prompt import build_messages
from ohtui.agent.llm.window import CHARS_PER_TOKEN, Budget, text_tokens
from ohtui.protocol import CondensationAction, CondensationArgs, Event, Message, truncate_middle

__all__ = ["EMPTY_SUMMARY", "Plan", "plan", "transcript"]

EMPTY_SUMMARY = "(The model returned no summary of these events.)"
_MESSAGE_CHARS = 8_000
"""The most of one message a summary request shows (its middle is cut)."""
_MOST_WORDS = 1_500
_INSTRUCTIONS = """You condense the history of a conversation between a user and an AI coding agent. The agent will \
go on with the work from your summary instead of the events it replaces, so write what it needs:
- what the user asked for, their latest request word for word, and every constraint or preference they stated;
- what the agent did and found: files read, created or changed (with their paths), commands run and what they \
showed, errors and how they were resolved;
- the current state: what works, what is left to do, and what the agent was in the middle of.
Be concrete (names, paths, numbers, error messages) and leave out pleasantries and repeated output. Answer with the \
summary alone, at most {words} words."""
_LABELS = {"user": "USER", "assistant": "AGENT", "system": "SYSTEM"}


@dataclass(frozen=True)
class Plan:
    """One condensation: what it replaces, and what its summary is made from."""

    head: Sequence[Event]
    previous: str | None
    """The summary of the condensation before, which the new one takes over."""
    shown: Sequence[Event]
    """The replaced events the summary request shows (the newest of them, if not all fit)."""
    omitted: bool
    """Replaced events older than ``shown`` are not in the request."""
    start_id: int
    end_id: int

    def request(self, budget: Budget) -> list[dict[str, Any]]:
        """The summary request's messages (chat-completion dicts)."""
        words = min(_MOST_WORDS, budget.summary * CHARS_PER_TOKEN // 5)
        parts = []
        if self.head:
            parts.append(f"How the conversation began:\n{transcript(self.head)}")
        if self.previous:
            parts.append(f"The summary of what came before (take over what still matters):\n{self.previous}")
        if self.omitted:
            parts.append("(Earlier events of this stretch are not shown: say that the summary starts later.)")
        parts.append(f"The events to summarise:\n{transcript(self.shown)}")
        return [
            {"role": "system", "content": _INSTRUCTIONS.format(words=words)},
            {"role": "user", "content": "\n\n".join(parts)},
        ]

    def action(self, summary: str, budget: Budget) -> CondensationAction:
        """The condensation to record, with the model's ``summary`` (cut to the budget's summary size)."""
        text = truncate_middle(summary.strip(), budget.summary * CHARS_PER_TOKEN) or EMPTY_SUMMARY
        args = CondensationArgs(
            forgotten_events_start_id=self.start_id,
            forgotten_events_end_id=self.end_id,
            summary=text,
            summary_offset=len(self.head),
        )
        return CondensationAction(args=args)


def plan(recent: Recent, budget: Budget) -> Plan | None:
    """The condensation that brings ``recent`` within ``budget``, or None when none would help (nothing older than
    the turns kept is shown to the model, or the events have no ids to name a range with)."""
    kept = _kept_from(recent.sizes, budget.keep)
    replaced, sizes = recent.tail[:kept], recent.sizes[:kept]
    if not replaced or (recent.complete and not any(sizes)):
        return None
    first_kept = recent.tail[kept].id
    last_of_head = recent.head[-1].id if recent.head else -1
    if first_kept is None or last_of_head is None or first_kept - 1 < last_of_head + 1:
        return None
    previous = recent.condensation.args.summary if recent.condensation is not None else None
    context = text_tokens(len(previous or "") + len(transcript(recent.head)) + len(_INSTRUCTIONS))
    room = budget.events - context
    shown_from = _kept_from(sizes, room, at_least_one=False)
    return Plan(
        head=recent.head,
        previous=previous,
        shown=replaced[shown_from:],
        omitted=shown_from > 0 or not recent.complete,
        start_id=last_of_head + 1,
        end_id=first_kept - 1,
    )


def _kept_from(sizes: Sequence[int], room: int, *, at_least_one: bool = True) -> int:
    """Where the newest events that fit in ``room`` tokens begin (with ``at_least_one``, the newest event that the
    model is shown, and what follows it, whatever its size)."""
    index, total = len(sizes), 0
    while index > 0:
        size = sizes[index - 1]
        if total + size > room and (total > 0 or not at_least_one):
            break
        index -= 1
        total += size
    return index


def transcript(events: Sequence[Event]) -> str:
    """``events`` as the model would see them, as plain text: one labelled paragraph per message."""
    return "\n\n".join(_paragraph(message) for message in build_messages("", events)[1:])


def _paragraph(message: Message) -> str:
    label = _LABELS.get(message.role) or f"RESULT of {message.name or 'a tool'}"
    text = "\n".join(getattr(part, "text", "") for part in message.content)
    calls = "".join(f"\n[calls {call.function.name} {call.function.arguments}]" for call in message.tool_calls or [])
    return f"{label}: {truncate_middle(text + calls, _MESSAGE_CHARS)}"
