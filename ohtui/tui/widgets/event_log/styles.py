"""The event log's component classes, its default CSS, and how a component's style is read for a row's parts."""

from __future__ import annotations

from rich.style import Style
from textual.widget import Widget

COMPONENT_CLASSES = {
    "event-log--time",
    "event-log--user",
    "event-log--agent",
    "event-log--env",
    "event-log--kind",
    "event-log--summary",
    "event-log--text",
    "event-log--user-text",
    "event-log--thought",
    "event-log--code",
    "event-log--output",
    "event-log--guide",
    "event-log--more",
    "event-log--ok",
    "event-log--pending",
    "event-log--error",
    "event-log--error-row",
    "event-log--added",
    "event-log--removed",
    "event-log--hunk",
    "event-log--separator",
    "event-log--unknown",
    "event-log--cursor",
    "event-log--cursor-bar",
    "event-log--match",
    "event-log--indicator",
}

DEFAULT_CSS = """
EventLog {
    background: $surface;
    color: $foreground;
    overflow-x: hidden;
    overflow-y: scroll;
    scrollbar-size-vertical: 1;
    & > .event-log--time { color: $text-muted; }
    & > .event-log--user { background: $primary-muted; color: $text-primary; text-style: bold; }
    & > .event-log--agent { background: $accent-muted; color: $text-accent; text-style: bold; }
    & > .event-log--env { background: $panel; color: $text-muted; }
    & > .event-log--kind { color: $text-secondary; }
    & > .event-log--summary { color: $foreground; }
    & > .event-log--text { color: $foreground; }
    & > .event-log--user-text { color: $foreground; text-style: bold; }
    & > .event-log--thought { color: $text-muted; text-style: italic; }
    & > .event-log--code { color: $text-primary; }
    & > .event-log--output { color: $foreground; }
    & > .event-log--guide { color: $text-muted; }
    & > .event-log--more { color: $text-accent; text-style: italic; }
    & > .event-log--ok { color: $text-success; text-style: bold; }
    & > .event-log--pending { color: $text-warning; text-style: bold; }
    & > .event-log--error { color: $text-error; text-style: bold; }
    & > .event-log--error-row { background: $error-muted; }
    & > .event-log--added { color: $text-success; }
    & > .event-log--removed { color: $text-error; }
    & > .event-log--hunk { color: $text-accent; }
    & > .event-log--separator { color: $text-muted; }
    & > .event-log--unknown { color: $text-warning; text-style: italic; }
    & > .event-log--cursor { background: $boost; }
    & > .event-log--cursor-bar { color: $text-muted; }
    & > .event-log--match { background: $warning-muted; text-style: bold underline; }
    & > .event-log--indicator { background: $accent; color: $text; text-style: bold; }
    &:focus > .event-log--cursor { background: $primary 15%; }
    &:focus > .event-log--cursor-bar { color: $text-accent; }
}
"""


def component_style(widget: Widget, component: str) -> Style:
    """Only what the component sets, so the cursor and row backgrounds show through.

    The partial style alone drops alpha (``$text-muted`` becomes pure white, unreadable on a light theme): take the
    colours from the full style, where they are blended against the background, but only those the component sets
    itself.
    """
    full = widget.get_component_rich_style(component)
    own = widget.get_component_rich_style(component, partial=True)
    return Style(
        color=full.color if own.color is not None else None,
        bgcolor=full.bgcolor if own.bgcolor is not None else None,
        bold=own.bold,
        dim=own.dim,
        italic=own.italic,
        underline=own.underline,
        reverse=own.reverse,
        strike=own.strike,
    )
