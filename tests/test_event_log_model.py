"""The event log's model without an App: the transcript (rows, grouping, orphans, dedupe, the filter), the height
index, the models read through a loader, and search (the JSON shortcut never loses a match; the sliced scan finds
what a whole search finds, from the cursor on)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ohtui.protocol import (
    AgentState,
    AgentStateChangedObservation,
    Event,
    EventSource,
    InvalidEvent,
    MessageAction,
    event_from_dict,
    event_to_json,
)
from ohtui.protocol.record import EventRecord
from ohtui.tui.widgets.event_log.event_rows import SEARCH_FRAGMENTS, search_text
from ohtui.tui.widgets.event_log.heights import Geometry, HeightIndex, estimate
from ohtui.tui.widgets.event_log.loading import Models
from ohtui.tui.widgets.event_log.model import Transcript
from ohtui.tui.widgets.event_log.rows import EXPANDED, Row
from ohtui.tui.widgets.event_log.search import Matcher, Search, overlaps
from tests.samples import history_with_invalid_events, load_samples
from tests.strategies import events_of
from tests.test_tui_event_log import TS, message, out, run


def as_text(events: Sequence[Event]) -> list[EventRecord]:
    """Records as the store gives them: text only, nothing parsed."""
    return [EventRecord.from_json(event_to_json(event)) for event in events]


def transcript(events: Sequence[Event], text: bool = True) -> Transcript:
    model = Transcript()
    model.add(as_text(events) if text else [EventRecord.from_event(event) for event in events])
    return model


def shape(model: Transcript) -> list[tuple[int | None, list[int | None]]]:
    return [(row.id, [child.id for child in row.children or ()]) for row in model.view]


def samples() -> list[Event]:
    return [event_from_dict(event) for _, event in load_samples()]


class Store:
    """A loader over stored texts that counts its calls."""

    def __init__(self, events: Sequence[Event] = (), texts: Sequence[str] = ()) -> None:
        self.texts = {event.id: event_to_json(event) for event in events}
        self.texts.update({json.loads(text)["id"]: text for text in texts})
        self.calls: list[list[int]] = []

    def __call__(self, ids: Sequence[int]) -> list[EventRecord]:
        self.calls.append(list(ids))
        return [EventRecord.from_json(self.texts[i]) for i in ids if i in self.texts]


# -- the transcript --------------------------------------------------------------------------------------------------
def test_rows_from_text_are_the_rows_from_models() -> None:
    """Grouping, noise and order read from the envelopes alone are what the models say (the sample events)."""
    from_text, from_models = transcript(samples()), transcript(samples(), text=False)
    assert shape(from_text) == shape(from_models)
    assert [row.form for row in from_text.view] == [row.form for row in from_models.view]
    assert from_text.event_count == len(samples()) == from_models.event_count
    # recall 2, null observation 5, system 26 and null action 27 are noise; 29 is caused by hidden 27: alone.
    ids = [row.id for row in from_text.view]
    assert not {2, 5, 26, 27} & set(ids) and 29 in ids
    assert dict(shape(from_text))[6] == [7, 24] and dict(shape(from_text))[14] == [14 + 17]


def test_an_orphan_moves_under_its_action_and_duplicates_are_dropped() -> None:
    model = transcript([out(2, 1, "late\n"), message(5, "five")])
    assert shape(model) == [(2, []), (5, [])]
    model.add(as_text([run(1), message(5, "again"), out(4, 3)]))
    assert shape(model) == [(1, [2]), (4, []), (5, [])]
    assert model.event_count == 4 and model.latest_id == 5
    model.add(as_text([run(3)]))
    assert shape(model) == [(1, [2]), (3, [4]), (5, [])]
    assert model.find_row(3) is model.view[1] and model.find_row(4) is None


def test_events_without_an_id_follow_the_highest_id_seen() -> None:
    model = Transcript()
    model.add([EventRecord.from_event(message(3, "three"))])
    model.add([EventRecord.from_event(MessageAction(timestamp=TS, source=EventSource.USER, content="typed"))])
    model.add([EventRecord.from_event(message(7, "seven")), EventRecord.from_event(message(5, "five"))])
    assert [row.id for row in model.view] == [3, None, 5, 7]


def test_the_filter_reads_kinds_and_sources_of_grouped_events() -> None:
    model = transcript(samples())

    def shown(**kwargs: object) -> list[int | None]:
        model.set_filter(kwargs.get("kinds"), kwargs.get("sources"), kwargs.get("hide_noise", True))  # type: ignore[arg-type]
        return [row.id for row in model.view]

    assert shown(kinds={"run"}) == [6, 36, 37]
    assert shown(kinds={"error"}) == [23]
    assert shown(sources={"user"}) == [1, 22]
    assert shown(sources={"env"}) == [0, 3, 4, 25]
    assert {2, 5, 26, 27} <= set(shown(hide_noise=False))
    assert 26 not in shown()


def test_a_row_keeps_no_model_and_no_text() -> None:
    records = as_text([run(1, "make"), out(2, 1, "built\n")])
    row = transcript([])
    row.add(records)
    kept = row.view[0]
    held = [getattr(kept, name) for name in (*type(kept).__slots__, "key", "kind", "source", "clock")]
    assert not any(isinstance(value, (EventRecord, Event)) for value in held)
    assert not any(isinstance(value, str) and "make" in value for value in held)


# -- heights ---------------------------------------------------------------------------------------------------------
def test_the_height_index_finds_rows_and_follows_changes() -> None:
    model = transcript([message(n, f"m{n}") for n in (1, 3, 5)], text=False)
    heights = model.heights
    assert heights.total() == 3 and heights.row_at(2) == 2 and heights.row_at(3) == -1
    model.set_height(model.view[0], 4)
    assert [heights.top(i) for i in range(3)] == [0, 4, 5]
    model.add([EventRecord.from_event(message(2, "two"))])  # in the middle: the sums are rebuilt from there
    assert heights.total() == 7 and heights.row_at(5) == 2 and heights.row_at(4) == 1
    index = HeightIndex([])
    assert index.total() == 0 and index.row_at(0) == -1


def test_estimates_are_exact_for_collapsed_cells_and_count_wrapped_text() -> None:
    geometry = Geometry(width=100, preview_lines=3)
    model = Transcript(geometry)
    model.add([EventRecord.from_event(e) for e in (run(1), out(2, 1, "\n".join(map(str, range(10)))))])
    row = model.view[0]
    assert row.body == 10 and row.height == 1 + 4 and geometry.expandable(row)
    row.flags |= EXPANDED
    assert estimate(row, geometry) == 11
    long = message(3, "word " * 100)
    model.add([EventRecord.from_event(long)])
    assert model.view[1].height == 1 + 500 // (100 - 18)


# -- models through the loader ---------------------------------------------------------------------------------------
def test_models_are_read_in_one_call_per_load_and_kept_in_a_bounded_cache() -> None:
    events = [message(n, f"m{n}") for n in range(20)]
    store = Store(events)
    models = Models(capacity=8)
    models.set_loader(store)
    model = Transcript()
    models.keep(model.add(as_text(events)))
    models.load(model.view[:5])
    assert store.calls == [[0, 1, 2, 3, 4]]
    models.load(model.view[3:8])
    assert store.calls[-1] == [5, 6, 7]
    assert models.get(model.view[7]).message == "m7" and len(store.calls) == 2
    models.load(model.view[8:20])
    assert models.cached(model.view[0].key) is None  # evicted: at most 8 kept


def test_what_cannot_be_read_becomes_an_error_row_and_never_raises() -> None:
    texts = history_with_invalid_events()
    store = Store(texts=[texts[0], texts[2]])  # 1 and 3 are missing, 2 does not validate
    models = Models()
    models.set_loader(store)
    model = Transcript()
    model.add([EventRecord.from_json(text) for text in texts])
    events = {row.id: models.get(row) for row in model.rows}
    assert isinstance(events[0], MessageAction)
    assert isinstance(events[1], InvalidEvent) and "not in the store" in events[1].problem
    assert isinstance(events[2], InvalidEvent) and "content" in events[2].problem
    assert models.unreadable == 3

    def broken(ids: Sequence[int]) -> list[EventRecord]:
        raise OSError("the store is closed")

    models.set_loader(broken)
    failed = models.get(model.rows[0])
    assert isinstance(failed, InvalidEvent) and failed.id == 0 and failed.kind == "message"


# -- search ----------------------------------------------------------------------------------------------------------
def brute(model: Transcript, models: Models, needle: str) -> list[int | None]:
    found = []
    for row in model.view:
        events = [models.get(entry) for entry in row.entries()]
        if needle.lower() in search_text(events[0], events[1:]).lower():
            found.append(row.id)
    return found


def searched(model: Transcript, models: Models, needle: str) -> list[int | None]:
    search = Search()
    search.start(needle, model.view, 0)
    search.scan(Matcher(needle, models), budget=60)
    return [row.id for row in search.matches]


def loaded(events: Sequence[Event]) -> tuple[Transcript, Models]:
    models = Models()
    models.set_loader(Store(events))
    model = Transcript()
    model.add(as_text(events))
    model.set_filter(None, None, hide_noise=False)
    return model, models


@pytest.mark.parametrize(
    "needle",
    ["ls", "$ ls", "exit code", "exit code 1", "→ exit 2", "running", "ing: b", "[1:", "a\tb", "A   B", "ok", "é"],
)
def test_the_json_shortcut_finds_what_the_search_text_holds(needle: str) -> None:
    events: list[Event] = [
        *samples(),
        run(100, "ls -la"),
        out(101, 100, "a\tb\nok", exit_code=1),
        out(102, 99, "x", exit_code=2),
        message(103, "Café"),
        AgentStateChangedObservation(
            id=104, source=EventSource.ENVIRONMENT, agent_state=AgentState.RUNNING, reason="being: busy"
        ),
    ]
    model, models = loaded(events)
    assert searched(model, models, needle) == brute(model, models, needle)


_LITERAL = list(SEARCH_FRAGMENTS)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_any_substring_of_a_search_text_is_found(data: st.DataObject) -> None:
    """For every kind the shortcut may rule out, a needle cut from the event's own search text is never lost."""
    event = data.draw(st.sampled_from(_LITERAL).flatmap(events_of))
    assert isinstance(event, Event)
    event = event.model_copy(update={"id": 1, "cause": None})
    text = search_text(event, []).lower()
    if not text.strip():
        return
    start = data.draw(st.integers(0, len(text) - 1))
    needle = text[start : data.draw(st.integers(start + 1, min(len(text), start + 12)))]
    models = Models()
    models.set_loader(Store([event]))
    model = Transcript()
    model.add(as_text([event]))
    model.set_filter(None, None, hide_noise=False)
    assert Matcher(needle, models)(model.view) == [True]


