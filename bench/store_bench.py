"""ohtui's SQLite event store against upstream's file-per-event layout (``bench.baseline_filestore``).

``python -m bench.store_bench [--quick]`` prints a markdown table; :func:`run` returns the rows for an aggregating
runner. Figures: single durable appends/s, batched appends/s, read rate of all events after an id, the time to read the
last 100 events at 10k, 100k and 1M events, and disk bytes per event. Events are the shared protocol samples, cycled.

Numbers depend on the machine and on whatever else runs on it; nothing here asserts, and nothing here can fail a build.
"""

from __future__ import annotations

import copy
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.baseline_filestore import FileEventStore, populate
from bench.common import sample_dicts, standalone_main, timed_row_inserts
from ohtui.protocol import Event, EventSource, event_from_dict, event_to_dict, wire_timestamp
from ohtui.store import Database, EventStore

BASELINE_BUDGET_S = 120.0  # build the 1M-event baseline only if it would take less than this

Row = dict[str, Any]


def _sample_dicts() -> list[dict[str, Any]]:
    return [{k: v for k, v in event.items() if k not in ("id", "timestamp", "source")} for event in sample_dicts()]


def _events(count: int) -> list[Event]:
    """``count`` new events (no id, timestamp or source), the samples over and over."""
    dicts = _sample_dicts()
    parsed = [event_from_dict(copy.deepcopy(d)) for d in dicts]
    return [parsed[i % len(parsed)] for i in range(count)]


def _stored_dicts(count: int) -> list[dict[str, Any]]:
    """``count`` event dicts as a store would have written them (ids 0…count-1), for populating the baseline."""
    stamp = wire_timestamp()
    out = []
    for index, event in enumerate(_events(count)):
        data = event_to_dict(event)
        out.append({"id": index, "timestamp": stamp, "source": "agent", **data})
    return out


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def _median_ms(action: Callable[[], object], repeat: int) -> float:
    action()  # warm up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def _disk_bytes(root: Path) -> int:
    """Space allocated on disk (what ``du`` reports), not the apparent size: small files take whole blocks."""
    total = 0
    for dirpath, _, files in os.walk(root):
        for name in files:
            total += os.stat(os.path.join(dirpath, name)).st_blocks * 512
    return total


def _row(figure: str, system: str, value: float | None, unit: str, target: float | None = None, note: str = "") -> Row:
    met: bool | None = None
    if target is not None and value is not None:
        met = value <= target if unit == "ms" else value >= target
    shown_target = None if target is None else (f"< {target:g}" if unit == "ms" else f">= {target:,.0f}")
    return {"figure": figure, "system": system, "value": value, "unit": unit, "target": shown_target, "met": met,
            "note": note}  # fmt: skip


def _fill(store: EventStore, count: int, batch: int = 5000) -> None:
    events = _events(min(count, batch))
    done = 0
    while done < count:
        step = min(batch, count - done)
        store.append_many(events[:step], EventSource.AGENT)
        done += step


def run(quick: bool = False) -> list[Row]:
    """Measure everything; ``quick`` uses small sizes (seconds, not minutes) and skips the 100k and 1M sizes."""
    rows: list[Row] = []
    work = Path(tempfile.mkdtemp(prefix="ohtui-bench-"))
    try:
        rows += _appends(work, quick)
        rows += _reads(work, quick)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def _best_rate(count: int, measure: Callable[[int], float], tries: int = 3) -> float:
    """The best of a few runs (each on fresh files): the machine is shared, so the fastest run is the least
    disturbed one."""
    return max(_rate(count, measure(attempt)) for attempt in range(tries))


