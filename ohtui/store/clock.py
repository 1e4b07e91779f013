"""The timestamp of appended events: ``wire_timestamp()`` (upstream's naive local ISO form, microseconds), cheaper.

``datetime.now().isoformat(timespec="microseconds")`` costs about a tenth of a single append, most of it in
``isoformat``'s keyword handling. The date and time of day change once a second, so they are formatted once a second;
only the microseconds are formatted per call. Same clock (the system clock, rounded down to the microsecond, as
``datetime.now`` does), same local time conversion, same text.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

_NS_PER_S = 1_000_000_000


class WireClock:
    """A callable giving the current time as :func:`ohtui.protocol.wire_timestamp` writes it. Thread-safe: the cache
    is one tuple, replaced whole."""

    def __init__(self, time_ns: Callable[[], int] = time.time_ns) -> None:
        self._time_ns = time_ns
        self._second: tuple[int, str] = (0, datetime.fromtimestamp(0).isoformat())

    def __call__(self) -> str:
        seconds, nanoseconds = divmod(self._time_ns(), _NS_PER_S)
        second = self._second
        if second[0] != seconds:
            # "YYYY-MM-DDTHH:MM:SS": isoformat leaves the fraction out when it is zero, as it is here.
            self._second = second = (seconds, datetime.fromtimestamp(seconds).isoformat())
        return f"{second[1]}.{nanoseconds // 1000:06d}"


wire_clock = WireClock()
"""The default clock of every store."""
