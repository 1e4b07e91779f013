"""The key-binding footer, recomposed at most once per refresh.

Textual's ``Footer`` schedules a full recompose (a new widget per key, each restyled) for every bindings change; a
burst of changes (start-up, a focus move plus an agent state change) rebuilt it once per change, which was about a
fifth of the time to the first frame. This footer coalesces a burst into one recompose after the next refresh.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class CoalescingFooter(Footer):
    _recompose_pending = False

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen:
            return
        if not self._recompose_pending:
            self._recompose_pending = True
            self.call_after_refresh(self._recompose_once)

    async def _recompose_once(self) -> None:
        self._recompose_pending = False
        await self.recompose()
