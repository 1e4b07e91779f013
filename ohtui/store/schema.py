"""The database file: how it is recognised, opened and migrated.

A file is only ever opened as ours when its header says so (``PRAGMA application_id``); anything else (garbage, another
application's SQLite database, a schema newer than this code) is refused with a :class:`StoreError` before a single
byte is written, so a file ohtui does not understand is never replaced or "repaired". ``PRAGMA user_version`` holds the
schema version; :data:`MIGRATIONS` is the explicit list of steps, step ``n`` taking version ``n`` to ``n + 1``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from ohtui.store.errors import StoreError

APPLICATION_ID = 0x6F687475  # "ohtu"
SQLITE_MAGIC = b"SQLite format 3\x00"

# Four times SQLite's default. Checkpoints normally run on a thread of their own (ohtui/store/checkpointer.py); this
# one, in the commit that crosses the threshold (~10-30 ms longer), is the safety net for a writer that never pauses:
# the thread's PASSIVE checkpoints never catch up with it, so the WAL would never restart.
WAL_AUTOCHECKPOINT_PAGES = 4000
# After a checkpoint the WAL file is truncated down to this, so a burst does not leave a huge file behind.
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024


# An event's key packs (conversation, id) into one integer, so that a conversation is one contiguous key range.
ID_BITS = 40
MAX_EVENT_ID = (1 << ID_BITS) - 1
MAX_CONVERSATION_PK = (1 << (63 - ID_BITS)) - 1


def _create_v1(conn: sqlite3.Connection) -> None:
    """Conversations get an integer key so that event rows do not repeat the uuid string.

    Events live in a rowid table whose key is ``conversation << 40 | id``: clustered by (conversation, id) like a
    ``WITHOUT ROWID`` table keyed on the pair, but appends take SQLite's fast path for inserting at the right edge of
    an integer-keyed b-tree (``balance_quick``). Measured with the protocol samples (~280-byte JSON): 1.2 WAL pages per
    single-event commit against 1.9 for ``WITHOUT ROWID`` (whose rows should stay under 1/20 of a page), a third
    faster appends, and 20 % less disk. There is deliberately no secondary index: each one is another page written by
    every append (+1.2 pages, -40 % appends measured), and searches are id ranges; type, source, date and hidden
    filters are evaluated in SQL on that range.
    """
    conn.execute(
        """
        CREATE TABLE conversations (
            pk INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: a key cached by another process stays valid
            conversation_id TEXT NOT NULL UNIQUE,
            title TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            agent_state TEXT,
            agent_name TEXT
        )
        """
    )
    conn.execute("CREATE INDEX conversations_by_updated ON conversations (updated_at)")
    # kind/is_action/source/timestamp/hidden/cause are copies of what is in `json`, kept so filters run in SQL.
    conn.execute(
        """
        CREATE TABLE events (
            key INTEGER PRIMARY KEY,
            conversation INTEGER NOT NULL,
            id INTEGER NOT NULL,
            kind TEXT NOT NULL,
            is_action INTEGER NOT NULL,
            source TEXT,
            timestamp TEXT,
            hidden INTEGER NOT NULL,
            cause INTEGER,
            json TEXT NOT NULL
        )
        """
    )


def _events_v2(conn: sqlite3.Connection) -> None:
    """The events table without the columns no query reads: ``conversation`` and ``id`` (the two halves of ``key``,
    which every query uses instead) and ``cause``. SQLite's cost of inserting a row grows with its column count
    (about 5 % a column, measured), and every event pays it. One rewrite of the table, at the first open."""
    conn.execute(
        """
        CREATE TABLE events_v2 (
            key INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            is_action INTEGER NOT NULL,
            source TEXT,
            timestamp TEXT,
            hidden INTEGER NOT NULL,
            json TEXT NOT NULL
        )
        """
    )
    conn.execute(
        "INSERT INTO events_v2 (key, kind, is_action, source, timestamp, hidden, json)"
        " SELECT key, kind, is_action, source, timestamp, hidden, json FROM events ORDER BY key"
    )
    conn.execute("DROP TABLE events")
    conn.execute("ALTER TABLE events_v2 RENAME TO events")


def _events_cause_v3(conn: sqlite3.Connection) -> None:
    """``cause`` back as a column: a viewer opening a long conversation groups and shows its rows from the columns
    alone (no JSON read, no parse), and observations are grouped under their action by it. Filled in from the JSON
    of the rows already stored."""
    conn.execute("ALTER TABLE events ADD COLUMN cause INTEGER")
    conn.execute(
        "UPDATE events SET cause = json_extract(json, '$.cause') WHERE json_extract(json, '$.cause') IS NOT NULL"
    )


Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[Migration] = [_create_v1, _events_v2, _events_cause_v3]
SCHEMA_VERSION = len(MIGRATIONS)

_WHAT_TO_DO = "ohtui has not modified it; move it aside or choose another data directory (--data-dir or OHTUI_DATA_DIR)"


def check_header(path: Path) -> None:
    """Refuse a file that is not SQLite at all, without letting SQLite open (and possibly write to) it."""
    try:
        with path.open("rb") as handle:
            header = handle.read(100)
    except FileNotFoundError:
        return
    except OSError as error:
        raise StoreError(f"cannot read database {path}: {error.strerror or error}") from None
    # Zero bytes is a fresh file (or one whose content is all still in the -wal file): SQLite treats it as empty.
    if header and (len(header) < 100 or not header.startswith(SQLITE_MAGIC)):
        raise StoreError(
            f"{path} is not an ohtui database (it is not an SQLite file, or it is corrupt); {_WHAT_TO_DO}."
        )


def inspect(conn: sqlite3.Connection, path: Path) -> int:
    """The schema version of an ohtui database (0 for an empty file); refuse foreign or newer files. Reads only."""
    try:
        application_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    except sqlite3.DatabaseError as error:
        raise StoreError(f"{path} is not a usable SQLite database ({error}); {_WHAT_TO_DO}.") from None
    if application_id != APPLICATION_ID:
        if application_id == 0 and version == 0 and not tables:
            return 0
        shown = ", ".join(tables[:5]) + (", …" if len(tables) > 5 else "")
        raise StoreError(
            f"{path} is an SQLite database of another application (application_id {application_id:#x}, "
            f"tables: {shown or 'none'}), not an ohtui database; {_WHAT_TO_DO}."
        )
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path} was written by a newer ohtui (schema version {version}; this one knows up to "
            f"{SCHEMA_VERSION}); upgrade ohtui, or {_WHAT_TO_DO.split('; ', 1)[1]}."
        )
    return int(version)


def migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring the schema to :data:`SCHEMA_VERSION` in one transaction (re-checked under the write lock, so two
    processes opening a new file at once do not both create it)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = inspect(conn, path)
        for step in MIGRATIONS[version:]:
            step(conn)
        if version < SCHEMA_VERSION:
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
