"""The real app, through the real embedded server and client: flows asserted on state (issue 6 checks)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ohtui.agent.base import Agent
from ohtui.client.status import ConnectionState
from ohtui.protocol import (
    ActionConfirmationStatus,
    AgentFinishAction,
    AgentState,
    AgentStateChangedObservation,
    CmdRunAction,
    EventSource,
    MessageAction,
)
from ohtui.server import OhtuiServer, ServerConfig
from ohtui.tui.app import Target
from tests.agent_helpers import ScriptedRuntime, shapes
from tests.faultproxy import FaultProxy
from tests.tui_app_helpers import WAIT, CounterClock, HeldAgent, make_app, register_test_agent, shown_ids


async def type_and_send(pilot: object, text: str) -> None:
    await pilot.press(*text)  # type: ignore[attr-defined]
    await pilot.press("enter")  # type: ignore[attr-defined]


async def test_typed_message_is_stored_on_the_server_and_shown(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(110, 30)) as pilot:
        async with asyncio.timeout(WAIT):
            await app.wait_until(lambda: app.agent_state is AgentState.AWAITING_USER_INPUT)
            await type_and_send(pilot, "hello")
            await app.wait_until(lambda: any(e.message == "Echo: hello" for e in app.event_log.visible_events()))
        assert app.embedded is not None
        stored = list(app.embedded.server.db.events("demo").search())
        user = [e for e in stored if isinstance(e, MessageAction) and e.source is EventSource.USER]
        assert [e.args.content for e in user] == ["hello"]
        assert user[0].id in shown_ids(app)
        assert app.chat.text == ""


def _confirm_agent(**_: object) -> Agent:
    return HeldAgent([CmdRunAction(command="echo hi", thought="look"), AgentFinishAction(thought="done")])


async def _confirmation_flow(tmp_path: Path, key: str) -> list[str]:
    agent = register_test_agent("ui-confirm", _confirm_agent)
    app = make_app(tmp_path, agent=agent, confirmation_mode=True, runtime_factory=lambda cid: ScriptedRuntime())
    async with app.run_test(size=(110, 34)) as pilot:
        async with asyncio.timeout(WAIT):
            await app.wait_until(lambda: app.agent_state is AgentState.AWAITING_USER_INPUT)
            await type_and_send(pilot, "run it")
            await app.wait_until(lambda: app.agent_state is AgentState.AWAITING_USER_CONFIRMATION)
            assert app.agent_panel.pending is not None
            await pilot.press(key)
            done = {"ctrl+y": AgentState.FINISHED, "ctrl+n": AgentState.AWAITING_USER_INPUT}[key]
            await app.wait_until(lambda: app.agent_state is done)
        assert app.embedded is not None
        stored = list(app.embedded.server.db.events("demo").search())
    first_message = next(i for i, e in enumerate(stored) if isinstance(e, MessageAction))
    runs = [e for e in stored if isinstance(e, CmdRunAction)]
    assert runs[0].args.confirmation_state is ActionConfirmationStatus.AWAITING_CONFIRMATION
    assert runs[-1].args.thought == ""  # re-added with the thought cleared (§1.7)
    return shapes(stored[first_message:])


async def test_confirm_produces_upstreams_sequence(tmp_path: Path) -> None:
    sequence = await _confirmation_flow(tmp_path, "ctrl+y")
    start = sequence.index("environment:agent_state_changed=awaiting_user_confirmation")
    assert sequence[start:] == [
        "environment:agent_state_changed=awaiting_user_confirmation",
        "agent:run",
        "user:change_agent_state=user_confirmed",
        "agent:run",
        "environment:agent_state_changed=user_confirmed",
        "agent:run",
        "environment:agent_state_changed=running",
        "agent:finish",
        "environment:agent_state_changed=finished",
    ]


async def test_reject_produces_upstreams_sequence(tmp_path: Path) -> None:
    sequence = await _confirmation_flow(tmp_path, "ctrl+n")
    assert "user:change_agent_state=user_rejected" in sequence
    tail = sequence[sequence.index("user:change_agent_state=user_rejected") :]
    assert tail[-2:] == ["agent:user_rejected", "environment:agent_state_changed=awaiting_user_input"]


async def test_server_restart_reconnects_without_duplicated_rows(tmp_path: Path) -> None:
    server = OhtuiServer(ServerConfig(data_dir=tmp_path / "remote", clock=CounterClock()))
    await server.start()
    port = int(server.url.rsplit(":", 1)[1])
    proxy = FaultProxy("127.0.0.1", port)
    await proxy.start()
    target = Target(url=proxy.url, key=server.key, conversation_id="r", display_url="remote")
    app = make_app(tmp_path, target=target)
    try:
        async with app.run_test(size=(110, 30)) as pilot:
            async with asyncio.timeout(WAIT):
                await app.wait_until(lambda: app.agent_state is AgentState.AWAITING_USER_INPUT)
                await type_and_send(pilot, "before")
                await app.wait_until(lambda: any(e.message == "Echo: before" for e in app.event_log.visible_events()))
                await server.stop()
                await app.wait_until(lambda: app.connection_panel.status.state is ConnectionState.RECONNECTING)
                proxy.refuse(True)
                await type_and_send(pilot, "typed while offline")
                await app.wait_until(lambda: app.chat.pending == 1)
                server = OhtuiServer(ServerConfig(data_dir=tmp_path / "remote", key=server.key))
                await server.start()
                proxy.target_port = int(server.url.rsplit(":", 1)[1])
                proxy.refuse(False)
                app.action_retry()
                await app.wait_until(lambda: app.connection_panel.status.state is ConnectionState.CONNECTED)
                await app.wait_until(
                    lambda: any(e.message == "Echo: typed while offline" for e in app.event_log.visible_events())
                )
                await app.wait_until(lambda: app.chat.pending == 0)  # counters are reported every 0.2 s
            ids = shown_ids(app)
            assert len(ids) == len(set(ids)), "a row was shown twice"
            stored = [e.id for e in server.db.events("r").search()]
            assert set(ids) <= set(stored)
    finally:
        await proxy.stop()
        await server.stop()


async def test_refused_connection_shows_the_reason_and_the_fix(tmp_path: Path) -> None:
    server = OhtuiServer(ServerConfig(data_dir=tmp_path / "remote"))
    await server.start()
    app = make_app(tmp_path, target=Target(url=server.url, key="wrong", conversation_id="c", display_url="remote"))
    try:
        async with app.run_test(size=(110, 30)):
            async with asyncio.timeout(WAIT):
                await app.wait_until(lambda: app.connection_panel.status.state is ConnectionState.REFUSED)
            assert app.connection_panel.status.last_error == "invalid_session_api_key"
            text = " ".join(str(w.render()) for w in app.connection_panel.query("Static"))
            assert "invalid_session_api_key" in text and "--key" in text
    finally:
        await server.stop()


async def test_help_and_palette_list_every_command(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(110, 40)) as pilot:
        names = {command.name for command in app.palette_commands()}
        for binding in app.BINDINGS:
            assert binding.description in names  # type: ignore[union-attr]
        assert "Filter: Show only messages" in names
        await pilot.press("f1")
        await pilot.pause()
        assert type(app.screen).__name__ == "HelpScreen"
        await pilot.press("escape")
        await pilot.pause()
        assert type(app.screen).__name__ == "Screen"


async def test_conversations_screen_switches_and_creates(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(110, 30)) as pilot:
        async with asyncio.timeout(WAIT):
            await app.wait_until(lambda: app.agent_state is AgentState.AWAITING_USER_INPUT)
            await pilot.press("ctrl+o")
            await app.wait_until(lambda: type(app.screen).__name__ == "ConversationsScreen")
            await pilot.press("n")
            await app.wait_until(lambda: app.session is not None and app.session.conversation_id != "demo")
            await app.wait_until(lambda: app.agent_state is AgentState.AWAITING_USER_INPUT)
        assert app.session is not None and app.sub_title == app.session.conversation_id
        assert app.embedded is not None
        assert len(app.embedded.server.db.conversations.list()) == 2


async def test_search_and_filter_from_the_slash_bar(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(110, 30)) as pilot:
        async with asyncio.timeout(WAIT):
            await app.wait_until(lambda: app.agent_state is AgentState.AWAITING_USER_INPUT)
            await type_and_send(pilot, "needle")
            await app.wait_until(lambda: any(e.message == "Echo: needle" for e in app.event_log.visible_events()))
        await pilot.press("ctrl+l", "slash")
        await pilot.press(*"kind:message", "enter")
        await pilot.pause()
        assert {e.kind for e in app.event_log.visible_events()} == {"message"}
        await pilot.press("slash", *"all", "enter", "slash", *"needle", "enter")
        await pilot.pause()
        assert app.event_log.match_count >= 2
        await pilot.press("slash", *"Echo: needle", "enter")
        await pilot.pause()
        assert app.event_log.match_count == 1
        shown = [notification.message for notification in app._notifications]
        assert shown[-1] == "1 match for 'Echo: needle' (n / N to move)"


def _two_commands_agent(**_: object) -> Agent:
    return HeldAgent([CmdRunAction(command="echo one"), CmdRunAction(command="echo two"), AgentFinishAction()])


async def test_always_allow_confirms_and_stops_asking(tmp_path: Path) -> None:
    agent = register_test_agent("ui-always", _two_commands_agent)
    app = make_app(tmp_path, agent=agent, confirmation_mode=True, runtime_factory=lambda cid: ScriptedRuntime())
    async with app.run_test(size=(110, 34)) as pilot:
        async with asyncio.timeout(WAIT):
            await app.wait_until(lambda: app.agent_state is AgentState.AWAITING_USER_INPUT)
            await type_and_send(pilot, "go")
            await app.wait_until(lambda: app.agent_state is AgentState.AWAITING_USER_CONFIRMATION)
            await pilot.press("ctrl+a")
            await app.wait_until(lambda: app.agent_state is AgentState.FINISHED)
        assert app.embedded is not None
        stored = list(app.embedded.server.db.events("demo").search())
    asked = [
        e
        for e in stored
        if isinstance(e, AgentStateChangedObservation) and e.agent_state is AgentState.AWAITING_USER_CONFIRMATION
    ]
    assert len(asked) == 1  # the second command ran without asking
    outputs = [e for e in stored if e.kind == "run" and e.cause is not None]
    assert [o.extras.command for o in outputs] == ["echo one", "echo two"]  # type: ignore[attr-defined]
    user_change = next(e for e in stored if e.kind == "change_agent_state" and e.source is EventSource.USER)
    assert "ohtui_always_allow" not in str(user_change)  # the extension never reaches the stored event


async def test_llm_settings_screen_saves_and_applies_to_new_conversations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tomllib

    config = tmp_path / "config.toml"
    config.write_text('theme = "textual-dark"\n', encoding="utf-8")
    monkeypatch.setenv("OHTUI_CONFIG", str(config))
    app = make_app(tmp_path)
    async with app.run_test(size=(110, 34)) as pilot:
        async with asyncio.timeout(WAIT):
            await app.wait_until(lambda: app.agent_state is AgentState.AWAITING_USER_INPUT)
            app._llm_settings()
            await app.wait_until(lambda: type(app.screen).__name__ == "SettingsScreen")
        await pilot.press(*"llama3.1", "tab", *"http://127.0.0.1:9/v1", "tab", *"sk-test", "enter")
        await pilot.pause()
        assert type(app.screen).__name__ == "Screen"
        assert app.embedded is not None and app.embedded.server.manager is not None
        manager = app.embedded.server.manager
        options = await app.embedded.run(_options(manager))
    saved = tomllib.loads(config.read_text(encoding="utf-8"))
    assert saved == {
        "theme": "textual-dark",
        "llm_model": "llama3.1",
        "llm_base_url": "http://127.0.0.1:9/v1",
        "llm_api_key": "sk-test",
    }
    assert options["settings"].model == "llama3.1" and options["settings"].api_key == "sk-test"


async def _options(manager: object) -> dict[str, object]:
    return manager._options_for("llm")  # type: ignore[attr-defined, no-any-return]


async def test_a_new_conversation_starts_with_a_fresh_state_and_its_confirmation_works(tmp_path: Path) -> None:
    """The state pane used to keep the previous conversation's ids: after Ctrl+O, n in a conversation that had
    gone further, the new one stayed "loading" and Ctrl+Y did nothing until its ids caught up."""
    agent = register_test_agent("ui-confirm-switch", _confirm_agent)
    app = make_app(tmp_path, agent=agent, confirmation_mode=True, runtime_factory=lambda cid: ScriptedRuntime())

    async def run_and_confirm(pilot: object) -> None:
        await app.wait_until(lambda: app.agent_state is AgentState.AWAITING_USER_INPUT)
        await type_and_send(pilot, "run it")
        await app.wait_until(lambda: app.agent_state is AgentState.AWAITING_USER_CONFIRMATION)
        await pilot.press("ctrl+y")  # type: ignore[attr-defined]
        await app.wait_until(lambda: app.agent_state is AgentState.FINISHED)

    async with app.run_test(size=(110, 34)) as pilot:
        async with asyncio.timeout(WAIT):
            await run_and_confirm(pilot)
            await pilot.press("ctrl+o")
            await pilot.press("n")
            await app.wait_until(lambda: app.session is not None and app.session.conversation_id != "demo")
            await run_and_confirm(pilot)
        assert app.session is not None and app.embedded is not None
        second = list(app.embedded.server.db.events(app.session.conversation_id or "").search())
    assert any(isinstance(e, AgentFinishAction) for e in second)
