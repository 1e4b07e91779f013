"""Socket.IO figures: replay of a long stored conversation to a fresh client, echo latency, and backpressure.

``python -m bench.socket_bench [--quick]``. A conversation of 100,000 realistic events (20,000 with ``--quick``) is
written straight into a store, then an :class:`~ohtui.server.OhtuiServer` serves it from a child process
(``bench._server``; the clients run here, so each side has a core). Figures:

* replay to a fresh client, to the last event received: (a) a stock V0 client (plain python-socketio, one
  ``oh_event`` per event, as upstream replays), (b) the same client asking for ohtui's batched extension
  (``ohtui_batch=1``: ``oh_events`` frames of many events), (c) ohtui's own client
  (:class:`~ohtui.client.connection.Connection`) into a local store, until the mirror holds every event;
* echo latency: user messages sent at 500/s on a fixed schedule (not waiting for answers) to the echo agent, from
  each message's scheduled send time to the arrival of the server's echo of it (the stored user event);
* backpressure: a raw websocket client that completes the Engine.IO/Socket.IO handshake by hand and then reads
  nothing while the history replays: how much the server process grows (RSS) while it cannot send.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import aiohttp
import socketio

from bench.common import (
    Row,
    ServerProcess,
    best_cpu_rate,
    failed_row,
    fill_conversation,
    ohtui_mirror,
    percentile,
    row,
    server_process,
    socket_url,
    standalone_main,
    timed_row_inserts,
)

if TYPE_CHECKING:
    from ohtui.server.conversations import Conversation, ConversationManager

CONNECT_WAIT = 300.0
STOCK_DEADLINE = 75.0


class _Counter:
    """A plain python-socketio client that counts the events it receives (``oh_event`` or ``oh_events`` lists)."""

    def __init__(self, expect: int | None = None) -> None:
        self.sio = socketio.AsyncClient(reconnection=False, handle_sigint=False)
        self.events = 0
        self.frames = 0
        self.expect = expect
        self.done = asyncio.Event()
        self.first = asyncio.Event()
        self.last_at = time.perf_counter()
        self.sio.on("oh_event", self._one)
        self.sio.on("oh_events", self._many)

    def _one(self, data: Any) -> None:
        self._add(1)

    def _many(self, data: Any) -> None:
        self._add(len(data) if isinstance(data, list) else 1)

    def _add(self, count: int) -> None:
        self.frames += 1
        self.events += count
        self.last_at = time.perf_counter()
        self.first.set()
        if self.expect is not None and self.events >= self.expect:
            self.done.set()

    async def connect(self, url: str) -> None:
        await self.sio.connect(url, transports=["websocket"], socketio_path="socket.io", wait_timeout=CONNECT_WAIT)

    async def quiet(self, seconds: float = 0.5, first_within: float = 60.0) -> None:
        """Wait for the first event (history follows the connect acknowledgement; none may come within
        ``first_within`` seconds when there is nothing to replay), then until nothing has arrived for ``seconds``."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.first.wait(), first_within)
        while True:
            left = seconds - (time.perf_counter() - self.last_at)
            if left <= 0:
                return
            await asyncio.sleep(min(left, 0.05))

    async def close(self) -> None:
        await self.sio.shutdown()


async def _count_all(server: ServerProcess, cid: str, first_within: float = 60.0, **extra: Any) -> int:
    """How many events a client of this kind receives for the whole history (connect, then wait for silence)."""
    client = _Counter()
    try:
        await client.connect(socket_url(server.url, cid, server.key, **extra))
        await client.quiet(first_within=first_within)
        return client.events
    finally:
        await client.close()


async def _replay_plain(server: ServerProcess, cid: str, expect: int, **extra: Any) -> tuple[float, int]:
    """Seconds from connecting to the ``expect``-th event received, and the number of frames it took."""
    client = _Counter(expect)
    try:
        started = time.perf_counter()
        await client.connect(socket_url(server.url, cid, server.key, **extra))
        await asyncio.wait_for(client.done.wait(), CONNECT_WAIT)
        return time.perf_counter() - started, client.frames
    finally:
        await client.close()


async def _replay_until(
    server: ServerProcess, cid: str, expect: int, deadline: float, **extra: Any
) -> tuple[float, int, bool]:
    """Like :func:`_replay_plain` but gives up after ``deadline`` seconds (the connection may be dropped midway):
    seconds to the last event received, how many arrived, and whether that was all of them."""
    client = _Counter(expect)
    started = time.perf_counter()
    connecting = asyncio.create_task(client.connect(socket_url(server.url, cid, server.key, **extra)))
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(client.done.wait(), deadline)
        return client.last_at - started, client.events, client.done.is_set()
    finally:
        connecting.cancel()
        await asyncio.gather(connecting, return_exceptions=True)
        await client.close()


