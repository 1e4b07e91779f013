"""The message box at the bottom: multi-line, history on up/down, and a line showing sends queued while offline.

Keys: Enter sends. A newline needs a key the terminal can tell apart from Enter: Ctrl+J works everywhere (it is a
bare line feed, while Enter sends a carriage return); Shift+Enter and Alt+Enter work in terminals that report
modified keys (kitty keyboard protocol, which Textual enables: kitty, WezTerm, foot, Ghostty, iTerm2 with CSI u;
Alt+Enter also in most xterm-likes). Over plain ssh into an old terminal only Ctrl+J is certain.
"""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Static, TextArea

from ohtui.tui.messages import SendRequested
from ohtui.tui.widgets.text_line import show_text

NEWLINE_KEYS = frozenset({"ctrl+j", "shift+enter", "alt+enter", "ctrl+enter"})


class MessageArea(TextArea):
    """The editable part: Enter submits, newline keys insert, up/down walk the history at the text's edges."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+j", "newline", "Newline", show=False, id="chat_input.newline"),
    ]

    def __init__(self, owner: ChatInput, *, placeholder: str = "", id: str | None = None) -> None:
        super().__init__(
            id=id,
            soft_wrap=True,
            tab_behavior="focus",
            compact=True,
            highlight_cursor_line=False,
            placeholder=placeholder,
        )
        self._owner = owner

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self._owner.submit()
            return
        if event.key in NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            self.action_newline()
            return
        await super()._on_key(event)

    def action_newline(self) -> None:
        start, end = self.selection
        self._replace_via_keyboard("\n", start, end)

    def action_cursor_up(self, select: bool = False) -> None:
        if not select and self.cursor_location[0] == 0 and self._owner.history_previous():
            return
        super().action_cursor_up(select)

    def action_cursor_down(self, select: bool = False) -> None:
        if not select and self.cursor_location[0] == self.document.line_count - 1 and self._owner.history_next():
            return
        super().action_cursor_down(select)


class ChatInput(Vertical):
    """Posts :class:`ChatInput.Submitted` on Enter; keeps a history; shows how many sends wait for a connection."""

    class Submitted(SendRequested):
        """The user pressed Enter on non-blank text (``text`` is as typed, without trailing newlines)."""

    DEFAULT_CSS = """
    ChatInput {
        height: auto;
        max-height: 12;
        background: $surface;
        border-top: tall $border-blurred;
        &:focus-within { border-top: tall $border; }
        & > MessageArea { height: auto; min-height: 1; max-height: 10; background: $surface; }
        & > #chat-pending { display: none; height: 1; color: $text-warning; padding: 0 1; }
        &.-pending > #chat-pending { display: block; }
    }
    """

    HISTORY_LIMIT: ClassVar[int] = 500

    def __init__(
        self,
        *,
        placeholder: str = "Message the agent · Enter sends · Ctrl+J newline",
        history: list[str] | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._placeholder = placeholder
        self.history: list[str] = list(history or [])
        self._position: int | None = None
        self._draft = ""
        self._pending = 0
        self._ready = False  # children composed and mounted: safe to query

    def compose(self) -> ComposeResult:
        area = MessageArea(self, placeholder=self._placeholder, id="chat-area")
        yield area
        yield Static(id="chat-pending")

    @property
    def area(self) -> MessageArea:
        return self.query_one(MessageArea)

    @property
    def text(self) -> str:
        return self.area.text

    @text.setter
    def text(self, value: str) -> None:
        self.area.load_text(value)
        self.area.move_cursor(self.area.document.end)

    def focus(self, scroll_visible: bool = True) -> ChatInput:
        self.area.focus(scroll_visible)
        return self

    def submit(self) -> None:
        """Post the text (if not blank), remember it, clear the box."""
        text = self.text.rstrip()
        if not text.strip():
            return
        if not self.history or self.history[-1] != text:
            self.history.append(text)
            del self.history[: -self.HISTORY_LIMIT]
        self._position = None
        self._draft = ""
        self.area.clear()
        self.post_message(self.Submitted(text))

    def history_previous(self) -> bool:
        """Show the previous entry; returns False when there is none (so the key moves the cursor instead)."""
        if not self.history:
            return False
        if self._position is None:
            self._draft = self.text
            self._position = len(self.history)
        if self._position == 0:
            return True
        self._position -= 1
        self._show(self.history[self._position], at_end=False)
        return True

    def history_next(self) -> bool:
        if self._position is None:
            return False
        self._position += 1
        if self._position >= len(self.history):
            self._position = None
            self._show(self._draft, at_end=True)
        else:
            self._show(self.history[self._position], at_end=True)
        return True

    def _show(self, text: str, *, at_end: bool) -> None:
        area = self.area
        area.load_text(text)
        area.move_cursor(area.document.end if at_end else (0, len(text.split("\n", 1)[0])))

    def set_pending(self, count: int, *, offline: bool = True) -> None:
        """Show ``count`` sends waiting for the connection (0 hides the line)."""
        self._pending = count
        self.set_class(count > 0, "-pending")
        if not self._ready:
            return
        noun = "message" if count == 1 else "messages"
        where = " while offline" if offline else ""
        show_text(self.query_one("#chat-pending", Static), f"◷ {count} {noun} queued{where}")

    @property
    def pending(self) -> int:
        return self._pending

    def on_mount(self) -> None:
        self._ready = True
        self.set_pending(self._pending)
