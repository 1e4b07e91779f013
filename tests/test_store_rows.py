"""What a write stores, checked against the slow obvious definitions: the JSON text and filter columns of every row,
``insert_many``'s results against a model of its rules, and the store's clock against ``wire_timestamp``."""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ohtui.protocol import (
    CmdRunAction,
    Event,
    EventSource,
    OpaqueEvent,
    event_from_dict,
    event_to_json,
    wire_timestamp,
)
from ohtui.store import Database, InsertResult
from ohtui.store.clock import WireClock, wire_clock
from tests.samples import load_samples
from tests.strategies import any_event

TIMESTAMP = "2025-11-28T10:00:00.123456"
_names = itertools.count()


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    with Database(tmp_path_factory.mktemp("rows") / "ohtui.db", clock=lambda: TIMESTAMP) as database:
        yield database


def fresh_name() -> str:
    return f"c{next(_names)}"


def unstamped_samples() -> list[Event]:
    """The protocol samples without what a store assigns, plus unknown (opaque) types and hidden events."""
    samples = [
        event_from_dict({k: v for k, v in data.items() if k not in ("id", "timestamp", "source")})
        for _, data in load_samples()
    ]
    extra = [
        {"action": "teleport", "args": {"where": "mars", "hidden": True}},
        {"observation": "future_thing", "content": "x", "extras": {"n": 1}},
        {"source": "user", "action": "teleport", "message": "m", "args": {}},  # keeps its own source unless given one
        {"action": "run", "args": {"command": "setup.sh", "hidden": True}},
        {"observation": "run", "content": "", "extras": {"command": "setup.sh", "hidden": True}},
    ]
    return samples + [event_from_dict(data) for data in extra]


def stored_rows(db: Database, conversation_id: str) -> list[tuple[Any, ...]]:
    """Every stored column of a conversation's events, read with a plain connection."""
    with contextlib.closing(sqlite3.connect(db.path)) as conn:
        (pk,) = conn.execute("SELECT pk FROM conversations WHERE conversation_id = ?", (conversation_id,)).fetchone()
        return conn.execute(
            "SELECT key - (? << 40), kind, is_action, source, timestamp, hidden, json FROM events"
            " WHERE key >> 40 = ? ORDER BY key",
            (pk, pk),
        ).fetchall()


def expected_row(event: Event) -> tuple[Any, ...]:
    """A row by definition: the event's own fields and ``event_to_json`` of it."""
    is_action = event.is_action if isinstance(event, OpaqueEvent) else "action" in type(event).model_fields
    source = event.source.value if event.source is not None else None
    return (event.id, event.kind, int(is_action), source, event.timestamp, int(event.hidden), event_to_json(event))


def reference_stamp(event: Event, event_id: int, source: EventSource | None) -> Event:
    update: dict[str, Any] = {"id": event_id, "timestamp": TIMESTAMP}
    if source is not None:
        update["source"] = source
    return event.model_copy(update=update)


def check_appended(
    db: Database, name: str, given: list[Event], returned: list[Event], source: EventSource | None
) -> None:
    references = [reference_stamp(event, n, source) for n, event in enumerate(given)]
    assert [event_to_json(event) for event in returned] == [event_to_json(event) for event in references]
    assert returned == references
    assert stored_rows(db, name) == [expected_row(event) for event in references]


@pytest.mark.parametrize("source", [None, EventSource.AGENT, EventSource.ENVIRONMENT])
def test_every_sample_is_stored_as_event_to_json_of_the_returned_event(db: Database, source: EventSource) -> None:
    samples = unstamped_samples()
    assert len(samples) >= 38
    batched, single = fresh_name(), fresh_name()
    check_appended(db, batched, samples, db.events(batched).append_many(samples, source), source)
    store = db.events(single)
    check_appended(db, single, samples, [store.append(event, source) for event in samples], source)


@pytest.mark.parametrize("size", [1, 99, 100, 101, 250])
def test_batches_around_the_statement_chunk_are_stored_whole(db: Database, size: int) -> None:
    name = fresh_name()
    events = [CmdRunAction(command=f"echo {n}", hidden=n % 7 == 0) for n in range(size)]
    check_appended(db, name, events, db.events(name).append_many(events, EventSource.AGENT), EventSource.AGENT)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(any_event(), min_size=1, max_size=5), source=st.sampled_from([None, *EventSource]))
