"""What the benchmark modules share: result rows, timing, the sample events, a realistic event mix, memory readings,
and a server run in a child process (``bench._server``).

Every module's ``run(quick) -> list[Row]`` returns rows with the keys ``figure, value, unit, target, met, note`` and,
where an upstream-style baseline ran in the same process, ``baseline`` (its value, same unit) and ``better``
(``"higher"`` or ``"lower"``, which way is good, for the ratio). ``target`` is shown as given (a string).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ohtui.protocol import Event, event_from_dict

if TYPE_CHECKING:
    from ohtui.store import Database
    from ohtui.store.rows import Row as StoreRow

Row = dict[str, Any]

REPO = Path(__file__).resolve().parent.parent
SAMPLES_PATHS = (
    REPO.parent / "shared" / "protocol" / "samples" / "events.jsonl",
    REPO / "tests" / "fixtures" / "events.jsonl",
)


# -- rows ----------------------------------------------------------------------------------------------------------
def row(
    figure: str,
    value: float | None,
    unit: str,
    *,
    at_least: float | None = None,
    at_most: float | None = None,
    note: str = "",
    baseline: float | None = None,
    better: str | None = None,
) -> Row:
    """One result. ``at_least``/``at_most`` is the target (and decides ``met``); ``better`` defaults to the target's
    direction, else ``higher`` for rates."""
    target: str | None = None
    met: bool | None = None
    if at_least is not None:
        target = f">= {at_least:,.0f}" if at_least >= 100 else f">= {at_least:g}"
        met = None if value is None else value >= at_least
    elif at_most is not None:
        target = f"<= {at_most:g}"
        met = None if value is None else value <= at_most
    if better is None:
        better = "lower" if at_most is not None or unit in ("s", "ms", "MB", "KB", "bytes") else "higher"
    out: Row = {"figure": figure, "value": value, "unit": unit, "target": target, "met": met, "note": note}
    if baseline is not None:
        out["baseline"] = baseline
        out["better"] = better
    return out


def failed_row(figure: str, error: BaseException) -> Row:
    """A benchmark that could not run says why, in its row, instead of failing the suite."""
    return row(figure, None, "", note=f"did not run: {type(error).__name__}: {error}"[:300])


# -- timing --------------------------------------------------------------------------------------------------------
def best_cpu_rate(count: int, action: Callable[[], object], repeat: int) -> float:
    """Items per CPU second of this process (``time.process_time``), best of ``repeat``: CPU cost, not wall time,
    so other work on the machine disturbs it less; the best run is the least disturbed one."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        action()
        best = min(best, time.process_time() - started)
    return count / best if best > 0 else float("inf")


def best_slice_rate(items: list[Any], action: Callable[[Any], object], slice_size: int, passes: int) -> float:
    """Items per CPU second (``time.process_time``) of the fastest ``slice_size``-item slice over ``passes`` passes
    through ``items``: on a shared machine short slices often run undisturbed where a whole pass never does."""
    best = float("inf")
    for _ in range(passes):
        for start in range(0, len(items) - slice_size + 1, slice_size):
            part = items[start : start + slice_size]
            began = time.process_time()
            for item in part:
                action(item)
            best = min(best, time.process_time() - began)
    return slice_size / best if best > 0 else float("inf")


def timed_row_inserts(db: Database, parts: Sequence[Sequence[StoreRow]]) -> float:
    """Seconds SQLite takes to insert rows that are already built (``ohtui.store.rows`` tuples), one transaction per
    part under the write lock, as the store writes them: the floor of every write path."""
    from ohtui.store.rows import insert_rows

    conns = db._conns
    started = time.perf_counter()
    for part in parts:
        with conns.lock, conns.transaction():
            insert_rows(conns.writer(), part)
    return time.perf_counter() - started


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation): the value below which ``fraction`` of the samples fall."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))
    return ordered[index]


# -- events --------------------------------------------------------------------------------------------------------
def sample_records() -> list[tuple[str, dict[str, Any]]]:
    """The 38 shared protocol samples (name, event dict), as ``tests/samples.py`` reads them."""
    path = next(p for p in SAMPLES_PATHS if p.exists())
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(record["name"], record["event"]) for record in records]


