"""The agent state pane: what the agent is doing, for how long, what it cost, and what it wants confirmed."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import Button, Static

from ohtui.protocol import (
    Action,
    ActionSecurityRisk,
    AgentState,
    BrowseInteractiveAction,
    BrowseURLAction,
    CmdRunAction,
    FileEditAction,
    FileWriteAction,
    IPythonRunCellAction,
    MCPAction,
    Metrics,
    StatusUpdate,
)
from ohtui.protocol.state import ConversationState
from ohtui.tui.messages import ConfirmRequested, RejectRequested

Clock = Callable[[], float]

STATE_GLYPHS: dict[AgentState, str] = {
    AgentState.LOADING: "◌",
    AgentState.RUNNING: "▶",
    AgentState.AWAITING_USER_INPUT: "✎",
    AgentState.PAUSED: "‖",
    AgentState.STOPPED: "■",
    AgentState.FINISHED: "✓",
    AgentState.REJECTED: "⊘",
    AgentState.ERROR: "✗",
    AgentState.AWAITING_USER_CONFIRMATION: "?",
    AgentState.USER_CONFIRMED: "✓",
    AgentState.USER_REJECTED: "✗",
    AgentState.RATE_LIMITED: "◷",
}
"""A glyph per state, so states stay distinct under NO_COLOR and for colour-blind users.

