"""The event log under load, headless (``App.run_test``): ingest, memory, key latency, big cells and search.

``python -m bench.tui_bench [--quick]`` prints a markdown table; :func:`run` returns the rows for an aggregating
runner. Figures:

* time to ingest 100,000 events into :class:`~ohtui.tui.widgets.EventLog` in one batch (a replay) and draw the
  first screen (target ≤ 2 s);
* peak RSS of the whole process with those events held (target ≤ 200 MB), the part the log itself adds, and the
  log's own memory per row (tracemalloc);
* the time from a key press (cursor up or down) to the screen being updated while 5,000 events/s arrive, and with a
  3,000-line output or a 1 MB one expanded on screen (targets ≤ 50 ms, issue 18);
* a whole-log search: the time to its first matches on screen (target ≤ 100 ms), to its last match, and the longest
  a key waits meanwhile (target ≤ 50 ms); the next match (n) after new events;
* the garbage collector's pauses over the ingest and the stream (the longest one, and how many were full passes),
  and what one full pass costs once the log holds the conversation: a full pass walks every object it tracks.

The conversation is stored JSON, as the client's store holds it: a user message, an agent command and its output,
a file read and its content, an agent markdown reply, state changes. The log is given records read from that text
(their envelopes: the client's cost, paid beforehand) and reads what it shows through a loader over the texts (the
store, in memory here). On a tree whose log takes parsed models instead (before issue 18) the same figures are
measured with the models parsed beforehand, so one file measures before and after. Numbers depend on the machine;
nothing here asserts, and nothing here can fail a build.
"""

from __future__ import annotations

import asyncio
import bisect
import gc
import os
import resource
import statistics
import time
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any

from textual import events
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.strip import Strip

from bench.common import standalone_main
from ohtui.protocol import event_from_dict, event_to_json
from ohtui.tui.widgets import EventLog

Row = dict[str, Any]
TS = "2025-11-28T10:00:00.000000"


def _wire(event_id: int) -> dict[str, Any]:
    """The ``event_id``-th event of a plausible session, as a wire dict."""
    turn, step = divmod(event_id, 8)
    base = {"id": event_id, "timestamp": TS}
    if step == 0:
        return {
            **base,
            "source": "user",
            "message": "",
            "action": "message",
            "args": {"content": f"Please fix failing test number {turn} in the parser module."},
        }
    if step == 1:
        return {
            **base,
            "source": "environment",
            "message": "",
            "observation": "agent_state_changed",
            "content": "",
            "extras": {"agent_state": "running", "reason": ""},
        }
    if step == 2:
        return {
            **base,
            "source": "agent",
            "message": "",
            "action": "run",
            "args": {
                "command": f"pytest -q tests/test_parser.py -k case_{turn}",
                "thought": "Run the failing test first.",
            },
        }
    if step == 3:
        output = "\n".join(f"tests/test_parser.py::test_case_{turn}_{n} PASSED" for n in range(6))
        return {
            **base,
            "source": "agent",
            "message": "",
            "cause": event_id - 1,
            "observation": "run",
            "content": output + "\n1 failed, 5 passed in 0.12s\n",
            "extras": {"command": "pytest", "metadata": {"exit_code": 1}},
        }
    if step == 4:
        return {**base, "source": "agent", "message": "", "action": "read", "args": {"path": "/workspace/parser.py"}}
    if step == 5:
        content = "\n".join(f"{n}\tdef rule_{n}(tokens): return tokens[{n}]" for n in range(1, 13))
        return {
            **base,
            "source": "agent",
            "message": "",
            "cause": event_id - 1,
            "observation": "read",
            "content": content,
            "extras": {"path": "/workspace/parser.py"},
        }
    if step == 6:
        return {
            **base,
            "source": "agent",
            "message": "",
            "action": "message",
            "args": {
                "content": f"Fixed **case {turn}**: the tokenizer dropped `\\n`.\n\n- updated `rule_3`\n"
                "- added a regression test",
                "wait_for_response": True,
            },
        }
    return {**base, "source": "environment", "message": "", "observation": "agent_state_changed",
            "content": "", "extras": {"agent_state": "awaiting_user_input", "reason": ""}}  # fmt: skip