async def _replay_ohtui(server: ServerProcess, cid: str, expect: int, mirror: Path) -> float:
    """Seconds from starting ohtui's client until its local store holds ``expect`` events."""
    async with ohtui_mirror(server.url, server.key, cid, expect, mirror, CONNECT_WAIT) as seconds:
        return seconds


async def _replay_app(server: ServerProcess, cid: str, last_id: int, mirror_dir: Path) -> float:
    """Seconds from creating ohtui's app (headless, 120x40, connecting to ``server``) until its event log holds the
    conversation's last event: the client's intake, the log's ingest and the screen's repaints together."""
    from ohtui.config import Settings
    from ohtui.tui.app import OhtuiApp, Target

    started = time.perf_counter()
    app = OhtuiApp(Target(url=server.url, key=server.key, conversation_id=cid), Settings(), mirror_dir=mirror_dir)
    async with app.run_test(size=(120, 40)):
        async with asyncio.timeout(CONNECT_WAIT):
            await app.wait_until(lambda: app.event_log.latest_id >= last_id)
        return time.perf_counter() - started


def _latest_id(db_path: Path, cid: str) -> int:
    from ohtui.store import Database

    with Database(db_path) as db:
        return db.events(cid).latest_id()


class _ClientFloor(NamedTuple):
    events: int
    parse_s: float
    store_s: float


