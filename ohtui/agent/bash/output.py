"""What a command printed, on its way to the caller: decoded, cleaned of bash's tty noise, and cut in the middle.

Output is stdout and stderr merged through one pipe (their relative order is preserved), decoded as UTF-8 with
``errors="replace"``, returned exactly as printed (trailing newline kept), and cut in the middle above
``max_output_chars`` like upstream's ``truncate_content``. While a command streams, only a head and a rolling tail
are kept, so memory stays bounded whatever the command prints.
"""

from __future__ import annotations

import re

from ohtui.protocol.observations import TRUNCATION_NOTICE
from ohtui.protocol.observations import truncate_middle as _truncate_middle

__all__ = ["MAX_OUTPUT_CHARS", "TRUNCATION_NOTICE", "OutputBuffer", "decode", "incomplete_utf8_tail", "truncate_middle"]

MAX_OUTPUT_CHARS = 30_000

# An interactive bash without a tty says this whenever a foreground process dies of a signal
# (e.g. SIGPIPE in `yes | head`): it tries to restore terminal settings it never had.
_TTY_NOISE = re.compile(r"bash: \[\d+: \d+ \(\d+\)\] tcsetattr: [^\n]*\n")


def truncate_middle(text: str, max_chars: int = MAX_OUTPUT_CHARS) -> tuple[str, bool]:
    """Cut the middle out of long output the way upstream's ``truncate_content`` does."""
    if max_chars <= 0 or len(text) <= max_chars:
        return text, False
    return _truncate_middle(text, max_chars), True


def incomplete_utf8_tail(data: bytes | bytearray) -> int:
    """Bytes at the end of ``data`` that start a UTF-8 character not yet complete."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # a lead byte or ASCII
            need = 2 if byte & 0xE0 == 0xC0 else 3 if byte & 0xF0 == 0xE0 else 4 if byte & 0xF8 == 0xF0 else 1
            return back if need > back else 0
    return 0


def decode(data: bytes | bytearray) -> str:
    return _TTY_NOISE.sub("", data.decode("utf-8", "replace"))


class OutputBuffer:
    """Output not yet returned to the caller: a head and a rolling tail, so huge output stays bounded."""

    def __init__(self, max_chars: int) -> None:
        # Decoding yields at least one character per 4 bytes, so this many bytes always cover half the limit.
        self._keep = 4 * (max_chars // 2) + 4
        self._head = bytearray()
        self._tail = bytearray()
        self._dropped = 0

    def add(self, data: bytes | bytearray) -> None:
        room = self._keep - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if data:
            self._tail += data
            excess = len(self._tail) - self._keep
            if excess > 0:
                del self._tail[:excess]
                self._dropped += excess

    def split_incomplete(self) -> bytes:
        """Remove and return a trailing partial UTF-8 character, so a partial result does not split it."""
        buf = self._tail if self._tail else self._head
        n = incomplete_utf8_tail(buf)
        if not n:
            return b""
        rest = bytes(buf[-n:])
        del buf[-n:]
        return rest

    def render(self, max_chars: int) -> tuple[str, bool]:
        """The output as text, cut in the middle above ``max_chars``; whether it was cut."""
        if not self._dropped:
            return truncate_middle(decode(self._head + self._tail), max_chars)
        half = max_chars // 2
        tail = decode(self._tail)[-half:] if half else ""
        return decode(self._head)[:half] + TRUNCATION_NOTICE + tail, True