RECORDS = hasattr(EventLog, "add_records")
"""Whether this tree's log takes stored records and a loader (issue 18); before, it took parsed models."""


def _texts(start: int, count: int) -> dict[int, str]:
    """Events ``start`` to ``start + count - 1`` as a store holds them: compact JSON."""
    return {event_id: event_to_json(event_from_dict(_wire(event_id))) for event_id in range(start, start + count)}


def _given(texts: Sequence[str]) -> list[Any]:
    """What the client hands the log for these stored texts: records (their envelopes read), or parsed models."""
    if RECORDS:
        from ohtui.protocol.record import EventRecord

        return [EventRecord.from_json(text) for text in texts]
    from ohtui.protocol import event_from_json

    return [event_from_json(text) for text in texts]


def _add(log: EventLog, given: Sequence[Any]) -> None:
    if RECORDS:
        log.add_records(given)
    else:
        log.add_events(given)


class _Store:
    """The conversation's stored texts, read by id as the app's loader reads its store."""

    def __init__(self) -> None:
        self.texts: dict[int, str] = {}

    def __call__(self, ids: Sequence[int]) -> list[Any]:
        from ohtui.protocol.record import EventRecord

        texts = self.texts
        return [EventRecord.from_json(texts[event_id]) for event_id in ids if event_id in texts]


def _rss_mb() -> float:
    """Current resident set size."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _BenchApp(App[None]):
    def __init__(self, store: _Store) -> None:
        super().__init__()
        self.store = store

    def compose(self) -> ComposeResult:
        yield EventLog()

    def on_mount(self) -> None:
        if RECORDS:
            self.query_one(EventLog).set_loader(self.store)


def _row(figure: str, value: float, unit: str, target: float | None = None, note: str = "") -> Row:
    met = None if target is None else value <= target
    return {
        "figure": figure,
        "value": round(value, 3),
        "unit": unit,
        "target": None if target is None else f"<= {target:g}",
        "met": met,
        "note": note,
    }


class _CollectorPauses:
    """Every garbage collection while installed (``gc.callbacks``): its duration and whether it was a full pass."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self.full = 0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        self.pauses.append(time.perf_counter() - self._started)
        self.full += info["generation"] == 2

    def __enter__(self) -> _CollectorPauses:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self in gc.callbacks:
            gc.callbacks.remove(self)


class _Keys:
    """Keys posted the way the driver posts them, each timed to the first screen update after it was handled (the
    log's cursor actions and ``render_lines`` are wrapped to note when each happens)."""

    def __init__(self, app: App[None], log: EventLog) -> None:
        self.app = app
        self.renders: list[float] = []
        self.handled: list[float] = []
        render_lines = log.render_lines

        def rendered(crop: Region) -> list[Strip]:
            strips = render_lines(crop)
            self.renders.append(time.perf_counter())
            return strips

        log.render_lines = rendered  # type: ignore[method-assign]
        for name in ("action_cursor_up", "action_cursor_down"):
            setattr(log, name, self._noting(getattr(log, name)))

    def _noting(self, action: Callable[[], None]) -> Callable[[], None]:
        def handled() -> None:
            action()
            self.handled.append(time.perf_counter())

        return handled

    def post(self, key: str) -> tuple[float, int]:
        self.app.post_message(events.Key(key, None))
        return time.perf_counter(), len(self.handled)

    def latency(self, pressed: tuple[float, int]) -> float | None:
        """Milliseconds from the key to the first screen update after it was handled; None: not yet."""
        at, count = pressed
        if len(self.handled) <= count:
            return None
        done = self.handled[count]
        index = bisect.bisect_right(self.renders, done)
        return (self.renders[index] - at) * 1000 if index < len(self.renders) else None

    async def wait(self, pressed: tuple[float, int]) -> float | None:
        """:meth:`latency` once known; None if a minute passes first."""
        while time.perf_counter() - pressed[0] < 60:
            found = self.latency(pressed)
            if found is not None:
                return found
            await asyncio.sleep(0.001)
        return None

    async def presses(self, keys: Sequence[str], budget: float) -> list[float]:
        """Each key in turn (at least one), until ``budget`` seconds have passed; their latencies."""
        found: list[float] = []
        started = time.perf_counter()
        for key in keys:
            latency = await self.wait(self.post(key))
            if latency is not None:
                found.append(latency)
            await asyncio.sleep(0.02)
            if time.perf_counter() - started > budget:
                break
        return found


