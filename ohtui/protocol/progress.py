"""Live progress, an ohtui extension: what a running command prints and what an LLM writes, as it happens.

Sent on the Socket.IO event ``ohtui_progress`` to the clients that asked for it (``ohtui_progress=1`` in the
connect query; ohtui's client always asks), never stored and never sent to stock clients: what is stored (the
command's observation, the agent's message) is exactly what upstream stores, once it is complete. A frame may be
lost (a reconnect): the stored event that follows is the record; progress only shows what is coming.
"""

from __future__ import annotations

from enum import StrEnum

from ohtui.protocol.base import WireModel

PROGRESS_EVENT = "ohtui_progress"
PROGRESS_QUERY = "ohtui_progress"


class ProgressKind(StrEnum):
    OUTPUT = "output"
    """A running command's output: ``text`` is what it printed since the previous frame."""
    LLM_TEXT = "llm_text"
    """Text the LLM is writing (streamed by the endpoint): ``text`` is the new part."""


class ProgressFrame(WireModel):
    kind: ProgressKind
    action_id: int | None = None
    """The stored action the progress belongs to (the command; None for text the agent is writing)."""
    text: str = ""
    seq: int = 0
    """Frames of one action count up from 0, so a client can tell a gap (after a reconnect) from order."""
    done: bool = False
    """The last frame for this action: its stored observation (or message) follows."""
