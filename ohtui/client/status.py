"""What the client reports about its connection: one immutable snapshot per transition, rendered by the UI."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ConnectionState(StrEnum):
    IDLE = "idle"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    REFUSED = "refused"
    OFFLINE = "offline"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class ConnectionCounters:
    """``invalid_kept``: events stored as received though they do not validate (``InvalidEvent``), of those parsed on
    arrival (a stock frame, a REST page; the lines of ohtui's batches are stored unparsed, and the UI shows such an
    event as invalid when it reads it)."""

    events_received: int = 0
    duplicates_dropped: int = 0
    gaps_repaired: int = 0
    sends_pending: int = 0
    invalid_kept: int = 0


@dataclass(frozen=True, slots=True)
class ConnectionChanged:
    """A state transition (or a refresh of the figures in the same state).

    ``next_retry_at`` is a ``time.monotonic()`` deadline so a UI can count down without being told every second;
    ``next_retry_in`` is the same as seconds from the moment of the transition.
    """

    state: ConnectionState
    url: str
    conversation_id: str
    attempt: int = 0
    next_retry_in: float | None = None
    next_retry_at: float | None = None
    last_error: str | None = None
    latency: float | None = None
    counters: ConnectionCounters = field(default_factory=ConnectionCounters)