def _latency_rows(what: str, latencies: list[float], target: float | None, note: str) -> list[Row]:
    if not latencies:
        return [_row(f"key press to screen update, {what}, median", float("nan"), "ms", target, "no key answered")]
    return [
        _row(f"key press to screen update, {what}, median", statistics.median(latencies), "ms", target, note),
        _row(f"key press to screen update, {what}, max", max(latencies), "ms", note="same run"),
    ]


async def _ingest(pilot: Any, log: EventLog, store: _Store, count: int) -> list[Row]:
    texts = _texts(0, count)
    store.texts.update(texts)
    rss_start = _rss_mb()
    given = _given(list(texts.values()))
    del texts
    gc.collect()
    rss_given = _rss_mb()
    await pilot.pause()
    rss_before = _rss_mb()
    started = time.perf_counter()
    _add(log, given)
    await pilot.pause()
    ingest = time.perf_counter() - started
    del given
    gc.collect()
    rss_after = _rss_mb()
    what = "records: envelope and text" if RECORDS else "parsed models"
    kept = "keeps none of them (the texts stay in the store)" if RECORDS else "keeps every one"
    return [
        _row(f"ingest {count:,} events + first screen", ingest, "s", 2.0 if count >= 100_000 else None),
        _row(f"events handed to the log ({what})", rss_given - rss_start, "MB", note=f"made before it; the log {kept}"),
        _row("held by the log", max(rss_after - rss_start, 0.0), "MB",
             note=f"RSS growth from before the events handed over were made to after they were dropped (rows, "
             f"{'a screenful of models' if RECORDS else 'the models'}; {rss_after - rss_before:.1f} MB of it during "
             "the ingest itself)"),
        _row("peak RSS, whole process", _peak_rss_mb(), "MB", 200.0,
             note="with the stand-in store's texts in memory" if RECORDS else ""),
    ]  # fmt: skip


async def _stream(app: App[None], log: EventLog, keys: _Keys, store: _Store, first: int, seconds: float) -> list[Row]:
    """Key latency while 5,000 events/s arrive: events made beforehand (the client's cost, not the log's), added
    every 10 ms in whatever batch keeps the rate."""
    rate = 5000
    texts = _texts(first, int(rate * (seconds + 1)))
    store.texts.update(texts)
    backlog = _given(list(texts.values()))
    added = 0
    stop = asyncio.Event()

    async def feed() -> None:
        nonlocal added
        begun = time.perf_counter()
        while not stop.is_set():
            due = min(int((time.perf_counter() - begun) * rate), len(backlog))
            if due > added:
                _add(log, backlog[added:due])
                added = due
            await asyncio.sleep(0.01)

    feeder = asyncio.create_task(feed())
    streaming = time.perf_counter()
    await asyncio.sleep(0.2)
    latencies: list[float] = []
    while time.perf_counter() - streaming < seconds:
        latencies += await keys.presses(["up"], budget=5)
        await asyncio.sleep(0.03)
    stop.set()
    await feeder
    achieved = added / (time.perf_counter() - streaming)
    note = f"{len(latencies)} presses while {achieved:,.0f} events/s arrived"
    return _latency_rows("5,000 events/s arriving", latencies, 50.0, note)


