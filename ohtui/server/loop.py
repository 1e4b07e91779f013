"""The server's event loop: uvloop where it is installed (a dependency on Linux and macOS), else asyncio's own.

A server's time goes mostly to the event loop's machinery (a task per received Socket.IO message, a wake-up per
written frame); uvloop does that work in C. ``OHTUI_EVENT_LOOP=asyncio`` keeps asyncio's loop (to compare, or to
debug). The UI keeps Textual's loop either way: only server loops come from here.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

_T = TypeVar("_T")

ENVIRONMENT_VARIABLE = "OHTUI_EVENT_LOOP"


def _uvloop() -> Any | None:
    if os.environ.get(ENVIRONMENT_VARIABLE, "").strip().lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop


def loop_name() -> str:
    """``uvloop`` or ``asyncio``: what :func:`new_event_loop` and :func:`run` use here."""
    return "uvloop" if _uvloop() is not None else "asyncio"


def new_event_loop() -> asyncio.AbstractEventLoop:
    uvloop = _uvloop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop() if uvloop is not None else asyncio.new_event_loop()
    return loop


def run(main: Coroutine[Any, Any, _T]) -> _T:
    """``asyncio.run(main)`` on a server loop."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main)
