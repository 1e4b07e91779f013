"""User intents the widgets post upward. The app owns every handler; widgets never talk to the client directly."""

from __future__ import annotations

from textual.message import Message


class SendRequested(Message):
    """The user wants ``text`` sent as a user message (queued by the client while offline)."""

    def __init__(self, text: str) -> None:
        self.text = text
        super().__init__()


class ConfirmRequested(Message):
    """Confirm the action awaiting confirmation (``change_agent_state user_confirmed``)."""

    def __init__(self, action_id: int | None = None) -> None:
        self.action_id = action_id
        super().__init__()


class RejectRequested(Message):
    """Reject the action awaiting confirmation (``change_agent_state user_rejected``)."""

    def __init__(self, action_id: int | None = None) -> None:
        self.action_id = action_id
        super().__init__()


class RetryRequested(Message):
    """Leave ``offline``/``refused`` and try to connect again now."""
