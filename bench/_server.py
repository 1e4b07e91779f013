"""A benchmark's server process: ``python -m bench._server DATA_DIR [--tracemalloc]``.

Starts :class:`~ohtui.server.OhtuiServer` (echo agent, 127.0.0.1 port 0, a generated key) on ``DATA_DIR``, on the
event loop ``ohtui serve`` uses, prints one JSON line ``{"url", "key", "pid"}``, then answers one JSON line per
command line read from stdin; it stops the server and exits when stdin closes. Commands (``{"command": NAME, ...}``):

* ``memory``: collect garbage, then ``rss_mb``, ``hwm_mb`` and, when tracing, ``traced_mb``/``traced_peak_mb``;
* ``snapshot``: remember a tracemalloc snapshot; ``top`` (``limit``): the allocation sites that grew most since it;
* ``live``: the running conversations and how many events each controller keeps in memory (``_history``);
* ``close_all``: stop every running conversation (their controllers and what they hold).

With ``BENCH_SERVER_PROFILE=PATH`` in the environment the whole run is profiled (cProfile) into ``PATH``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import tracemalloc
from pathlib import Path
from typing import Any

from bench.common import hwm_mb, rss_mb
from ohtui.server import OhtuiServer, ServerConfig
from ohtui.server import loop as server_loop


def _reply(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()


async def _answer(server: OhtuiServer, request: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    command = request.get("command")
    if command == "memory":
        gc.collect()
        out: dict[str, Any] = {"rss_mb": rss_mb(), "hwm_mb": hwm_mb()}
        if tracemalloc.is_tracing():
            current, peak = tracemalloc.get_traced_memory()
            out.update(traced_mb=current / 2**20, traced_peak_mb=peak / 2**20)
        return out
    if command == "reset_peak":
        if tracemalloc.is_tracing():
            tracemalloc.reset_peak()
        return {}
    if command == "snapshot":
        gc.collect()
        state["snapshot"] = tracemalloc.take_snapshot() if tracemalloc.is_tracing() else None
        return {}
    if command == "top":
        gc.collect()
        before = state.get("snapshot")
        if before is None or not tracemalloc.is_tracing():
            return {"top": []}
        after = tracemalloc.take_snapshot()
        stats = after.compare_to(before, "lineno")[: int(request.get("limit", 12))]
        return {
            "top": [
                {"where": str(stat.traceback[0]), "mb": stat.size_diff / 2**20, "blocks": stat.count_diff}
                for stat in stats
            ]
        }
    if command == "live":
        assert server.manager is not None
        live = server.manager._live  # a benchmark may look inside
        return {"live": {cid: conv.controller.state.value for cid, conv in live.items()}}
    if command == "close_all":
        assert server.manager is not None
        await server.manager.close_all()
        return {}
    return {"error": f"unknown command {command!r}"}


async def main(data_dir: Path) -> None:
    server = OhtuiServer(ServerConfig(data_dir=data_dir))
    url, key = await server.start()
    _reply({"url": url, "key": key, "pid": os.getpid()})
    loop = asyncio.get_running_loop()
    state: dict[str, Any] = {}
    try:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            try:
                _reply(await _answer(server, json.loads(line), state))
            except Exception as error:  # report, keep serving
                _reply({"error": f"{type(error).__name__}: {error}"})
    finally:
        await server.stop()


def _run(data_dir: Path) -> None:
    profile_to = os.environ.get("BENCH_SERVER_PROFILE")
    if not profile_to:
        server_loop.run(main(data_dir))  # the loop `ohtui serve` runs on
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        server_loop.run(main(data_dir))
    finally:
        profiler.disable()
        profiler.dump_stats(profile_to)


if __name__ == "__main__":
    if "--tracemalloc" in sys.argv:
        tracemalloc.start()
    _run(Path(sys.argv[1]))
