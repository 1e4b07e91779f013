"""The tasks a controller starts and does not await where it starts them, kept so that closing can wait for them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Iterator
from typing import Any, TypeVar

__all__ = ["BackgroundTasks"]

_T = TypeVar("_T")


class BackgroundTasks:
    """Coroutines that callbacks returned, runtime calls, users' commands: each held until it is done.

    A task's exception is retrieved when it ends (whoever needed it has read it by then), so asyncio never reports
    one as never retrieved.
    """

    def __init__(self) -> None:
        self._tasks: set[asyncio.Future[Any]] = set()

    def spawn(self, awaitable: Awaitable[_T]) -> asyncio.Future[_T]:
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_consume)
        return task

    def __iter__(self) -> Iterator[asyncio.Future[Any]]:
        return iter(list(self._tasks))

    def __len__(self) -> int:
        return len(self._tasks)

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()


def _consume(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        with contextlib.suppress(Exception):
            task.exception()
