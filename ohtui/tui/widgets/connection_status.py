"""The connection pane: one :class:`ConnectionChanged` snapshot rendered, with a live countdown to the next retry."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Static

from ohtui.client.status import ConnectionChanged, ConnectionState
from ohtui.tui.messages import RetryRequested
from ohtui.tui.widgets.text_line import show_text

Clock = Callable[[], float]

STATE_GLYPHS: dict[ConnectionState, str] = {
    ConnectionState.IDLE: "○",
    ConnectionState.CONNECTING: "◌",
    ConnectionState.CONNECTED: "●",
    ConnectionState.RECONNECTING: "↻",
    ConnectionState.REFUSED: "⊘",
    ConnectionState.OFFLINE: "✗",
    ConnectionState.CLOSED: "■",
}

_REFUSAL_HINTS: tuple[tuple[str, str], ...] = (
    ("invalid_session_api_key", "check --key / OHTUI_SESSION_API_KEY"),
    ("no conversation_id", "pass --conversation ID"),
    ("failed to access conversation events", "no such conversation here: check --conversation ID"),
    ("failed to join conversation", "the server could not start the conversation: see its log"),
    ("settings not found", "configure the server's LLM settings first"),
    ("keycloak_auth", "pass an API key with --key"),
    ("authorization", "pass an API key with --key"),
    ("session$timeout", "the login expired: get a new key"),
    ("is not allowed to join", "this conversation belongs to another user"),
)


def refusal_hint(reason: str | None) -> str:
    """How to fix a refused connection, from the server's refusal message (§1.2)."""
    lowered = (reason or "").lower()
    for needle, hint in _REFUSAL_HINTS:
        if needle in lowered:
            return hint
    return "see the server's log; press r to retry"


def state_class(state: ConnectionState) -> str:
    return f"-conn-{state.value}"


