"""The main screen in each state the README shows, built on the real app, server and client (deterministic).

Used by the snapshot tests (``test_tui_snapshots_app.py``) and by ``screenshots/make.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from textual.pilot import Pilot

from ohtui.agent.base import Agent
from ohtui.client.status import ConnectionState
from ohtui.config import Settings
from ohtui.protocol import (
    AgentState,
    CmdOutputMetadata,
    CmdOutputObservation,
    CmdRunAction,
    CmdRunArgs,
    MessageAction,
    MessageArgs,
)
from ohtui.server import ServerConfig
from ohtui.tui.app import OhtuiApp, Target
from ohtui.tui.embedded import EmbeddedServer
from tests.agent_helpers import ScriptedRuntime
from tests.faultproxy import FaultProxy
from tests.tui_app_helpers import WAIT, CounterClock, HeldAgent, make_app, register_test_agent

Setup = Callable[[Pilot[int]], Awaitable[None]]


@dataclass
class Scenario:
    name: str
    size: tuple[int, int]
    build: Callable[[Path, ExitStack], tuple[OhtuiApp, Setup]]


async def settle(pilot: Pilot[int]) -> None:
    """The last step of every scenario: the connection pane shows the counters as they are (the client publishes
    them at most every 0.2 s), and rows drawn before the widget's styles settled are drawn again."""
    await pilot.pause()
    app = pilot.app
    assert isinstance(app, OhtuiApp)
    connection = app.session.connection if app.session is not None else None
    if connection is not None:
        await _wait(app, lambda: app.connection_panel.status.counters == connection.status.counters)
    for widget in app.query("TextArea, Input"):
        widget.cursor_blink = False  # type: ignore[attr-defined]  # a blinking cursor is on or off by chance
    app.event_log.redraw()
    await pilot.pause()


