"""Command palette (ctrl+p): every key binding's command, the log filters, and the commands that have no key.

The palette asks the app for its commands through :class:`CommandSource`, so this module needs nothing of the app's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider


@dataclass(frozen=True)
class PaletteCommand:
    name: str
    help: str
    run: Callable[[], object]


@runtime_checkable
class CommandSource(Protocol):
    def palette_commands(self) -> list[PaletteCommand]: ...


LOG_FILTERS: tuple[tuple[str, frozenset[str] | None, frozenset[str] | None], ...] = (
    ("Show all events", None, None),
    ("Show only messages", frozenset({"message"}), None),
    ("Show only commands and their output", frozenset({"run", "run_ipython"}), None),
    ("Show only file edits", frozenset({"edit", "write", "read"}), None),
    ("Show only the user's events", None, frozenset({"user"})),
)
"""``(name, kinds, sources)`` of the palette's log filters (None: any)."""


def binding_commands(
    bindings: Iterable[Binding], key_display: Callable[[Binding], str], run_action: Callable[[str], object]
) -> list[PaletteCommand]:
    """One command per bound action (the first binding of each), named as the footer names it, with its keys."""
    commands: list[PaletteCommand] = []
    seen: set[str] = set()
    for binding in bindings:
        if binding.action in seen:
            continue
        seen.add(binding.action)
        commands.append(
            PaletteCommand(
                binding.description, f"{key_display(binding)} · {binding.id}", _runner(run_action, binding.action)
            )
        )
    return commands


def _runner(run_action: Callable[[str], object], action: str) -> Callable[[], object]:
    return lambda: run_action(action)


def filter_commands(set_filter: Callable[[set[str] | None, set[str] | None], object]) -> list[PaletteCommand]:
    def runner(kinds: frozenset[str] | None, sources: frozenset[str] | None) -> Callable[[], object]:
        return lambda: set_filter(set(kinds) if kinds else None, set(sources) if sources else None)

    return [
        PaletteCommand(f"Filter: {name}", "log filter", runner(kinds, sources)) for name, kinds, sources in LOG_FILTERS
    ]


class OhtuiCommands(Provider):
    def _commands(self) -> list[PaletteCommand]:
        return self.app.palette_commands() if isinstance(self.app, CommandSource) else []

    async def discover(self) -> Hits:
        for command in self._commands():
            yield DiscoveryHit(command.name, command.run, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self._commands():
            score = matcher.match(command.name)
            if score > 0:
                yield Hit(score, matcher.highlight(command.name), command.run, help=command.help)
