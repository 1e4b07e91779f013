"""The app's collaborators without an App: what each key means in each state, and the launcher's lifecycle."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ohtui.client.outbox import SendOutcome
from ohtui.config import LLMSettings, Settings
from ohtui.protocol import (
    Action,
    ActionConfirmationStatus,
    AgentState,
    AgentStateChangedObservation,
    ChangeAgentStateAction,
    CmdRunAction,
    EventSource,
    MessageAction,
)
from ohtui.protocol.intents import asks_always_allow
from ohtui.protocol.state import ConversationState
from ohtui.server import ServerConfig
from ohtui.tui.intents import Intents
from ohtui.tui.launch import Launcher, LaunchError, Target


class Recorder:
    """Stands in for the session (the thing under test is Intents): records what would be sent."""

    def __init__(self, outcome: SendOutcome | None = None) -> None:
        self.sent: list[Action] = []
        self.outcome = outcome or SendOutcome(True, event_id=1)

    async def send(self, action: Action) -> SendOutcome:
        self.sent.append(action)
        return self.outcome


def _intents(state: ConversationState, sender: Recorder | None) -> tuple[Intents, list[tuple[str, str]]]:
    notes: list[tuple[str, str]] = []
    return Intents(lambda: state, lambda: sender, lambda text, severity: notes.append((text, severity))), notes


def _state(value: AgentState, pending_id: int | None = None) -> ConversationState:
    state = ConversationState()
    state.apply(AgentStateChangedObservation(id=10, source=EventSource.ENVIRONMENT, agent_state=value))
    if pending_id is not None:
        awaiting = ActionConfirmationStatus.AWAITING_CONFIRMATION
        state.apply(CmdRunAction(id=pending_id, source=EventSource.AGENT, command="ls", confirmation_state=awaiting))
    return state


def _asked(action: Action | None) -> AgentState | None:
    return action.args.agent_state if isinstance(action, ChangeAgentStateAction) else None


def test_keys_mean_what_the_rules_allow_in_each_state() -> None:
    running, _ = _intents(_state(AgentState.RUNNING), Recorder())
    assert _asked(running.stop()) is AgentState.STOPPED
    assert _asked(running.pause_or_resume()) is AgentState.PAUSED
    assert running.confirm() is None and running.reject() is None and running.allow_all() is None
    paused, _ = _intents(_state(AgentState.PAUSED), Recorder())
    assert _asked(paused.pause_or_resume()) is AgentState.RUNNING
    idle, notes = _intents(_state(AgentState.AWAITING_USER_INPUT), Recorder())
    assert idle.stop() is None and idle.pause_or_resume() is None
    assert [severity for _, severity in notes] == ["information", "information"]
    assert "nothing to stop (the agent is awaiting user input)" in notes[0][0]


def test_a_confirmation_answers_only_the_action_it_was_shown() -> None:
    intents, _ = _intents(_state(AgentState.AWAITING_USER_CONFIRMATION, pending_id=11), Recorder())
    assert _asked(intents.confirm()) is AgentState.USER_CONFIRMED  # the key: whatever is pending
    assert _asked(intents.confirm(11, checked=True)) is AgentState.USER_CONFIRMED
    assert intents.confirm(9, checked=True) is None  # the pane showed an action that is no longer pending
    assert _asked(intents.reject(11, checked=True)) is AgentState.USER_REJECTED
    assert asks_always_allow(intents.allow_all())  # type: ignore[arg-type]


async def test_sending_reports_a_refusal_and_a_missing_session() -> None:
    refusing = Recorder(SendOutcome(False, error="no action is awaiting confirmation"))
    intents, notes = _intents(_state(AgentState.RUNNING), refusing)
    message = intents.message("  hello  ")
    assert isinstance(message, MessageAction) and message.args.content == "hello"
    assert intents.message("   ") is None
    assert await intents.send(message, "message") == refusing.outcome
    assert refusing.sent == [message]
    assert notes == [("message not sent: no action is awaiting confirmation", "error")]
    offline, offline_notes = _intents(_state(AgentState.RUNNING), None)
    assert await offline.send(message, "message") is None
    assert offline_notes == [("not connected yet", "warning")]
    assert await offline.send(None, "nothing") is None


async def test_the_launcher_starts_the_embedded_server_and_session_and_stops_them(tmp_path: Path) -> None:
    config = ServerConfig(data_dir=tmp_path / "server", agent="echo")
    launcher = Launcher(Target(), Settings(), server_config=config, connection_options={"ping_every": 0})
    posted: list[object] = []
    session = await launcher.start(posted.append)
    assert launcher.embedded is not None and launcher.embedded.url == session.url
    conversation_id = await session.rest.create_conversation()
    assert launcher.embedded.server.db.conversations.get(conversation_id) is not None
    llm = LLMSettings.from_settings(Settings(llm_model="gpt-4o", llm_api_key="sk-x"))
    assert launcher.use_llm_settings(llm)
    await launcher.embedded.run(asyncio.sleep(0))  # the update runs on the server's loop, in order
    manager = launcher.embedded.server.manager
    assert manager is not None and manager._options_for("llm")["settings"] == llm
    await launcher.shutdown()
    await launcher.shutdown()  # idempotent
    assert launcher.embedded is not None and launcher.embedded.url is not None


async def test_the_launcher_says_why_the_embedded_server_did_not_start(tmp_path: Path) -> None:
    config = ServerConfig(data_dir=tmp_path / "server", key="short")
    launcher = Launcher(Target(), Settings(), server_config=config)
    with pytest.raises(LaunchError, match=r"the embedded server did not start: .*at least 16"):
        await launcher.start(lambda message: None)
    await launcher.shutdown()