async def _search(log: EventLog, keys: _Keys, pilot: Any, needle: str) -> list[Row]:
    """A whole-log search from the top: when its first matches are on screen, when it is done, and how long keys
    wait meanwhile (one posted just before it starts, then one every 20 ms while it runs)."""
    log.action_first()
    await pilot.pause()
    pressed = keys.post("down")
    started = time.perf_counter()
    found = log.search(needle)
    waits: list[float] = []
    first = None
    while True:
        if first is None:
            first = next((t for t in keys.renders if t > started), None)
        if not getattr(log, "searching", False):
            break
        waits += await keys.presses(["down", "up"], budget=0)
    done = time.perf_counter() - started
    latency = await keys.wait(pressed)
    waits = [latency if latency is not None else float("nan"), *waits]
    while first is None:
        await asyncio.sleep(0.001)
        first = next((t for t in keys.renders if t > started), None)
    rows = f"{log.row_count:,} rows"
    note = f"{log.match_count:,} matching rows, {found:,} when search() returned"
    return [
        _row(f"whole-log search, first matches on screen, {rows}", (first - started) * 1000, "ms", 100.0, note),
        _row(f"whole-log search, to its last match, {rows}", done * 1000, "ms",
             note="searching in slices between keys" if RECORDS else "search() returns when done"),
        _row("whole-log search, longest key wait meanwhile", max(waits), "ms", 50.0,
             note=f"{len(waits)} presses: one posted as it starts, then one every 20 ms while it runs"),
    ]  # fmt: skip


def _big_output(lines: int | None = None, size: int | None = None) -> str:
    """A command's output: ``lines`` short lines, or log lines up to ``size`` characters."""
    if lines is not None:
        return "\n".join(f"tests/test_parser.py::test_case_{n} PASSED" for n in range(lines))
    out: list[str] = []
    total = 0
    while size is not None and total < size:
        n = len(out)
        out.append(f"2025-11-28 10:{n // 60 % 60:02d}:{n % 60:02d} INFO worker-{n % 8} batch {n} done in {n % 97} ms")
        total += len(out[-1]) + 1
    return "\n".join(out)


async def _expanded(log: EventLog, keys: _Keys, store: _Store, first: int, output: str, what: str) -> list[Row]:
    """Key latency (cursor up and down across it) with a big output on screen, collapsed then expanded."""
    action = {"id": first, "timestamp": TS, "source": "agent", "message": "", "action": "run",
              "args": {"command": "cat big.log", "thought": ""}}  # fmt: skip
    observation = {"id": first + 1, "timestamp": TS, "source": "agent", "message": "", "cause": first,
                   "observation": "run", "content": output, "extras": {"command": "cat big.log",
                   "metadata": {"exit_code": 0}}}  # fmt: skip
    texts = {first: event_to_json(event_from_dict(action)), first + 1: event_to_json(event_from_dict(observation))}
    store.texts.update(texts)
    _add(log, _given(list(texts.values())))
    log.action_last()
    await asyncio.sleep(0.1)
    sequence = ["up", "down"] * 10
    collapsed = await keys.presses(sequence, budget=10)
    started = time.perf_counter()
    log.toggle(first)
    toggled = (time.perf_counter() - started) * 1000
    await asyncio.sleep(0.1)
    expanded = await keys.presses(sequence, budget=30)
    log.toggle(first)
    note = f"{len(expanded)} presses; expanding it took {toggled:,.0f} ms; collapsed, median "
    note += f"{statistics.median(collapsed):.1f} ms over {len(collapsed)} presses" if collapsed else "n/a"
    return _latency_rows(f"{what} expanded on screen", expanded, 50.0, note)


