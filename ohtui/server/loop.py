"""The server's event loop: uvloop where it is installed (a dependency on Linux and macOS), else asyncio's own.

A server's time goes mostly to the event loop's machinery (a task per received Socket.IO message, a wake-up per
written frame); uvloop does that work in C. ``OHTUI_EVENT_LOOP=asyncio`` keeps asyncio's loop (to compare, or to
debug). The UI keeps Textual's loop either way: only server loops come from here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from ohtui.config import EVENT_LOOP_ENV as ENVIRONMENT_VARIABLE
from ohtui.config import asyncio_loop_wanted

__all__ = ["ENVIRONMENT_VARIABLE", "loop_name", "new_event_loop", "run"]

_T = TypeVar("_T")


def _uvloop() -> Any | None:
    if asyncio_loop_wanted():
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
