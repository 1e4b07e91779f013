"""Switch or create conversations: a list fed by the server's REST API (``GET``/``POST /api/conversations``)."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from ohtui.client.rest import RestClient, RestError


class ConversationsScreen(ModalScreen[str | None]):
    """Dismisses with the chosen conversation id (a new one after ``n``), or None."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="conversations.close"),
        Binding("n", "new", "New conversation", id="conversations.new"),
        Binding("f5", "reload", "Reload", id="conversations.reload"),
    ]

    DEFAULT_CSS = """
    ConversationsScreen { align: center middle; }
    ConversationsScreen > Vertical {
        width: 90%; max-width: 110; height: 80%; border: round $primary; background: $surface; padding: 0 1;
    }
    ConversationsScreen #conversations-title { text-style: bold; padding: 0 0 1 0; }
    ConversationsScreen DataTable { height: 1fr; }
    ConversationsScreen #conversations-hint { color: $text-muted; padding-top: 1; }
    """

    def __init__(self, rest: RestClient, current: str | None = None) -> None:
        super().__init__()
        self._rest = rest
        self._current = current
        self._ids: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Conversations", id="conversations-title")
            yield DataTable(cursor_type="row", zebra_stripes=True, id="conversations-table")
            yield Static("enter open · n new · f5 reload · esc close", id="conversations-hint")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("title", "state", "events", "updated", "id")
        table.focus()
        self.action_reload()

    @work(exclusive=True, group="conversations")
    async def action_reload(self) -> None:
        hint = self.query_one("#conversations-hint", Static)
        try:
            conversations = await self._rest.conversations()
        except RestError as error:
            hint.update(f"could not list conversations: {error}")
            return
        self._fill(conversations)
        hint.update(f"{len(conversations)} conversations · enter open · n new · f5 reload · esc close")

    def _fill(self, conversations: list[dict[str, Any]]) -> None:
        table = self.query_one(DataTable)
        table.clear()
        self._ids = []
        for item in conversations:
            conversation_id = str(item.get("conversation_id", ""))
            marker = "● " if conversation_id == self._current else ""
            updated = str(item.get("last_updated_at") or "")[:16].replace("T", " ")
            table.add_row(
                marker + str(item.get("title") or "(untitled)"),
                str(item.get("agent_state") or "-"),
                str(item.get("event_count", "")),
                updated,
                conversation_id[:12],
            )
            self._ids.append(conversation_id)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        index = event.cursor_row
        if 0 <= index < len(self._ids):
            self.dismiss(self._ids[index])

    @work(exclusive=True, group="conversations")
    async def action_new(self) -> None:
        try:
            conversation_id = await self._rest.create_conversation()
        except RestError as error:
            self.query_one("#conversations-hint", Static).update(f"could not create a conversation: {error}")
            return
        self.dismiss(conversation_id)

    def action_close(self) -> None:
        self.dismiss(None)
