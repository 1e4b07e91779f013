"""The event store: ids, reads, mirroring, subscribers, secrets, conversations (real SQLite files, no mocks)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ohtui.protocol import (
    AgentStateChangedObservation,
    CmdOutputObservation,
    CmdRunAction,
    Event,
    EventSource,
    InvalidEvent,
    MessageAction,
    OpaqueEvent,
    event_from_dict,
    event_from_json,
    event_to_dict,
    event_to_json,
    stored_event_from_json,
)
from ohtui.protocol.record import EventRecord
from ohtui.store import (
    SECRET_MASK,
    ConversationNotFoundError,
    Database,
    EventNotFoundError,
    EventStore,
    InsertResult,
    StoreError,
)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with Database(tmp_path / "ohtui.db") as database:
        yield database


@pytest.fixture
def store(db: Database) -> EventStore:
    return db.events("conv")


def run(n: int) -> CmdRunAction:
    return CmdRunAction(command=f"echo {n}")


def raw(path: Path, sql: str) -> Any:
    """One value, read with a plain sqlite3 connection: what is really in the file."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchone()[0]


def ids(events: Iterator[Event] | list[Event]) -> list[int | None]:
    return [event.id for event in events]


# -- appending --------------------------------------------------------------------------------------------------


def test_append_assigns_ids_timestamp_and_source(store: EventStore) -> None:
    first = store.append(run(0), EventSource.AGENT)
    second = store.append(MessageAction(content="hi"), "user")
    third = store.append(AgentStateChangedObservation(agent_state="running"))
    assert ids([first, second, third]) == [0, 1, 2]
    assert first.source is EventSource.AGENT and second.source is EventSource.USER and third.source is None
    assert first.timestamp is not None and first.timestamp <= second.timestamp <= third.timestamp  # type: ignore[operator]
    assert len(first.timestamp) == len("2025-11-28T10:00:00.000000")
    assert store.get(1) == second
    assert event_to_dict(store.get(0)) == event_to_dict(first)
    assert store.latest_id() == 2 and store.count() == 3


def test_append_refuses_an_event_with_an_id(store: EventStore) -> None:
    stored = store.append(run(0))
    with pytest.raises(ValueError, match=r"^Event already has an ID:0\. It was probably added back"):
        store.append(stored)
    with pytest.raises(ValueError, match="already has an ID:0"):
        store.append_many([run(1), stored])
    assert store.count() == 1  # the batch was refused whole


def test_append_many_is_one_batch_with_consecutive_ids(store: EventStore) -> None:
    store.append(run(0))
    batch = store.append_many([run(n) for n in range(1, 6)], EventSource.AGENT)
    assert ids(batch) == [1, 2, 3, 4, 5]
    assert all(event.source is EventSource.AGENT for event in batch)
    assert store.append_many([]) == []
    assert ids(store.search()) == list(range(6))


def test_ids_are_per_conversation_and_survive_reopening(tmp_path: Path) -> None:
    with Database(tmp_path / "x.db") as db:
        db.events("a").append(run(0))
        db.events("a").append(run(1))
        assert db.events("b").append(run(0)).id == 0
        assert db.events("a") is db.events("a")
    with Database(tmp_path / "x.db") as db:
        assert db.events("a").append(run(2)).id == 2
        assert db.events("b").latest_id() == 0


def test_empty_and_unknown_conversations_read_as_empty(db: Database) -> None:
    store = db.events("never-written")
    assert store.latest_id() == -1 and store.count() == 0 and list(store.search()) == []
    assert not store.has(0) and store.missing_ranges() == []
    with pytest.raises(KeyError):
        store.get(0)
    assert db.conversations.get("never-written") is None  # reading did not create it
    with pytest.raises(ValueError):
        db.events("")


