"""Events per second through ohtui's wire functions against an upstream-style dataclass serializer.

``python -m bench.protocol_bench [--quick] [--profile]``. The mix is the 38 shared samples repeated, each copy a
distinct object (its own id), so no cache helps. Four figures, each against the baseline (``bench.baseline_protocol``,
which produces the same dicts):

* serialize: ``json.dumps(event_to_dict(e))``, and the fast path ``event_to_json(e)`` (baseline: dumps of its dict);
* parse: ``event_from_dict(json.loads(s))``, and the fast path ``event_from_json(s)`` (baseline: loads + from_dict).

Rates are per CPU second of this process (``time.process_time``) in the fastest slice of 1,900 events (the mix
50 times) over several passes: on a shared machine short slices often run undisturbed where whole passes do not.
``--profile`` adds the per-class cost of each ohtui path and a cProfile of each, to see where the time goes.
"""

from __future__ import annotations

import cProfile
import gc
import io
import json
import pstats
import time
from collections.abc import Callable
from typing import Any

from bench import baseline_protocol as baseline
from bench.common import Row, best_slice_rate, row, sample_records, standalone_main
from ohtui.protocol import Event, event_from_dict, event_from_json, event_to_dict, event_to_json

TARGET = 150_000


def _mix(copies: int) -> list[dict[str, Any]]:
    """``copies`` times the 38 samples, each with its own id."""
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


SLICE = 38 * 50


def _interleaved(cases: dict[str, tuple[list[Any], Callable[[Any], object]]], passes: int) -> dict[str, float]:
    """The best-slice rate of every case, their passes interleaved (A B C … A B C …) so that a slow spell of the
    machine falls on all of them rather than on one."""
    best = dict.fromkeys(cases, float("inf"))
    gc.collect()
    for _ in range(passes):
        for name, (items, action) in cases.items():
            size = min(SLICE, len(items))
            for start in range(0, len(items) - size + 1, size):
                part = items[start : start + size]
                began = time.process_time()
                for item in part:
                    action(item)
                best[name] = min(best[name], (time.process_time() - began) / size)
    return {name: 1 / seconds if seconds > 0 else float("inf") for name, seconds in best.items()}


def run(quick: bool = False) -> list[Row]:
    copies = 300 if quick else 2000
    passes = 3 if quick else 5
    dicts = _mix(copies)
    texts = [json.dumps(data) for data in dicts]
    ours: list[Event] = [event_from_dict(data) for data in dicts]
    theirs = [baseline.event_from_dict(data) for data in dicts]
    differ = _check_same(dicts[:38])
    same = "same dicts as the baseline" if not differ else f"**{differ} of 38 samples differ from the baseline**"
    dumps, loads = json.dumps, json.loads
    rates = _interleaved(
        {
            "to_dict": (ours, lambda e: dumps(event_to_dict(e))),
            "to_json": (ours, event_to_json),
            "base_to": (theirs, lambda e: dumps(baseline.event_to_dict(e))),
            "from_dict": (texts, lambda t: event_from_dict(loads(t))),
            "from_json": (texts, event_from_json),
            "base_from": (texts, lambda t: baseline.event_from_dict(loads(t))),
        },
        passes,
    )
    count = (f"{len(dicts):,} distinct events ({copies} x the 38 samples); CPU time of the fastest {SLICE:,}-event "
             f"slice over {passes} interleaved passes")  # fmt: skip

    def fig(name: str, ours_rate: float, theirs_rate: float, note: str) -> Row:
        return row(name, ours_rate, "events/s", at_least=TARGET, baseline=theirs_rate, note=note)

    return [
        fig("serialize: event_to_dict + json.dumps", rates["to_dict"], rates["base_to"], f"{count}; {same}"),
        fig("serialize, fast path: event_to_json", rates["to_json"], rates["base_to"],
            "baseline: its only path (asdict + dumps); baseline on Python 3.11, whose dataclasses.asdict deep-copies "
            "every leaf value (3.12, which upstream runs on, skips that for atomic types)"),
        fig("parse: json.loads + event_from_dict", rates["from_dict"], rates["base_from"], count),
        fig("parse, fast path: event_from_json", rates["from_json"], rates["base_from"],
            "baseline: its only path (loads + from_dict)"),
    ]  # fmt: skip


def _rate(items: list[Any], action: Callable[[Any], object], repeat: int) -> float:
    gc.collect()
    return best_slice_rate(items, action, min(SLICE, len(items)), repeat)


# -- profiling ----------------------------------------------------------------------------------------------------
def per_class(repeat: int = 3, copies: int = 500) -> list[tuple[str, dict[str, float]]]:
    """Microseconds per event of each path, per sample, slowest parse first."""
    out = []
    for name, sample in sample_records():
        dicts = [{**sample, "id": n} for n in range(copies)]
        texts = [json.dumps(d) for d in dicts]
        events = [event_from_dict(d) for d in dicts]
        cls = type(events[0])
        micro = {
            "to_dict+dumps": 1e6 / _rate(events, lambda e: json.dumps(event_to_dict(e)), repeat),
            "to_json": 1e6 / _rate(events, event_to_json, repeat),
            "loads+from_dict": 1e6 / _rate(texts, lambda t: event_from_dict(json.loads(t)), repeat),
            "from_json": 1e6 / _rate(texts, event_from_json, repeat),
            "validate only": 1e6 / _rate(dicts, cls.model_validate, repeat),
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
    return standalone_main("protocol", __doc__, run, "fewer events and passes", argv, profile=profile_report)


if __name__ == "__main__":
    raise SystemExit(main())
