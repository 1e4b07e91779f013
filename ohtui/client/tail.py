"""``ohtui tail``: follow one conversation's stream on stdout, the connection's state on stderr.

The simplest end-to-end use of :class:`Connection`: a throwaway local store, one line per stored event (in the
order they reach the store), across reconnects and server restarts, until interrupted.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

from ohtui.client.backoff import BackoffPolicy
from ohtui.client.connection import Connection
from ohtui.client.status import ConnectionChanged, ConnectionState
from ohtui.protocol import ErrorFrame, Event, StatusUpdate, event_to_dict
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
    finished = asyncio.Event()
    outcome = {"code": 0}
    last_shown: list[tuple[object, ...]] = []

    def on_change(change: ConnectionChanged) -> None:
        shown = (change.state, change.attempt, change.last_error)
        if last_shown and last_shown[-1] == shown:
            return  # a refresh of the counters, not news
        last_shown[:] = [shown]
        print(format_state(change), file=err, flush=True)
        if change.state is ConnectionState.REFUSED:
            outcome["code"] = EXIT_REFUSED
            finished.set()
        elif change.state is ConnectionState.OFFLINE:
            outcome["code"] = EXIT_OFFLINE
            finished.set()

    def on_event(event: Event) -> None:
        line = json.dumps(event_to_dict(event), ensure_ascii=False) if as_json else format_line(event)
        print(line, file=out, flush=True)

    def on_status(status: StatusUpdate) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] status {status.type} {status.id or ''} {status.message}", file=err)

    def on_error(frame: ErrorFrame) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] server error: {frame.message}", file=err, flush=True)

    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory(prefix="ohtui-tail-") as scratch:
        db = Database(Path(scratch) / "mirror.db")
        store = db.events(conversation_id)
        store.subscribe("tail", on_event)
        connection = Connection(
            url,
            conversation_id,
            store,
            key=key,
            backoff=backoff,
            on_change=on_change,
            on_status=on_status,
            on_error=on_error,
        )
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, finished.set)
        try:
            await connection.start()
            await finished.wait()
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
            await connection.close()
            db.close()
    return outcome["code"]