def test_contiguous_ids_under_concurrent_threads(store: EventStore) -> None:
    def worker(n: int) -> list[int | None]:
        got: list[int | None] = []
        for turn in range(60):
            if turn % 5 == 0:
                got += ids(store.append_many([run(n), run(n)]))
            else:
                got.append(store.append(run(n)).id)
        return got

    with ThreadPoolExecutor(max_workers=8) as pool:
        returned = [event_id for chunk in pool.map(worker, range(8)) for event_id in chunk]
    total = 8 * (48 + 12 * 2)
    assert sorted(returned) == list(range(total))  # type: ignore[type-var]
    assert ids(store.search()) == list(range(total))
    assert store.count() == total


async def test_contiguous_ids_under_concurrent_tasks(store: EventStore) -> None:
    async def task(n: int) -> list[int | None]:
        got: list[int | None] = []
        for turn in range(30):
            if turn % 3 == 0:
                got.append((await asyncio.to_thread(store.append, run(n))).id)
            else:
                got.append(store.append(run(n)).id)
            await asyncio.sleep(0)  # let the other tasks interleave
        return got

    results = await asyncio.gather(*(task(n) for n in range(12)))
    returned = sorted(event_id for chunk in results for event_id in chunk)  # type: ignore[type-var]
    assert returned == list(range(12 * 30))
    assert ids(store.search()) == list(range(12 * 30))


def test_connections_sharing_one_file_never_reuse_an_id(tmp_path: Path) -> None:
    """Database objects stand in for processes: each has its own id counter; key and write lock arbitrate."""
    path = tmp_path / "shared.db"
    with Database(path) as one, Database(path) as two, Database(path) as three:
        stores = [one.events("c"), two.events("c"), three.events("c")]

        def hammer(store: EventStore) -> list[int | None]:
            # Conflicts are the common case here; each must resolve under the write lock, never give up.
            return [store.append(run(n)).id for n in range(200)]

        with ThreadPoolExecutor(max_workers=3) as pool:
            assigned = [event_id for batch in pool.map(hammer, stores) for event_id in batch]
        assert sorted(assigned) == list(range(600))  # type: ignore[type-var]
        assert ids(stores[0].search()) == list(range(600))


# -- reading ----------------------------------------------------------------------------------------------------


def test_search_ranges_reverse_and_limit(store: EventStore) -> None:
    store.append_many([run(n) for n in range(300)])
    assert ids(store.search(10, 14)) == [10, 11, 12, 13, 14]  # end_id inclusive
    assert ids(store.search(10, 14, reverse=True)) == [14, 13, 12, 11, 10]
    assert ids(store.search(reverse=True, limit=3)) == [299, 298, 297]
    assert ids(store.search(start_id=295)) == [295, 296, 297, 298, 299]
    assert ids(store.search(limit=0)) == list(range(300))  # 0 is "no limit", as upstream
    assert ids(store.search(5, 4)) == []
    assert ids(store.search(-5, 1)) == [0, 1]
    assert len(list(store.search(start_id=0, end_id=10_000))) == 300
    with pytest.raises(ValueError):
        store.search(limit=-1)


def test_searches_reaching_the_recently_appended_events_read_the_same_as_from_the_file(tmp_path: Path) -> None:
    """The writing store keeps its last appends parsed and reads them from memory; a second connection to the file
    has none of them in memory. Both must give the same answers, also after another writer appended."""
    from ohtui.store import EventFilter

    with Database(tmp_path / "a.db") as writer, Database(tmp_path / "a.db") as other:
        events = writer.events("c")
        for n in range(60):
            events.append(run(n) if n % 3 else MessageAction(content=f"m{n}"), EventSource.USER if n % 3 == 0 else None)
        fresh = other.events("c")
        filters = [None, EventFilter(include_types=(MessageAction,)), EventFilter(source="user")]
        cases = [(s, e) for s in (0, 20, 40, 59, 64) for e in (None, 10, 45, 59, 63, 65, 66, 80)]

        def same_answers() -> None:
            for (start, end), flt, reverse, limit in itertools.product(cases, filters, (False, True), (None, 1, 3, 50)):
                got = ids(events.search(start, end, reverse=reverse, filter=flt, limit=limit))
                want = ids(fresh.search(start, end, reverse=reverse, filter=flt, limit=limit))
                assert got == want, (start, end, flt, reverse, limit)

        same_answers()
        fresh.append_many([run(n) for n in range(5)])  # another process appends after what the writer holds
        same_answers()
        events.append(run(99))  # the writer's next append conflicts and is numbered again after the other's
        same_answers()
        assert ids(events.search(reverse=True, limit=3)) == [65, 64, 63]
        assert [e.id for e in events.search(55, 58)] == [55, 56, 57, 58]