async def _next_match(log: EventLog, store: _Store, first: int) -> Row:
    """Enter searched every row; n/N afterwards check only the rows touched since the last step."""
    texts = _texts(first, 100)
    store.texts.update(texts)
    _add(log, _given(list(texts.values())))
    started = time.perf_counter()
    log.search_next()
    step = (time.perf_counter() - started) * 1000
    return _row("next match (n) after 100 new events, search active", step, "ms", 100.0,
                note="checks the rows added or changed since the last step")  # fmt: skip


def _full_pass() -> Row:
    started = time.perf_counter()
    gc.collect()
    full_pass = (time.perf_counter() - started) * 1000
    note = f"{len(gc.get_objects()):,} objects tracked, {gc.get_freeze_count():,} frozen"
    return _row("one full garbage collection, the log holding the conversation", full_pass, "ms", note=note)


async def _log_memory(count: int) -> Row:
    """The log's own memory per row (tracemalloc): what ingest and the first screen leave allocated. The records
    handed over are made before and dropped after; before issue 18 the log kept the models, counted as its own."""
    store = _Store()
    store.texts.update(_texts(0, count))
    tracemalloc.start()
    given = _given(list(store.texts.values()))
    held_models = 0 if RECORDS else tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    app = _BenchApp(store)
    async with app.run_test(size=(120, 40)) as pilot:
        log = app.query_one(EventLog)
        await pilot.pause()
        gc.collect()
        tracemalloc.start()
        _add(log, given)
        del given
        await pilot.pause()
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] + held_models
        tracemalloc.stop()
        rows = log.row_count
    models = "models not kept (a screenful read and cached)" if RECORDS else "models kept (parsed before it, counted)"
    note = f"{held / count:,.0f} bytes per event, {held / 2**20:,.1f} MB in all; {models}"
    return _row(f"event log memory per row, {count:,} events ({rows:,} rows)", held / rows, "bytes", note=note)


async def _measure(count: int, stream_seconds: float) -> list[Row]:
    store = _Store()
    rows: list[Row] = []
    app = _BenchApp(store)
    with _CollectorPauses() as collector:
        async with app.run_test(size=(120, 40)) as pilot:
            log = app.query_one(EventLog)
            await pilot.pause()
            rows += await _ingest(pilot, log, store, count)
            keys = _Keys(app, log)
            rows += await _stream(app, log, keys, store, count, stream_seconds)
            next_id = log.latest_id + 1
            collector.stop()  # the pass measured next is not one of the pauses above
            rows.append(_full_pass())
            rows += await _search(log, keys, pilot, "tokenizer")
            rows.append(await _next_match(log, store, next_id))
            log.search("")
            rows += await _expanded(log, keys, store, next_id + 100, _big_output(lines=3000), "a 3,000-line output")
            rows += await _expanded(log, keys, store, next_id + 102, _big_output(size=2**20), "a 1 MB output")
    pauses = collector.pauses
    note = f"{len(pauses)} collections, {collector.full} of them full; {sum(pauses) * 1000:,.0f} ms in all"
    rows.append(_row("longest garbage-collection pause, ingest and stream", max(pauses) * 1000, "ms", note=note))
    rows.append(await _log_memory(count))
    return rows


def run(quick: bool = False) -> list[Row]:
    """Measure and return one row per figure: ``figure, value, unit, target, met, note``."""
    count = 10_000 if quick else 100_000
    return asyncio.run(_measure(count, stream_seconds=1.0 if quick else 3.0))


def table(rows: list[Row]) -> str:
    lines = ["| figure | value | unit | target | met | note |", "|---|---:|---|---|---|---|"]
    for row in rows:
        met = "" if row["met"] is None else ("yes" if row["met"] else "**no**")
        lines.append(
            f"| {row['figure']} | {row['value']:,.3f} | {row['unit']} | {row['target'] or ''} | {met} | {row['note']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return standalone_main("tui", __doc__, run, "10,000 events instead of 100,000", argv, render=table)


if __name__ == "__main__":
    raise SystemExit(main())