def test_any_event_is_stored_as_event_to_json_of_the_returned_event(
    db: Database, events: list[Event], source: EventSource | None
) -> None:
    unstamped = [event.model_copy(update={"id": None}) for event in events]  # type: ignore[attr-defined]
    name = fresh_name()
    check_appended(db, name, unstamped, db.events(name).append_many(unstamped, source), source)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(any_event(), min_size=1, max_size=5))
def test_any_mirrored_event_is_stored_as_given(db: Database, events: list[Event]) -> None:
    with_ids = [event.model_copy(update={"id": n}) for n, event in enumerate(events)]  # type: ignore[attr-defined]
    name = fresh_name()
    db.events(name).insert_many(with_ids)
    assert stored_rows(db, name) == [expected_row(event) for event in with_ids]


# -- insert_many against a model of its rules -------------------------------------------------------------------


def model_insert(stored: dict[int, str], expected: int, batch: list[tuple[int, str]]) -> tuple[list[InsertResult], int]:
    """The rules, one event at a time: a stored id is a duplicate; a new id past the expected one is a gap."""
    results = []
    for event_id, command in batch:
        if event_id in stored:
            results.append(InsertResult(inserted=False, duplicate=True))
            continue
        stored[event_id] = command
        results.append(InsertResult(True, False, expected if event_id > expected else None))
        expected = max(expected, event_id + 1)
    return results, expected


IDS = st.integers(min_value=0, max_value=40) | st.integers(min_value=0, max_value=5_000)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(IDS, max_size=30), max_size=6))
def test_insert_many_follows_the_rules_batch_after_batch(db: Database, batches: list[list[int]]) -> None:
    store = db.events(fresh_name())
    stored: dict[int, str] = {}
    expected = 0
    for number, ids in enumerate(batches):
        batch = [(event_id, f"echo {number}.{position}") for position, event_id in enumerate(ids)]
        events = [CmdRunAction(command=command).model_copy(update={"id": event_id}) for event_id, command in batch]
        results, expected = model_insert(stored, expected, batch)
        assert store.insert_many(events) == results
    assert [(event.id, event.args.command) for event in store.search()] == sorted(stored.items())  # type: ignore[attr-defined]


def test_insert_many_of_sparse_ids_past_one_lookup_query(db: Database) -> None:
    store = db.events(fresh_name())
    ids = [n * 1_000 for n in range(1_200)]  # spread out: looked up by id, 500 to a query
    assert all(result.inserted for result in store.insert_many([with_id(n) for n in ids[::2]]))
    results = store.insert_many([with_id(n) for n in ids])
    assert [result.duplicate for result in results] == [n % 2 == 0 for n in range(1_200)]
    assert store.count() == 1_200 and store.latest_id() == ids[-1]


def with_id(event_id: int) -> Event:
    return CmdRunAction(command=f"echo {event_id}").model_copy(update={"id": event_id, "timestamp": TIMESTAMP})


# -- the clock --------------------------------------------------------------------------------------------------


def reference_timestamp(nanoseconds: int) -> str:
    seconds, rest = divmod(nanoseconds, 1_000_000_000)
    return wire_timestamp(datetime.fromtimestamp(seconds).replace(microsecond=rest // 1_000))


@given(instants=st.lists(st.integers(min_value=0, max_value=4_102_444_800 * 10**9), min_size=1, max_size=20))
def test_the_store_clock_writes_what_wire_timestamp_writes(instants: list[int]) -> None:
    times = iter(sorted(instants))
    clock = WireClock(lambda: next(times))
    assert [clock() for _ in instants] == [reference_timestamp(instant) for instant in sorted(instants)]


def test_the_store_clock_at_second_boundaries_and_now() -> None:
    edges = [10**18 - 1, 10**18, 10**18 + 999, 10**18 + 1_000, 10**18 + 10**9 - 1, 10**18 + 10**9]
    times = iter(edges)
    clock = WireClock(lambda: next(times))
    assert [clock() for _ in edges] == [reference_timestamp(edge) for edge in edges]
    before = wire_timestamp()
    now = wire_clock()
    after = wire_timestamp()
    assert before <= now <= after and len(now) == len("2025-11-28T10:00:00.123456")
