"""The ``/`` bar: search the log, or filter it with ``kind:run,edit`` / ``source:agent`` / ``all``."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input

FILTER_HELP = "text to search · kind:run,edit · source:user,agent,env · all (clear filters) · esc close"


class SearchBar(Input):
    class Closed(Message):
        """The bar was dismissed (Esc); the app hides it and gives focus back."""

    class Query(Message):
        def __init__(self, text: str) -> None:
            self.text = text
            super().__init__()

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close search", id="search.close")]

    DEFAULT_CSS = """
    SearchBar { dock: bottom; height: 3; display: none; border: tall $accent; }
    SearchBar.-open { display: block; }
    """

    def __init__(self) -> None:
        super().__init__(placeholder=FILTER_HELP, id="search-bar")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Query(event.value.strip()))

    def action_close(self) -> None:
        self.post_message(self.Closed())


def parse_filter(text: str) -> tuple[set[str] | None, set[str] | None] | None:
    """``(kinds, sources)`` for filter syntax, or None when ``text`` is a plain search."""
    lowered = text.lower()
    if lowered in ("all", "kind:", "source:", "kind:all", "source:all"):
        return None, None
    kinds: set[str] | None = None
    sources: set[str] | None = None
    words = lowered.split()
    if not words or not all(word.startswith(("kind:", "source:")) for word in words):
        return None if words else (None, None)
    for word in words:
        name, _, values = word.partition(":")
        chosen = {value for value in values.split(",") if value}
        if name == "kind":
            kinds = chosen or None
        else:
            sources = chosen or None
    return kinds, sources


def filter_notice(kinds: set[str] | None, sources: set[str] | None) -> str:
    shown = " ".join(f"{k}:{','.join(sorted(v))}" for k, v in (("kind", kinds), ("source", sources)) if v)
    return f"filter: {shown or 'all events'}"


def search_notice(text: str, matches: int) -> str:
    found = f"{matches} match" if matches == 1 else f"{matches} matches"
    return f"{found} for {text!r} (n / N to move)"