def test_search_streams_and_fixes_its_end_at_the_first_read(store: EventStore) -> None:
    store.append_many([run(n) for n in range(200)])
    iterator = store.search()
    assert next(iterator).id == 0
    store.append_many([run(n) for n in range(50)])  # appended while iterating: after the end fixed at first read
    assert ids(iterator) == list(range(1, 200))


def test_search_of_a_deleted_range_and_gaps(store: EventStore) -> None:
    store.insert_many([run(0).model_copy(update={"id": n}) for n in (0, 1, 5, 6, 9)])
    assert ids(store.search()) == [0, 1, 5, 6, 9]
    assert ids(store.search(2, 8, reverse=True)) == [6, 5]


def test_get_missing_is_a_key_error_with_a_readable_message(store: EventStore) -> None:
    store.append(run(0))
    with pytest.raises(EventNotFoundError) as caught:
        store.get(7)
    assert isinstance(caught.value, KeyError) and isinstance(caught.value, StoreError)
    assert str(caught.value) == "no event 7 in conversation conv"
    assert store.has(0) and not store.has(7)


# -- mirroring (client side) ------------------------------------------------------------------------------------


def with_id(event: Event, event_id: int) -> Event:
    return event.model_copy(update={"id": event_id, "timestamp": "2025-11-28T10:00:00.000000"})


def test_insert_keeps_ids_ignores_duplicates_and_reports_gaps(store: EventStore) -> None:
    assert store.insert(with_id(run(0), 0)) == InsertResult(inserted=True, duplicate=False, gap_from=None)
    assert store.insert(with_id(run(1), 1)) == InsertResult(True, False, None)
    assert store.insert(with_id(run(99), 1)) == InsertResult(inserted=False, duplicate=True, gap_from=None)
    assert store.get(1).args.command == "echo 1"  # type: ignore[attr-defined]  # the duplicate did not overwrite
    assert store.insert(with_id(run(5), 5)) == InsertResult(True, False, gap_from=2)
    assert store.missing_ranges() == [(2, 4)]
    assert store.insert(with_id(run(3), 3)) == InsertResult(True, False, None)  # filling in is not a gap
    assert store.missing_ranges() == [(2, 2), (4, 4)]
    assert store.missing_ranges(0, 8) == [(2, 2), (4, 4), (6, 8)]
    assert store.missing_ranges(3, 3) == []
    assert store.latest_id() == 5 and store.count() == 4
    with pytest.raises(ValueError, match="id"):
        store.insert(run(7))
    with pytest.raises(ValueError):
        store.insert(with_id(run(7), -1))


def test_insert_many_is_one_transaction_with_per_event_results(store: EventStore) -> None:
    results = store.insert_many([with_id(run(n), n) for n in (0, 1, 1, 4, 2)])
    assert results == [
        InsertResult(True, False, None),
        InsertResult(True, False, None),
        InsertResult(False, True, None),
        InsertResult(True, False, 2),
        InsertResult(True, False, None),
    ]
    assert ids(store.search()) == [0, 1, 2, 4]
    assert store.missing_ranges() == [(3, 3)]
    assert store.missing_ranges(10, 12) == [(10, 12)]
    assert store.append(run(5)).id == 5  # appending continues after the highest id


def test_missing_ranges_at_the_edges(store: EventStore) -> None:
    store.insert_many([with_id(run(n), n) for n in (3, 4, 8)])
    assert store.missing_ranges() == [(0, 2), (5, 7)]
    assert store.missing_ranges(4, 8) == [(5, 7)]
    assert store.missing_ranges(9, 5) == []


