"""LLM settings from inside the app: model, endpoint and key, saved to the settings file.

On the embedded server they apply to conversations created afterwards (Ctrl+O, n); a running conversation keeps
the agent it started with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static


@dataclass(frozen=True)
class LLMChoice:
    model: str | None
    base_url: str | None
    api_key: str | None
    """None: keep the key already configured (the field is left empty)."""


class SettingsScreen(ModalScreen[LLMChoice | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="settings.cancel")]

    DEFAULT_CSS = """
    SettingsScreen { align: center middle; }
    SettingsScreen > Vertical {
        width: 80%; max-width: 90; height: auto; border: round $primary; background: $surface; padding: 0 1;
    }
    SettingsScreen .label { color: $text-muted; padding-top: 1; }
    SettingsScreen #settings-title { text-style: bold; }
    SettingsScreen #settings-buttons { height: 3; padding-top: 1; }
    SettingsScreen #settings-buttons Button { margin-right: 1; }
    """

    def __init__(self, model: str | None, base_url: str | None, has_key: bool, where: str) -> None:
        super().__init__()
        self._model = model or ""
        self._base_url = base_url or ""
        self._has_key = has_key
        self._where = where

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("LLM settings", id="settings-title")
            yield Static("Model (e.g. gpt-4o, llama3.1)", classes="label")
            yield Input(self._model, placeholder="model", id="settings-model")
            yield Static("OpenAI-compatible endpoint (empty: OpenAI)", classes="label")
            yield Input(self._base_url, placeholder="http://127.0.0.1:11434/v1", id="settings-base-url")
            key_hint = "set (leave empty to keep it)" if self._has_key else "not set"
            yield Static(f"API key: {key_hint}. Stored in plain text in the settings file.", classes="label")
            yield Input(placeholder="sk-…", password=True, id="settings-api-key")
            yield Static(f"Saved to {self._where}; used by conversations created from now on.", classes="label")
            with Horizontal(id="settings-buttons"):
                yield Button("Save", variant="primary", id="settings-save")
                yield Button("Cancel", id="settings-cancel")

    def on_mount(self) -> None:
        self.query_one("#settings-model", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._save()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "settings-save":
            self._save()
        else:
            self.dismiss(None)

    def _save(self) -> None:
        def value(widget_id: str) -> str | None:
            text = self.query_one(widget_id, Input).value.strip()
            return text or None

        self.dismiss(LLMChoice(value("#settings-model"), value("#settings-base-url"), value("#settings-api-key")))

    def action_cancel(self) -> None:
        self.dismiss(None)
