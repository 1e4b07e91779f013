"""Checkpoints off the writer's path: a thread copies the WAL back into the database file while the writer goes on.

SQLite's automatic checkpoint runs inside the commit that takes the WAL past its threshold: that commit copies
megabytes and waits for two fsyncs, 10-30 ms here. On a server the stall lands on the event loop, in the middle of
whatever it was sending; at 500 messages/s those stalls alone made the echo latency's 99th percentile.

A PASSIVE checkpoint from another connection copies committed frames without blocking the writer or the readers, and
the thread's fsyncs release the GIL. Once the WAL is all copied and nobody reads it, the writer's next transaction
starts the WAL over from its beginning, so it stays small. A writer that never pauses keeps the WAL from being all
copied; SQLite's own automatic checkpoint (``schema.WAL_AUTOCHECKPOINT_PAGES``) stays on as the safety net for that.

The thread sleeps until something is written, then waits :data:`DELAY` so that one checkpoint covers a burst, and
for the writer's lock, so that the write that woke it has committed.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

logger = logging.getLogger("ohtui.store")

DELAY = 0.05
"""Seconds between the first write after a checkpoint and the next checkpoint."""


class Checkpointer:
    def __init__(self, path: Path, writer_lock: threading.Lock, busy_timeout: float, delay: float = DELAY) -> None:
        self.path = path
        self._writer_lock = writer_lock
        self._busy_timeout = busy_timeout
        self._delay = delay
        self._wrote = threading.Event()
        self._stopping = threading.Event()
        self._settled = threading.Condition()
        self._running = False
        self._thread = threading.Thread(target=self._run, name=f"ohtui-checkpoint {path.name}", daemon=True)
        self.checkpoints = 0
        """How many checkpoints ran."""

    def start(self) -> None:
        self._thread.start()

    def wrote(self) -> None:
        """The writer is writing: checkpoint soon. Cheap enough to call on every write."""
        if not self._wrote.is_set():
            self._wrote.set()

    def wait_until_idle(self, timeout: float) -> bool:
        """Whether everything written so far was checkpointed (or tried) within ``timeout`` seconds."""
        with self._settled:
            return self._settled.wait_for(lambda: not self._wrote.is_set() and not self._running, timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread (after the checkpoint it may be running) and close its connection."""
        self._stopping.set()
        self._wrote.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None)
        except sqlite3.Error as error:
            logger.warning("%s: no background checkpoints (%s); the writer checkpoints instead", self.path, error)
            return
        try:
            # Checked at the top too: a close() that lands between the wait and the clear below has its wake-up
            # cleared away, and must not leave this thread waiting for a write that never comes.
            while not self._stopping.is_set():
                self._wrote.wait()
                if self._stopping.wait(self._delay):
                    return
                with self._writer_lock, self._settled:  # the write that woke us has committed
                    self._wrote.clear()
                    self._running = True
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as error:  # busy or failing: the writer's automatic checkpoint still runs
                    logger.debug("%s: background checkpoint failed: %s", self.path, error)
                with self._settled:
                    self._running = False
                    self.checkpoints += 1
                    self._settled.notify_all()
        finally:
            with self._settled:
                self._running = False
                self._settled.notify_all()
            conn.close()
