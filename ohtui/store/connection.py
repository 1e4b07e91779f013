"""The SQLite connections of one database file: one writer behind a lock, a pool of readers, and error translation.

One writer connection, used by one thread at a time under :attr:`Connections.lock`: SQLite serialises writers anyway,
and holding the lock across "pick the next id, insert, commit" is what makes ids contiguous. Readers get their own
connections (WAL lets them read while the writer writes); each query borrows one for a single ``fetchall``, so no
read transaction stays open between the chunks of a streaming search and checkpoints are never held back.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ohtui.config import private_directory, private_file
from ohtui.store import schema
from ohtui.store.checkpointer import Checkpointer
from ohtui.store.errors import StoreError

logger = logging.getLogger("ohtui.store")

_BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 5, 6, 8, 10, 11, 13, 14, 26
_PERM = 3
_ELSEWHERE = "use another data directory (--data-dir or OHTUI_DATA_DIR)"


def _private_database_file(path: Path) -> None:
    """The database file for this user only (0600); SQLite gives its -wal and -shm files the same mode."""
    if path.exists():
        private_file(path)
        return
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


class Connections:
    def __init__(self, path: Path, busy_timeout: float) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.lock = threading.Lock()
        self._pool_lock = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        self._all: list[sqlite3.Connection] = []
        self._closed = False
        try:
            private_directory(path.parent)
            _private_database_file(path)
        except OSError as error:
            raise StoreError(f"cannot create the data directory {path.parent}: {error.strerror or error}") from None
        schema.check_header(path)
        self._writer = self._connect()
        try:
            version = schema.inspect(self._writer, path)
            mode = self._writer.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                logger.warning(
                    "%s: WAL mode unavailable (journal_mode is %s); readers will wait for writers", path, mode
                )
            self._writer.execute("PRAGMA synchronous = NORMAL")
            self._writer.execute(f"PRAGMA wal_autocheckpoint = {schema.WAL_AUTOCHECKPOINT_PAGES}")
            self._writer.execute(f"PRAGMA journal_size_limit = {schema.JOURNAL_SIZE_LIMIT}")
            if version < schema.SCHEMA_VERSION:
                schema.migrate(self._writer, path)
        except BaseException as error:
            self._writer.close()
            if isinstance(error, sqlite3.Error):
                raise self.error(error) from None
            raise
        self.checkpointer = Checkpointer(path, self.lock, busy_timeout)
        self.checkpointer.start()

    def _connect(self) -> sqlite3.Connection:
        try:
            return sqlite3.connect(
                self.path,
                timeout=self.busy_timeout,
                isolation_level=None,  # autocommit; transactions are explicit BEGIN ... COMMIT
                check_same_thread=False,  # used by one thread at a time, under a lock or from the pool
                cached_statements=256,
            )
        except sqlite3.Error as error:
            raise self.error(error) from None

    def error(self, error: sqlite3.Error) -> StoreError:
        """A user-facing :class:`StoreError` for a SQLite failure: what happened to which file, and what to do."""
        code = getattr(error, "sqlite_errorcode", None)
        primary = code & 0xFF if isinstance(code, int) else None
        if self._closed or (isinstance(error, sqlite3.ProgrammingError) and "closed" in str(error)):
            return StoreError(f"database {self.path} is closed")
        if primary in (_BUSY, _LOCKED):
            return StoreError(
                f"database {self.path} is locked by another process (waited {self.busy_timeout:g} s for it to finish "
                f"writing); close the other program using it, or {_ELSEWHERE}"
            )
        if primary == _FULL:
            return StoreError(
                f"database {self.path} is full (no space left on the disk, or its size limit reached): this write was "
                "not stored and nothing stored before it is affected; free some space and try again"
            )
        if primary in (_CORRUPT, _NOTADB):
            return StoreError(
                f"database {self.path} is corrupt ({error}); ohtui does not repair it in place: keep a copy, try "
                f"`sqlite3 {self.path} .recover`, or {_ELSEWHERE}"
            )
        if primary in (_READONLY, _PERM, _CANTOPEN, _IOERR):
            return StoreError(f"cannot use database {self.path}: {error}; check its permissions and the disk")
        return StoreError(f"database {self.path}: {error}")

    def writer(self) -> sqlite3.Connection:
        """The writer connection; only while holding :attr:`lock`."""
        if self._closed:
            raise StoreError(f"database {self.path} is closed")
        self.checkpointer.wrote()
        return self._writer

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` on the writer, rolled back on any exception (re-raised as is)."""
        conn = self.writer()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            # SQLite may already have rolled back (SQLITE_FULL, SQLITE_IOERR); only roll back what is still open.
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    logger.exception("%s: rollback failed", self.path)
            raise

    @contextmanager
    def reader(self) -> Iterator[sqlite3.Connection]:
        with self._pool_lock:
            if self._closed:
                raise StoreError(f"database {self.path} is closed")
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._connect()
            try:
                conn.execute("PRAGMA query_only = ON")
            except sqlite3.Error as error:
                conn.close()
                raise self.error(error) from None
            with self._pool_lock:
                self._all.append(conn)
        try:
            yield conn
        finally:
            with self._pool_lock:
                if self._closed:
                    conn.close()
                else:
                    self._idle.append(conn)

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """All rows of one query, on a pooled reader connection."""
        with self.reader() as conn:
            try:
                return conn.execute(sql, params).fetchall()
            except sqlite3.Error as error:
                raise self.error(error) from None

    def close(self) -> None:
        self.checkpointer.close()
        with self.lock, self._pool_lock:
            if self._closed:
                return
            self._closed = True
            idle, self._idle = self._idle, []
            for conn in idle:
                conn.close()
            self._all.clear()
            try:
                self._writer.execute("PRAGMA optimize")
            except sqlite3.Error:
                logger.debug("%s: PRAGMA optimize failed at close", self.path, exc_info=True)
            self._writer.close()
