"""How a row looks: its events (head and grouped observations) drawn as Textual strips.

Three forms (:class:`~ohtui.tui.widgets.event_log.event_rows.RowKind`): a cell (header line, then body lines cropped
to a preview, or wrapped when expanded), prose (a chat message, wrapped; an agent's as markdown), a separator (a
state change). Text comes from ``event_rows`` and ``protocol.summary``; colours from the widget's component classes,
through the ``style`` function it passes. An expanded cell's body is drawn a line at a time
(:meth:`RowRenderer.body_line`), so only what is on screen is ever drawn (``cells.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.cells import cell_len
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from rich.theme import Theme
from textual.strip import Strip

from ohtui.protocol import AgentState, AgentStateChangedObservation, Event, MessageAction, OpaqueEvent
from ohtui.protocol.summary import clean, clock_time, kind_label, state_label, summary
from ohtui.tui.widgets.event_log.event_rows import (
    RowKind,
    body_blocks,
    is_error,
    result_mark,
    source_label,
)
from ohtui.tui.widgets.event_log.heights import Geometry

KIND_WIDTH = 8
_BADGES = {"user": " user  ", "agent": " agent ", "env": "  env  ", "?": "   ?   "}
_MARKDOWN_THEME = Theme(
    {
        "markdown.code": "bold",
        "markdown.code_block": "none",
        "markdown.block_quote": "italic",
        "markdown.h1": "bold underline",
        "markdown.h2": "bold",
        "markdown.h3": "bold italic",
        "markdown.table.border": "dim",
        "markdown.table.header": "bold",
    }
)
"""Rich's defaults paint inline code ``on black``; drop every hard-coded background so light themes stay legible."""

BodyLine = tuple[str, str]
"""One logical line of a cell's body and its style name."""


def body_lines(events: Sequence[Event]) -> list[BodyLine]:
    return [(line, style) for block, style in body_blocks(events[0], events[1:]) for line in block.split("\n")]


