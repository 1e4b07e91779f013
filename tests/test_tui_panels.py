"""Agent state pane, connection pane and chat input: state, colours, clocks, messages; plus their snapshots."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.message import Message
from textual.widgets import Button, Static

from ohtui.client.status import ConnectionChanged, ConnectionCounters, ConnectionState
from ohtui.protocol import (
    AgentState,
    AgentStateChangedObservation,
    CmdRunAction,
    ErrorObservation,
    EventSource,
    StatusUpdate,
    event_from_dict,
)
from ohtui.tui.messages import ConfirmRequested, RejectRequested, RetryRequested
from ohtui.tui.widgets import AgentStatePanel, ChatInput, ConnectionStatusPanel
from ohtui.tui.widgets.agent_state import format_elapsed, state_class
from ohtui.tui.widgets.connection_status import refusal_hint
from tests.test_tui_widgets import FakeClock, Harness, awaiting_confirmation_events, feed_panel, sample_events

TS = "2025-11-28T10:00:00.000000"


def state(event_id: int, agent_state: AgentState, reason: str = "") -> AgentStateChangedObservation:
    return AgentStateChangedObservation(
        id=event_id, timestamp=TS, source=EventSource.ENVIRONMENT, agent_state=agent_state, reason=reason
    )


class PanelApp(App[None]):
    """One pane alone, a fixed clock, and every message it posts recorded."""

    CSS = "Screen { align: left top; } #pane { width: 44; border: round $border; }"

    def __init__(self, pane: str, clock: FakeClock | None = None, theme: str | None = None) -> None:
        super().__init__()
        self.pane = pane
        self.clock = clock or FakeClock()
        self.received: list[Message] = []
        if theme is not None:
            self.theme = theme

    def compose(self) -> ComposeResult:
        if self.pane == "agent":
            yield AgentStatePanel(clock=self.clock, id="pane")
        elif self.pane == "connection":
            yield ConnectionStatusPanel(clock=self.clock, id="pane")
        else:
            yield ChatInput(id="pane")

    def on_mount(self) -> None:
        self.query_one("#pane").focus()

    def on_confirm_requested(self, message: ConfirmRequested) -> None:
        self.received.append(message)

    def on_reject_requested(self, message: RejectRequested) -> None:
        self.received.append(message)

    def on_retry_requested(self, message: RetryRequested) -> None:
        self.received.append(message)

    def on_chat_input_submitted(self, message: ChatInput.Submitted) -> None:
        self.received.append(message)


def text_of(app: App[None], selector: str) -> str:
    return str(app.query_one(selector, Static).render())


# ---------------------------------------------------------------------- agent state


async def test_every_state_has_its_own_colours_in_both_themes() -> None:
    for theme in ("textual-dark", "textual-light"):
        app = PanelApp("agent", theme=theme)
        async with app.run_test(size=(60, 20)) as pilot:
            panel = app.query_one(AgentStatePanel)
            label = app.query_one("#agent-state", Static)
            seen: dict[tuple[Any, Any], AgentState] = {}
            for number, agent_state in enumerate(AgentState):
                feed_panel(panel, state(number, agent_state))
                await pilot.pause()
                assert label.has_class(state_class(agent_state))
                assert sum(label.has_class(state_class(other)) for other in AgentState) == 1
                colours = (label.styles.background, label.styles.color)
                assert colours not in seen, f"{agent_state} looks like {seen.get(colours)} in {theme}"
                seen[colours] = agent_state
                contrast = label.styles.background.get_contrast_text(1.0)
                assert label.styles.color.rgb != label.styles.background.rgb, contrast


async def test_time_in_state_and_reason() -> None:
    clock = FakeClock(100.0)
    app = PanelApp("agent", clock)
    async with app.run_test(size=(60, 20)) as pilot:
        panel = app.query_one(AgentStatePanel)
        feed_panel(panel, state(3, AgentState.RUNNING))
        clock.now = 165.0
        panel.refresh_elapsed()
        await pilot.pause()
        assert text_of(app, "#agent-elapsed") == "01:05"
        assert "running" in text_of(app, "#agent-state")
        feed_panel(panel, state(4, AgentState.RUNNING))  # same state again: the clock keeps going
        clock.now = 3700.0
        panel.refresh_elapsed()
        assert text_of(app, "#agent-elapsed") == format_elapsed(3600) == "1:00:00"
        feed_panel(panel, state(5, AgentState.ERROR, "RuntimeError: boom"))
        panel.refresh_elapsed()
        await pilot.pause()
        assert text_of(app, "#agent-elapsed") == "00:00"
        assert text_of(app, "#agent-reason") == "RuntimeError: boom"
        assert app.query_one("#agent-reason").has_class("-error")


async def test_older_state_events_do_not_win() -> None:
    app = PanelApp("agent")
    async with app.run_test(size=(60, 20)):
        panel = app.query_one(AgentStatePanel)
        feed_panel(panel, state(10, AgentState.AWAITING_USER_INPUT))
        feed_panel(panel, state(5, AgentState.RUNNING))  # a gap repair delivers an older one
        assert panel.state is AgentState.AWAITING_USER_INPUT
        closing = AgentStateChangedObservation(agent_state=AgentState.STOPPED)  # no id: sent at session close
        feed_panel(panel, closing)
        assert panel.state is AgentState.STOPPED


async def test_metrics_from_llm_metrics() -> None:
    app = PanelApp("agent")
    async with app.run_test(size=(60, 20)) as pilot:
        panel = app.query_one(AgentStatePanel)
        assert text_of(app, "#agent-usage") == "no LLM usage yet"
        for event in sample_events():
            feed_panel(panel, event)
        await pilot.pause()
        usage = text_of(app, "#agent-usage")
        assert "1.0k in · 50 out · cache 0r/900w" in usage
        assert "$0.0123" in usage


async def test_status_update_line() -> None:
    app = PanelApp("agent")
    async with app.run_test(size=(60, 20)) as pilot:
        panel = app.query_one(AgentStatePanel)
        panel.update_from_status(StatusUpdate(id="STATUS$LLM_RETRY", message="Retrying LLM request, 1 / 5"))
        await pilot.pause()
        assert text_of(app, "#agent-status") == "Retrying LLM request, 1 / 5"


async def test_pending_action_confirm_with_key_and_reject_with_button() -> None:
    app = PanelApp("agent")
    async with app.run_test(size=(60, 30)) as pilot:
        panel = app.query_one(AgentStatePanel)
        for event in awaiting_confirmation_events():
            feed_panel(panel, event)
        await pilot.pause()
        assert panel.awaiting and panel.has_class("-awaiting")
        body = text_of(app, "#agent-pending-body")
        assert "$ rm -rf build/ && ls" in body and "risk: HIGH" in body and "stale" in body
        await pilot.press("y")
        await pilot.click("#agent-reject")
        await pilot.pause()
        assert [type(m) for m in app.received] == [ConfirmRequested, RejectRequested]
        assert all(getattr(m, "action_id", None) == 43 for m in app.received)
        # The controller re-adds the action as confirmed and moves on: the prompt goes away.
        feed_panel(panel, state(44, AgentState.USER_CONFIRMED))
        await pilot.pause()
        assert not panel.awaiting and not panel.has_class("-awaiting")
        await pilot.press("y")
        assert len(app.received) == 2


async def test_pending_action_arriving_before_state_in_replay() -> None:
    events = awaiting_confirmation_events()
    app = PanelApp("agent")
    async with app.run_test(size=(60, 30)):
        panel = app.query_one(AgentStatePanel)
        feed_panel(panel, events[3])  # the action …
        feed_panel(panel, events[2])  # … then the replayed last state change
        assert panel.awaiting


async def test_error_observation_fills_missing_reason() -> None:
    app = PanelApp("agent")
    async with app.run_test(size=(60, 20)):
        panel = app.query_one(AgentStatePanel)
        feed_panel(panel, state(1, AgentState.ERROR))
        feed_panel(panel, ErrorObservation(id=2, timestamp=TS, content="LLM said no"))
        assert panel.reason == "LLM said no"


# ---------------------------------------------------------------------- connection


def reconnecting(clock: FakeClock, wait: float = 5.0) -> ConnectionChanged:
    return ConnectionChanged(
        ConnectionState.RECONNECTING,
        url="http://127.0.0.1:3000",
        conversation_id="c0ffee",
        attempt=3,
        next_retry_in=wait,
        next_retry_at=clock.now + wait,
        last_error="ConnectionResetError: [Errno 104] Connection reset by peer",
        counters=ConnectionCounters(events_received=120, duplicates_dropped=4, gaps_repaired=2, sends_pending=2),
    )


async def test_countdown_decreases_with_the_clock() -> None:
    clock = FakeClock(50.0)
    app = PanelApp("connection", clock)
    async with app.run_test(size=(60, 20)) as pilot:
        panel = app.query_one(ConnectionStatusPanel)
        panel.set_status(reconnecting(clock))
        await pilot.pause()
        assert text_of(app, "#conn-retry") == "attempt 3 · retry in 5s"
        assert panel._timer is not None
        seen = []
        for now in (51.2, 52.5, 54.1, 54.9):
            clock.now = now
            panel.refresh_countdown()
            seen.append(panel.countdown())
        assert seen == sorted(seen, reverse=True)
        assert text_of(app, "#conn-retry") == "attempt 3 · retry in 1s"
        clock.now = 56.0
        panel.refresh_countdown()
        assert text_of(app, "#conn-retry") == "attempt 3 · retrying…"
        assert panel._timer is None
        assert "queued 2" in text_of(app, "#conn-counters")
        assert "reset by peer" in text_of(app, "#conn-error")


async def test_timer_runs_only_while_a_retry_is_scheduled() -> None:
    clock = FakeClock()
    app = PanelApp("connection", clock)
    async with app.run_test(size=(60, 20)):
        panel = app.query_one(ConnectionStatusPanel)
        assert panel._timer is None
        panel.set_status(reconnecting(clock))
        assert panel._timer is not None
        panel.set_status(ConnectionChanged(ConnectionState.CONNECTED, "http://h", "c", latency=0.02))
        assert panel._timer is None
        assert not app.query_one("#conn-retry").display
        assert text_of(app, "#conn-latency") == "20 ms"


@pytest.mark.parametrize(
    ("reason", "hint"),
    [
        ("invalid_session_api_key", "check --key / OHTUI_SESSION_API_KEY"),
        ("Failed to access conversation events: nope", "no such conversation here: check --conversation ID"),
        ("Settings not found", "configure the server's LLM settings first"),
        ("something new", "see the server's log; press r to retry"),
    ],
)
def test_refusal_hints(reason: str, hint: str) -> None:
    assert refusal_hint(reason) == hint


async def test_refused_and_offline_show_reason_and_hint() -> None:
    app = PanelApp("connection")
    async with app.run_test(size=(60, 20)) as pilot:
        panel = app.query_one(ConnectionStatusPanel)
        panel.set_status(
            ConnectionChanged(ConnectionState.REFUSED, "http://h", "c", last_error="invalid_session_api_key")
        )
        await pilot.pause()
        assert text_of(app, "#conn-error") == "refused: invalid_session_api_key"
        assert text_of(app, "#conn-hint") == "check --key / OHTUI_SESSION_API_KEY"
        panel.set_status(ConnectionChanged(ConnectionState.OFFLINE, "http://h", "c", last_error="gave up"))
        await pilot.pause()
        assert text_of(app, "#conn-hint") == "press r to retry"
        assert app.query_one("#conn-state").has_class("-conn-offline")
        await pilot.press("r")
        assert [type(m) for m in app.received] == [RetryRequested]


# ---------------------------------------------------------------------- chat input


async def test_chat_submit_newline_and_history() -> None:
    app = PanelApp("chat")
    async with app.run_test(size=(60, 12)) as pilot:
        chat = app.query_one(ChatInput)
        await pilot.press(*"first", "enter")
        await pilot.press(*"two", "ctrl+j", *"lines", "enter")
        await pilot.press("enter")  # blank: nothing is sent
        assert [getattr(m, "text", None) for m in app.received] == ["first", "two\nlines"]
        assert chat.text == ""
        await pilot.press(*"draft")
        await pilot.press("up")
        assert chat.text == "two\nlines"
        await pilot.press("up")
        assert chat.text == "first"
        await pilot.press("up")
        assert chat.text == "first"
        await pilot.press("down")
        assert chat.text == "two\nlines"
        await pilot.press("down")  # going forward leaves the cursor on the last line: down keeps walking
        assert chat.text == "draft"
        await pilot.press("up")  # the draft is one line: up goes straight back into the history
        assert chat.text == "two\nlines"
        await pilot.press("up")  # the entry shows with the cursor on its first line
        assert chat.text == "first"
        await pilot.press("down", "down")
        assert chat.text == "draft"
        await pilot.press("shift+enter")
        assert chat.text == "draft\n"


async def test_chat_pending_indicator() -> None:
    app = PanelApp("chat")
    async with app.run_test(size=(60, 12)) as pilot:
        chat = app.query_one(ChatInput)
        assert not app.query_one("#chat-pending").display
        chat.set_pending(2)
        await pilot.pause()
        assert app.query_one("#chat-pending").display
        assert text_of(app, "#chat-pending") == "◷ 2 messages queued while offline"
        chat.set_pending(0)
        await pilot.pause()
        assert not app.query_one("#chat-pending").display


# ---------------------------------------------------------------------- snapshots


def agent_app(agent_state: AgentState, theme: str | None = None) -> PanelApp:
    app = PanelApp("agent", FakeClock(100.0), theme=theme)

    async def setup(pilot: Any) -> None:
        panel = pilot.app.query_one(AgentStatePanel)
        events = sample_events()[:8]  # metrics from the run action (id 6)
        if agent_state is AgentState.AWAITING_USER_CONFIRMATION:
            events += awaiting_confirmation_events()
        elif agent_state is AgentState.ERROR:
            events.append(state(50, AgentState.ERROR, "RuntimeError: boom"))
        else:
            events.append(state(50, agent_state))
        for event in events:
            feed_panel(panel, event)
        pilot.app.clock.now = 172.0
        panel.refresh_elapsed()
        await pilot.pause()

    app.setup = setup  # type: ignore[attr-defined]
    return app


@pytest.mark.parametrize("agent_state", [AgentState.RUNNING, AgentState.AWAITING_USER_CONFIRMATION, AgentState.ERROR])
def test_snapshot_agent_state(snap_compare: Any, agent_state: AgentState) -> None:
    app = agent_app(agent_state)
    assert snap_compare(app, terminal_size=(50, 20), run_before=app.setup)  # type: ignore[attr-defined]


def test_snapshot_agent_state_light(snap_compare: Any) -> None:
    app = agent_app(AgentState.AWAITING_USER_CONFIRMATION, theme="textual-light")
    assert snap_compare(app, terminal_size=(50, 20), run_before=app.setup)  # type: ignore[attr-defined]


CONNECTION_STATES = {
    "connected": lambda clock: ConnectionChanged(
        ConnectionState.CONNECTED,
        "http://127.0.0.1:3000",
        "c0ffee",
        latency=0.012,
        counters=ConnectionCounters(events_received=37, duplicates_dropped=2, gaps_repaired=1),
    ),
    "reconnecting": lambda clock: reconnecting(clock, wait=7.5),
    "refused": lambda clock: ConnectionChanged(
        ConnectionState.REFUSED, "https://oh.example.com", "abc123", last_error="invalid_session_api_key"
    ),
    "offline": lambda clock: ConnectionChanged(
        ConnectionState.OFFLINE,
        "http://127.0.0.1:3000",
        "c0ffee",
        attempt=8,
        last_error="ConnectionRefusedError: [Errno 111] Connect call failed",
        counters=ConnectionCounters(events_received=120, sends_pending=2),
    ),
}


@pytest.mark.parametrize("name", list(CONNECTION_STATES))
def test_snapshot_connection(snap_compare: Any, name: str) -> None:
    clock = FakeClock(500.0)
    app = PanelApp("connection", clock)

    async def setup(pilot: Any) -> None:
        pilot.app.query_one(ConnectionStatusPanel).set_status(CONNECTION_STATES[name](clock))
        clock.now += 1.2  # the countdown has moved on: 7.5 s scheduled, 6.3 s left -> "7s"
        pilot.app.query_one(ConnectionStatusPanel).refresh_countdown()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(50, 12), run_before=setup)


def test_snapshot_reconnecting_screen(snap_compare: Any) -> None:
    clock = FakeClock(500.0)
    app = Harness(sample_events()[:20], clock=clock, connection=reconnecting(clock, wait=7.5))

    async def setup(pilot: Any) -> None:
        pilot.app.chat.set_pending(2)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(100, 30), run_before=setup)


async def test_button_ids_are_stable() -> None:
    app = PanelApp("agent")
    async with app.run_test(size=(60, 30)):
        assert {button.id for button in app.query(Button)} == {"agent-confirm", "agent-reject"}
        assert isinstance(event_from_dict(CmdRunAction(command="x").model_dump()), CmdRunAction)


async def test_pending_edit_without_confirmation_state_is_shown() -> None:
    """Edit args carry no confirmation_state on the wire: the agent action after the awaiting state is the one."""
    from ohtui.protocol import EventSource, FileEditAction, FileEditArgs

    app = PanelApp("agent")
    async with app.run_test(size=(60, 24)):
        panel = app.query_one(AgentStatePanel)
        feed_panel(panel, state(7, AgentState.AWAITING_USER_CONFIRMATION))
        edit = FileEditAction(args=FileEditArgs(path="/w/a.py", command="create", file_text="x = 1\n"))
        feed_panel(panel, edit.model_copy(update={"id": 8, "source": EventSource.AGENT}))
        assert panel.pending is not None and panel.pending.id == 8 and panel.awaiting
        feed_panel(panel, state(9, AgentState.RUNNING))
        assert panel.pending is None


def record_updates(root: Any) -> list[str]:
    """The ids of the Static lines under ``root`` that are updated from now on (each update is a layout pass)."""
    updated: list[str] = []
    for line in root.query(Static):
        original = line.update

        def update(content: Any = "", *, layout: bool = True, line: Static = line, original: Any = original) -> None:
            updated.append(line.id or "")
            original(content, layout=layout)

        line.update = update  # type: ignore[method-assign]
    return updated


async def test_new_figures_update_only_the_lines_that_change() -> None:
    app = PanelApp("connection")
    async with app.run_test(size=(60, 20)) as pilot:
        panel = app.query_one(ConnectionStatusPanel)
        connected = ConnectionChanged(ConnectionState.CONNECTED, url="http://127.0.0.1:3000", conversation_id="c0ffee")
        panel.set_status(connected)
        await pilot.pause()
        updated = record_updates(panel)
        panel.set_status(connected)
        assert updated == []
        panel.set_status(replace(connected, counters=ConnectionCounters(events_received=2_000)))
        await pilot.pause()
        assert updated == ["conn-counters"]
        assert text_of(app, "#conn-counters") == "recv 2000 · dup 0 · gaps 0"
        assert text_of(app, "#conn-state") == "● connected"
        panel.set_status(replace(connected, counters=ConnectionCounters(events_received=2_000, invalid_kept=3)))
        await pilot.pause()
        assert text_of(app, "#conn-counters") == "recv 2000 · dup 0 · gaps 0 · invalid 3"


async def test_the_pending_line_is_updated_only_when_its_text_changes() -> None:
    app = PanelApp("chat")
    async with app.run_test(size=(60, 20)) as pilot:
        chat = app.query_one(ChatInput)
        updated = record_updates(chat)
        chat.set_pending(2, offline=True)
        chat.set_pending(2, offline=True)
        chat.set_pending(2, offline=False)
        await pilot.pause()
        assert updated == ["chat-pending", "chat-pending"]
        assert text_of(app, "#chat-pending") == "◷ 2 messages queued"
