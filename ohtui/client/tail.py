"""``ohtui tail``: follow one conversation's stream on stdout, the connection's state on stderr.

The simplest end-to-end use of :class:`Connection`: a throwaway local store, one line per stored event (in the
order they reach the store), across reconnects and server restarts, until interrupted.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

from ohtui.client.backoff import BackoffPolicy
from ohtui.client.connection import Connection
from ohtui.client.status import ConnectionChanged, ConnectionState
from ohtui.protocol import ErrorFrame, Event, StatusUpdate
from ohtui.protocol.record import EventRecord
from ohtui.protocol.summary import clock_time, kind_label, summary
from ohtui.store import Database

EXIT_REFUSED = 3
EXIT_OFFLINE = 4


def format_line(event: Event) -> str:
    source = event.source.value if event.source is not None else "-"
    return f"{event.id:>6} {clock_time(event)} {source:<11} {kind_label(event):<10} {summary(event)}"


def format_state(change: ConnectionChanged) -> str:
    state = change.state
    if state is ConnectionState.RECONNECTING and change.next_retry_in is not None:
        text = f"reconnecting in {change.next_retry_in:.1f} s (attempt {change.attempt})"
    elif state is ConnectionState.CONNECTED:
        text = f"connected to {change.url} (conversation {change.conversation_id})"
    else:
        text = state.value
    if change.last_error and state is not ConnectionState.CONNECTED:
        text += f": {change.last_error}"
    return f"[{time.strftime('%H:%M:%S')}] {text}"


class _Printer:
    """What tail prints: events on ``out``, the connection's news on ``err``; a refusal or giving up ends the run."""

    def __init__(self, out: TextIO, err: TextIO, *, as_json: bool) -> None:
        self._out = out
        self._err = err
        self._as_json = as_json
        self._last_shown: tuple[object, ...] | None = None
        self.code = 0
        self.finished = asyncio.Event()

    def on_change(self, change: ConnectionChanged) -> None:
        shown = (change.state, change.attempt, change.last_error)
        if shown == self._last_shown:
            return  # a refresh of the counters, not news
        self._last_shown = shown
        print(format_state(change), file=self._err, flush=True)
        if change.state is ConnectionState.REFUSED:
            self._end(EXIT_REFUSED)
        elif change.state is ConnectionState.OFFLINE:
            self._end(EXIT_OFFLINE)

    def on_event(self, record: EventRecord) -> None:
        """``--json`` prints the event's JSON as stored, as the server sent it; else a line read from its model."""
        line = record.json if self._as_json else format_line(record.event)
        print(line, file=self._out, flush=True)

    def on_status(self, status: StatusUpdate) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] status {status.type} {status.id or ''} {status.message}", file=self._err)

    def on_error(self, frame: ErrorFrame) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] server error: {frame.message}", file=self._err, flush=True)

    def _end(self, code: int) -> None:
        self.code = code
        self.finished.set()


async def tail(
    url: str,
    conversation_id: str,
    *,
    key: str | None = None,
    as_json: bool = False,
    backoff: BackoffPolicy | None = None,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Run until SIGINT/SIGTERM (exit 0), a refusal (exit 3) or giving up (exit 4)."""
    printer = _Printer(out, err, as_json=as_json)
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory(prefix="ohtui-tail-") as scratch:
        db = Database(Path(scratch) / "mirror.db")
        store = db.events(conversation_id)
        store.subscribe("tail", printer.on_event)
        connection = Connection(
            url,
            conversation_id,
            store,
            key=key,
            backoff=backoff,
            on_change=printer.on_change,
            on_status=printer.on_status,
            on_error=printer.on_error,
        )
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, printer.finished.set)
        try:
            await connection.start()
            await printer.finished.wait()
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
            await connection.close()
            db.close()
    return printer.code
