"""Size limits on what the server accepts and sends, and a bound on how much it logs about one connection.

The transport sets the ceiling: python-socketio's client (aiohttp) drops a websocket whose message is over 4 MiB,
so no frame ohtui sends may be larger, and nothing may be stored that could not then be sent. A client action is
measured as it would be stored (an action's text is stored twice, as its argument and its derived message, so a
1.9 MiB message became a 4.4 MB event); the default leaves room for the envelope and the frame around it.
"""

from __future__ import annotations

import logging
import time

TRANSPORT_MESSAGE_LIMIT = 4 * 1024 * 1024
"""The largest websocket message a python-socketio (aiohttp) client accepts by default."""
FRAME_OVERHEAD = 64 * 1024
DELIVERABLE_EVENT_BYTES = TRANSPORT_MESSAGE_LIMIT - FRAME_OVERHEAD
"""A stored event larger than this (encoded) is never sent whole: ohtui's clients get a marker in its place."""
DEFAULT_MAX_ACTION_BYTES = 1024 * 1024
"""The largest client action accepted, measured as stored (``--max-payload``)."""
MAX_ACTION_BYTES_CEILING = 2 * 1024 * 1024
"""``--max-payload`` may not exceed this: an action stored at that size is still far from the transport's limit."""
ENVELOPE_BYTES = 256
"""Room for what the store adds to an action (id, timestamp, source, cause)."""


def incoming_message_limit(max_action_bytes: int) -> int:
    """The largest Engine.IO message (or polling body) read from a client: one action frame of the largest size, with
    JSON escaping. Enforced by aiohttp while reading, before the message is buffered."""
    return 2 * max_action_bytes + FRAME_OVERHEAD


def utf8_size(text: str) -> int:
    """Bytes of ``text`` in UTF-8, without encoding it when its length alone settles a comparison with the limits."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


def is_deliverable(text: str) -> bool:
    """Whether a stored event's JSON fits in one frame to any client."""
    return len(text) <= DELIVERABLE_EVENT_BYTES // 4 or utf8_size(text) <= DELIVERABLE_EVENT_BYTES


class RepeatedProblems:
    """Logs the first few problems of one kind from one connection, then one summary line per interval.

    A client that sends 10,000 bad frames produces a handful of log lines instead of 10,000."""

    def __init__(self, logger: logging.Logger, *, first: int = 5, interval: float = 60.0) -> None:
        self._log = logger
        self._first = first
        self._interval = interval
        self._counts: dict[tuple[str, str], int] = {}
        self._suppressed: dict[tuple[str, str], int] = {}
        self._last_summary: dict[tuple[str, str], float] = {}

    def report(self, connection: str, kind: str, message: str) -> None:
        key = (connection, kind)
        count = self._counts.get(key, 0) + 1
        self._counts[key] = count
        if count <= self._first:
            self._log.warning("%s from %s: %s", kind, connection, message)
            if count == self._first:
                self._last_summary[key] = time.monotonic()
            return
        self._suppressed[key] = self._suppressed.get(key, 0) + 1
        if time.monotonic() - self._last_summary.get(key, 0.0) >= self._interval:
            self._summarise(key)

    def forget(self, connection: str) -> None:
        """The connection has gone: summarise what was held back, then drop its counts."""
        for key in [key for key in self._counts if key[0] == connection]:
            if self._suppressed.get(key):
                self._summarise(key)
            self._counts.pop(key, None)
            self._suppressed.pop(key, None)
            self._last_summary.pop(key, None)

    def _summarise(self, key: tuple[str, str]) -> None:
        connection, kind = key
        held = self._suppressed.pop(key, 0)
        self._last_summary[key] = time.monotonic()
        if held:
            self._log.warning("%s from %s: %d more (%d in all)", kind, connection, held, self._counts.get(key, 0))