def _client_floor(db_path: Path, cid: str, work: Path) -> _ClientFloor:
    """The two steps ohtui's client must take for every event it is sent, each alone at its best (best of 3): reading
    its envelope from its JSON (``EventRecord.from_json``, each record dropped after it; CPU time; the body is parsed
    when the UI uses it), and SQLite inserting its row, already built, into a fresh mirror in transactions of one
    replay batch (wall time, as the store bench's floor)."""
    from ohtui.protocol.record import EventRecord
    from ohtui.server.replay import BATCH_BYTES
    from ohtui.store import Database
    from ohtui.store.schema import ID_BITS, MAX_EVENT_ID

    with sqlite3.connect(db_path) as conn:
        (pk,) = conn.execute("SELECT pk FROM conversations WHERE conversation_id = ?", (cid,)).fetchone()
        low = pk << ID_BITS
        columns = "key, kind, is_action, source, timestamp, hidden, cause, json"
        span = (low, low + MAX_EVENT_ID)
        rows = conn.execute(f"SELECT {columns} FROM events WHERE key BETWEEN ? AND ? ORDER BY key", span).fetchall()
    texts = [row[-1] for row in rows]
    per_batch = max(1, BATCH_BYTES * len(rows) // max(1, sum(map(len, texts))))

    def parse_all() -> None:
        for text in texts:
            EventRecord.from_json(text)

    def store_all(attempt: int) -> float:
        with Database(work / f"floor-{attempt}.db") as db:
            db.conversations.create(cid)  # key 1, as in the mirrors
            shift = (1 << ID_BITS) - low
            keyed = [(key + shift, *rest) for key, *rest in rows]
            parts = [keyed[start : start + per_batch] for start in range(0, len(keyed), per_batch)]
            return timed_row_inserts(db, parts)

    parse_s = len(texts) / best_cpu_rate(len(texts), parse_all, 3)
    return _ClientFloor(len(texts), parse_s, min(store_all(attempt) for attempt in range(3)))


def _stock_count(db_path: Path, cid: str) -> int:
    """How many frames a stock client's replay has (§1.2): Null*/RecallAction skipped, agent_state_changed held
    back and only the last one sent."""
    from ohtui.protocol import AgentStateChangedObservation
    from ohtui.server.forwarding import skipped_on_replay
    from ohtui.store import Database

    count, states = 0, 0
    with Database(db_path) as db:
        for event in db.events(cid).search():
            if isinstance(event, AgentStateChangedObservation):
                states = 1
            elif not skipped_on_replay(event):
                count += 1
    return count + states


async def _replays(server: ServerProcess, cid: str, work: Path, count: int, quick: bool) -> list[Row]:
    # The first connection starts the conversation (the controller reads its last state): not part of a replay.
    cold = time.perf_counter()
    total = await _count_all(server, cid, ohtui_batch=1)
    cold_s = time.perf_counter() - cold
    stock_expect = await asyncio.to_thread(_stock_count, work / "server" / "ohtui.db", cid)
    tries = 2
    batched = [await _replay_plain(server, cid, total, ohtui_batch=1) for _ in range(tries)]
    ours = [await _replay_ohtui(server, cid, total, work / f"mirror-{n}.db") for n in range(tries)]
    last_id = await asyncio.to_thread(_latest_id, work / "server" / "ohtui.db", cid)
    floor = await asyncio.to_thread(_client_floor, work / "server" / "ohtui.db", cid, work)
    in_app = [await _replay_app(server, cid, last_id, work / f"app-mirror-{n}") for n in range(tries)]
    # Last: a stock replay of a long history may be cut off midway, and the server finishes sending it to nobody.
    stock_at, stock_got, stock_complete = await _replay_until(server, cid, stock_expect, STOCK_DEADLINE)
    stock_rate = stock_got / stock_at if stock_at > 0 else 0.0
    stock_s = stock_at if stock_complete else stock_expect / stock_rate
    if not stock_complete:
        await asyncio.sleep(10)
    batched_s, batched_frames = min(batched)
    ours_s = min(ours)
    label = f"{count:,}"
    note = f"best of {tries}; wall clock"
    return [
        row(f"replay {label} events, stock client (per-event oh_event)", stock_s, "s",
            note=f"{stock_rate:,.0f} events/s, {stock_expect:,} frames (§1.2 skips some); one run; wall clock"
            + ("" if stock_complete else f"; **extrapolated: the connection was dropped after {stock_got:,} events "
               f"at {stock_at:.0f} s** (the replay runs inside the connect handler, which keeps the server from "
               "reading the client's pong: Engine.IO's ping timeout, 25 + 20 s, closes it)")),
        row(f"replay {label} events, batched extension (ohtui_batch=1)", batched_s, "s",
            note=f"{total / batched_s:,.0f} events/s in {batched_frames:,} oh_events frames; {note}",
            baseline=stock_s, better="lower"),
        row(f"replay {label} events to ohtui's client into its store", ours_s, "s", at_most=1.5 if count >= 100_000
            else None, note=f"{total / ours_s:,.0f} events/s, Connection + SQLite mirror; {note}; baseline = the "
            f"stock per-event replay (a)", baseline=stock_s, better="lower"),
        row("ohtui's client vs the stock per-event replay", stock_s / ours_s, "x", at_least=5.0,
            note="(a) time / (c) time"),
        row(f"floor for (c): reading the {floor.events:,} served events' envelopes alone (EventRecord.from_json)",
            floor.parse_s, "s",
            note="CPU time, best of 3, no socket and no store"),
        row("floor for (c): SQLite inserting their rows, already built, into a mirror", floor.store_s, "s",
            note=f"best of 3; one transaction per replay batch; with the parse, {floor.parse_s + floor.store_s:.2f} s: "
            f"a client that reads and stores what it is sent cannot beat the stock replay by more than "
            f"{stock_s / (floor.parse_s + floor.store_s):.1f}x in this run (10x leaves "
            f"{stock_s / 10 / floor.events * 1e6:.1f} us per event; these two steps take "
            f"{(floor.parse_s + floor.store_s) / floor.events * 1e6:.1f}), before the socket"),
        row(f"replay {label} events into the app, shown in its event log", min(in_app), "s",
            note=f"OhtuiApp headless (run_test, 120x40) on an empty mirror, from creating it until the log holds the "
            f"last event: intake, log ingest and repaints; {note}"),
        row(f"first connect to the idle {label}-event conversation (starts it)", cold_s, "s",
            note="batched client, whole history; includes starting it (its controller reads the last state)"),
    ]  # fmt: skip


async def _echo_latency(server: ServerProcess, seconds: float, rate: float = 500.0, drain: float = 10.0) -> list[Row]:
    """Messages at ``rate``/s on a fixed schedule; latency from each one's scheduled time to its echo's arrival.

    Echoes still missing ``drain`` seconds after the last send count as infinitely late (the server is behind)."""
    cid = f"echo-{uuid.uuid4().hex[:8]}"
    marker = f"bench-{uuid.uuid4().hex[:6]}"
    scheduled: dict[str, float] = {}
    sent_at: dict[str, float] = {}
    latencies: list[float] = []
    from_send: list[float] = []
    arrivals: list[float] = []
    total = int(seconds * rate)
    all_back = asyncio.Event()
    sio = socketio.AsyncClient(reconnection=False, handle_sigint=False)

    def on_event(data: Any) -> None:
        now = time.perf_counter()
        if not isinstance(data, dict) or data.get("source") != "user" or data.get("action") != "message":
            return
        content = data.get("args", {}).get("content", "")
        if content in scheduled:
            latencies.append(now - scheduled.pop(content))
            from_send.append(now - sent_at.pop(content))
            arrivals.append(now)
            if len(latencies) >= total:
                all_back.set()

    sio.on("oh_event", on_event)
    await sio.connect(socket_url(server.url, cid, server.key), transports=["websocket"], socketio_path="socket.io",
                      wait_timeout=30)  # fmt: skip
    try:
        await asyncio.sleep(0.5)  # let the new conversation settle (its start-up events)
        started = time.perf_counter()
        worst_lag = 0.0
        for n in range(total):
            due = started + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            worst_lag = max(worst_lag, time.perf_counter() - due)
            content = f"{marker} {n}"
            scheduled[content] = due
            sent_at[content] = time.perf_counter()
            args = {"content": content, "image_urls": [], "file_urls": []}
            await sio.emit("oh_user_action", {"action": "message", "args": args})
        sending = time.perf_counter() - started
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_back.wait(), drain)
    finally:
        await sio.shutdown()
    missing = total - len(latencies)
    if not latencies:
        return [row("echo latency at 500 messages/s", None, "ms", note=f"no echo arrived within {drain:g} s")]
    ms = [value * 1000 for value in latencies] + [float("inf")] * missing
    sent_ms = [value * 1000 for value in from_send] + [float("inf")] * missing
    echoed = len(arrivals) / max(arrivals[-1] - started, 1e-9)

    def shown(value: float) -> str:
        return f"> {drain * 1000:,.0f}" if value == float("inf") else f"{value:,.1f}"

    p50, p99 = percentile(ms, 0.50), percentile(ms, 0.99)
    behind = f"; **{missing:,} echoes had not arrived {drain:g} s after the last send**" if missing else ""
    note = (f"{total:,} messages over {sending:.1f} s ({total / sending:,.0f}/s sent, worst send lag "
            f"{worst_lag * 1000:.0f} ms), echo agent, fresh conversation, stock client; from each message's scheduled "
            f"send time; echoes arrived at {echoed:,.0f}/s{behind}")  # fmt: skip
    return [
        row("echo latency p50 at 500 messages/s", p50 if p50 != float("inf") else None, "ms",
            note=f"p50 {shown(p50)} ms; {note}"),
        row("echo latency p99 at 500 messages/s", p99 if p99 != float("inf") else None, "ms", at_most=20.0,
            note=f"p99 {shown(p99)} ms, max {shown(max(ms))} ms; from the actual send instead: p50 "
            f"{shown(percentile(sent_ms, 0.5))}, p99 {shown(percentile(sent_ms, 0.99))} ms"),
    ]  # fmt: skip


