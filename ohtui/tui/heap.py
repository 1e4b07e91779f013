"""Keeping what the UI holds for a session (start-up's modules, a conversation's events) out of the garbage
collector's full passes.

A full pass (generation 2) walks every container object the process tracks. The event log holds a conversation's
parsed events for as long as it is open: about five tracked objects per event, so with 100,000 events each full pass
took about 280 ms on the 2-core bench machine, a frozen screen, and the ingest of a long replay triggered several.

Those events are acyclic (pydantic models and their values): they are freed by reference counting when the log
drops them, whichever generation they are in, and a cycle search over them finds nothing. So, once enough of them
have arrived, the young generations are collected (the transient cycles of message handling go) and everything
tracked is moved to the permanent generation (``gc.freeze``), which later passes skip. What is frozen and later
freed by reference counting is simply freed; only a cycle that was alive at a freeze and becomes garbage afterwards
is never collected, which bounds what this can leak to the cycles alive at the few moments it runs.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

FREEZE_EVERY = 5_000
"""Events held since the last freeze that make the next one worth it (about 25,000 tracked objects). At 20,000,
what was held but not yet frozen made a full pass take about 48 ms with 100,000 events held; at 5,000 it takes about
5 ms, for four times as many freezes (each a young collection, a few milliseconds)."""


def freeze_long_lived() -> None:
    """Collect the young generations, then move every object tracked now to the permanent generation."""
    gc.collect(1)
    gc.freeze()


@contextmanager
def start_up() -> Iterator[None]:
    """The imports and set-up of a UI process, without collections, then frozen (see :func:`freeze_long_lived`).

    Imports make objects that live as long as the process and next to no garbage: the collections they trigger
    (one full pass among them) found nothing to free and took about a tenth of ohtui's import time here. What they
    built is then frozen, so later full passes skip it. The collector is on again after the block, whatever happens
    in it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        freeze_long_lived()
        if enabled:
            gc.enable()


class HeldCounter:
    """Counts objects a holder keeps for the session; freezes the heap each time :data:`FREEZE_EVERY` accumulate."""

    def __init__(self, every: int = FREEZE_EVERY) -> None:
        self._every = every
        self._since = 0

    def held(self, count: int) -> bool:
        """``count`` more are held; returns whether this froze the heap."""
        self._since += count
        if self._since < self._every:
            return False
        self._since = 0
        freeze_long_lived()
        return True
