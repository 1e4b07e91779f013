"""Status lines that are set far more often than they change."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static


def show_text(line: Static, text: str) -> None:
    """Make ``line`` show ``text``, unless it shows exactly that already.

    Each ``Static.update`` is a layout pass of the whole screen, and status lines are set on every connection
    status, a few times a second while events stream in, mostly to what they show already."""
    shown = line.content
    if (shown.plain if isinstance(shown, Content) else shown) != text:
        line.update(Content(text))