def _appends(work: Path, quick: bool) -> list[Row]:
    single_n = 2_000 if quick else 20_000
    batch_n = 10_000 if quick else 100_000
    base_n = 1_000 if quick else 5_000
    events = _events(max(single_n, base_n))
    batch = _events(1000)

    def single(attempt: int) -> float:
        with Database(work / f"single-{attempt}" / "ohtui.db") as db:
            store = db.events("single")
            start = time.perf_counter()
            for event in events[:single_n]:
                store.append(event, EventSource.AGENT)
            return time.perf_counter() - start

    def batched(attempt: int) -> float:
        with Database(work / f"batched-{attempt}" / "ohtui.db") as db:
            store = db.events("batched")
            start = time.perf_counter()
            for _ in range(batch_n // 1000):
                store.append_many(batch, EventSource.AGENT)
            return time.perf_counter() - start

    def baseline(attempt: int) -> float:
        store = FileEventStore(work / f"baseline-append-{attempt}", "single")
        start = time.perf_counter()
        for event in events[:base_n]:
            store.add_event(event, EventSource.AGENT)
        return time.perf_counter() - start

    base_rate = _best_rate(base_n, baseline)
    return [
        *_batched_floor(work, batch, batch_n),
        _row("single durable appends", "ohtui", _best_rate(single_n, single), "events/s", 25_000, note="best of 3"),
        _row("single durable appends", "baseline", base_rate, "events/s", note="best of 3"),
        _row("batched appends (1000 per call)", "ohtui", _best_rate(batch_n, batched), "events/s", 200_000,
             note="best of 3"),
        _row("batched appends (1000 per call)", "baseline", base_rate, "events/s",
             note="upstream has no batch write: the same loop of single appends"),
    ]  # fmt: skip


def _batched_floor(work: Path, batch: list[Event], count: int) -> list[Row]:
    """The two steps every batched append takes, each alone at its best: SQLite inserting rows that are already
    built (1000 per transaction, as ``append_many`` writes them, on the same schema and settings), and
    ``event_to_json`` of the stamped events. Together they bound ``append_many`` from above."""
    from ohtui.protocol import event_to_json
    from ohtui.store.rows import stamped_rows

    stamped, rows = stamped_rows(batch, 0, 0, wire_timestamp(), EventSource.AGENT, None)

    def sqlite_alone(attempt: int) -> float:
        with Database(work / f"floor-{attempt}" / "ohtui.db") as db:
            db.events("floor").append(batch[0])  # the conversation's row; its key is 1, so ids start at 1 << 40
            keyed = [[((1 << 40) + 1 + step + n, *row[1:]) for n, row in enumerate(rows)] for step in
                     range(0, count, len(rows))]  # fmt: skip
            return timed_row_inserts(db, keyed)  # the lock per transaction, as append_many takes it

    def serialize_alone(attempt: int) -> float:
        start = time.perf_counter()
        for _ in range(count // len(stamped)):
            for event in stamped:
                event_to_json(event)
        return time.perf_counter() - start

    inserts = _best_rate(count, sqlite_alone)
    serializes = _best_rate(count, serialize_alone)
    both = 1 / (1 / inserts + 1 / serializes)
    note = (
        f"best of 3 each; the two together: {both:,.0f} events/s ({1e6 / both:.1f} us per event, against the 5 us"
        " per event a 200,000/s append allows)"
    )
    return [
        _row("batched append floor: SQLite inserting ready rows", "ohtui", inserts, "events/s", note=note),
        _row("batched append floor: event_to_json of the stamped events", "ohtui", serializes, "events/s"),
    ]


def _reads(work: Path, quick: bool) -> list[Row]:
    sizes = [10_000] if quick else [10_000, 100_000, 1_000_000]
    rows: list[Row] = []
    repeat = 10 if quick else 30
    with Database(work / "reads" / "ohtui.db") as db:
        for size in sizes:
            store = db.events(f"size-{size}")
            _fill(store, size)
            if size == sizes[0]:
                after = size // 10
                start = time.perf_counter()
                read = sum(1 for _ in store.search(start_id=after))
                rows.append(_row(f"read all events after id {after} ({size:,} stored)", "ohtui",
                                 _rate(read, time.perf_counter() - start), "events/s"))  # fmt: skip
            ms = _median_ms(lambda store=store: list(store.search(reverse=True, limit=100)), repeat)  # type: ignore[misc]
            rows.append(_row(f"last 100 events at {size:,}", "ohtui", ms, "ms", 5.0 if size == 1_000_000 else None))
    largest = sizes[-1]
    db_bytes = _disk_bytes(work / "reads")  # closed: the WAL is checkpointed into the file and removed
    rows.append(_row("disk bytes per event", "ohtui", db_bytes / sum(sizes), "bytes",
                     note=f"{len(sizes)} conversations, {sum(sizes):,} events in one file"))  # fmt: skip

    base_root = work / "baseline-read"
    built: dict[int, float] = {}
    per_event_s = 0.0
    for size in sizes:
        estimate = per_event_s * size
        if size > sizes[0] and estimate > BASELINE_BUDGET_S:
            fit = _extrapolate(built, size)
            rows.append(_row(f"last 100 events at {size:,}", "baseline", fit, "ms",
                             note=f"extrapolated linearly from {', '.join(f'{s:,}' for s in built)}: building it "
                             f"would take ~{estimate:.0f} s"))  # fmt: skip
            continue
        start = time.perf_counter()
        populate(base_root, f"size-{size}", _stored_dicts(size))
        per_event_s = (time.perf_counter() - start) / size
        if size == sizes[0]:
            after = size // 10
            start = time.perf_counter()
            read = sum(1 for _ in FileEventStore(base_root, f"size-{size}").search_events(start_id=after))
            rows.append(_row(f"read all events after id {after} ({size:,} stored)", "baseline",
                             _rate(read, time.perf_counter() - start), "events/s"))  # fmt: skip

        def last_100(size: int = size) -> object:
            # A new store per read, as upstream's server makes one per request: it lists events/ to find the end.
            return list(FileEventStore(base_root, f"size-{size}").search_events(reverse=True, limit=100))

        built[size] = _median_ms(last_100, max(3, repeat // (size // 10_000)))
        rows.append(_row(f"last 100 events at {size:,}", "baseline", built[size], "ms"))
        largest = size
    base_bytes = _disk_bytes(base_root / "sessions" / f"size-{largest}")
    rows.append(_row("disk bytes per event", "baseline", base_bytes / largest, "bytes",
                     note=f"the {largest:,}-event conversation: one file per event plus cache pages"))  # fmt: skip
    return rows


def _extrapolate(points: dict[int, float], size: int) -> float | None:
    if not points:
        return None
    if len(points) == 1:
        (known, value), *_ = points.items()
        return value * size / known
    (x0, y0), (x1, y1) = sorted(points.items())[-2:]
    return y1 + (y1 - y0) / (x1 - x0) * (size - x1)


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value:.2f}"
    return f"{value:,.0f}"


def table(rows: list[Row]) -> str:
    """Markdown: one line per figure, ohtui and the baseline side by side."""
    figures: dict[str, dict[str, Row]] = {}
    for row in rows:
        figures.setdefault(row["figure"], {})[row["system"]] = row
    lines = [
        "| figure | ohtui | baseline (file per event) | unit | target | met |",
        "|---|---:|---:|---|---|---|",
    ]
    notes: list[str] = []
    for figure, systems in figures.items():
        ours, theirs = systems.get("ohtui"), systems.get("baseline")
        unit = (ours or theirs or {}).get("unit", "")
        target = (ours or {}).get("target") or ""
        met = (ours or {}).get("met")
        mark = "" if met is None else ("yes" if met else "**no**")
        ours_value = _fmt(ours["value"], unit) if ours else "-"
        theirs_value = _fmt(theirs["value"], unit) if theirs else "-"
        if theirs and theirs.get("note"):
            theirs_value += f" [{len(notes) + 1}]"
            notes.append(theirs["note"])
        if ours and ours.get("note"):
            ours_value += f" [{len(notes) + 1}]"
            notes.append(ours["note"])
        lines.append(f"| {figure} | {ours_value} | {theirs_value} | {unit} | {target} | {mark} |")
    lines += [""] + [f"[{n}] {note}" for n, note in enumerate(notes, 1)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return standalone_main("store", __doc__, run, "small sizes only (seconds instead of minutes)", argv, render=table)


if __name__ == "__main__":
    raise SystemExit(main())
