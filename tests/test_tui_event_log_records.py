"""The event log fed with stored records and a loader, as the app feeds it: rows read a screenful at a time, errors
shown as rows, a search that lets keys through while it runs, and expanded cells that draw only what is shown."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from textual import events
from textual.app import App, ComposeResult

from ohtui.protocol import Event, EventSource, MessageAction, event_to_json
from ohtui.protocol.record import EventRecord
from ohtui.tui.widgets.event_log import EventLog
from ohtui.tui.widgets.event_log.render import RowRenderer
from tests.test_tui_event_log import TS, message, out, run, screen_text


class Store:
    """The conversation's stored texts, read by id as the app's loader reads its store; counts its calls."""

    def __init__(self, events: Sequence[Event]) -> None:
        self.texts = {event.id: event_to_json(event) for event in events}
        self.calls: list[list[int]] = []
        self.fail = False
        self.delay = 0.0

    def records(self) -> list[EventRecord]:
        return [EventRecord.from_json(text) for text in self.texts.values()]

    def __call__(self, ids: Sequence[int]) -> list[EventRecord]:
        self.calls.append(list(ids))
        time.sleep(self.delay)
        if self.fail:
            raise OSError("the store went away")
        return [EventRecord.from_json(self.texts[i]) for i in ids if i in self.texts]


class StoreApp(App[None]):
    def __init__(self, store: Store, records: list[EventRecord] | None = None) -> None:
        super().__init__()
        self.store = store
        self.records = store.records() if records is None else records
        self.finished: list[EventLog.SearchFinished] = []

    def compose(self) -> ComposeResult:
        yield EventLog(loader=self.store)

    def on_mount(self) -> None:
        log = self.query_one(EventLog)
        log.add_records(self.records)
        log.focus()

    def on_event_log_search_finished(self, message: EventLog.SearchFinished) -> None:
        self.finished.append(message)


async def until(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.002)):
        if predicate():
            return
        await asyncio.sleep(0.002)
    raise AssertionError("not before the timeout")


def conversation(turns: int) -> list[Event]:
    events: list[Event] = []
    for turn in range(turns):
        base = turn * 3
        events += [message(base, f"turn {turn}", EventSource.USER), run(base + 1, f"echo {turn}")]
        events.append(out(base + 2, base + 1))
    return events


async def test_rows_from_stored_text_are_read_a_screenful_at_a_time() -> None:
    store = Store(conversation(2000))
    app = StoreApp(store)
    async with app.run_test(size=(100, 30)) as pilot:
        log = app.query_one(EventLog)
        await pilot.pause()
        assert log.row_count == 4000 and log.event_count == 6000
        assert screen_text(log)[-2].split()[-2:] == ["echo", "1999"] and "✓" in screen_text(log)[-2]
        assert len(store.calls) == 1 and len(store.calls[0]) < 60  # the screen and half a screen on either side
        calls = len(store.calls)
        await pilot.press("home")
        await pilot.pause()
        assert screen_text(log)[0].split()[-2:] == ["turn", "0"]
        assert len(store.calls) <= calls + 2  # the top screen: read once (and once more if heights moved)
        assert log.cursor_event is not None and log.cursor_event.id == 0


async def test_a_loader_that_fails_gives_error_rows_and_the_log_goes_on() -> None:
    store = Store(conversation(3))
    records = store.records()
    del store.texts[4]  # a run action the store lost since
    store.texts[5] = store.texts[5].replace('"content":"ok\\n"', '"content":7')  # and an output that does not read
    app = StoreApp(store, records)
    async with app.run_test(size=(120, 20)) as pilot:
        log = app.query_one(EventLog)
        await pilot.pause()
        lines = "\n".join(screen_text(log))
        assert "could not read run: not in the store" in lines
        assert "could not read run: content:" in lines  # the invalid output, inside its action's cell
        store.fail = True
        log.set_loader(store)
        await pilot.press("home", "down", "enter")
        await pilot.pause()
        assert "could not read message: not in the store" in screen_text(log)[0]


async def test_a_long_search_runs_in_slices_and_keys_are_answered_meanwhile() -> None:
    store = Store(conversation(6000))  # 12,000 rows; every 7th turn's message matches
    for turn in range(0, 6000, 7):
        store.texts[turn * 3] = event_to_json(message(turn * 3, f"needle in turn {turn}", EventSource.USER))
    app = StoreApp(store)
    async with app.run_test(size=(100, 30)) as pilot:
        log = app.query_one(EventLog)
        await pilot.pause()
        await pilot.press("home")
        store.delay = 0.04  # a slow store: the search takes 24 reads of 500 rows, about a second
        found = log.search("NEEDLE")
        assert log.searching and 0 < found < 858  # the first matches, shown before the rest is read
        assert log.cursor_event is not None and log.cursor_event.id == 0
        counts = [log.match_count]
        app.post_message(events.Key("down", None))  # as the driver posts it (the pilot would wait for the search)
        await until(lambda: log.cursor_event is not None and log.cursor_event.id == 1)
        assert log.searching  # the key was answered while the search goes on
        assert "searching…" in screen_text(log)[-1]
        while log.searching:
            await asyncio.sleep(0.005)
            counts.append(log.match_count)
        await pilot.pause()
        assert counts == sorted(counts) and len(set(counts)) > 2  # matches appear as they are found
        assert log.match_count == 858 and [m.matches for m in app.finished] == [858]
        await pilot.press("n")
        assert log.cursor_event.id == 21 and log.match_index == 1
        await pilot.press("N", "N")
        assert log.cursor_event.id == 5999 * 3  # wrapped backwards to the last match


async def test_an_expanded_cell_draws_only_its_lines_on_screen() -> None:
    output = "\n".join(f"line {n} of a long output" for n in range(3000))
    store = Store([message(0, "before"), run(1, "cat big"), out(2, 1, output), message(3, "after")])
    drawn: list[str] = []
    body_line = RowRenderer.body_line

    def counting(self: RowRenderer, line: str, style: str, width: int, expanded: bool) -> list:  # type: ignore[type-arg]
        drawn.append(line)
        return body_line(self, line, style, width, expanded)

    RowRenderer.body_line = counting  # type: ignore[method-assign]
    try:
        app = StoreApp(store)
        async with app.run_test(size=(100, 30)) as pilot:
            log = app.query_one(EventLog)
            await pilot.pause()
            await pilot.press("home", "down", "enter")
            await pilot.pause()
            assert log.is_expanded(1) and log.virtual_size.height >= 3000
            assert len(drawn) < 100
            drawn.clear()
            await pilot.press("down", "up")  # the cell's top, taller than the screen, is scrolled to
            await pilot.pause()
            assert "line 28 of a long output" in screen_text(log)[-1]  # the header, then lines 0 to 28
            await pilot.press("pagedown")  # a page past the cell's top is still the cell: on to the next row
            await pilot.pause()
            assert "line 2999 of a long output" in screen_text(log)[-2]
            assert len(drawn) < 100
    finally:
        RowRenderer.body_line = body_line  # type: ignore[method-assign]


async def test_an_id_less_event_is_kept_and_shown() -> None:
    store = Store(conversation(1))
    app = StoreApp(store)
    async with app.run_test(size=(100, 20)) as pilot:
        log = app.query_one(EventLog)
        log.add_event(MessageAction(timestamp=TS, source=EventSource.USER, content="typed, not yet stored"))
        await pilot.pause()
        assert screen_text(log)[3].split()[-4:] == ["typed,", "not", "yet", "stored"]


async def test_after_a_filter_change_the_next_match_is_the_one_after_the_cursor() -> None:
    events = [message(n, "alpha" if n % 2 else "beta") for n in range(1, 11)]
    app = StoreApp(Store(events))
    async with app.run_test(size=(100, 20)) as pilot:
        log = app.query_one(EventLog)
        assert log.search("alpha") == 5
        await pilot.press("home", "down", "down", "down")
        assert log.cursor_event is not None and log.cursor_event.id == 4
        log.set_filter(kinds={"message"})  # the matches are searched again at the next step
        await pilot.press("n")
        assert log.cursor_event.id == 5 and log.match_ids() == [1, 3, 5, 7, 9]