# -- subscribers ------------------------------------------------------------------------------------------------


def test_sync_subscribers_get_every_event_in_id_order_under_concurrency(store: EventStore) -> None:
    seen: dict[str, list[int | None]] = {"a": [], "b": []}
    store.subscribe("b", lambda event: seen["b"].append(event.id))
    store.subscribe("a", lambda event: seen["a"].append(event.id))

    def worker(n: int) -> None:
        for turn in range(40):
            if turn % 4 == 0:
                store.append_many([run(n), run(n), run(n)])
            else:
                store.append(run(n))

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(worker, range(6)))
    total = 6 * (30 + 10 * 3)
    assert seen["a"] == list(range(total))
    assert seen["b"] == list(range(total))


def test_subscriber_ids_are_unique_and_unsubscribe_stops_delivery(store: EventStore) -> None:
    seen: list[int | None] = []
    store.subscribe("s", lambda event: seen.append(event.id))
    with pytest.raises(ValueError, match="already exists"):
        store.subscribe("s", lambda event: None)
    store.append(run(0))
    store.unsubscribe("s")
    store.unsubscribe("s")  # unknown ids are ignored
    store.append(run(1))
    assert seen == [0]
    store.subscribe("s", lambda event: seen.append(event.id))  # the id is free again
    store.append(run(2))
    assert seen == [0, 2]


def test_a_raising_subscriber_is_logged_and_blocks_nothing(store: EventStore, caplog: pytest.LogCaptureFixture) -> None:
    seen: list[int | None] = []

    def broken(event: Event) -> None:
        raise RuntimeError(f"boom {event.id}")

    store.subscribe("a-broken", broken)
    store.subscribe("b-fine", lambda event: seen.append(event.id))
    with caplog.at_level(logging.ERROR, logger="ohtui.store"):
        assert store.append(run(0)).id == 0
        assert ids(store.append_many([run(1), run(2)])) == [1, 2]
    assert seen == [0, 1, 2]
    failures = [record for record in caplog.records if "a-broken" in record.getMessage()]
    assert len(failures) == 3 and failures[0].exc_info is not None


def test_a_subscriber_may_append_from_its_callback(store: EventStore) -> None:
    """The agent controller's pattern: react to an action by appending its observation. No deadlock, and every
    subscriber still sees id order."""
    order: list[int | None] = []
    calls: list[tuple[str, int | None]] = []

    def controller(record: EventRecord) -> None:
        calls.append(("start", record.id))
        event = record.event
        if isinstance(event, CmdRunAction):
            store.append(CmdOutputObservation(content="done", command=event.args.command, cause=event.id))
        calls.append(("end", record.id))

    store.subscribe("controller", controller)
    store.subscribe("view", lambda event: order.append(event.id))
    store.append(run(0))
    store.append(run(1))
    assert order == [0, 1, 2, 3]
    # The controller's own append is delivered to it after its callback returns, not re-entrantly inside it.
    assert calls == [(edge, n) for n in range(4) for edge in ("start", "end")]
    assert [type(event).__name__ for event in store.search()] == ["CmdRunAction", "CmdOutputObservation"] * 2
    assert store.get(1).cause == 0


async def test_async_subscribers_run_on_their_loop_in_order(store: EventStore) -> None:
    loop_thread = threading.get_ident()
    received: asyncio.Queue[tuple[int | None, int]] = asyncio.Queue()
    gate = asyncio.Event()

    async def slow_then_fast(event: Event) -> None:
        if event.id == 0:
            await gate.wait()  # a slow first callback must not let later events overtake it
        await received.put((event.id, threading.get_ident()))

    store.subscribe("async", slow_then_fast)
    appended = store.append(run(0))  # from the loop thread
    with ThreadPoolExecutor(max_workers=3) as pool:  # and from other threads
        await asyncio.gather(
            *(asyncio.get_running_loop().run_in_executor(pool, store.append, run(n)) for n in range(20))
        )
    assert appended.id == 0
    assert received.empty()
    gate.set()
    got = [await asyncio.wait_for(received.get(), timeout=10) for _ in range(21)]
    assert [event_id for event_id, _ in got] == list(range(21))
    assert {thread for _, thread in got} == {loop_thread}