async def _wait(app: OhtuiApp, predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        await app.wait_until(predicate)


async def _say(pilot: Pilot[int], app: OhtuiApp, text: str, answer: str) -> None:
    await pilot.press(*text, "enter")
    await _wait(app, lambda: any(e.message == answer for e in app.event_log.visible_events()))
    await _wait(app, lambda: app.agent_state is AgentState.AWAITING_USER_INPUT)


def _idle(settings: Settings | None = None) -> Callable[[Path, ExitStack], tuple[OhtuiApp, Setup]]:
    def build(tmp: Path, stack: ExitStack) -> tuple[OhtuiApp, Setup]:
        app = make_app(tmp, settings=settings)

        async def setup(pilot: Pilot[int]) -> None:
            await _wait(app, lambda: app.agent_state is AgentState.AWAITING_USER_INPUT)
            await _say(pilot, app, "Hello! Can you hear me?", "Echo: Hello! Can you hear me?")
            await settle(pilot)

        return app, setup

    return build


OUTPUT = "collected 6 items\n\ntests/test_wordfreq.py ......  [100%]\n\n6 passed in 0.04s\n"


def _runner_agent(**_: object) -> Agent:
    return HeldAgent(
        [
            CmdRunAction(args=CmdRunArgs(command="python -m pytest -q", thought="Run the tests.")),
            MessageAction(args=MessageArgs(content="All 6 tests pass.", wait_for_response=True)),
        ],
        hold=1,
    )


def _confirm_agent(**_: object) -> Agent:
    return HeldAgent([CmdRunAction(args=CmdRunArgs(command="rm -rf build/ && make", thought="Rebuild from clean."))])


def _running(tmp: Path, stack: ExitStack) -> tuple[OhtuiApp, Setup]:
    HeldAgent.go.clear()
    stack.callback(HeldAgent.go.set)
    output = CmdOutputObservation(
        content=OUTPUT, extras={"command": "python -m pytest -q", "metadata": CmdOutputMetadata(exit_code=0)}
    )
    app = make_app(
        tmp,
        agent=register_test_agent("ui-runner", _runner_agent),
        runtime_factory=lambda cid: ScriptedRuntime([output]),
    )

    async def setup(pilot: Pilot[int]) -> None:
        await _wait(app, lambda: app.agent_state is AgentState.AWAITING_USER_INPUT)
        await pilot.press(*"Run the test suite", "enter")
        await _wait(app, lambda: _stored(app, CmdOutputObservation))
        await _wait(app, lambda: app.agent_state is AgentState.RUNNING)
        await settle(pilot)

    return app, setup


def _awaiting(tmp: Path, stack: ExitStack) -> tuple[OhtuiApp, Setup]:
    app = make_app(
        tmp,
        agent=register_test_agent("ui-confirm-shot", _confirm_agent),
        confirmation_mode=True,
        runtime_factory=lambda cid: ScriptedRuntime(),
    )

    async def setup(pilot: Pilot[int]) -> None:
        await _wait(app, lambda: app.agent_state is AgentState.AWAITING_USER_INPUT)
        await pilot.press(*"Rebuild it", "enter")
        await _wait(app, lambda: app.agent_state is AgentState.AWAITING_USER_CONFIRMATION)
        await _wait(app, lambda: app.agent_panel.pending is not None)
        await settle(pilot)

    return app, setup


def _remote_server(tmp: Path, stack: ExitStack) -> EmbeddedServer:
    """A "remote" server on its own thread and loop (the app under test runs on another loop)."""
    remote = EmbeddedServer(ServerConfig(data_dir=tmp / "remote", clock=CounterClock()))
    remote.start_blocking()
    stack.callback(remote.stop_blocking)
    return remote


def _reconnecting(tmp: Path, stack: ExitStack) -> tuple[OhtuiApp, Setup]:
    remote = _remote_server(tmp, stack)
    assert remote.url is not None
    proxy = FaultProxy("127.0.0.1", int(remote.url.rsplit(":", 1)[1]))
    remote.run_blocking(proxy.start())
    stack.callback(lambda: remote.run_blocking(proxy.stop()))
    settings = Settings(backoff_base=20.0, backoff_cap=20.0)  # one long, seeded wait: the countdown holds still
    target = Target(url=proxy.url, key=remote.key, conversation_id="demo", display_url="ssh tunnel → devbox:3000")
    app = make_app(tmp, settings=settings, target=target)

    async def setup(pilot: Pilot[int]) -> None:
        await _wait(app, lambda: app.agent_state is AgentState.AWAITING_USER_INPUT)
        await _say(pilot, app, "Are you still there?", "Echo: Are you still there?")
        remote.call(proxy.refuse, True)
        await remote.run(proxy.reset_all())
        await _wait(app, lambda: app.connection_panel.status.state is ConnectionState.RECONNECTING)
        await pilot.press(*"queued while offline", "enter")
        await _wait(app, lambda: app.chat.pending == 1)
        await settle(pilot)

    return app, setup


def _refused(tmp: Path, stack: ExitStack) -> tuple[OhtuiApp, Setup]:
    remote = _remote_server(tmp, stack)
    assert remote.url is not None
    target = Target(url=remote.url, key="not-the-key", conversation_id="demo", display_url="http://devbox:3000")
    app = make_app(tmp, target=target)

    async def setup(pilot: Pilot[int]) -> None:
        await _wait(app, lambda: app.connection_panel.status.state is ConnectionState.REFUSED)
        await settle(pilot)

    return app, setup


def _stored(app: OhtuiApp, kind: type) -> bool:
    store = app.session.store if app.session is not None else None
    return store is not None and any(isinstance(event, kind) for event in store.search())


SCENARIOS = [
    Scenario("idle", (120, 34), _idle()),
    Scenario("running_with_output", (120, 34), _running),
    Scenario("awaiting_confirmation", (120, 34), _awaiting),
    Scenario("reconnecting", (120, 34), _reconnecting),
    Scenario("refused", (120, 34), _refused),
    Scenario("light_theme", (120, 34), _idle(Settings(theme="textual-light"))),
    Scenario("small_80x24", (80, 24), _idle()),
]