async def _echo_cpu(manager: ConversationManager, conversation: Conversation, n: int) -> float:
    """CPU seconds for one user message: stored, answered by the echo agent, and everything it stored sent."""
    from ohtui.protocol import AgentState, MessageAction, MessageArgs

    started = time.process_time()
    await manager.submit(conversation.conversation_id, MessageAction(args=MessageArgs(content=f"hello {n}")))
    await conversation.controller.wait_for_state(AgentState.AWAITING_USER_INPUT, timeout=60)
    await manager.flush(conversation)
    return time.process_time() - started


async def _message_cost(db_path: Path, cid: str, count: int, quick: bool) -> list[Row]:
    """Server CPU per user message answered by the echo agent, in-process (no sockets): a fresh conversation and
    the long one. What limits the echo rate, and how it grows with the conversation."""
    from ohtui.server.conversations import ConversationManager
    from ohtui.store import Database

    async def emit(name: str, payload: object, sids: list[str]) -> None:
        return None

    rows: list[Row] = []
    with Database(db_path) as db:
        manager = ConversationManager(db, emit, members=lambda room: [])
        try:
            for conversation_id, messages in ((f"fresh-{uuid.uuid4().hex[:6]}", 200 if quick else 500), (cid, 100)):
                conversation = await manager.ensure_running(conversation_id)
                controller = conversation.controller
                stored = controller.events.latest_id() + 1
                first_ms = await _echo_cpu(manager, conversation, 0) * 1000
                cpu_ms = sum([await _echo_cpu(manager, conversation, n) for n in range(1, messages + 1)])
                cpu_ms = cpu_ms / messages * 1000
                grown = controller.events.latest_id() + 1 - stored
                size = "a fresh conversation" if conversation_id != cid else f"the {count:,}-event conversation"
                rows.append(row(f"server CPU per echoed user message, {size}", cpu_ms, "ms",
                                note=f"{messages} messages in a row after a first one ({grown:,} events stored, "
                                f"from {stored:,}); the first one after the start took {first_ms:.1f} ms (one-time "
                                "lookups, such as the conversation's first user message); controller + store, no "
                                "sockets; 500 messages/s needs < 2 ms"))  # fmt: skip
        finally:
            await manager.close_all()
    return rows


