"""``python -m bench [--quick] [--only NAME[,NAME]] [--output PATH]``: run every benchmark, print one table.

Each module ``bench/<name>_bench.py`` has ``run(quick) -> list[row]``; this runs them in turn, each in a fresh
interpreter (one failing does not stop the others: its row says why), prints one markdown table to stdout and writes
it, with the date, the machine and how to read it, to ``bench/RESULTS.md`` (a full run of everything; ``--quick`` and
``--only`` runs write nowhere unless ``--output`` says where). Benchmarks never fail: the exit status is 0 whatever
the figures.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

NAMES = ("protocol", "store", "socket", "memory", "startup", "open", "tui", "llm")
TITLES = {
    "protocol": "protocol (de)serialization",
    "store": "event store (SQLite) vs upstream's file-per-event store",
    "socket": "Socket.IO replay, echo latency, backpressure",
    "memory": "memory",
    "startup": "start-up",
    "open": "opening a long conversation (ohtui -c ID, ohtui connect)",
    "tui": "TUI event log (headless)",
    "llm": "LLM agent: requests that fit the context window (scripted endpoint)",
}
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
LOWER_IS_BETTER = ("s", "ms", "MB", "KB", "bytes", "bytes/event", "KB/event", "MB/100k")

HOW_TO_READ = """\
How to read: one row per figure. *value* is ohtui's; where an upstream-style baseline ran in the same process, the
value cell also shows the baseline's figure and the ratio (how many times better ohtui is, in the direction that
matters: faster, smaller). *target* comes from the issues (8, 2 and the store/TUI issues); *met* is blank where
there is no target. Rates marked "CPU time" are items per CPU second of the measuring process
(`time.process_time`, best of N), so other load on the machine disturbs them little; wall-clock figures (replay,
latency, start-up) are best of N runs and do move with the machine's load. Socket figures run the server in a
child process (`bench/_server.py`) and the clients in the benchmark process, both on 127.0.0.1. Memory figures are
RSS (resident set size, from /proc) unless the note says tracemalloc. Nothing here is asserted by CI."""


def _number(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _merge_systems(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``bench.store_bench`` rows come in ohtui/baseline pairs (key ``system``): one row each, baseline inside."""
    out: list[dict[str, Any]] = []
    by_figure: dict[str, dict[str, Any]] = {}
    for item in rows:
        system = item.get("system")
        if system is None:
            out.append(item)
            continue
        merged = by_figure.get(item["figure"])
        if merged is None:
            merged = {"figure": item["figure"], "value": None, "unit": item["unit"], "target": None, "met": None,
                      "note": ""}  # fmt: skip
            by_figure[item["figure"]] = merged
            out.append(merged)
        if system == "baseline":
            merged["baseline"] = item["value"]
            merged["better"] = "lower" if item["unit"] in LOWER_IS_BETTER else "higher"
            if item.get("note"):
                merged["note"] = "; ".join(filter(None, [merged["note"], f"baseline: {item['note']}"]))
        else:
            merged.update(value=item["value"], target=item.get("target"), met=item.get("met"))
            if item.get("note"):
                merged["note"] = "; ".join(filter(None, [item["note"], merged["note"]]))
    return out


def _value_cell(item: dict[str, Any]) -> str:
    value, unit = item.get("value"), item.get("unit", "")
    shown = "-" if value is None else f"{_number(value)} {unit}".strip()
    base = item.get("baseline")
    if base is None or value is None:
        return shown
    ratio: float | None
    if item.get("better", "higher") == "lower":
        ratio = base / value if value else None
    else:
        ratio = value / base if base else None
    times = "" if ratio is None else f"; **{ratio:.1f}x**"
    return f"{shown} (baseline {_number(base)}{times})"


def render_table(rows: list[dict[str, Any]], sections: dict[str, list[dict[str, Any]]] | None = None) -> str:
    """One markdown table: figure | value | target | met | note; ``sections`` adds a bold row before each group."""
    lines = ["| figure | value | target | met | note |", "|---|---|---|---|---|"]
    groups = sections if sections is not None else {"": rows}
    for title, items in groups.items():
        if title:
            lines.append(f"| **{title}** | | | | |")
        for item in _merge_systems(items):
            met = item.get("met")
            mark = "" if met is None else ("yes" if met else "**NO**")
            note = str(item.get("note") or "").replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {item['figure']} | {_value_cell(item)} | {item.get('target') or ''} | {mark} | {note} |")
    return "\n".join(lines)