class RowRenderer:
    """Draws rows at a width, in the widget's styles (``style(name)``) on its console."""

    def __init__(
        self,
        style: Callable[[str], Style],
        console: Callable[[], Console],
        dark: Callable[[], bool],
        geometry: Geometry,
    ) -> None:
        self.style = style
        self.console = console
        self.dark = dark
        self.geometry = geometry

    def row(self, form: RowKind, events: Sequence[Event], width: int, expanded: bool) -> list[Strip]:
        """Every line of a row whose head and children are ``events``."""
        head = events[0]
        if form is RowKind.SEPARATOR:
            return [self.separator(head, width)]
        if form is RowKind.PROSE:
            return self.prose(head, width)
        strips = [self.header(events, width)]
        lines = body_lines(events)
        limit = self.geometry.preview_lines
        shown = lines if expanded or len(lines) <= limit + 1 else lines[:limit]
        for line, style in shown:
            strips.extend(self.body_line(line, style, width, expanded))
        if len(shown) < len(lines):
            more = Text()
            more.append(f"… {len(lines) - limit} more lines (enter to expand)", self.style("more"))
            room = self.room(width)
            more.truncate(room, overflow="ellipsis", pad=True)
            strips.append(Strip([self._guide(), *more.render(self.console())]).adjust_cell_length(width))
        return strips

    def room(self, width: int) -> int:
        """Cells a body line has behind the guide."""
        return max(width - self.geometry.layout.body, 10)

    def _line(self, text: Text, width: int) -> Strip:
        text.truncate(width, overflow="ellipsis", pad=True)
        return Strip(list(text.render(self.console())), width)

    def _prefix(self, event: Event) -> Text:
        source = source_label(event)
        text = Text(" ", end="", no_wrap=True)
        if self.geometry.layout.time:
            text.append(clock_time(event), self.style("time"))
            text.append(" ", self._gap())
        text.append(_BADGES[source], self.style(source if source != "?" else "env"))
        text.append(" ", self._gap())
        return text

    def _gap(self) -> Style:
        """Blank columns between fields. Styled apart from text, so SVG exports (snapshots) group them the same way
        every time: a plain space next to same-coloured text was sometimes merged into it and sometimes dropped."""
        return self.style("time")

    def _guide(self) -> Segment:
        return Segment(" " * self.geometry.layout.text + "│ ", self.style("guide"))

    def separator(self, event: Event, width: int) -> Strip:
        text = self._prefix(event)
        label = state_label(event) if isinstance(event, AgentStateChangedObservation) else summary(event)
        style = self.style("error" if is_error(event) else "separator")
        if (
            isinstance(event, AgentStateChangedObservation)
            and event.agent_state is AgentState.AWAITING_USER_CONFIRMATION
        ):
            style = self.style("pending")
        room = max(width - self.geometry.layout.text, 0)
        label = f" {clean(label)} "
        if cell_len(label) + 4 > room:
            label = label[: max(room - 4, 0)]
        left = (room - cell_len(label)) // 2
        text.append("─" * left + label + "─" * (room - left - cell_len(label)), style)
        return self._line(text, width)

    def prose(self, event: Event, width: int) -> list[Strip]:
        assert isinstance(event, MessageAction)
        text_column = self.geometry.layout.text
        room = max(width - text_column, 10)
        console = self.console()
        content = event.args.content
        if event.source is not None and event.source.value == "user":
            body = Text()
            body.append(clean_block(content), self.style("user-text"))  # a span: ``render`` ignores ``style=``
            lines = [list(line.render(console)) for line in body.wrap(console, room, overflow="fold")]
        else:
            code_theme = "ansi_dark" if self.dark() else "ansi_light"
            # Imported on first use: markdown-it and its rules cost ~50 ms of start-up, before the first frame.
            from rich.markdown import Markdown

            markdown = Markdown(content, code_theme=code_theme, hyperlinks=False)
            options = console.options.update(width=room, height=None, no_wrap=False, highlight=False)
            with console.use_theme(_MARKDOWN_THEME):
                lines = console.render_lines(markdown, options, style=self.style("text"), pad=False)
            while len(lines) > 1 and not "".join(seg.text for seg in lines[-1]).strip():
                lines.pop()
        if not lines:
            lines = [[]]
        head = list(self._prefix(event).render(console))
        indent = [Segment(" " * text_column)]
        return [
            Strip(head + line if number == 0 else indent + line).adjust_cell_length(width)
            for number, line in enumerate(lines)
        ]

    def header(self, events: Sequence[Event], width: int) -> Strip:
        """A cell's first line: time, badge, kind, result mark, summary; an error's in the error colours."""
        event, children = events[0], events[1:]
        errored = is_error(event) or any(is_error(child) for child in children)
        text = self._prefix(event)
        kind = kind_label(event)
        if len(kind) > KIND_WIDTH:
            kind = kind[: KIND_WIDTH - 1] + "…"
        text.append(kind.ljust(KIND_WIDTH), self.style("error" if errored else "kind"))
        text.append(" ", self._gap())
        mark = result_mark(event, children)
        text.append(mark[0] if mark else " ", self.style(mark[1]) if mark else self._gap())
        text.append(" ", self._gap())
        summary_style = "unknown" if isinstance(event, OpaqueEvent) else "summary"
        text.append(summary(event), self.style("error" if errored and not mark else summary_style))
        if errored:
            text.truncate(width, overflow="ellipsis", pad=True)
            text.stylize_before(self.style("error-row"), self.geometry.layout.text)
        return self._line(text, width)

    def body_line(self, line: str, style: str, width: int, expanded: bool) -> list[Strip]:
        """One body line behind the guide: cropped, or wrapped (into one strip or more) when expanded."""
        body = self._body_text(line, style)
        room = self.room(width)
        console = self.console()
        guide = self._guide()
        if not expanded:
            body.truncate(room, overflow="ellipsis", pad=True)
            return [Strip([guide, *body.render(console)]).adjust_cell_length(width)]
        strips = []
        for part in body.wrap(console, room, overflow="fold") or [Text("")]:
            part.truncate(room, pad=True)
            strips.append(Strip([guide, *part.render(console)]).adjust_cell_length(width))
        return strips

    def _body_text(self, line: str, style: str) -> Text:
        if style == "diff":
            if line.startswith("+") and not line.startswith("+++"):
                style = "added"
            elif line.startswith("-") and not line.startswith("---"):
                style = "removed"
            elif line.startswith("@@"):
                style = "hunk"
            else:
                style = "output"
        if style == "output" and "\x1b[" in line:
            ansi = Text.from_ansi(line.rstrip("\r").rsplit("\r", 1)[-1], no_wrap=True, end="")
            ansi.stylize_before(self.style("output"))
            return ansi
        text = Text(no_wrap=True, end="")
        text.append(clean(line), self.style(style))
        return text

    def cursor_line(self, strip: Strip) -> Strip:
        bar = Strip([Segment("▌", self.style("cursor-bar"))], 1)
        return Strip.join([bar, strip.crop(1)]).apply_style(self.style("cursor"))

    def highlight(self, strip: Strip, term: str) -> Strip:
        """``term`` (lowercase) marked wherever the line holds it, case-insensitively."""
        text = strip.text
        lowered = text.lower()
        if term not in lowered or len(lowered) != len(text):
            return strip
        cuts: list[int] = []
        start = 0
        while (found := lowered.find(term, start)) >= 0:
            begin = cell_len(text[:found])
            cuts += [begin, begin + cell_len(text[found : found + len(term)])]
            start = found + len(term)
        cuts.append(strip.cell_length)
        match = self.style("match")
        pieces = strip.divide(cuts)
        out = [
            Strip([Segment(t, (s or Style()) + match, c) for t, s, c in piece], piece.cell_length)
            if number % 2
            else piece
            for number, piece in enumerate(pieces)
        ]
        return Strip.join(out)


def clean_block(text: str) -> str:
    return "\n".join(clean(line) for line in text.split("\n"))
