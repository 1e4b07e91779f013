"""A connection's status as its listener sees it: the state, the last problem, and counters reported at a pace.

States change a few times per connection and are reported at once; counters change per event and are reported at
most every :data:`COUNTER_REFRESH` seconds, each report carrying the latest of both.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ohtui.client.status import ConnectionChanged, ConnectionCounters, ConnectionState

log = logging.getLogger(__name__)

COUNTER_REFRESH = 0.2


class StatusReporter:
    def __init__(self, first: ConnectionChanged, on_change: Callable[[ConnectionChanged], object] | None) -> None:
        self._status = first
        self._counters = ConnectionCounters()
        self._on_change = on_change
        self._refresh_handle: asyncio.TimerHandle | None = None

    @property
    def status(self) -> ConnectionChanged:
        """The latest snapshot, with the counters as of now."""
        return replace(self._status, counters=self._counters)

    @property
    def state(self) -> ConnectionState:
        return self._status.state

    @property
    def counters(self) -> ConnectionCounters:
        return self._counters

    def set_state(self, state: ConnectionState, **changes: Any) -> None:
        """A new state (with whatever else changed), reported now; leaving ``connected`` forgets the latency."""
        self._status = replace(self._status, state=state, counters=self._counters, **changes)
        if state is not ConnectionState.CONNECTED:
            self._status = replace(self._status, latency=None)
        self.publish()

    def note(self, **changes: Any) -> None:
        """Change the snapshot without reporting it now (the next report carries it)."""
        self._status = replace(self._status, **changes)

    def bump(self, **counters: int) -> None:
        self._counters = replace(self._counters, **counters)
        self.publish_soon()

    def publish(self) -> None:
        if self._refresh_handle is not None:
            self._refresh_handle.cancel()
            self._refresh_handle = None
        self._status = replace(self._status, counters=self._counters)
        if self._on_change is not None:
            try:
                self._on_change(self._status)
            except Exception:
                log.exception("connection listener failed")

    def publish_soon(self) -> None:
        if self._refresh_handle is None:
            self._refresh_handle = asyncio.get_running_loop().call_later(COUNTER_REFRESH, self.publish)

    def stop(self) -> None:
        if self._refresh_handle is not None:
            self._refresh_handle.cancel()
            self._refresh_handle = None
