"""A harness app composing the TUI widgets the way the real app will, fed only through their methods.

Also the whole-screen checks: help screen, themes, NO_COLOR, 80x24, and the composite snapshots.
The other ``test_tui_*`` modules import the harness from here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import pytest
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Footer

from ohtui.client.status import ConnectionChanged, ConnectionCounters, ConnectionState
from ohtui.protocol import Event, event_from_dict
from ohtui.tui.messages import (
    ConfirmRequested,
    RejectRequested,
    RetryRequested,
    SendRequested,
)
from ohtui.tui.screens.help import HelpScreen, collect_bindings
from ohtui.tui.widgets import AgentStatePanel, ChatInput, ConnectionStatusPanel, EventLog
from tests.samples import load_samples


class FakeClock:
    """A settable ``time.monotonic`` stand-in so countdowns and elapsed times are deterministic."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def sample_events() -> list[Event]:
    return [event_from_dict(event) for _, event in load_samples()]


CONNECTED = ConnectionChanged(
    ConnectionState.CONNECTED,
    url="http://127.0.0.1:3000",
    conversation_id="c0ffee",
    latency=0.012,
    counters=ConnectionCounters(events_received=37, duplicates_dropped=2, gaps_repaired=1),
)


class StopRequested(Message):
    """The harness's Esc (the app itself calls its stop action directly): shows the key reached the app."""


class Harness(App[None]):
    """Log on the left, agent and connection panes on the right, chat input and footer at the bottom."""

    CSS = """
    #main { height: 1fr; }
    #sidebar { width: 34; height: 1fr; border-left: solid $border-blurred; background: $surface; }
    #sidebar > AgentStatePanel { border-top: solid $border-blurred; }
    #sidebar > ConnectionStatusPanel { border-top: solid $border-blurred; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "help", "Help", id="app.help"),
        Binding("escape", "stop", "Stop agent", id="app.stop"),
        Binding("ctrl+l", "focus_log", "Log", id="app.focus_log"),
    ]

    def __init__(
        self,
        events: Iterable[Event] = (),
        *,
        clock: FakeClock | None = None,
        connection: ConnectionChanged | None = CONNECTED,
        sidebar: bool = True,
        theme: str | None = None,
    ) -> None:
        super().__init__()
        self.clock = clock or FakeClock()
        self.initial_events = list(events)
        self.initial_connection = connection
        self.with_sidebar = sidebar
        self.received: list[Message] = []
        if theme is not None:
            self.theme = theme

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            yield EventLog(id="log")
            if self.with_sidebar:
                with Vertical(id="sidebar"):
                    yield AgentStatePanel(clock=self.clock, id="agent")
                    yield ConnectionStatusPanel(clock=self.clock, id="connection")
        yield ChatInput(id="chat")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#chat-area").cursor_blink = False  # type: ignore[attr-defined]
        self.feed(self.initial_events)
        if self.with_sidebar and self.initial_connection is not None:
            self.connection.set_status(self.initial_connection)
        self.query_one(EventLog).focus()

    def feed(self, events: Iterable[Event]) -> None:
        """What the app's ``EventReceived`` handler will do: one batch to the log, each event to the agent pane."""
        batch = list(events)
        self.log_widget.add_events(batch)
        if self.with_sidebar:
            feed_panel(self.agent, *batch)

    @property
    def log_widget(self) -> EventLog:
        return self.query_one(EventLog)

    @property
    def agent(self) -> AgentStatePanel:
        return self.query_one(AgentStatePanel)

    @property
    def connection(self) -> ConnectionStatusPanel:
        return self.query_one(ConnectionStatusPanel)

    @property
    def chat(self) -> ChatInput:
        return self.query_one(ChatInput)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_stop(self) -> None:
        self.post_message(StopRequested())

    def action_focus_log(self) -> None:
        self.log_widget.focus()

    @on(ConfirmRequested)
    @on(RejectRequested)
    @on(RetryRequested)
    @on(SendRequested)
    @on(StopRequested)
    def _record(self, message: Message) -> None:
        self.received.append(message)


def feed_panel(panel: AgentStatePanel, *events: Event) -> None:
    """What the app does with a batch: its conversation state takes the events, the bound pane re-renders."""
    for event in events:
        panel.conversation.apply(event)
    panel.mutate_reactive(AgentStatePanel.conversation)