MARKER = "BENCH-ROWS "


def _run_isolated(name: str, quick: bool) -> list[dict[str, Any]]:
    """``bench.<name>_bench.run(quick)`` in a fresh interpreter: memory figures (RSS) start from a clean process,
    nothing one benchmark leaves behind (threads, caches, freed memory) disturbs the next, and a crash stays there."""
    code = (
        "import json, sys\n"
        f"from bench.{name}_bench import run\n"
        f"rows = run(quick={quick!r})\n"
        f"sys.stdout.write({MARKER!r} + json.dumps(rows) + '\\n')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent,
                          stdout=subprocess.PIPE, text=True, timeout=3600)  # fmt: skip
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(MARKER):
            rows: list[dict[str, Any]] = json.loads(line[len(MARKER) :])
            return rows
    raise RuntimeError(f"bench.{name}_bench exited with status {done.returncode} and no results")


def _derived(results: dict[str, list[dict[str, Any]]]) -> None:
    """The TUI's memory for a 100k conversation, from the tui rows, shown again among the memory figures."""
    tui = {item["figure"]: item for item in results.get("tui", [])}
    held = tui.get("held by the log")
    ingest = next((name for name in tui if name.startswith("ingest ")), "")
    if held is None or held.get("value") is None or "memory" not in results:
        return
    count = ingest.removeprefix("ingest ").split(" events")[0] or "?"
    results["memory"].append(
        {"figure": f"TUI holding a {count}-event conversation in its event log", "value": held["value"],
         "unit": "MB", "target": None, "met": None, "note": "from the tui rows: held by the log, RSS"}
    )  # fmt: skip


def _machine() -> str:
    from ohtui.server.loop import loop_name

    load = os.getloadavg()
    return (
        f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), Python {platform.python_version()} "
        f"({platform.python_implementation()}), {platform.system()} {platform.release()}; server event loop "
        f"{loop_name()} (as `ohtui serve`); load average at start {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, fewer repeats: about a minute or two")
    parser.add_argument("--only", metavar="NAME", help=f"comma-separated subset of: {', '.join(NAMES)}")
    parser.add_argument("--output", metavar="PATH", help="where to write the results (default: bench/RESULTS.md for "
                        "a full run of everything; nowhere for --quick/--only); '-' for nowhere")  # fmt: skip
    args = parser.parse_args(argv)
    names = list(NAMES)
    if args.only:
        wanted = [name.strip().removesuffix("_bench") for name in args.only.split(",") if name.strip()]
        unknown = [name for name in wanted if name not in NAMES]
        if unknown:
            parser.error(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(NAMES)}")
        names = [name for name in NAMES if name in wanted]
    machine = _machine()
    started_at = datetime.datetime.now().astimezone()
    started = time.perf_counter()
    results: dict[str, list[dict[str, Any]]] = {}
    durations: dict[str, float] = {}
    for name in names:
        begun = time.perf_counter()
        print(f"running {name}…", file=sys.stderr, flush=True)
        try:
            results[name] = _run_isolated(name, args.quick)
        except Exception as error:  # a benchmark never fails the suite; its row says what happened
            results[name] = [{"figure": f"{name} benchmark", "value": None, "unit": "", "target": None, "met": None,
                              "note": f"did not run: {type(error).__name__}: {error}"[:300]}]  # fmt: skip
        durations[name] = time.perf_counter() - begun
        print(f"  {name}: {durations[name]:.0f} s", file=sys.stderr, flush=True)
    _derived(results)
    table = render_table([], {TITLES[name]: rows for name, rows in results.items()})
    elapsed = time.perf_counter() - started
    print(table)
    timing = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in durations.items())
    print(f"\n({elapsed:.0f} s: {timing}; quick={args.quick})")
    output = args.output
    if output is None and not args.quick and not args.only:
        output = str(RESULTS)
    if output and output != "-":
        mode = "quick" if args.quick else "full"
        text = (
            f"# ohtui benchmarks\n\n"
            f"`python -m bench{' --quick' if args.quick else ''}{f' --only {args.only}' if args.only else ''}`, "
            f"{mode} run of {started_at:%Y-%m-%d %H:%M %Z}, {elapsed:.0f} s ({timing}).\n\n"
            f"Machine: {machine}.\n\n{HOW_TO_READ}\n\n{table}\n"
        )
        Path(output).write_text(text, encoding="utf-8")
        print(f"written to {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
