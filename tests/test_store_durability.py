"""What the store does when the world misbehaves: SIGKILL mid-append, corrupt or foreign files, another process holding
the write lock, a full disk. Real files and real child processes."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ohtui.protocol import CmdOutputObservation, CmdRunAction, EventSource, MessageAction, event_to_json
from ohtui.store import Database, EventFilter, StoreError, schema

CHILD = Path(__file__).with_name("store_child.py")
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and fork semantics")


def child(mode: str, path: Path, *, stdin: int | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(CHILD), mode, str(path)],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def integrity(path: Path) -> str:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


@pytest.mark.timeout(90)
def test_appends_that_returned_survive_sigkill(tmp_path: Path) -> None:
    """A process appends in a loop and prints each id the store returned; it is SIGKILLed at random moments 20 times.
    After each kill the file is intact, the ids are contiguous, and every reported id is there.

    The appending processes are forked by one helper started with ``sys.executable``, so the 20 rounds do not pay
    for 20 interpreter start-ups."""
    path = tmp_path / "killed.db"
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    reported: set[int] = set()
    zygote = child("fork", path, stdin=subprocess.PIPE)
    assert zygote.stdout is not None and zygote.stdin is not None
    try:
        for round_ in range(20):
            zygote.stdin.write("fork\n")
            zygote.stdin.flush()
            first = zygote.stdout.readline().split()
            assert first[:1] == ["pid"], f"unexpected {first} (seed {seed})"
            worker = int(first[1])
            # Now and then kill it at once (while it opens the file), otherwise after a random number of reports.
            wanted = 0 if round_ % 7 == 3 else rng.randint(1, 300)
            for _ in range(wanted):
                line = zygote.stdout.readline()
                assert line and not line.startswith("reaped"), f"worker died on its own (seed {seed}): {line}"
                reported.add(int(line))
            os.kill(worker, signal.SIGKILL)
            while not (line := zygote.stdout.readline()).startswith("reaped"):
                assert line, f"helper exited (seed {seed})"
                reported.add(int(line))  # printed before the kill, still in the pipe: those appends had returned
            assert line.split() == ["reaped", str(-signal.SIGKILL)]

            assert integrity(path) == "ok", f"seed {seed}, round {round_}"
            with Database(path) as db:
                store = db.events("killme")
                stored = [event.id for event in store.search()]
                assert stored == list(range(len(stored))), f"ids not contiguous (seed {seed}, round {round_})"
                assert reported <= set(stored), f"lost {sorted(reported - set(stored))[:5]} (seed {seed})"
                assert store.count() == len(stored)
    finally:
        zygote.stdin.close()
        zygote.wait(timeout=30)
    assert len(reported) > 20


# -- files that are not ours --------------------------------------------------------------------------------------


def assert_refused(path: Path, *words: str) -> None:
    before = path.read_bytes()
    with pytest.raises(StoreError) as caught:
        Database(path)
    message = str(caught.value)
    assert str(path) in message, message
    for word in words:
        assert word in message, message
    assert "data directory" in message  # says what to do
    assert path.read_bytes() == before, "the file was modified"
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name], "files were created beside it"


def test_garbage_file_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "ohtui.db"
    path.write_bytes(random.Random(1).randbytes(8192))
    assert_refused(path, "not an ohtui database")


def test_truncated_sqlite_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ohtui.db"
    path.write_bytes(schema.SQLITE_MAGIC + b"\x00" * 20)
    assert_refused(path, "not an ohtui database")


def test_sqlite_magic_followed_by_garbage_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ohtui.db"
    path.write_bytes(schema.SQLITE_MAGIC + random.Random(2).randbytes(4096 - 16))
    assert_refused(path)


def test_corrupted_ohtui_database_is_refused_or_reported(tmp_path: Path) -> None:
    path = tmp_path / "ohtui.db"
    with Database(path) as db:
        db.events("c").append_many([MessageAction(content="x" * 500) for _ in range(200)])
    data = bytearray(path.read_bytes())
    data[0:100] = random.Random(3).randbytes(100)  # header destroyed
    path.write_bytes(bytes(data))
    assert_refused(path)


def test_another_applications_database_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "ohtui.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('mine')")
        conn.commit()
    assert_refused(path, "another application", "notes")
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA application_id = 1234")
        conn.execute("CREATE TABLE conversations (x)")  # even with our table names
        conn.commit()
    assert_refused(path, "0x4d2")


def test_a_newer_schema_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "ohtui.db"
    with Database(path) as db:
        db.events("c").append(CmdRunAction(command="ls"))
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
        conn.commit()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="newer ohtui") as caught:
        Database(path)
    assert str(path) in str(caught.value)
    assert path.read_bytes() == before


def test_an_empty_file_becomes_a_database(tmp_path: Path) -> None:
    path = tmp_path / "ohtui.db"
    path.touch()
    with Database(path) as db:
        assert db.events("c").append(CmdRunAction(command="ls")).id == 0


def test_migrations_run_in_order_from_the_stored_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file at the current version opened by code that knows one more step gets exactly that step, once."""
    path = tmp_path / "ohtui.db"
    with Database(path) as db:
        db.events("c").append(CmdRunAction(command="ls"))
    current = schema.SCHEMA_VERSION
    calls: list[int] = []

    def next_step(conn: sqlite3.Connection) -> None:
        calls.append(conn.execute("PRAGMA user_version").fetchone()[0])
        conn.execute("ALTER TABLE conversations ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0")

    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, next_step])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", current + 1)
    with Database(path) as db:
        assert db.events("c").count() == 1
    with Database(path):
        pass
    assert calls == [current]
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == current + 1
        assert "pinned" in [row[1] for row in conn.execute("PRAGMA table_info(conversations)")]