async def test_async_subscriber_from_a_worker_thread_and_errors(
    store: EventStore, caplog: pytest.LogCaptureFixture
) -> None:
    received: asyncio.Queue[int | None] = asyncio.Queue()

    async def flaky(event: Event) -> None:
        if event.id == 1:
            raise RuntimeError("async boom")
        await received.put(event.id)

    store.subscribe("flaky", flaky)
    with caplog.at_level(logging.ERROR, logger="ohtui.store"):
        await asyncio.to_thread(store.append_many, [run(0), run(1), run(2)])
        assert await asyncio.wait_for(received.get(), timeout=10) == 0
        assert await asyncio.wait_for(received.get(), timeout=10) == 2
    assert any("flaky" in record.getMessage() for record in caplog.records)
    store.unsubscribe("flaky")
    store.append(run(3))
    marker: asyncio.Queue[int | None] = asyncio.Queue()

    async def after(event: Event) -> None:
        await marker.put(event.id)

    store.subscribe("after", after)
    store.append(run(4))
    assert await asyncio.wait_for(marker.get(), timeout=10) == 4
    assert received.empty()  # nothing reached the unsubscribed callback


def test_async_subscriber_needs_a_loop(store: EventStore) -> None:
    async def callback(event: Event) -> None:
        return None

    with pytest.raises(ValueError, match="event loop"):
        store.subscribe("x", callback)
    loop = asyncio.new_event_loop()
    try:
        store.subscribe("x", callback, loop=loop)  # an explicit loop works from anywhere
    finally:
        loop.close()
    store.append(run(0))  # a closed loop does not fail the append


# -- secrets ----------------------------------------------------------------------------------------------------


def test_secrets_are_masked_before_anything_is_stored(db: Database, store: EventStore) -> None:
    store.add_secrets("hunter2", "", "sk-live-abcdef", "sk-live")
    command = store.append(CmdRunAction(command="curl -H 'key: sk-live-abcdef' -u root:hunter2"))
    assert command.args.command == f"curl -H 'key: {SECRET_MASK}' -u root:{SECRET_MASK}"  # type: ignore[attr-defined]
    assert command.message == f"Running command: {command.args.command}"  # type: ignore[attr-defined]
    message = store.append(MessageAction(content="see hunter2", image_urls=["https://x/?t=hunter2"]))
    assert message.args.image_urls == [f"https://x/?t={SECRET_MASK}"]  # type: ignore[attr-defined]  # lists too
    assert message.message == f"see {SECRET_MASK}"
    opaque = store.append(event_from_dict({"action": "future_thing", "message": "hunter2", "args": {"x": ["hunter2"]}}))
    assert isinstance(opaque, OpaqueEvent)
    assert opaque.raw["args"] == {"x": [SECRET_MASK]} and opaque.message == SECRET_MASK
    clean = store.append(run(0))
    assert clean.args.command == "echo 0"  # type: ignore[attr-defined]
    mirrored = store.insert(with_id(MessageAction(content="hunter2 again"), 10))
    assert mirrored.inserted and store.get(10).message == f"{SECRET_MASK} again"
    assert store.get(0) == command
    stored = raw(db.path, "SELECT group_concat(json) FROM events")
    assert "hunter2" not in stored and "sk-live" not in stored and stored.count(SECRET_MASK) >= 6


def test_an_event_kept_whole_is_masked_and_kept_whole(store: EventStore) -> None:
    """A replayed event that does not validate is masked like any other, not refused for staying invalid."""
    store.add_secrets("hunter2")
    text = '{"id":0,"source":"agent","message":"q hunter2","action":"recall","args":{"recall_type":null,"query":"q"}}'
    assert store.insert(stored_event_from_json(text)).inserted
    kept = store.get(0)
    assert isinstance(kept, InvalidEvent) and kept.raw["args"]["query"] == "q" and kept.message == f"q {SECRET_MASK}"
    with pytest.raises(ValueError, match="not stored"):  # a valid event that masking makes invalid is still refused
        store.add_secrets("knowledge")
        store.append(event_from_dict({"action": "recall", "args": {"recall_type": "knowledge", "query": "q"}}))


