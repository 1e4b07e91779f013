"""Building the real app for tests: embedded (or remote) server, fixed clocks, deterministic jitter, no pings."""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from ohtui.agent.base import Agent
from ohtui.agent.registry import register_agent
from ohtui.config import Settings
from ohtui.protocol import Action, Event, MessageAction
from ohtui.server import ServerConfig
from ohtui.tui.app import OhtuiApp, Target

WAIT = 20.0


class CounterClock:
    """Server timestamps one second apart from a fixed moment: the same run draws the same screen."""

    def __init__(self, start: datetime = datetime(2025, 11, 28, 10, 0, 0)) -> None:
        self._ticks = itertools.count()
        self._start = start

    def __call__(self) -> str:
        return (self._start + timedelta(seconds=next(self._ticks))).isoformat(timespec="microseconds")


class FixedMonotonic:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class HeldAgent(Agent):
    """Plays ``script`` after each user message; at ``hold`` (an index) it waits for :attr:`go` (thread-safe, as
    the embedded server runs on its own thread), so a screen can be captured while the agent is running."""

    name: ClassVar[str] = "held"
    go: ClassVar[threading.Event] = threading.Event()

    def __init__(self, script: Sequence[Action], hold: int | None = None) -> None:
        self.script = list(script)
        self.hold = hold
        self.position = 0

    async def step(self, history: Sequence[Event]) -> Action:
        if self.position == self.hold:
            await asyncio.to_thread(self.go.wait, WAIT)
        if self.position >= len(self.script):
            return MessageAction(content="Done.", wait_for_response=True)
        action = self.script[self.position]
        self.position += 1
        return action


def register_test_agent(name: str, factory: Callable[..., Agent]) -> str:
    register_agent(name, factory)
    return name


def make_app(
    tmp_path: Path,
    *,
    agent: str = "echo",
    target: Target | None = None,
    settings: Settings | None = None,
    confirmation_mode: bool = False,
    runtime_factory: Callable[[str], Any] | None = None,
) -> OhtuiApp:
    server_config = ServerConfig(
        data_dir=tmp_path / "server",
        agent=agent,
        clock=CounterClock(),
        confirmation_mode=confirmation_mode,
        runtime_factory=runtime_factory,
    )
    return OhtuiApp(
        target or Target(conversation_id="demo", display_url="embedded server"),
        settings or Settings(),
        server_config=server_config,
        mirror_dir=tmp_path / "mirror",
        clock=FixedMonotonic(),
        connection_options={"ping_every": 0, "rng": random.Random(7)},
    )


def shown_ids(app: OhtuiApp) -> list[int]:
    return [event.id for event in app.event_log.visible_events() if event.id is not None]