def test_a_version_1_file_is_migrated_with_every_event_intact(tmp_path: Path) -> None:
    """Version 1 had three more columns in events (conversation, id, cause); version 2 drops them, keeping rows, and
    version 3 brings cause back, filled in from each row's JSON."""
    path = tmp_path / "ohtui.db"
    events = [CmdRunAction(command=f"echo {n}", hidden=n == 1) for n in range(3)]
    texts = [
        f'{{"id":{n},"timestamp":"2025-01-01T00:00:0{n}.000000","source":"agent",' + event_to_json(event)[1:]
        for n, event in enumerate(events)
    ]
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        schema.MIGRATIONS[0](conn)
        conn.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")
        conn.execute("PRAGMA user_version = 1")
        conn.execute(
            "INSERT INTO conversations (pk, conversation_id, created_at, updated_at) VALUES (1, 'c', ?, ?)",
            ("2025-01-01T00:00:00+00:00", "2025-01-01T00:00:00+00:00"),
        )
        conn.executemany(
            "INSERT INTO events VALUES (?, 1, ?, 'run', 1, 'agent', ?, ?, NULL, ?)",
            [((1 << 40) + n, n, f"2025-01-01T00:00:0{n}.000000", int(n == 1), text) for n, text in enumerate(texts)],
        )
    with Database(path) as db:
        store = db.events("c")
        assert [row.json for row in store.search_raw()] == texts
        assert [event.id for event in store.search(filter=EventFilter(exclude_hidden=True))] == [0, 2]
        assert store.append(CmdRunAction(command="after")).id == 3
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION == 3
        assert [row[1] for row in conn.execute("PRAGMA table_info(events)")] == [
            "key", "kind", "is_action", "source", "timestamp", "hidden", "json", "cause"
        ]  # fmt: skip
        assert integrity(path) == "ok"


def test_a_version_2_file_gets_its_causes_from_the_rows_json(tmp_path: Path) -> None:
    path = tmp_path / "ohtui.db"
    run = CmdRunAction(id=0, timestamp="2025-01-01T00:00:00.000000", source=EventSource.AGENT, command="ls")
    output = CmdOutputObservation(
        id=1, timestamp="2025-01-01T00:00:01.000000", source=EventSource.AGENT, command="ls", content="a", cause=0
    )
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        schema.MIGRATIONS[0](conn)
        schema.MIGRATIONS[1](conn)
        conn.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")
        conn.execute("PRAGMA user_version = 2")
        conn.execute(
            "INSERT INTO conversations (pk, conversation_id, created_at, updated_at) VALUES (1, 'c', ?, ?)",
            ("2025-01-01T00:00:00+00:00", "2025-01-01T00:00:00+00:00"),
        )
        conn.executemany(
            "INSERT INTO events VALUES (?, ?, ?, 'agent', ?, 0, ?)",
            [((1 << 40) + e.id, e.kind, int(e is run), e.timestamp, event_to_json(e)) for e in (run, output)],
        )
    with Database(path) as db:
        records = list(db.events("c").records())
        assert [(r.id, r.kind, r.cause) for r in records] == [(0, "run", None), (1, "run", 0)]
        assert [r.is_action for r in records] == [True, False] and all(r.text is None for r in records)


def test_an_unwritable_location_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="data directory"):
        Database(blocker / "sub" / "ohtui.db")


# -- locks and full disks -----------------------------------------------------------------------------------------