async def _stalled_client(server: ServerProcess, cid: str, seconds: float, batched: bool) -> tuple[float, float, int]:
    """A raw websocket that completes the handshake and then reads nothing. Returns the server's RSS growth (peak
    and after garbage collection, MB) during ``seconds``, and how many bytes the client had received by then."""
    before = (await server.ask("memory"))["rss_mb"]
    query = socket_url("", cid, server.key, EIO=4, transport="websocket", **({"ohtui_batch": 1} if batched else {}))
    url = f"{server.url.replace('http', 'ws', 1)}/socket.io/{query}"
    peak = before
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url, max_msg_size=0, autoping=False) as ws:
            opened = await ws.receive(timeout=10)
            if not str(opened.data).startswith("0{"):
                raise RuntimeError(f"unexpected Engine.IO open packet: {opened.data!r:.80}")
            await ws.send_str("40")  # Socket.IO CONNECT to "/": the server now replays, and we read nothing more
            until = time.perf_counter() + seconds
            while time.perf_counter() < until:
                peak = max(peak, server.rss_mb())
                await asyncio.sleep(0.05)
            after = (await server.ask("memory"))["rss_mb"]
            buffered = _buffered_bytes(ws)
    return peak - before, after - before, buffered


def _buffered_bytes(ws: aiohttp.ClientWebSocketResponse) -> int:
    """What aiohttp's reader holds for the client (it stops reading the socket past a small limit)."""
    reader = getattr(ws, "_reader", None)
    size = getattr(reader, "_size", None)
    return int(size) if isinstance(size, int) else -1


async def _backpressure(server: ServerProcess, cid: str, seconds: float, history_mb: float) -> list[Row]:
    rows = []
    for batched in (False, True):
        peak, settled, buffered = await _stalled_client(server, cid, seconds, batched)
        kind = "batched (ohtui_batch=1)" if batched else "stock (per-event)"
        rows.append(row(f"server growth while a {kind} client reads nothing", peak, "MB",
                        note=f"peak RSS over {seconds:g} s of replay to a stalled raw websocket (the history is "
                        f"{history_mb:.0f} MB as JSON); {settled:+.1f} MB after gc; client-side buffer "
                        f"{buffered / 1024:.0f} KiB; kernel socket buffers hold more, outside both "
                        "processes"))  # fmt: skip
    return rows


async def _measure(work: Path, quick: bool) -> list[Row]:
    count = 20_000 if quick else 100_000
    cid = f"replay-{count}"
    db_path = work / "server" / "ohtui.db"
    await asyncio.to_thread(fill_conversation, db_path, cid, count)
    history_mb = db_path.stat().st_size / 2**20
    rows: list[Row] = []

    async def attempt(name: str, part: Any) -> None:
        nonlocal rows
        try:
            rows += await part()
        except Exception as error:
            rows.append(failed_row(name, error))

    async with server_process(work / "server") as server:
        await attempt("replay", lambda: _replays(server, cid, work, count, quick))
        await attempt("backpressure", lambda: _backpressure(server, cid, 3.0 if quick else 6.0, history_mb))
    # A server of its own: a saturated echo leaves a backlog that would disturb the figures above.
    async with server_process(work / "echo") as server:
        await attempt("echo latency", lambda: _echo_latency(server, 3.0 if quick else 10.0))
    await attempt("cost per message", lambda: _message_cost(db_path, cid, count, quick))
    return rows


def run(quick: bool = False) -> list[Row]:
    work = Path(tempfile.mkdtemp(prefix="ohtui-bench-socket-"))
    try:
        return asyncio.run(_measure(work, quick))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    return standalone_main("socket", __doc__, run, "20,000 events, shorter runs", argv)


if __name__ == "__main__":
    raise SystemExit(main())
