"""The key-binding footer, recomposed at most once per refresh, and only when what it shows has changed.

Textual's ``Footer`` schedules a full recompose (a new widget per key, each restyled) for every bindings change; a
burst of changes (start-up, a focus move plus an agent state change) rebuilt it once per change, which was about a
fifth of the time to the first frame. This footer coalesces a burst into one recompose after the next refresh, and
skips it when the keys it would show (binding, enabled, tooltip) are the ones it shows already: most changes (a
focus move between widgets with the same keys, a state change that enables nothing new) alter nothing on screen.
"""

from __future__ import annotations

from collections.abc import Hashable

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer


class CoalescingFooter(Footer):
    _recompose_pending = False
    _shown: Hashable = None

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen:
            return
        if not self._recompose_pending:
            self._recompose_pending = True
            self.call_after_refresh(self._recompose_once)

    def _keys_shown(self) -> Hashable:
        """What ``compose`` reads of the screen's bindings: the shown ones and the command palette's, in order."""
        palette = self.app.COMMAND_PALETTE_BINDING
        return tuple(
            (key, binding, enabled, tooltip)
            for key, (_, binding, enabled, tooltip) in self.screen.active_bindings.items()
            if binding.show or key == palette
        )

    def compose(self) -> ComposeResult:
        # Noted here, not when the recompose is scheduled: a recompose awaits the removal of the old keys before it
        # composes, and the bindings may change in between.
        self._shown = self._keys_shown() if self._bindings_ready else None
        yield from super().compose()

    async def _recompose_once(self) -> None:
        self._recompose_pending = False
        if self.is_attached and self._keys_shown() != self._shown:
            await self.recompose()