@pytest.fixture
def locking_child(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    path = tmp_path / "locked.db"
    with Database(path) as db:
        db.events("c").append(CmdRunAction(command="before"))
    proc = child("lock", path, stdin=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdin is not None
    try:
        assert proc.stdout.readline().strip() == "locked"
        yield path, proc
    finally:
        with contextlib.suppress(OSError):
            proc.stdin.write("\n")
            proc.stdin.close()
        proc.wait(timeout=30)


def test_a_write_lock_held_by_another_process_times_out_clearly(
    locking_child: tuple[Path, subprocess.Popen[str]],
) -> None:
    path, proc = locking_child
    with Database(path, busy_timeout=0.2) as db:  # opening and reading need no write lock
        store = db.events("c")
        assert store.count() == 1
        with pytest.raises(StoreError) as caught:
            store.append(CmdRunAction(command="blocked"))
        message = str(caught.value)
        assert "locked by another process" in message and str(path) in message and "0.2 s" in message
        with pytest.raises(StoreError, match="locked"):
            db.conversations.create("new")
        assert [event.id for event in store.search()] == [0]  # reads still work
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.wait(timeout=30) == 0
        assert store.append(CmdRunAction(command="after")).id == 1  # the failed append used no id


def test_a_full_disk_fails_the_write_and_keeps_everything_else(tmp_path: Path) -> None:
    path = tmp_path / "full.db"
    with Database(path) as db:
        store = db.events("c")
        seen: list[int | None] = []
        store.subscribe("s", lambda event: seen.append(event.id))
        store.append_many([MessageAction(content=f"small {n}") for n in range(10)])
        writer = db._conns._writer  # the only way to make SQLite's file "full" without filling the real disk
        with db._conns.lock:
            pages = writer.execute("PRAGMA page_count").fetchone()[0]
            writer.execute(f"PRAGMA max_page_count = {pages}")
        big = "x" * 50_000
        for attempt in (lambda: store.append(MessageAction(content=big)),
                        lambda: store.append_many([MessageAction(content=big) for _ in range(3)]),
                        lambda: store.insert(MessageAction(content=big).model_copy(update={"id": 10})),
                        lambda: db.conversations.create("other", title=big)):  # fmt: skip
            with pytest.raises(StoreError) as caught:
                attempt()
            assert "full" in str(caught.value) and str(path) in str(caught.value)
        assert [event.id for event in store.search()] == list(range(10))  # nothing half-written, reads work
        assert seen == list(range(10))  # nothing announced that was not stored
        assert db.conversations.get("other") is None
        with db._conns.lock:
            writer.execute("PRAGMA max_page_count = 1073741823")
        assert store.append(MessageAction(content=big)).id == 10  # space again: the next id, no hole
        assert [event.id for event in store.append_many([MessageAction(content=big)] * 2)] == [11, 12]
        assert seen == list(range(13))
    assert integrity(path) == "ok"


def test_concurrent_readers_while_writing(tmp_path: Path) -> None:
    """Readers on other threads see only whole, committed events while a writer appends."""
    with Database(tmp_path / "rw.db") as db:
        store = db.events("c")
        stop = threading.Event()
        problems: list[str] = []

        def reader() -> None:
            while not stop.is_set():
                got = [event.id for event in store.search(reverse=True, limit=50)]
                if got != sorted(got, reverse=True) or (got and got[0] != len(got) - 1 + got[-1]):
                    problems.append(f"bad window {got[:3]}…")
                latest = store.latest_id()
                if latest >= 0 and not store.has(latest):
                    problems.append(f"latest {latest} missing")

        threads = [threading.Thread(target=reader) for _ in range(2)]
        for thread in threads:
            thread.start()
        try:
            for n in range(400):
                store.append(CmdRunAction(command=f"echo {n}"))
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        assert problems == []
        assert store.count() == 400
    assert os.path.exists(tmp_path / "rw.db")


def test_checkpoints_run_on_their_own_thread_and_stop_with_the_database(tmp_path: Path) -> None:
    """What is written reaches the database file itself (the WAL copied back) without the writer checkpointing: a
    copy of the file alone, without its WAL, holds every event once the checkpoint thread is idle."""
    path = tmp_path / "ohtui.db"
    db = Database(path)
    try:
        events = db.events("c")
        for n in range(40):  # a few dozen pages of WAL: far below the writer's own checkpoint threshold
            events.append(CmdRunAction(command=f"echo {n}"))
        checkpointer = db._conns.checkpointer
        assert checkpointer.wait_until_idle(timeout=30)
        assert checkpointer.checkpoints >= 1
        (tmp_path / "file-only.db").write_bytes(path.read_bytes())  # the main file; "ohtui.db-wal" is not copied
    finally:
        db.close()
    assert not checkpointer._thread.is_alive()
    with contextlib.closing(sqlite3.connect(tmp_path / "file-only.db")) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 40


def test_closing_right_after_a_long_write_stops_the_checkpoint_thread(tmp_path: Path) -> None:
    """The thread wakes on the write, waits for the writer's lock, then clears its wake-up; a close that lands just
    before that clear must still stop it (it once waited out close's 10 s join instead)."""
    db = Database(tmp_path / "ohtui.db")
    checkpointer = db._conns.checkpointer
    try:
        db.events("c").append_many([CmdRunAction(command=f"echo {n}") for n in range(5000)])  # longer than its delay
    finally:
        db.close()
    assert not checkpointer._thread.is_alive()