def sample_dicts() -> list[dict[str, Any]]:
    return [event for _, event in sample_records()]


def _sample(name_prefix: str) -> dict[str, Any]:
    for name, event in sample_records():
        if name.startswith(name_prefix):
            return {k: v for k, v in event.items() if k not in ("id", "timestamp", "source", "cause")}
    raise KeyError(name_prefix)


def realistic_dicts(count: int, start: int = 0) -> Iterator[dict[str, Any]]:
    """``count`` new-event dicts (no id/timestamp/source) of a plausible agent session, built from the samples:
    a command and its output (1-40 lines), an agent message (a few markdown lines), a file edit observation with a
    diff. Each one differs from the others (numbers in the text), so nothing is shared between events."""
    run = _sample("CmdRunAction (agent) with llm_metrics")
    run.pop("llm_metrics", None)
    output = _sample("CmdOutputObservation")
    message = _sample("MessageAction (agent, wait_for_response)")
    edit = _sample("FileEditObservation")
    for index in range(start, start + count):
        turn, step = divmod(index, 4)
        if step == 0:
            event = copy.deepcopy(run)
            event["args"]["command"] = f"pytest -q tests/test_module_{turn % 97}.py -k case_{turn}"
            event["args"]["thought"] = f"Run the failing test {turn} first and read its output."
        elif step == 1:
            event = copy.deepcopy(output)
            lines = 1 + turn % 40
            event["content"] = "\n".join(
                f"tests/test_module_{turn % 97}.py::test_case_{turn}_{n} {'PASSED' if n % 7 else 'FAILED'}"
                for n in range(lines)
            )
            event["extras"]["command"] = f"pytest -q tests/test_module_{turn % 97}.py -k case_{turn}"
            event["extras"]["metadata"]["exit_code"] = turn % 2
            event["extras"]["metadata"]["pid"] = 1000 + turn
            event["success"] = turn % 2 == 0
        elif step == 2:
            event = copy.deepcopy(message)
            event["args"]["content"] = (
                f"Fixed **case {turn}**: the tokenizer dropped a trailing `\\n`.\n\n"
                f"- updated `rule_{turn % 13}` in `parser.py`\n- added a regression test `test_case_{turn}`\n"
                "Anything else?"
            )
        else:
            event = copy.deepcopy(edit)
            path = f"/workspace/src/parser_{turn % 31}.py"
            old = "\n".join(f"def rule_{n}(tokens):\n    return tokens[{n}]" for n in range(turn % 5 + 1))
            new = old.replace("tokens[0]", "tokens[0].strip()")
            event["content"] = f"The file {path} has been edited."
            event["extras"].update(
                path=path,
                old_content=old,
                new_content=new,
                diff=f"--- a{path}\n+++ b{path}\n@@ -1,2 +1,2 @@\n def rule_0(tokens):\n-    return tokens[0]\n"
                "+    return tokens[0].strip()\n",
            )
        yield event


def realistic_events(count: int, start: int = 0) -> list[Event]:
    return [event_from_dict(data) for data in realistic_dicts(count, start)]


def fill_conversation(db_path: Path, conversation_id: str, count: int, batch: int = 1000) -> None:
    """Store ``count`` realistic events in one conversation, ``batch`` per ``append_many`` (agent as source)."""
    from ohtui.protocol import EventSource
    from ohtui.store import Database

    with Database(db_path) as db:
        store = db.events(conversation_id)
        done = 0
        while done < count:
            step = min(batch, count - done)
            store.append_many(realistic_events(step, done), EventSource.AGENT)
            done += step


# -- memory --------------------------------------------------------------------------------------------------------
def rss_mb(pid: int | str = "self") -> float:
    """Resident set size now (VmRSS), in MB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def hwm_mb(pid: int | str = "self") -> float:
    """Peak resident set size so far (VmHWM), in MB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for {pid}")