def test_secrets_that_json_escapes_are_masked_too(store: EventStore) -> None:
    store.add_secrets('to"ken\\', "pässwörd")
    event = store.append(MessageAction(content='a to"ken\\ and a pässwörd'))
    assert event.message == f"a {SECRET_MASK} and a {SECRET_MASK}"


def test_no_secrets_means_events_are_stored_as_given(store: EventStore) -> None:
    event = store.append(MessageAction(content="<secret_hidden> is just text here"))
    assert store.get(0) == event


# -- conversations ----------------------------------------------------------------------------------------------


def test_conversation_crud(db: Database) -> None:
    conversations = db.conversations
    first = conversations.create(title="first", agent_name="CodeActAgent")
    assert len(first.conversation_id) == 32 and first.title == "first" and first.agent_name == "CodeActAgent"
    assert first.created_at == first.updated_at and first.created_at.tzinfo is not None and first.event_count == 0
    second = conversations.create("second-id")
    assert second.title is None and second.agent_state is None
    with pytest.raises(ValueError, match="already exists"):
        conversations.create("second-id")
    assert [info.conversation_id for info in conversations.list()] == ["second-id", first.conversation_id]
    conversations.update(first.conversation_id, agent_state="running", title="renamed")
    updated = conversations.get(first.conversation_id)
    assert updated is not None
    assert (updated.title, updated.agent_state, updated.agent_name) == ("renamed", "running", "CodeActAgent")
    assert updated.updated_at > first.updated_at and updated.created_at == first.created_at
    assert [info.conversation_id for info in conversations.list()] == [first.conversation_id, "second-id"]
    assert conversations.get("nope") is None
    with pytest.raises(ConversationNotFoundError) as caught:
        conversations.update("nope", title="x")
    assert isinstance(caught.value, KeyError)
    assert conversations.get_or_create("second-id") == conversations.get("second-id")
    assert conversations.get_or_create("third", title="t").title == "t"


def test_appending_creates_and_touches_the_conversation(db: Database) -> None:
    store = db.events("implicit")
    store.append(run(0))
    info = db.conversations.get("implicit")
    assert info is not None and info.event_count == 1 and info.title is None
    db.conversations.create("later")
    assert db.conversations.list()[0].conversation_id == "later"


def test_conversation_info_without_counting_its_events(db: Database) -> None:
    db.conversations.create("counted", title="t", agent_name="echo")
    db.events("counted").append_many([run(n) for n in range(7)])
    counted = db.conversations.get("counted")
    uncounted = db.conversations.get("counted", count_events=False)
    assert counted is not None and counted.event_count == 7
    assert uncounted is not None and uncounted.event_count is None
    assert replace(uncounted, event_count=7) == counted
    assert db.conversations.get("absent", count_events=False) is None


def test_delete_cascades_to_events(db: Database) -> None:
    keep = db.events("keep")
    keep.append_many([run(n) for n in range(3)])
    doomed = db.events("doomed")
    doomed.append_many([run(n) for n in range(5)])
    assert db.conversations.delete("doomed") is True
    assert db.conversations.delete("doomed") is False
    assert db.conversations.get("doomed") is None
    assert doomed.count() == 0 and doomed.latest_id() == -1 and not doomed.has(0)
    assert raw(db.path, "SELECT count(*) FROM events") == 3 and keep.count() == 3
    assert doomed.append(run(0)).id == 0  # the same store object starts a fresh conversation
    assert db.conversations.get("doomed") is not None


# -- the database file ------------------------------------------------------------------------------------------


