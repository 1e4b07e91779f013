"""Which event loop a server runs on: ``OHTUI_EVENT_LOOP=asyncio`` keeps asyncio's own instead of uvloop (to
compare, or to debug). Read here, with the other ``OHTUI_*`` variables; :mod:`ohtui.server.loop` acts on it."""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["EVENT_LOOP_ENV", "asyncio_loop_wanted"]

EVENT_LOOP_ENV = "OHTUI_EVENT_LOOP"


def asyncio_loop_wanted(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``$OHTUI_EVENT_LOOP`` asks for asyncio's loop (read at each call, so a test may set it)."""
    return (os.environ if environ is None else environ).get(EVENT_LOOP_ENV, "").strip().lower() == "asyncio"