class ConnectionStatusPanel(Vertical, can_focus=True):
    """State, endpoint, retry countdown, latency, last error and the client's counters.

    Feed it with :meth:`set_status`. The countdown is computed from ``next_retry_at`` (a ``time.monotonic()``
    deadline) against ``clock``, which tests replace; its timer runs only while a retry is scheduled.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "retry", "Retry now", id="connection.retry"),
    ]

    DEFAULT_CSS = """
    ConnectionStatusPanel {
        height: auto;
        padding: 0 1;
        background: $surface;
        border-title-color: $text-muted;
        &:focus-within { background-tint: $foreground 4%; }
        & > #conn-line { height: 1; }
        & #conn-state { width: auto; padding: 0 1; text-style: bold; }
        & #conn-latency { width: auto; margin-left: 1; color: $text-muted; }
        & #conn-endpoint { color: $text-muted; height: 1; text-overflow: ellipsis; text-wrap: nowrap; }
        & #conn-retry { color: $text-warning; height: auto; }
        & #conn-hint { color: $text-accent; height: auto; }
        & #conn-error { color: $text-error; height: auto; max-height: 3; }
        & #conn-counters { color: $text-muted; height: auto; }
        & .-conn-idle { background: $panel; color: $text-muted; }
        & .-conn-connecting { background: $primary-muted; color: $text-primary; }
        & .-conn-connected { background: $success-muted; color: $text-success; }
        & .-conn-reconnecting { background: $warning-muted; color: $text-warning; }
        & .-conn-refused { background: $error; color: auto; }
        & .-conn-offline { background: $error-muted; color: $text-error; }
        & .-conn-closed { background: $panel; color: $foreground; }
    }
    """

    COUNTDOWN_INTERVAL: ClassVar[float] = 0.25

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
        self._status = ConnectionChanged(ConnectionState.IDLE, url="", conversation_id="")
        self._timer: Timer | None = None
        self._ready = False  # children composed and mounted: safe to query

    @property
    def status(self) -> ConnectionChanged:
        return self._status

    def compose(self) -> ComposeResult:
        with Horizontal(id="conn-line"):
            yield Static(id="conn-state")
            yield Static(id="conn-latency")
        yield Static(id="conn-endpoint")
        yield Static(id="conn-retry")
        yield Static(id="conn-error")
        yield Static(id="conn-hint")
        yield Static(id="conn-counters")

    def on_mount(self) -> None:
        self._ready = True
        self.border_title = "connection"
        self._render_status()

    def set_status(self, status: ConnectionChanged) -> None:
        """Show a new snapshot (a transition or fresh figures in the same state)."""
        self._status = status
        self._render_status()

    def countdown(self) -> float | None:
        """Seconds until the next retry, or ``None`` when none is scheduled."""
        deadline = self._status.next_retry_at
        if deadline is None or self._status.state is not ConnectionState.RECONNECTING:
            return None
        return max(deadline - self._clock(), 0.0)

    def refresh_countdown(self) -> None:
        """Redraw the countdown; the timer calls this, tests call it after moving the clock."""
        if not self._ready:
            return
        remaining = self.countdown()
        retry = self.query_one("#conn-retry", Static)
        if remaining is None:
            retry.display = False
            self._stop_timer()
            return
        retry.display = True
        attempt = f"attempt {self._status.attempt} · " if self._status.attempt else ""
        if remaining > 0:
            show_text(retry, f"{attempt}retry in {math.ceil(remaining)}s")
        else:
            show_text(retry, f"{attempt}retrying…")
            self._stop_timer()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def _render_status(self) -> None:
        if not self._ready:
            return
        status = self._status
        state = status.state
        label = self._show("#conn-state", f"{STATE_GLYPHS[state]} {state.value}")
        for each in ConnectionState:
            label.set_class(each is state, state_class(each))

        latency = self._show("#conn-latency", f"{status.latency * 1000:.0f} ms" if status.latency is not None else "")
        latency.display = state is ConnectionState.CONNECTED and status.latency is not None

        parts = [
            part for part in (status.url, f"conv {status.conversation_id}" if status.conversation_id else "") if part
        ]
        endpoint = self._show("#conn-endpoint", " · ".join(parts))
        endpoint.display = bool(parts)

        if state is ConnectionState.REFUSED:
            hint_text = refusal_hint(status.last_error)
        elif state is ConnectionState.OFFLINE:
            tries = f"gave up after {status.attempt} attempts · " if status.attempt > 1 else ""
            hint_text = f"{tries}press r to retry"
        elif state is ConnectionState.RECONNECTING:
            hint_text = "r retries now"
        else:
            hint_text = ""
        hint = self._show("#conn-hint", hint_text)
        hint.display = bool(hint_text)

        error_text = status.last_error or ""
        if state is ConnectionState.REFUSED and error_text:
            error_text = f"refused: {error_text}"
        error = self._show("#conn-error", error_text)
        error.display = bool(error_text) and state is not ConnectionState.CONNECTED

        counters = status.counters
        text = f"recv {counters.events_received} · dup {counters.duplicates_dropped} · gaps {counters.gaps_repaired}"
        if counters.sends_pending:
            text += f" · queued {counters.sends_pending}"
        if counters.invalid_kept:
            text += f" · invalid {counters.invalid_kept}"
        self._show("#conn-counters", text)

        if self.countdown() is not None:
            if self._timer is None:
                self._timer = self.set_interval(self.COUNTDOWN_INTERVAL, self.refresh_countdown)
        else:
            self._stop_timer()
        self.refresh_countdown()
        self.refresh_bindings()

    def _show(self, selector: str, text: str) -> Static:
        """The line ``selector``, showing ``text`` (updated only if it did not already)."""
        line = self.query_one(selector, Static)
        show_text(line, text)
        return line

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "retry":
            return self._status.state is not ConnectionState.CONNECTED
        return True

    def action_retry(self) -> None:
        self.post_message(RetryRequested())