Colours (in ``DEFAULT_CSS``) use only the theme's primary, success, warning and error families plus neutral: many
themes make accent equal warning and secondary a shade of primary. Each family comes solid, muted or as text only.
"""

STATE_TEXT: dict[AgentState, str] = {
    AgentState.LOADING: "loading",
    AgentState.RUNNING: "running",
    AgentState.AWAITING_USER_INPUT: "waiting for you",
    AgentState.PAUSED: "paused",
    AgentState.STOPPED: "stopped",
    AgentState.FINISHED: "finished",
    AgentState.REJECTED: "rejected the task",
    AgentState.ERROR: "error",
    AgentState.AWAITING_USER_CONFIRMATION: "needs confirmation",
    AgentState.USER_CONFIRMED: "confirmed",
    AgentState.USER_REJECTED: "rejected by you",
    AgentState.RATE_LIMITED: "rate limited",
}


def state_class(state: AgentState) -> str:
    """The CSS class that colours ``state``: ``-state-awaiting-user-input`` and so on."""
    return "-state-" + state.value.replace("_", "-")


def format_elapsed(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def format_tokens(count: int) -> str:
    if count < 1000:
        return str(count)
    if count < 1_000_000:
        return f"{count / 1000:.1f}k"
    return f"{count / 1_000_000:.2f}M"


def status_label(status_id: str | None) -> str:
    """``STATUS$SETTING_UP_WORKSPACE`` → ``setting up workspace``: the id when a status frame has no message."""
    if not status_id:
        return ""
    return status_id.split("$", 1)[-1].replace("_", " ").lower()


def pending_details(action: Action) -> str:
    """The pending action in full: the user confirms exactly what will run."""
    args = action.args
    if isinstance(action, CmdRunAction):
        return f"$ {action.args.command}"
    if isinstance(action, IPythonRunCellAction):
        return action.args.code
    if isinstance(action, FileEditAction):
        lines = [f"{action.args.command or 'edit'} {action.args.path}"]
        if action.args.file_text is not None:
            lines += ["+" + line for line in action.args.file_text.splitlines()]
        if action.args.old_str is not None:
            lines += ["-" + line for line in action.args.old_str.splitlines()]
        if action.args.new_str is not None:
            lines += ["+" + line for line in action.args.new_str.splitlines()]
        if action.args.content:
            lines += ["+" + line for line in action.args.content.splitlines()]
        return "\n".join(lines)
    if isinstance(action, FileWriteAction):
        return "\n".join([f"write {action.args.path}", *("+" + line for line in action.args.content.splitlines())])
    if isinstance(action, BrowseURLAction):
        return f"browse {action.args.url}"
    if isinstance(action, BrowseInteractiveAction):
        return action.args.browser_actions
    if isinstance(action, MCPAction):
        return f"{action.args.name} {json.dumps(action.args.arguments, indent=2, default=str)}"
    thought = getattr(args, "thought", "")
    return action.message or str(thought) or action.kind


class AgentStatePanel(Vertical, can_focus=True):
    """Current agent state and cost; Confirm/Reject while an action awaits confirmation.

    It renders a :class:`ConversationState` (the app binds its own to :attr:`conversation`; the reducer decides
    what the events mean) and keeps only what is about the screen: how long the state has lasted, the status line.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "Confirm action", id="agent_state.confirm"),
        Binding("n", "reject", "Reject action", id="agent_state.reject"),
    ]

    DEFAULT_CSS = """
    AgentStatePanel {
        height: auto;
        padding: 0 1;
        background: $surface;
        border-title-color: $text-muted;
        &:focus-within { background-tint: $foreground 4%; }
        & > #agent-state-line { height: 1; }
        & #agent-state { width: auto; padding: 0 1; text-style: bold; }
        & #agent-elapsed { width: auto; margin-left: 1; color: $text-muted; }
        & #agent-reason { color: $text-muted; height: auto; }
        & #agent-reason.-error { color: $text-error; }
        & #agent-status { color: $text-muted; height: auto; }
        & #agent-usage { color: $text-muted; height: auto; }
        & > #agent-pending { display: none; height: auto; border: round $warning; padding: 0 1; }
        &.-awaiting > #agent-pending { display: block; }
        & #agent-pending-title { color: $text-warning; text-style: bold; }
        & #agent-pending-body { height: auto; max-height: 12; overflow-y: auto; }
        & #agent-pending-buttons { height: 1; margin-top: 1; }
        & #agent-pending-buttons Button { min-width: 0; margin-right: 1; }

        & .-state-loading { background: $panel; color: $text-muted; text-style: bold italic; }
        & .-state-running { background: $primary; color: auto; }
        & .-state-awaiting-user-input { background: $success-muted; color: $text-success; }
        & .-state-paused { background: $primary-muted; color: $text-primary; }
        & .-state-stopped { background: $panel; color: $foreground; }
        & .-state-finished { background: $success; color: auto; }
        & .-state-rejected { background: $error-muted; color: $text-error; }
        & .-state-error { background: $error; color: auto; }
        & .-state-awaiting-user-confirmation { background: $warning; color: auto; }
        & .-state-user-confirmed { background: $surface; color: $text-success; text-style: bold underline; }
        & .-state-user-rejected { background: $surface; color: $text-error; text-style: bold underline; }
        & .-state-rate-limited { background: $warning-muted; color: $text-warning; }
    }
    """

    conversation: reactive[ConversationState] = reactive(ConversationState, always_update=True, init=False)
    """Bound to the app's state; mutated in place and re-assigned (or ``mutate_reactive``) after each batch."""
    status: reactive[str] = reactive("")

    def __init__(
        self,
        *,
        clock: Clock = time.monotonic,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._clock = clock
        self.since = clock()
        self._shown_state: AgentState | None = None
        self._shown_pending: Action | None = None
        self._timer: Timer | None = None
        self._ready = False  # children composed and mounted: safe to query

    @property
    def state(self) -> AgentState:
        return self.conversation.agent_state

    @property
    def reason(self) -> str:
        return self.conversation.reason

    @property
    def metrics(self) -> Metrics | None:
        return self.conversation.metrics

    @property
    def pending(self) -> Action | None:
        return self.conversation.pending

    def compose(self) -> ComposeResult:
        with Horizontal(id="agent-state-line"):
            yield Static(id="agent-state", classes=state_class(self.state))
            yield Static(id="agent-elapsed")
        yield Static(id="agent-reason")
        yield Static(id="agent-status")
        yield Static(id="agent-usage")
        with Vertical(id="agent-pending"):
            yield Static("Confirm this action?", id="agent-pending-title")
            yield Static(id="agent-pending-body")
            with Horizontal(id="agent-pending-buttons"):
                yield Button("Confirm (y)", id="agent-confirm", variant="success", compact=True)
                yield Button("Reject (n)", id="agent-reject", variant="error", compact=True)

    def on_mount(self) -> None:
        self._ready = True
        self.border_title = "agent"
        self._timer = self.set_interval(1.0, self.refresh_elapsed)
        self._show_state()
        self._show_reason()
        self._show_usage()
        self._show_pending()
        self.refresh_elapsed()

    # ------------------------------------------------------------------ input

    def update_from_status(self, status: StatusUpdate) -> None:
        """A runtime status frame (``STATUS$…``): shown as one line under the state."""
        if status.conversation_title is not None:
            return
        self.status = status.message or status_label(status.id)

    # ------------------------------------------------------------------ rendering

    def watch_conversation(self) -> None:
        state, pending = self.state, self.pending
        if state is not self._shown_state:
            self.since = self._clock()
            self._show_state()
            self.refresh_elapsed()
            self.refresh_bindings()
        if pending is not self._shown_pending:
            self._show_pending()
            self.refresh_bindings()
        self._show_reason()
        self._show_usage()

    def watch_status(self) -> None:
        if self._ready:
            status = self.query_one("#agent-status", Static)
            status.update(Content(self.status))
            status.display = bool(self.status)

    def refresh_elapsed(self) -> None:
        """Redraw the time in state; the 1 s timer calls this, tests call it after moving the clock."""
        if self._ready:
            self.query_one("#agent-elapsed", Static).update(format_elapsed(self._clock() - self.since))

    def _show_state(self) -> None:
        if not self._ready:
            return
        self._shown_state = self.state
        label = self.query_one("#agent-state", Static)
        for state in AgentState:
            label.set_class(state is self.state, state_class(state))
        label.update(f"{STATE_GLYPHS[self.state]} {STATE_TEXT[self.state]}")
        self.set_class(self.awaiting, "-awaiting")
        self._show_reason()

    def _show_reason(self) -> None:
        if not self._ready:
            return
        widget = self.query_one("#agent-reason", Static)
        widget.set_class(self.state is AgentState.ERROR, "-error")
        widget.update(Content(self.reason))
        widget.display = bool(self.reason)

    def _show_usage(self) -> None:
        if not self._ready:
            return
        widget = self.query_one("#agent-usage", Static)
        metrics = self.metrics
        if metrics is None:
            widget.update("no LLM usage yet")
            return
        usage = metrics.accumulated_token_usage
        parts = [f"{format_tokens(usage.prompt_tokens)} in · {format_tokens(usage.completion_tokens)} out"]
        if usage.cache_read_tokens or usage.cache_write_tokens:
            parts.append(
                f" · cache {format_tokens(usage.cache_read_tokens)}r/{format_tokens(usage.cache_write_tokens)}w"
            )
        parts.append(f"\n${metrics.accumulated_cost:.4f}")
        if metrics.max_budget_per_task:
            parts.append(f" of ${metrics.max_budget_per_task:.2f}")
        if usage.context_window:
            parts.append(f" · context {usage.per_turn_token * 100 // usage.context_window}%")
        widget.update(Content("".join(parts)))

    @property
    def awaiting(self) -> bool:
        return self.conversation.awaiting_confirmation

    def _show_pending(self) -> None:
        if not self._ready:
            return
        self._shown_pending = self.pending
        self.set_class(self.awaiting, "-awaiting")
        action = self.pending
        if action is None:
            return
        parts: list[str | tuple[str, str]] = []
        risk = getattr(action.args, "security_risk", ActionSecurityRisk.UNKNOWN)
        if risk is ActionSecurityRisk.HIGH:
            parts.append(("risk: HIGH\n", "$text-error bold"))
        thought = getattr(action.args, "thought", "")
        if isinstance(thought, str) and thought.strip():
            parts.append((thought.strip() + "\n", "italic $text-muted"))
        for line in pending_details(action).splitlines() or [""]:
            style = "$text-success" if line.startswith("+") else "$text-error" if line.startswith("-") else ""
            parts.append((line + "\n", style))
        self.query_one("#agent-pending-body", Static).update(Content.assemble(*parts).rstrip())

    # ------------------------------------------------------------------ intents

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("confirm", "reject"):
            return self.awaiting
        return True

    def action_confirm(self) -> None:
        if self.awaiting:
            self.post_message(ConfirmRequested(self.pending.id if self.pending else None))

    def action_reject(self) -> None:
        if self.awaiting:
            self.post_message(RejectRequested(self.pending.id if self.pending else None))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "agent-confirm":
            self.action_confirm()
        elif event.button.id == "agent-reject":
            self.action_reject()
