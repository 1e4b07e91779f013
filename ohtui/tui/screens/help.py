"""F1 / ``?``: every key binding with its id, read from the live app so the list cannot drift from the code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Static


@dataclass(frozen=True, slots=True)
class BindingRow:
    keys: str
    binding_id: str
    description: str
    where: str


def _owner_name(node: DOMNode) -> str:
    if isinstance(node, App):
        return "app"
    if isinstance(node, Screen):
        return "screen"
    return type(node).__name__


def collect_bindings(app: App[object], screen: Screen[object] | None = None) -> list[BindingRow]:
    """Bindings of the app, ``screen`` and every widget on it, one row per binding (keys merged).

    Keys come from the merged bindings map, so a user's keymap (remapped by binding id) shows as it really is.
    """
    nodes: list[DOMNode] = [app]
    if screen is not None:
        nodes.append(screen)
        nodes.extend(screen.walk_children())
    rows: dict[tuple[str, str], tuple[list[str], Binding]] = {}
    order: list[tuple[str, str]] = []
    for node in nodes:
        # Textual dispatches from ``_bindings`` (class BINDINGS merged with inherited ones) with the app's keymap
        # applied to a copy, as here; neither has a public accessor in Textual 8.
        bindings_map = node._bindings.copy()
        if app._keymap:
            bindings_map.apply_keymap(app._keymap)
        where = _owner_name(node)
        for key, bindings in bindings_map.key_to_bindings.items():
            for binding in bindings:
                if binding.system and not binding.description:
                    continue
                ident = (where, binding.id or binding.action)
                if ident not in rows:
                    rows[ident] = ([], binding)
                    order.append(ident)
                display = app.get_key_display(Binding(key, binding.action))
                if display not in rows[ident][0]:
                    rows[ident][0].append(display)
    result = []
    for ident in order:
        keys, binding = rows[ident]
        description = binding.description or binding.tooltip or binding.action.replace("_", " ")
        result.append(BindingRow(" / ".join(keys), binding.id or "", description, ident[0]))
    return result


class HelpScreen(ModalScreen[None]):
    """A scrollable table of bindings; Esc, F1, ``?`` or ``q`` closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f1,question_mark,q", "dismiss_help", "Close help", id="help.close"),
    ]

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
        & > #help-frame {
            width: 100%;
            max-width: 100;
            height: 100%;
            max-height: 40;
            border: round $primary;
            border-title-color: $text-primary;
            background: $surface;
        }
        & #help-note { color: $text-muted; height: auto; padding: 0 1; }
        & DataTable { height: 1fr; background: $surface; }
    }
    """

    def __init__(self, rows: list[BindingRow] | None = None) -> None:
        super().__init__()
        self._rows = rows

    def compose(self) -> ComposeResult:
        with Vertical(id="help-frame"):
            yield Static(
                "Keys by binding id: remap any of them in the settings file's \\[keymap] table (see `ohtui config`). "
                "Esc closes.",
                id="help-note",
            )
            yield DataTable(id="help-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.query_one("#help-frame").border_title = "help · key bindings"
        rows = self._rows
        if rows is None:
            below = self.app.screen_stack[-2] if len(self.app.screen_stack) > 1 else None
            rows = collect_bindings(self.app, below)
        table = self.query_one(DataTable)
        table.add_columns("key", "description", "id", "where")
        for row in rows:
            table.add_row(row.keys, row.description, row.binding_id, row.where)
        table.focus()

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
