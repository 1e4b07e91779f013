"""A child process for the store tests, run as ``python tests/store_child.py MODE DB``.

``append``: append to conversation ``killme`` forever (single appends and small batches), printing each id the store
returned, one per line and flushed, so the parent knows which appends had returned when it killed us.
``fork``: the same, minus interpreter start-up: on each line ``fork`` on stdin, fork a worker that prints
``pid N`` and then appends as above; when the parent has SIGKILLed it, print ``reaped STATUS`` (after everything the
worker wrote, since the worker is dead by then).
``lock``: take SQLite's write lock (``BEGIN IMMEDIATE``), print ``locked``, hold it until a line arrives on stdin.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ohtui.protocol import CmdOutputObservation, CmdRunAction, EventSource
from ohtui.store import Database

CONVERSATION = "killme"


def append_forever(path: str) -> None:
    out = sys.stdout
    with Database(path) as db:
        store = db.events(CONVERSATION)
        turn = 0
        while True:
            turn += 1
            if turn % 4 == 0:
                batch = [CmdOutputObservation(content=f"out {turn} {n}", command="ls") for n in range(turn % 7 + 1)]
                ids = [event.id for event in store.append_many(batch, EventSource.ENVIRONMENT)]
            else:
                ids = [store.append(CmdRunAction(command=f"echo {turn}"), EventSource.AGENT).id]
            out.write("".join(f"{event_id}\n" for event_id in ids))
            out.flush()


def fork_workers(path: str) -> None:
    for command in sys.stdin:
        if command.strip() != "fork":
            break
        pid = os.fork()
        if pid == 0:
            try:
                sys.stdout.write(f"pid {os.getpid()}\n")
                sys.stdout.flush()
                append_forever(path)
            finally:
                os._exit(1)
        _, status = os.waitpid(pid, 0)
        sys.stdout.write(f"reaped {os.waitstatus_to_exitcode(status)}\n")
        sys.stdout.flush()


def hold_lock(path: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    print("locked", flush=True)
    sys.stdin.readline()
    conn.execute("ROLLBACK")
    conn.close()


if __name__ == "__main__":
    mode, database = sys.argv[1], sys.argv[2]
    {"append": append_forever, "fork": fork_workers, "lock": hold_lock}[mode](database)
