"""Start-up: ``ohtui --help``, and the time to the app's first screen with its embedded server connected.

``python -m bench.startup_bench [--quick]``. Both run in fresh processes, the way a user starts ohtui, and are wall
clock from just before the process is spawned (so interpreter start-up and imports are included):

* ``ohtui --help``: until the process exits (best of 5; the console script of this venv);
* first frame: a ``python -c`` child runs :class:`~ohtui.tui.app.OhtuiApp` headless (``App.run_test``, 120x40) on a
  fresh data directory with the echo agent, and reports when (1) its modules are imported, (2) the first screen is
  composed, mounted and painted (the ``run_test`` body is entered and one refresh has run) and (3) the embedded
  server is up, the client is connected to a new conversation and the screen shows it (connection ``connected``,
  agent ``awaiting_user_input``, after one more refresh). The figure is (3); best of 3.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import REPO, Row, failed_row, row, standalone_main

CHILD = r"""
import asyncio, json, sys, time
from pathlib import Path
marks = {}
from ohtui.tui.heap import start_up
with start_up():  # as ohtui's entry point imports and builds the app (ohtui/cli.py)
    from ohtui.client.status import ConnectionState
    from ohtui.protocol import AgentState
    from ohtui.server import ServerConfig
    from ohtui.tui.app import OhtuiApp
marks["imported"] = time.time()

async def main(data):
    app = OhtuiApp(server_config=ServerConfig(data_dir=Path(data)), mirror_dir=Path(data) / "m")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        marks["first_screen"] = time.time()
        def ready():
            session = app.session
            connection = session.connection if session is not None else None
            return (connection is not None and connection.state is ConnectionState.CONNECTED
                    and app.agent_state is AgentState.AWAITING_USER_INPUT)
        await asyncio.wait_for(app.wait_until(ready), 60)
        await pilot.pause()
        marks["connected"] = time.time()
        await app.shutdown()
    print(json.dumps(marks))

asyncio.run(main(sys.argv[1]))
"""


def _ohtui_command() -> list[str]:
    script = Path(sys.executable).parent / "ohtui"
    return [str(script)] if script.exists() else [sys.executable, "-m", "ohtui"]


def _help_seconds(tries: int) -> float:
    command = [*_ohtui_command(), "--help"]
    best = float("inf")
    for _ in range(tries):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, cwd=REPO)
        best = min(best, time.perf_counter() - started)
    return best


def _first_frame(work: Path) -> dict[str, float]:
    data = work / f"data-{time.monotonic_ns()}"
    env = dict(os.environ, OHTUI_DATA_DIR=str(data), OHTUI_CONFIG=str(work / "none.toml"))
    started = time.time()
    done = subprocess.run([sys.executable, "-c", CHILD, str(data)], capture_output=True, text=True, cwd=REPO,
                          env=env, timeout=120)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"the app did not start: {done.stderr.strip().splitlines()[-1:] or done.returncode}")
    marks: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return {name: moment - started for name, moment in marks.items()}


def _imports() -> str:
    """The slowest top-level imports of ``ohtui --help`` (``python -X importtime``), for the note."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "ohtui", "--help"], capture_output=True,
                          text=True, cwd=REPO)  # fmt: skip
    entries: list[tuple[int, str]] = []
    for line in done.stderr.splitlines():
        parts = [part.strip() for part in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[1].isdigit() and not parts[2].startswith(" "):
            name = parts[2]
            if "." not in name:
                entries.append((int(parts[1]), name))
    entries.sort(reverse=True)
    return ", ".join(f"{name} {micro / 1000:.0f} ms" for micro, name in entries[:4])


def run(quick: bool = False) -> list[Row]:
    rows: list[Row] = []
    try:
        tries = 3 if quick else 5
        rows.append(row("ohtui --help", _help_seconds(tries), "s", at_most=0.3,
                        note=f"wall clock, fresh process, best of {tries}; largest imports: {_imports()}"))  # fmt: skip
    except Exception as error:
        rows.append(failed_row("ohtui --help", error))
    work = Path(tempfile.mkdtemp(prefix="ohtui-bench-start-"))
    try:
        tries = 2 if quick else 3
        runs = [_first_frame(work) for _ in range(tries)]
        best = min(runs, key=lambda marks: marks["connected"])
        rows.append(row("first frame, embedded server connected", best["connected"], "s", at_most=1.0,
                        note=f"wall clock from spawning `python -c` (headless run_test, 120x40), best of {tries}: "
                        f"imports done {best['imported']:.2f} s, first screen painted {best['first_screen']:.2f} s, "
                        f"connected to a new conversation and shown {best['connected']:.2f} s"))  # fmt: skip
    except Exception as error:
        rows.append(failed_row("first frame", error))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    return standalone_main("startup", __doc__, run, "fewer tries", argv)


if __name__ == "__main__":
    raise SystemExit(main())
