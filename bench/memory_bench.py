"""Memory: a server holding 10 conversations of 100,000 stored events each, and a client following one.

``python -m bench.memory_bench [--quick]`` (``--quick``: 3 conversations of 10,000). The conversations are written
straight into a store; then a server (``bench._server``, a child process) starts on it, a client connects once to
each conversation (the batched replay, to the last event) and leaves. Figures:

* the server's RSS growth per stored event once every conversation has been started and connected to once, with
  nobody connected any more (target ≤ 1 KB per event), and after it closes those conversations;
* where that memory is: tracemalloc of one conversation's :class:`~ohtui.agent.controller.AgentController` start-up
  (in this process), which reads the whole history into ``_history``;
* ohtui's client (``bench._client``, a child process) following one conversation into its local store: RSS growth.

The TUI's share (parsed events plus the event log) is measured by ``bench.tui_bench``; the runner repeats it here.
"""

from __future__ import annotations

import asyncio
import gc
import json
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from bench.common import REPO, Row, failed_row, realistic_events, row, server_process, standalone_main
from bench.socket_bench import _count_all

KB = 1024


def _build(db_path: Path, conversations: int, size: int) -> list[str]:
    """The first conversation through ``append_many`` (1,000 per call), the others copies of it (same events, their
    own rows) through ``create_with_events``, which is much faster than appending again."""
    from ohtui.protocol import EventSource
    from ohtui.store import Database

    ids = [f"mem-{n}" for n in range(conversations)]
    with Database(db_path) as db:
        store = db.events(ids[0])
        stored = []
        for start in range(0, size, 1000):
            stored += store.append_many(realistic_events(min(1000, size - start), start), EventSource.AGENT)
        for conversation_id in ids[1:]:
            db.conversations.create_with_events(stored, conversation_id)
    return ids


def _latest(db_path: Path, conversation_id: str) -> int:
    from ohtui.store import Database

    with Database(db_path) as db:
        return db.events(conversation_id).latest_id() + 1


async def _controller_trace(db_path: Path, conversation_id: str) -> tuple[float, int, list[str]]:
    """Bytes retained per stored event by starting one conversation's agent controller, the number of stored events,
    and the top allocation sites (tracemalloc, this process)."""
    from ohtui.agent.controller import AgentController
    from ohtui.agent.echo import EchoAgent
    from ohtui.store import Database

    with Database(db_path) as db:
        store = db.events(conversation_id)
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot()
            controller = AgentController(store, EchoAgent())
            await controller.start()
            gc.collect()
            after = tracemalloc.take_snapshot()
            held = store.count()
            stats = after.compare_to(before, "lineno")
            grown = sum(stat.size_diff for stat in stats)
            top = [
                f"{stat.size_diff / 2**20:.1f} MB {Path(stat.traceback[0].filename).name}:{stat.traceback[0].lineno}"
                for stat in stats[:4]
            ]
        finally:
            tracemalloc.stop()
        await controller.close()
    return grown / max(held, 1), held, top


async def _client(url: str, key: str, conversation_id: str, expect: int, mirror: Path) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench._client", url, key, conversation_id, str(expect), str(mirror),
        cwd=REPO, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), 900)
    if process.returncode != 0:
        raise RuntimeError(f"bench._client exited with status {process.returncode}")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


async def _measure(work: Path, quick: bool) -> list[Row]:
    conversations, size = (3, 10_000) if quick else (10, 100_000)
    db_path = work / "server" / "ohtui.db"
    began = time.perf_counter()
    ids = await asyncio.to_thread(_build, db_path, conversations, size)
    built = time.perf_counter() - began
    total = conversations * size
    label = f"{conversations} x {size:,}"
    rows: list[Row] = []
    async with server_process(work / "server") as server:
        idle = (await server.ask("memory"))["rss_mb"]
        for conversation_id in ids:
            # Connected once, asking only for what is newer than the stored history: the conversation starts (its
            # controller loads) without the cost of sending 100,000 events to nobody in particular.
            await _count_all(server, conversation_id, first_within=1.0, ohtui_batch=1, latest_event_id=size - 1)
        received = await asyncio.to_thread(_latest, db_path, ids[0])
        viewed = await server.ask("memory")
        live = (await server.ask("live"))["live"]
        await server.ask("close_all")
        closed = (await server.ask("memory"))["rss_mb"]
        per_event = (viewed["rss_mb"] - idle) * 2**20 / total
        rows.append(row(f"server memory per stored event, {label} events, nobody viewing", per_event / KB, "KB",
                        at_most=1.0, note=f"RSS {idle:.0f} MB started, {viewed['rss_mb']:.0f} MB after one connect "
                        f"to each conversation (latest_event_id = its last id: it starts, nothing to replay; peak "
                        f"{viewed['hwm_mb']:.0f} MB); {len(live)} conversations live; store built in "
                        f"{built:.0f} s"))  # fmt: skip
        rows.append(row("same, after the server closes those conversations", (closed - idle) * 2**20 / total / KB,
                        "KB", note=f"RSS {closed:.0f} MB (freed memory that RSS keeps is counted)"))  # fmt: skip
        try:
            client = await _client(server.url, server.key, ids[0], received, work / "mirror.db")
            grown = client["rss_end_mb"] - client["rss_start_mb"]
            rows.append(row(f"ohtui's client following one {size:,}-event conversation", grown, "MB",
                            note=f"RSS growth of a client process (Connection + SQLite mirror) once its mirror holds "
                            f"all {received:,} events ({client['seconds']:.1f} s); peak RSS {client['hwm_mb']:.0f} MB, "
                            f"{client['rss_start_mb']:.0f} MB after imports"))  # fmt: skip
        except Exception as error:
            rows.append(failed_row("client following one conversation", error))
    try:
        per_held, held_one, top = await _controller_trace(db_path, ids[1])
        rows.append(row("agent controller: memory kept per stored event (tracemalloc)", per_held / KB, "KB",
                        note=f"AgentController.start() on a {held_one:,}-event conversation (it keeps no history: "
                        f"agents read the store); top sites: {'; '.join(top)}"))  # fmt: skip
    except Exception as error:
        rows.append(failed_row("controller history", error))
    return rows


def run(quick: bool = False) -> list[Row]:
    work = Path(tempfile.mkdtemp(prefix="ohtui-bench-memory-"))
    try:
        return asyncio.run(_measure(work, quick))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    return standalone_main("memory", __doc__, run, "3 conversations of 10,000 events", argv)


if __name__ == "__main__":
    raise SystemExit(main())
