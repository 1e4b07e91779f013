"""An agent that repeats the user: deterministic, no LLM, for tests, snapshots and a first run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from ohtui.agent.base import Agent
from ohtui.protocol import Action, Event, EventSource, MessageAction, MessageArgs

__all__ = ["EchoAgent"]


class EchoAgent(Agent):
    """Answers the latest user message with ``"<prefix><its text>"`` and waits for the user again."""

    name: ClassVar[str] = "echo"

    def __init__(self, prefix: str = "Echo: ") -> None:
        self.prefix = prefix

    async def step(self, history: Sequence[Event]) -> Action:
        for event in reversed(history):
            if isinstance(event, MessageAction) and event.source is EventSource.USER:
                return _ask(self.prefix + event.args.content)
        return _ask(self.prefix.rstrip())


def _ask(text: str) -> MessageAction:
    return MessageAction(args=MessageArgs(content=text, wait_for_response=True))