# -- a server in a child process -----------------------------------------------------------------------------------
class ServerProcess:
    """``python -m bench._server``: an :class:`~ohtui.server.OhtuiServer` on 127.0.0.1 port 0 in its own process
    (so it has its own core and its memory is its own), driven by JSON lines on stdin/stdout."""

    def __init__(self, data_dir: Path, *, tracemalloc: bool = False) -> None:
        self.data_dir = data_dir
        self.tracemalloc = tracemalloc
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        self.key = ""
        self.pid = 0

    async def start(self) -> None:
        args = [sys.executable, "-m", "bench._server", str(self.data_dir)]
        if self.tracemalloc:
            args.append("--tracemalloc")
        self.process = subprocess.Popen(  # noqa: ASYNC220  (returns at once; the child's output is read off-loop)
            args, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self.pid = self.process.pid
        ready = await self._read()
        self.url, self.key = ready["url"], ready["key"]

    async def _read(self) -> dict[str, Any]:
        assert self.process is not None and self.process.stdout is not None
        line = await asyncio.to_thread(self.process.stdout.readline)
        if not line:
            raise RuntimeError(f"the bench server exited (status {self.process.poll()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def ask(self, command: str, **args: Any) -> dict[str, Any]:
        """Send one command (see ``bench._server``) and return its JSON answer."""
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(json.dumps({"command": command, **args}) + "\n")
        self.process.stdin.flush()
        return await self._read()

    def rss_mb(self) -> float:
        return rss_mb(self.pid)

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(Exception):
            assert process.stdin is not None
            process.stdin.close()  # the server stops when its stdin closes
        try:
            await asyncio.to_thread(process.wait, 30)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait, 10)
        if process.stdout is not None:
            process.stdout.close()


@contextlib.asynccontextmanager
async def server_process(data_dir: Path, *, tracemalloc: bool = False) -> AsyncIterator[ServerProcess]:
    server = ServerProcess(data_dir, tracemalloc=tracemalloc)
    try:
        await server.start()
        yield server
    finally:
        await server.stop()


@contextlib.asynccontextmanager
async def ohtui_mirror(
    url: str, key: str, conversation_id: str, expect: int, mirror: Path, wait_at_most: float
) -> AsyncIterator[float]:
    """ohtui's client (:class:`~ohtui.client.connection.Connection`) mirroring a conversation into the store at
    ``mirror``: yields the seconds from starting it until the mirror holds ``expect`` events; closes after the
    block."""
    from ohtui.client.connection import Connection
    from ohtui.store import Database

    with Database(mirror) as db:
        store = db.events(conversation_id)
        stored = 0
        done = asyncio.Event()

        def arrived(event: object) -> None:
            nonlocal stored
            stored += 1
            if stored >= expect:
                done.set()

        store.subscribe("bench", arrived)
        connection = Connection(url, conversation_id, store, key=key, ping_every=0)
        started = time.perf_counter()
        try:
            await connection.start()
            await asyncio.wait_for(done.wait(), wait_at_most)
            yield time.perf_counter() - started
        finally:
            await connection.close()


def standalone_main(
    name: str,
    doc: str | None,
    run: Callable[[bool], list[Row]],
    quick_help: str,
    argv: list[str] | None,
    *,
    render: Callable[[list[Row]], str] | None = None,
    profile: Callable[[], str] | None = None,
) -> int:
    """``python -m bench.<name>_bench [--quick]``: one benchmark on its own, its table on stdout. Never fails: a
    benchmark that raises prints why. ``profile`` adds a ``--profile`` flag that prints its report as well."""
    import argparse

    if render is None:
        from bench.__main__ import render_table

        render = render_table
    parser = argparse.ArgumentParser(prog=f"python -m bench.{name}_bench", description=(doc or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    if profile is not None:
        parser.add_argument("--profile", action="store_true", help="also the profile report")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        print(render(run(args.quick)))
        if profile is not None and args.profile:
            print(profile())
    except Exception as error:  # a benchmark never fails a build; say what happened instead
        print(f"{name} benchmark failed: {type(error).__name__}: {error}")
    print(f"\n({os.cpu_count()} CPUs, {time.perf_counter() - started:.0f} s, quick={args.quick})")
    return 0


def socket_url(url: str, conversation_id: str, key: str, **extra: Any) -> str:
    """The V0 connect URL (query only: a stock client sends nothing else)."""
    from urllib.parse import urlencode

    query = {"conversation_id": conversation_id, "latest_event_id": -1, "session_api_key": key, **extra}
    return f"{url}?{urlencode(query)}"
