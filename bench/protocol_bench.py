"""Events per second through ohtui's wire functions against an upstream-style dataclass serializer.

``python -m bench.protocol_bench [--quick] [--profile]``. The mix is the 38 shared samples repeated, each copy a
distinct object (its own id), so no cache helps. Four figures, each against the baseline (``bench.baseline_protocol``,
which produces the same dicts):

* serialize: ``json.dumps(event_to_dict(e))``, and the fast path ``event_to_json(e)`` (baseline: dumps of its dict);
* parse: ``event_from_dict(json.loads(s))``, and the fast path ``event_from_json(s)`` (baseline: loads + from_dict).

Rates are per CPU second of this process (``time.process_time``), best of several passes. ``--profile`` adds the
per-class cost of each ohtui path and a cProfile of the slowest, to see where the time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import pstats
import time
from collections.abc import Callable
from typing import Any

from bench import baseline_protocol as baseline
from bench.common import Row, best_cpu_rate, row, sample_records
from ohtui.protocol import Event, event_from_dict, event_from_json, event_to_dict, event_to_json

TARGET = 150_000


def _mix(copies: int) -> list[dict[str, Any]]:
    """``copies`` × the 38 samples, each with its own id."""
    samples = [event for _, event in sample_records()]
    return [{**sample, "id": n} for n, sample in enumerate(samples * copies)]


def _check_same(dicts: list[dict[str, Any]]) -> int:
    """How many samples the baseline writes differently from ohtui (should be none: then both do the same work)."""
    return sum(
        1
        for data in dicts
        if json.dumps(baseline.event_to_dict(baseline.event_from_dict(data)))
        != json.dumps(event_to_dict(event_from_dict(data)))
    )


def _rate(items: list[Any], action: Callable[[Any], object], repeat: int) -> float:
    def once() -> None:
        for item in items:
            action(item)

    gc.collect()
    return best_cpu_rate(len(items), once, repeat)


def run(quick: bool = False) -> list[Row]:
    copies = 300 if quick else 2000
    repeat = 3 if quick else 5
    dicts = _mix(copies)
    texts = [json.dumps(data) for data in dicts]
    ours: list[Event] = [event_from_dict(data) for data in dicts]
    theirs = [baseline.event_from_dict(data) for data in dicts]
    differ = _check_same(dicts[:38])
    same = "same dicts as the baseline" if not differ else f"**{differ} of 38 samples differ from the baseline**"
    dumps = json.dumps
    count = f"{len(dicts):,} events ({copies}× the 38 samples), CPU time, best of {repeat}"

    def fig(name: str, ours_rate: float, theirs_rate: float, note: str) -> Row:
        return row(name, ours_rate, "events/s", at_least=TARGET, baseline=theirs_rate, note=note)

    rows = [
        fig(
            "serialize: event_to_dict + json.dumps",
            _rate(ours, lambda e: dumps(event_to_dict(e)), repeat),
            _rate(theirs, lambda e: dumps(baseline.event_to_dict(e)), repeat),
            f"{count}; {same}",
        ),
        fig(
            "serialize, fast path: event_to_json",
            _rate(ours, event_to_json, repeat),
            _rate(theirs, lambda e: dumps(baseline.event_to_dict(e)), repeat),
            "baseline: its only path (asdict + dumps)",
        ),
        fig(
            "parse: json.loads + event_from_dict",
            _rate(texts, lambda t: event_from_dict(json.loads(t)), repeat),
            _rate(texts, lambda t: baseline.event_from_dict(json.loads(t)), repeat),
            count,
        ),
        fig(
            "parse, fast path: event_from_json",
            _rate(texts, event_from_json, repeat),
            _rate(texts, lambda t: baseline.event_from_dict(json.loads(t)), repeat),
            "baseline: its only path (loads + from_dict)",
        ),
    ]
    return rows


# -- profiling ----------------------------------------------------------------------------------------------------
def per_class(repeat: int = 3, copies: int = 500) -> list[tuple[str, dict[str, float]]]:
    """Microseconds per event of each path, per sample, slowest parse first."""
    out = []
    for name, sample in sample_records():
        dicts = [{**sample, "id": n} for n in range(copies)]
        texts = [json.dumps(d) for d in dicts]
        events = [event_from_dict(d) for d in dicts]
        micro = {
            "to_dict+dumps": 1e6 / _rate(events, lambda e: json.dumps(event_to_dict(e)), repeat),
            "to_json": 1e6 / _rate(events, event_to_json, repeat),
            "loads+from_dict": 1e6 / _rate(texts, lambda t: event_from_dict(json.loads(t)), repeat),
            "from_json": 1e6 / _rate(texts, event_from_json, repeat),
            "validate only": 1e6 / _rate(dicts, lambda d: type(events[0]).model_validate(d), repeat),
        }
        out.append((name, micro))
    out.sort(key=lambda item: -item[1]["from_json"])
    return out


def profile_text(action: Callable[[], object], limit: int = 18) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    action()
    profiler.disable()
    buffer = io.StringIO()
    pstats.Stats(profiler, stream=buffer).sort_stats("tottime").print_stats(limit)
    return buffer.getvalue()


def profile_report() -> str:
    lines = ["| sample | to_dict+dumps µs | to_json µs | loads+from_dict µs | from_json µs | model_validate µs |",
             "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for name, micro in per_class():
        lines.append(f"| {name} | " + " | ".join(f"{value:.2f}" for value in micro.values()) + " |")
    dicts = _mix(300)
    texts = [json.dumps(d) for d in dicts]
    events = [event_from_dict(d) for d in dicts]
    out = ["\n".join(lines)]
    for title, action in (
        ("event_from_json", lambda: [event_from_json(t) for t in texts]),
        ("event_from_dict(json.loads)", lambda: [event_from_dict(json.loads(t)) for t in texts]),
        ("json.dumps(event_to_dict)", lambda: [json.dumps(event_to_dict(e)) for e in events]),
    ):
        out.append(f"\n### cProfile: {title} ({len(texts):,} events)\n```\n{profile_text(action)}```")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    from bench.__main__ import render_table

    parser = argparse.ArgumentParser(prog="python -m bench.protocol_bench", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer events and passes")
    parser.add_argument("--profile", action="store_true", help="also the per-class cost and cProfile tables")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        print(render_table(run(quick=args.quick)))
        if args.profile:
            print(profile_report())
    except Exception as error:  # a benchmark never fails a build
        print(f"protocol benchmark failed: {type(error).__name__}: {error}")
    print(f"\n({time.perf_counter() - started:.0f} s, quick={args.quick})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
