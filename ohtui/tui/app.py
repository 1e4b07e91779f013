"""The ohtui application: one screen with the event log, the agent and connection panes, and the chat input.

Data flow (ARCHITECTURE.md): the :class:`Session` (client + local mirror) posts typed messages; the handlers here own
every state change and hand data to widgets; widgets post user intents back as messages. No I/O in a widget.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from functools import wraps
from pathlib import Path
from typing import Any, ClassVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.reactive import var
from textual.theme import BUILTIN_THEMES

from ohtui.client.rest import RestError
from ohtui.client.status import ConnectionChanged, ConnectionState
from ohtui.config import LLMSettings, Settings, SettingsError, config_path
from ohtui.protocol import Action, AgentState
from ohtui.protocol.state import ConversationState
from ohtui.server import ServerConfig
from ohtui.tui.commands import OhtuiCommands, PaletteCommand, binding_commands, filter_commands
from ohtui.tui.embedded import EmbeddedServer
from ohtui.tui.intents import Intents
from ohtui.tui.launch import Launcher, LaunchError, Target
from ohtui.tui.messages import ConfirmRequested, RejectRequested, RetryRequested
from ohtui.tui.screens.conversations import ConversationsScreen
from ohtui.tui.screens.help import HelpScreen
from ohtui.tui.screens.settings import SettingsScreen
from ohtui.tui.search_bar import SearchBar, filter_notice, parse_filter, search_notice
from ohtui.tui.session import (
    ConnectionStatusChanged,
    ConversationOpened,
    EventsArrived,
    ServerErrorReceived,
    Session,
    StatusReceived,
)
from ohtui.tui.widgets import AgentStatePanel, ChatInput, ConnectionStatusPanel, EventLog
from ohtui.tui.widgets.footer import CoalescingFooter

NARROW = 100


def check_theme(name: str) -> None:
    """Raise :class:`SettingsError` naming the known themes if ``name`` is not one; Textual's own error (raised
    from deep in the app's construction) names none and suggests registering one."""
    if name not in BUILTIN_THEMES:
        raise SettingsError(f"unknown theme {name!r}; known themes: {', '.join(sorted(BUILTIN_THEMES))}")


_Handler = Callable[[Any, Any], None]


def _while_running(handler: _Handler) -> _Handler:
    """A session message that arrives while the app shuts down (its widgets going or gone) is dropped: closing the
    session at exit reports the connection's last changes, and nothing is left to show them."""

    @wraps(handler)
    def guarded(app: Any, message: Any) -> None:
        if app.is_running:
            handler(app, message)

    return guarded


class OhtuiApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "ohtui"
    COMMANDS = App.COMMANDS | {OhtuiCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "help", "Help", id="app.help"),
        Binding("question_mark", "help", "Help", show=False, id="app.help_key"),
        Binding("escape", "stop_agent", "Stop agent", id="app.stop"),
        Binding("f2", "pause_resume", "Pause/resume", id="app.pause_resume"),
        Binding("ctrl+y", "confirm", "Confirm action", priority=True, id="app.confirm"),
        Binding("ctrl+n", "reject", "Reject action", priority=True, id="app.reject"),
        Binding("ctrl+a", "always_allow", "Always allow", priority=True, id="app.always_allow"),
        Binding("ctrl+o", "conversations", "Conversations", id="app.conversations"),
        Binding("slash", "search", "Search", show=False, id="app.search"),
        Binding("ctrl+l", "focus_log", "Log", show=False, id="app.focus_log"),
        Binding("i", "focus_input", "Type a message", show=False, id="app.focus_input"),
        Binding("ctrl+r", "retry", "Reconnect", show=False, id="app.retry"),
        Binding("ctrl+t", "toggle_theme", "Light/dark", show=False, id="app.toggle_theme"),
        Binding("ctrl+b", "toggle_sidebar", "Sidebar", show=False, id="app.toggle_sidebar"),
        Binding("ctrl+q", "quit", "Quit", id="app.quit"),
    ]

    conversation: var[ConversationState] = var(ConversationState, always_update=True, init=False)
    """The open conversation's state (the protocol's reducer): a new one when a conversation opens; the panes bind
    to it and only render it."""

    def __init__(
        self,
        target: Target | None = None,
        settings: Settings | None = None,
        *,
        server_config: ServerConfig | None = None,
        mirror_dir: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
        connection_options: dict[str, Any] | None = None,
        notice: str | None = None,
    ) -> None:
        """``clock`` drives elapsed times and countdowns; with ``connection_options`` (passed to the client's
        :class:`Connection`) tests make the whole screen deterministic."""
        super().__init__()
        self.target = target or Target()
        self.settings = settings or Settings()
        self._clock = clock
        self._notice = notice
        self.launcher = Launcher(
            self.target,
            self.settings,
            server_config=server_config,
            mirror_dir=mirror_dir,
            connection_options={"clock": clock, **(connection_options or {})},
        )
        self.intents = Intents(lambda: self.conversation, lambda: self.session, self._notify_intent)
        self._changed: asyncio.Event | None = None
        check_theme(self.settings.theme)
        self.theme = self.settings.theme
        if self.settings.keymap:
            self.set_keymap(self.settings.keymap)

    @property
    def session(self) -> Session | None:
        return self.launcher.session

    @property
    def embedded(self) -> EmbeddedServer | None:
        return self.launcher.embedded

    # -- layout ------------------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            yield EventLog(id="log")
            with Vertical(id="sidebar"):
                yield AgentStatePanel(clock=self._clock, id="agent").data_bind(OhtuiApp.conversation)
                yield ConnectionStatusPanel(clock=self._clock, id="connection")
        yield SearchBar()
        yield ChatInput(id="chat")
        yield CoalescingFooter()

    @property
    def event_log(self) -> EventLog:
        return self.query_one(EventLog)

    @property
    def agent_panel(self) -> AgentStatePanel:
        return self.query_one(AgentStatePanel)

    @property
    def connection_panel(self) -> ConnectionStatusPanel:
        return self.query_one(ConnectionStatusPanel)

    @property
    def chat(self) -> ChatInput:
        return self.query_one(ChatInput)

    def on_mount(self) -> None:
        self._changed = asyncio.Event()
        self._apply_width(self.size.width)
        self.connection_panel.set_status(
            ConnectionChanged(ConnectionState.IDLE, self._label(self.target.url or "starting embedded server…"), "")
        )
        self.chat.focus()
        if self._notice:
            self.notify(self._notice, title="ohtui", severity="warning", timeout=20)
        self._start()

    def on_resize(self) -> None:
        self._apply_width(self.size.width)

    def _apply_width(self, width: int) -> None:
        self.screen.set_class(width < NARROW, "-narrow")

    def _label(self, url: str) -> str:
        return self.target.display_url or url

    def _touch(self) -> None:
        if self._changed is not None:
            self._changed.set()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` holds, re-checked after each screen refresh that follows news from the
        session. For tests and scripts driving the app (bound it with ``asyncio.timeout``)."""
        while not predicate():
            assert self._changed is not None
            self._changed.clear()
            await self._changed.wait()

    # -- start-up and shut-down --------------------------------------------------------------------------------
    @work(exclusive=True, group="session")
    async def _start(self) -> None:
        try:
            session = await self.launcher.start(self.post_message)
        except LaunchError as error:
            self._fail(str(error))
            return
        conversation_id = await self._choose_conversation()
        if conversation_id is not None:
            await session.open(conversation_id)

    async def _choose_conversation(self) -> str | None:
        assert self.session is not None
        rest = self.session.rest
        try:
            if self.target.conversation_id:
                return self.target.conversation_id
            if self.target.resume_latest:
                existing = await rest.conversations()
                if existing:
                    return str(existing[0]["conversation_id"])
            if self.target.url is None or self.target.resume_latest:
                return await rest.create_conversation()
        except RestError as error:
            self._fail(f"could not reach the server: {error}")
            return None
        return await self.push_screen_wait(ConversationsScreen(rest))

    def _fail(self, message: str) -> None:
        self.connection_panel.set_status(
            ConnectionChanged(
                ConnectionState.OFFLINE, self._label(self.target.url or "embedded"), "", last_error=message
            )
        )
        self.notify(message, severity="error", timeout=10)

    async def shutdown(self) -> None:
        """Close the session and stop the embedded server (everything it holds is stored). Idempotent."""
        await self.launcher.shutdown()

    async def action_quit(self) -> None:
        await self.shutdown()
        self.exit(0)

    async def on_unmount(self) -> None:
        await self.shutdown()

    # -- messages from the session ------------------------------------------------------------------------------
    @on(ConversationOpened)
    @_while_running
    def _conversation_opened(self, message: ConversationOpened) -> None:
        self.call_after_refresh(self._touch)
        log = self.event_log
        log.clear()
        log.set_loader(message.store.records_by_id)  # the log keeps envelopes; it reads what it shows
        self.conversation = message.state
        self.refresh_bindings()
        self.sub_title = message.conversation_id

    @on(EventsArrived)
    @_while_running
    def _events_arrived(self, message: EventsArrived) -> None:
        self.call_after_refresh(self._touch)
        records = message.records
        self.event_log.add_records(records)
        if message.history:
            return  # the state as of the history came with ConversationOpened
        conversation = self.conversation
        before = conversation.agent_state
        changed = False
        for record in records:
            changed = conversation.apply(record) or changed
        if changed:
            self.mutate_reactive(OhtuiApp.conversation)
        if conversation.agent_state is not before:
            self.refresh_bindings()
            self._follow_confirmation(conversation.agent_state)

    def _follow_confirmation(self, state: AgentState) -> None:
        """A pending action takes the keyboard (y / n) unless the user is typing; it gives it back after."""
        panel = self.agent_panel
        if state is AgentState.AWAITING_USER_CONFIRMATION and not self.chat.text.strip():
            panel.focus()
        elif state is not AgentState.AWAITING_USER_CONFIRMATION and panel.has_focus:
            self.chat.focus()

    @on(ConnectionStatusChanged)
    @_while_running
    def _connection_changed(self, message: ConnectionStatusChanged) -> None:
        self.call_after_refresh(self._touch)
        status = message.status
        self.connection_panel.set_status(replace(status, url=self._label(status.url)))
        self.chat.set_pending(status.counters.sends_pending, offline=status.state is not ConnectionState.CONNECTED)

    @on(StatusReceived)
    @_while_running
    def _status_received(self, message: StatusReceived) -> None:
        self.call_after_refresh(self._touch)
        if self.conversation.apply_status(message.status):
            self.sub_title = self.conversation.title or ""
            return
        self.agent_panel.update_from_status(message.status)
        if message.status.is_error:
            self.notify(message.status.message or message.status.id or "error", severity="error", timeout=8)

    @on(ServerErrorReceived)
    @_while_running
    def _server_error(self, message: ServerErrorReceived) -> None:
        self.call_after_refresh(self._touch)
        self.notify(f"server: {message.frame.message}", severity="error", timeout=8)

    # -- user intents -------------------------------------------------------------------------------------------
    @on(ChatInput.Submitted)
    def _submitted(self, message: ChatInput.Submitted) -> None:
        self._send(self.intents.message(message.text), "message")

    @work(group="send")
    async def _send(self, action: Action | None, what: str) -> None:
        await self.intents.send(action, what)

    def _notify_intent(self, text: str, severity: str) -> None:
        self.notify(text, severity=severity, timeout=8 if severity == "error" else 3)  # type: ignore[arg-type]

    @property
    def agent_state(self) -> AgentState:
        return self.conversation.agent_state

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Confirm/reject keys exist only while an action awaits confirmation (and then win over the input's own
        use of ctrl+y); the footer shows them only then."""
        if action in ("confirm", "reject", "always_allow"):
            return self.conversation.awaiting_confirmation
        return True

    @on(ConfirmRequested)
    def _confirm_requested(self, message: ConfirmRequested) -> None:
        self._send(self.intents.confirm(message.action_id, checked=True), "confirmation")

    @on(RejectRequested)
    def _reject_requested(self, message: RejectRequested) -> None:
        self._send(self.intents.reject(message.action_id, checked=True), "rejection")

    def action_confirm(self) -> None:
        self._send(self.intents.confirm(), "confirmation")

    def action_reject(self) -> None:
        self._send(self.intents.reject(), "rejection")

    def action_always_allow(self) -> None:
        """Confirm this action and stop asking for the rest of the session (an ohtui extension of the V0 wire)."""
        self._send(self.intents.allow_all(), "allow all")

    def action_stop_agent(self) -> None:
        self._send(self.intents.stop(), "stop")

    def action_pause_resume(self) -> None:
        self._send(self.intents.pause_or_resume(), "pause/resume")

    @on(RetryRequested)
    def action_retry(self) -> None:
        if self.session is not None:
            self.session.retry()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_conversations(self) -> None:
        if self.session is not None:
            self._switch_conversation()

    @work(exclusive=True, group="session")
    async def _switch_conversation(self) -> None:
        assert self.session is not None
        chosen = await self.push_screen_wait(ConversationsScreen(self.session.rest, self.session.conversation_id))
        if chosen and chosen != self.session.conversation_id:
            await self.session.open(chosen)

    def action_search(self) -> None:
        bar = self.query_one(SearchBar)
        bar.add_class("-open")
        bar.focus()

    @on(SearchBar.Query)
    def _search(self, message: SearchBar.Query) -> None:
        log = self.event_log
        parsed = parse_filter(message.text)
        if parsed is not None:
            log.set_filter(kinds=parsed[0], sources=parsed[1])
            self.notify(filter_notice(*parsed), timeout=3)
        else:
            matches = log.search(message.text)
            if not log.searching:
                self.notify(search_notice(message.text, matches), timeout=3)
        self._close_search()
        log.focus()

    @on(EventLog.SearchFinished)
    def _search_finished(self, message: EventLog.SearchFinished) -> None:
        self.notify(search_notice(message.text, message.matches), timeout=3)

    @on(SearchBar.Closed)
    def _close_search(self) -> None:
        bar = self.query_one(SearchBar)
        bar.remove_class("-open")
        if bar.has_focus:
            self.chat.focus()

    def action_focus_log(self) -> None:
        self.event_log.focus()

    def action_focus_input(self) -> None:
        self.chat.focus()

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"

    def action_toggle_sidebar(self) -> None:
        self.screen.toggle_class("-hide-sidebar")

    # -- command palette ------------------------------------------------------------------------------------------
    def palette_commands(self) -> list[PaletteCommand]:
        """Every app binding, the log filters, and the commands without a key."""
        bindings = [binding for binding in self.BINDINGS if isinstance(binding, Binding)]
        return [
            *binding_commands(bindings, self.get_key_display, self.run_action),
            *filter_commands(lambda kinds, sources: self.event_log.set_filter(kinds=kinds, sources=sources)),
            PaletteCommand("New conversation", "create and open", self._new_conversation),
            PaletteCommand("Play the offline demo", "a recorded session, replayed (no LLM needed)", self._play_demo),
            PaletteCommand("Settings: LLM model, endpoint, key", "saved to the settings file", self._llm_settings),
        ]

    def _llm_settings(self) -> None:
        self._edit_llm_settings()

    @work(exclusive=True, group="settings")
    async def _edit_llm_settings(self) -> None:
        settings = self.settings
        screen = SettingsScreen(
            settings.llm_model, settings.llm_base_url, bool(settings.llm_api_key), str(config_path())
        )
        choice = await self.push_screen_wait(screen)
        if choice is None:
            return
        changes: dict[str, Any] = {"llm_model": choice.model, "llm_base_url": choice.base_url}
        if choice.api_key:
            changes["llm_api_key"] = choice.api_key
        try:
            self.settings = settings.save(**changes)
        except SettingsError as error:
            self.notify(str(error), severity="error", timeout=10)
            return
        llm = LLMSettings.from_settings(self.settings)
        self.launcher.use_llm_settings(llm)
        advice = llm.problem or f"{llm.describe()}: new conversations use it (ctrl+o, n)"
        self.notify(f"saved. {advice}", severity="warning" if llm.problem else "information", timeout=8)

    def _play_demo(self) -> None:
        self._new_conversation(agent="replay", title="Offline demo")

    @work(exclusive=True, group="session")
    async def _new_conversation(self, agent: str | None = None, title: str | None = None) -> None:
        if self.session is None:
            return
        try:
            conversation_id = await self.session.rest.create_conversation(title=title, agent=agent)
        except RestError as error:
            self.notify(f"could not create a conversation: {error}", severity="error")
            return
        await self.session.open(conversation_id)
