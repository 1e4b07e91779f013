"""Non-event frames on ``oh_event``: status updates (§1.4 items 2 to 4) and error frames (§1.4 item 5, §9.3)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ohtui.protocol.base import WireModel, _is_none


class StatusUpdate(WireModel):
    """``{"status_update": true, "type": "info"|"error", "id": "STATUS$…", "message": …}``.

    The title update carries ``conversation_title`` and no ``id``.
    """

    status_update: Literal[True] = True
    type: str = "info"
    id: str | None = Field(default=None, exclude_if=_is_none)
    message: str = ""
    conversation_title: str | None = Field(default=None, exclude_if=_is_none)

    @property
    def is_error(self) -> bool:
        return self.type == "error"


class ErrorFrame(WireModel):
    """``{"error": true, "message": …}``: what the server says to one sender about one bad request."""

    error: Literal[True] = True
    message: str