def test_overlap_of_a_needle_and_what_a_summary_adds() -> None:
    assert overlaps("$ ls", "$ ") and overlaps("ls → e", " → exit ") and overlaps("xit", " → exit ")
    assert overlaps("code 1", "exit code ") and not overlaps("pytest", " → exit ")


def test_a_sliced_scan_finds_matches_from_the_cursor_on_then_wraps() -> None:
    events = [message(n, "alpha" if n % 3 == 0 else "beta") for n in range(300)]
    model, models = loaded(events)
    search = Search()
    search.start("ALPHA", model.view, 150)
    test = Matcher("alpha", models)
    first = search.scan(test, budget=0, chunk=20)
    assert [row.id for row in first] == list(range(150, 170, 3)) and search.scanning  # one chunk of 20 rows
    order = [row.id for row in first]
    while search.scanning:
        order += [row.id for row in search.scan(test, budget=0, chunk=20)]
    assert order == [*range(150, 300, 3), *range(0, 150, 3)]
    assert [row.id for row in search.matches] == list(range(0, 300, 3))


def test_rows_touched_during_a_search_are_checked_again_when_stepping() -> None:
    events = [message(n, "alpha" if n % 2 else "beta") for n in range(1, 11)]
    model, models = loaded(events)
    store = Store([*events, run(12, "echo alpha"), out(13, 12, "ALPHA\n")])
    models.set_loader(store)
    search = Search()
    model.on_touch = search.touch
    search.start("alpha", model.view, 0)
    test = Matcher("alpha", models)
    search.scan(test, budget=60)
    model.add(as_text([run(12, "echo alpha"), out(13, 12, "ALPHA\n")]))
    assert len(search.touched) >= 2
    search.update(test, lambda row: row.shown)
    assert [row.id for row in search.matches] == [1, 3, 5, 7, 9, 12]
    cursor = model.view[0]
    assert search.step(cursor, 1) is not None and search.current is not None and search.current.id == 3
    assert search.step(cursor, -1) is not None and search.current is not None and search.current.id == 12
    assert isinstance(model.view[-1], Row)
