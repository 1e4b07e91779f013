"""Opening a long conversation, as a user does: the seconds until its last event is on screen and the UI's memory.

``python -m bench.open_bench [--quick]``. A conversation of a first user message and N realistic events (the
socket benchmark's, :func:`bench.common.realistic_events`), then the agent settled. Each case runs the real app in a
fresh ``python -c`` child (headless ``App.run_test``, 120x40), timed from just before the child is spawned (so the
interpreter, the imports and the app's start are included) until the event log holds the conversation's last event
and one refresh has painted it; the child then reports its RSS (VmRSS) and its peak (VmHWM). Best of 2.

* ``ohtui -c ID``: the embedded server on the conversation's data directory (what a user runs on their machine);
* ``ohtui connect URL -c ID``: a server in another process (``bench/_server.py``), an empty mirror.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import REPO, Row, failed_row, fill_conversation, row, standalone_main

CONVERSATION = "long"

CHILD = r"""
import asyncio, json, sys
from pathlib import Path
from ohtui.tui.heap import start_up
with start_up():
    from ohtui.config import Settings
    from ohtui.server import ServerConfig
    from ohtui.tui.app import OhtuiApp, Target

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024

async def main(data, url, key, last, mirror):
    if url:
        app = OhtuiApp(Target(url=url, key=key, conversation_id="long"), Settings(), mirror_dir=Path(mirror))
    else:
        app = OhtuiApp(Target(conversation_id="long"), Settings(), server_config=ServerConfig(data_dir=Path(data)))
    async with app.run_test(size=(120, 40)) as pilot:
        await asyncio.wait_for(app.wait_until(lambda: app.event_log.latest_id >= last), 120)
        await pilot.pause()
        shown = app.event_log.latest_id
        print(json.dumps({"shown": shown, "rss_mb": status("VmRSS"), "hwm_mb": status("VmHWM")}), flush=True)
        await app.shutdown()

asyncio.run(main(*sys.argv[1:4], int(sys.argv[4]), sys.argv[5]))
"""


def _build(data: Path, count: int) -> int:
    """The conversation in ``data``'s database; returns its last id."""
    from ohtui.protocol import AgentState, AgentStateChangedObservation, EventSource, MessageAction
    from ohtui.store import Database

    db_path = data / "ohtui.db"
    with Database(db_path) as db:
        db.conversations.create(CONVERSATION, agent_name="echo")
        db.events(CONVERSATION).append(MessageAction(content="Make the parser tests pass."), EventSource.USER)
    fill_conversation(db_path, CONVERSATION, count)
    with Database(db_path) as db:
        settled = AgentStateChangedObservation(agent_state=AgentState.AWAITING_USER_INPUT)
        return db.events(CONVERSATION).append(settled, EventSource.ENVIRONMENT).id or 0


def _open(data: Path, last: int, url: str = "", key: str = "", mirror: Path | None = None) -> dict[str, Any]:
    start = time.time()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(data), url, key, str(last), str(mirror or "")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        check=False,
    )
    seconds = time.time() - start
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"the app did not open the conversation: {done.stderr[-500:]}")
    return {**json.loads(lines[-1]), "seconds": seconds}


def _remote(data: Path, last: int, work: Path) -> list[dict[str, Any]]:
    server = subprocess.Popen(
        [sys.executable, "-m", "bench._server", str(data)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert server.stdout is not None
        started = json.loads(server.stdout.readline())
        return [_open(data, last, started["url"], started["key"], work / f"mirror-{n}") for n in range(2)]
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=60)


def _rows(label: str, runs: list[dict[str, Any]], count: int, seconds_target: float, rss_target: float) -> list[Row]:
    best = min(runs, key=lambda run: run["seconds"])
    note = f"best of {len(runs)}; {count:,} events; headless run_test 120x40; from spawning the process"
    return [
        row(f"{label}: last event on screen", best["seconds"], "s", at_most=seconds_target, note=note),
        row(f"{label}: UI process RSS with the whole conversation in its log", best["rss_mb"], "MB",
            at_most=rss_target, note=f"VmRSS when the last event is shown; peak {best['hwm_mb']:.0f} MB"),
    ]  # fmt: skip


def run(quick: bool = False) -> list[Row]:
    count = 10_000 if quick else 100_000
    with tempfile.TemporaryDirectory(prefix="ohtui-open-bench-") as scratch:
        work = Path(scratch)
        data = work / "data"
        data.mkdir()
        last = _build(data, count)
        rows: list[Row] = []
        try:
            local = [_open(data, last) for _ in range(2)]
            rows += _rows(f"ohtui -c ID, {count:,} events, embedded server", local, count, 1.5, 150.0)
        except Exception as error:  # a benchmark reports, it never fails
            rows.append(failed_row("ohtui -c ID", error))
        try:
            remote = _remote(data, last, work)
            rows += _rows(f"ohtui connect, {count:,} events, empty mirror", remote, count, 2.0, 120.0)
        except Exception as error:
            rows.append(failed_row("ohtui connect", error))
        return rows


def main(argv: list[str] | None = None) -> int:
    return standalone_main("open", __doc__, run, "10,000 events instead of 100,000", argv)


if __name__ == "__main__":
    sys.exit(main())
