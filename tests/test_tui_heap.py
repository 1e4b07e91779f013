"""The event log's heap policy (ohtui/tui/heap.py): held events leave the collector's full passes, and are still
freed when the log drops them."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from ohtui.protocol import EventSource, MessageAction
from ohtui.tui.heap import FREEZE_EVERY, HeldCounter, start_up
from ohtui.tui.widgets.event_log import EventLog
from tests.test_tui_event_log import TS, LogApp


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    """Each test starts and ends with nothing frozen, so they neither see nor leave another's freeze."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_counter_freezes_once_enough_are_held_and_counts_again_after() -> None:
    counter = HeldCounter(every=100)
    assert not counter.held(99)
    assert gc.get_freeze_count() == 0
    kept = [object() for _ in range(10)]
    assert counter.held(1)
    frozen = gc.get_freeze_count()
    assert frozen > 0
    assert not counter.held(99)  # counting restarts at the freeze
    # No second freeze (which would add what was made since); frozen objects freed meanwhile, by another test's
    # thread still winding down in this worker, may only lower the count.
    assert gc.get_freeze_count() <= frozen
    del kept


def test_a_frozen_event_is_freed_when_its_last_reference_goes() -> None:
    event = MessageAction(id=1, timestamp=TS, source=EventSource.USER, content="frozen, then dropped")
    alive = weakref.ref(event)
    HeldCounter(every=1).held(1)
    assert gc.get_freeze_count() > 0
    del event
    assert alive() is None  # reference counting frees it; no collection is needed (or would look at it)


async def test_a_long_replay_is_frozen_and_freed_when_the_log_is_cleared() -> None:
    events = [
        MessageAction(id=n, timestamp=TS, source=EventSource.AGENT, content=f"message {n}") for n in range(FREEZE_EVERY)
    ]
    first = weakref.ref(events[0])
    app = LogApp()
    async with app.run_test(size=(100, 30)) as pilot:
        log = app.query_one(EventLog)
        log.add_events(events[: FREEZE_EVERY - 1])
        assert gc.get_freeze_count() == 0
        log.add_events(events[FREEZE_EVERY - 1 :])
        assert gc.get_freeze_count() > 0
        del events
        await pilot.pause()
        assert log.event_count == FREEZE_EVERY
        log.clear()
        assert first() is None


def test_start_up_pauses_the_collector_then_freezes_and_restores_it() -> None:
    assert gc.isenabled()
    with start_up():
        assert not gc.isenabled()
        built = [[n] for n in range(100)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(built)


def test_start_up_restores_the_collector_when_set_up_fails() -> None:
    with pytest.raises(RuntimeError, match="no app"), start_up():
        raise RuntimeError("no app")
    assert gc.isenabled()


def test_start_up_leaves_a_disabled_collector_disabled() -> None:
    gc.disable()
    try:
        with start_up():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