def test_default_location_honours_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OHTUI_DATA_DIR", str(tmp_path / "from-env"))
    with Database() as db:
        assert db.path == tmp_path / "from-env" / "ohtui.db"
        db.events("c").append(run(0))
    assert (tmp_path / "from-env" / "ohtui.db").is_file()
    with Database.in_data_dir(tmp_path / "explicit") as db:
        assert db.path == tmp_path / "explicit" / "ohtui.db"


def test_schema_version_and_application_id(db: Database) -> None:
    from ohtui.store import schema

    assert raw(db.path, "PRAGMA application_id") == schema.APPLICATION_ID
    assert raw(db.path, "PRAGMA user_version") == schema.SCHEMA_VERSION == len(schema.MIGRATIONS)
    assert raw(db.path, "PRAGMA journal_mode") == "wal"
    db.events("c").append_many([run(0), run(1)])
    # One integer key per event, (conversation << 40 | id): a conversation is one contiguous range.
    pk = raw(db.path, "SELECT pk FROM conversations WHERE conversation_id = 'c'")
    assert raw(db.path, f"SELECT group_concat(key - ({pk} << 40)) FROM events") == "0,1"
    with contextlib.closing(sqlite3.connect(db.path)) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(events)")]
    assert columns == ["key", "kind", "is_action", "source", "timestamp", "hidden", "json", "cause"]
    assert raw(db.path, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'") == 0


def test_close_is_idempotent_and_final(tmp_path: Path) -> None:
    db = Database(tmp_path / "c.db")
    store = db.events("c")
    store.append(run(0))
    db.close()
    db.close()
    with pytest.raises(StoreError, match="closed"):
        store.append(run(1))
    with pytest.raises(StoreError, match="closed"):
        store.count()


def test_a_row_that_does_not_validate_is_read_back_as_it_is_stored(tmp_path: Path) -> None:
    """A row an older ohtui (or an import) stored that this version's models refuse is read, never an error: kept
    whole, serialized back to the same text, skipped by nothing. A row that is not an event at all is an error."""
    path = tmp_path / "ohtui.db"
    text = (
        '{"id":1,"timestamp":"2025-11-28T10:00:00.000000","source":"user","message":"Retrieving content for: é",'
        '"action":"recall","args":{"recall_type":null,"query":"é","thought":""},"future":[1.5,null]}'
    )
    with Database(path) as db:
        db.events("conv").append_many([run(0), run(1), run(2)])
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("UPDATE events SET kind = 'recall', json = ? WHERE key & 255 = 1", (text,))
        conn.execute("UPDATE events SET json = '[]' WHERE key & 255 = 2")
    with Database(path) as db:
        store = db.events("conv")
        kept = store.get(1)
        assert isinstance(kept, InvalidEvent) and kept.kind == "recall" and "recall_type" in kept.problem
        assert event_to_json(kept) == text
        assert [row.json for row in store.search_raw(1, 1)] == [text]
        assert [event.id for event in store.search(0, 1)] == [0, 1]
        with pytest.raises(StoreError, match=r"event 2 of conversation conv .* cannot be read"):
            store.get(2)


def test_search_raw_yields_the_stored_text_in_id_order(store: EventStore) -> None:
    stored = store.append_many([run(n) for n in range(150)])  # past the first read chunk
    rows = list(store.search_raw(start_id=3, end_id=140))
    assert [row.id for row in rows] == list(range(3, 141))
    assert rows[0].kind == "run" and rows[0].is_action
    assert [event_from_json(row.json) for row in rows] == stored[3:141]
    assert list(store.search_raw(start_id=150)) == []


def test_records_from_the_columns_agree_with_records_from_the_text(store: EventStore) -> None:
    store.append(MessageAction(content="hi"), EventSource.USER)
    action = store.append(CmdRunAction(command="ls", hidden=True), EventSource.AGENT)
    store.append(CmdOutputObservation(content="a", command="ls", cause=action.id), EventSource.AGENT)
    light, full = list(store.records()), list(store.records(with_text=True))
    assert [r.text for r in light] == [None, None, None] and all(r.text for r in full)
    for a, b in zip(light, full, strict=True):
        assert (a.id, a.kind, a.is_action, a.source, a.cause, a.timestamp) == (
            b.id, b.kind, b.is_action, b.source, b.cause, b.timestamp
        )  # fmt: skip
        assert a.details.hidden == b.details.hidden
    assert [r.cause for r in light] == [None, None, action.id] and light[1].details.hidden
    assert [r.id for r in store.records_by_id([2, 0, 7])] == [0, 2]
    assert store.records_by_id([2])[0].event == store.get(2)


def test_records_are_stored_as_sent_and_delivered_as_records(store: EventStore) -> None:
    texts = [
        '{"id":0,"timestamp":"2025-01-01T00:00:00.000000","source":"user","message":"x","action":"message",'
        '"args":{"content":"x","file_urls":null,"image_urls":null,"wait_for_response":false,"security_risk":-1}}',
        '{"id":2,"timestamp":"2025-01-01T00:00:01.000000","source":"agent","message":"","cause":0,'
        '"observation":"null","content":"","extras":{}}',
    ]
    delivered: list[EventRecord] = []
    store.subscribe("ui", delivered.append)
    results = store.insert_records([EventRecord.from_json(text) for text in texts])
    assert [(r.inserted, r.gap_from) for r in results] == [(True, None), (True, 1)]
    assert [row.json for row in store.search_raw()] == texts
    assert [r.id for r in delivered] == [0, 2] and all(r.parsed is None for r in delivered)  # nothing was parsed
    again = store.insert_records([EventRecord.from_json(texts[0])])
    assert again[0].duplicate and len(delivered) == 2
    assert [r.cause for r in store.records()] == [None, 0]


def test_records_go_through_the_secret_masking_when_secrets_are_registered(store: EventStore) -> None:
    store.add_secrets("hunter2-secret")
    text = (
        '{"id":0,"timestamp":"2025-01-01T00:00:00.000000","source":"user","message":"hunter2-secret",'
        '"action":"message","args":{"content":"hunter2-secret","file_urls":null,"image_urls":null,'
        '"wait_for_response":false,"security_risk":-1}}'
    )
    store.insert_records([EventRecord.from_json(text)])
    assert "hunter2-secret" not in next(store.search_raw()).json


def test_the_state_of_a_conversation_is_read_from_a_few_rows_and_equals_folding_all(store: EventStore) -> None:
    from ohtui.protocol import (
        ActionConfirmationStatus,
        AgentState,
        AgentStateChangedObservation,
        ErrorObservation,
        Metrics,
    )
    from ohtui.protocol.state import ConversationState
    from ohtui.store.state import conversation_state

    env, agent = EventSource.ENVIRONMENT, EventSource.AGENT
    metrics = Metrics.model_validate({"accumulated_cost": 1.5})
    store.append(AgentStateChangedObservation(agent_state=AgentState.RUNNING), env)
    store.append(MessageAction(content="thinking", llm_metrics=metrics), agent)
    store.append(ErrorObservation(content="first problem"), agent)
    store.append(ErrorObservation(content="the problem"), agent)
    for n in range(50):
        quoted = 'a "llm_metrics":{ inside a text'  # escaped in the JSON: not the top-level key
        store.append(MessageAction(content=f"message {n}: {quoted}"), EventSource.USER)
    store.append(AgentStateChangedObservation(agent_state=AgentState.AWAITING_USER_CONFIRMATION), env)
    awaiting = ActionConfirmationStatus.AWAITING_CONFIRMATION
    store.append(CmdRunAction(command="rm -rf build", confirmation_state=awaiting), agent)
    folded = ConversationState()
    for record in store.records(with_text=True):
        folded.apply(record)
    read = conversation_state(store)
    assert (read.agent_state, read.reason, read.last_error) == (folded.agent_state, folded.reason, folded.last_error)
    assert read.pending is not None and read.pending == folded.pending and read.awaiting_confirmation
    assert read.metrics == folded.metrics == metrics
    assert conversation_state(store, upto=3).agent_state is AgentState.RUNNING
    assert conversation_state(store, upto=-1) == ConversationState()