def awaiting_confirmation_events() -> list[Event]:
    return [
        event_from_dict(data)
        for data in (
            {"id": 40, "timestamp": "2025-11-28T10:00:05.000000", "source": "user", "message": "clean up",
             "action": "message", "args": {"content": "Please clean up the build dir"}},
            {"id": 41, "timestamp": "2025-11-28T10:00:06.000000", "source": "environment", "message": "",
             "observation": "agent_state_changed", "content": "", "extras": {"agent_state": "running"}},
            {"id": 42, "timestamp": "2025-11-28T10:00:07.000000", "source": "environment", "message": "",
             "observation": "agent_state_changed", "content": "",
             "extras": {"agent_state": "awaiting_user_confirmation"}},
            {"id": 43, "timestamp": "2025-11-28T10:00:07.000000", "source": "agent", "message": "",
             "action": "run", "llm_metrics": {"accumulated_cost": 0.0213, "max_budget_per_task": None,
             "accumulated_token_usage": {"model": "m", "prompt_tokens": 5230, "completion_tokens": 120,
             "cache_read_tokens": 4100, "cache_write_tokens": 1100, "context_window": 200000,
             "per_turn_token": 5350, "response_id": ""}, "costs": [], "response_latencies": [], "token_usages": []},
             "args": {"command": "rm -rf build/ && ls", "thought": "The build dir is stale; remove it.",
                      "confirmation_state": "awaiting_confirmation", "security_risk": 2}},
        )
    ]  # fmt: skip


# ---------------------------------------------------------------------- whole-screen behaviour


async def test_harness_composes_and_feeds_samples() -> None:
    app = Harness(sample_events())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.log_widget.row_count > 20
        assert app.agent.state.value == "error"  # the last state event in the samples (id 25)
        assert app.connection.status.state is ConnectionState.CONNECTED


async def test_help_screen_lists_bindings_with_ids() -> None:
    app = Harness(sample_events())
    async with app.run_test(size=(100, 30)) as pilot:
        rows = collect_bindings(app, app.screen)
        ids = {row.binding_id for row in rows}
        assert {"app.help", "app.stop", "event_log.toggle", "event_log.cursor_up", "agent_state.confirm"} <= ids
        assert {"connection.retry", "chat_input.newline"} <= ids
        toggle = next(row for row in rows if row.binding_id == "event_log.toggle")
        assert toggle.keys in ("⏎", "enter") and toggle.where == "EventLog"
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one(DataTable)
        assert table.row_count == len(collect_bindings(app, app.screen_stack[-2]))
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


async def test_keymap_remap_shows_in_help() -> None:
    app = Harness()
    async with app.run_test(size=(100, 30)) as pilot:
        app.set_keymap({"event_log.toggle": "space"})
        await pilot.pause()
        toggle = next(row for row in collect_bindings(app, app.screen) if row.binding_id == "event_log.toggle")
        assert toggle.keys == "space"


async def test_runs_with_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = Harness(sample_events())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("up", "enter")
        await pilot.pause()
        assert app.no_color
        assert app.log_widget.cursor_event is not None


@pytest.mark.parametrize("theme", ["textual-dark", "textual-light"])
async def test_themes_render_every_row(theme: str) -> None:
    app = Harness(sample_events() + awaiting_confirmation_events(), theme=theme)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        log = app.log_widget
        for y in range(log.size.height):
            assert log.render_line(y).cell_length == log.scrollable_content_region.width
        assert app.agent.awaiting


async def test_keyboard_only_at_80x24() -> None:
    app = Harness(sample_events() + awaiting_confirmation_events())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("tab")  # log -> agent pane, where y/n answer the pending action
        assert app.focused is app.agent
        await pilot.press("y")
        for _ in range(5):
            if app.focused is app.chat.area:
                break
            await pilot.press("tab")
        assert app.focused is app.chat.area
        await pilot.press("h", "i", "enter")
        await pilot.press("ctrl+l", "up", "up", "enter")
        await pilot.press("escape")
        await pilot.pause()
        names = [type(m).__name__ for m in app.received]
        assert names == ["ConfirmRequested", "Submitted", "StopRequested"]
        assert app.log_widget.cursor_event is not None


# ---------------------------------------------------------------------- composite snapshots


def test_snapshot_main_80x24(snap_compare: Any) -> None:
    app = Harness(sample_events()[:20])
    assert snap_compare(app, terminal_size=(80, 24))


def test_snapshot_awaiting_confirmation_light(snap_compare: Any) -> None:
    app = Harness(sample_events()[:20] + awaiting_confirmation_events(), theme="textual-light")
    assert snap_compare(app, terminal_size=(110, 34))


def test_snapshot_awaiting_confirmation_dark(snap_compare: Any) -> None:
    app = Harness(sample_events()[:20] + awaiting_confirmation_events())
    assert snap_compare(app, terminal_size=(110, 34))
