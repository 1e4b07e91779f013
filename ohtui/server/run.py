"""``ohtui serve``: run the server headless until SIGINT or SIGTERM, then stop cleanly with everything stored.

The server always has a session key. Unless one is given, it is the one in the data dir's key file (mode 0600),
made at the first start; so clients keep working across restarts, and a client on this machine finds it there.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from ohtui.config import SettingsError, forget_server, key_file_path, read_key_file, record_server, write_private_text
from ohtui.server.app import OhtuiServer, ServerConfig, ServerError
from ohtui.server.auth import new_session_key, served_key_problem


def served_key(given: str | None, data_directory: Path) -> tuple[str, str]:
    """The key to serve with and where it came from: ``given``, else the data dir's key file, else a new one."""
    if given is not None:
        problem = served_key_problem(given)
        if problem is not None:
            raise ServerError(f"{problem}: use a random key, e.g. the one ohtui makes when none is given")
        return given, "as given"
    path = key_file_path(data_directory)
    if path.exists():
        try:
            key = read_key_file(path)
        except SettingsError as error:
            raise ServerError(f"{error}; delete it to have a new key made") from None
        problem = served_key_problem(key)
        if problem is not None:
            raise ServerError(f"{path}: {problem}; delete it to have a new key made")
        return key, f"from {path}"
    return new_session_key(), "new"


async def serve_until_signalled(config: ServerConfig, out: TextIO = sys.stderr) -> int:
    """Start, print where to connect, wait for SIGINT/SIGTERM, stop. Returns the process exit code."""
    data_directory = config.data_dir
    how = "as given"
    if data_directory is not None:
        key, how = served_key(config.key, data_directory)
        config = replace(config, key=key)
    server = OhtuiServer(config)
    url, key = await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        # Written before the first line is printed: whoever reads "serving on" can read the key file.
        key_file = key_file_path(data_directory) if data_directory is not None else None
        if data_directory is not None and key_file is not None:
            write_private_text(key_file, key + "\n")
            record_server(data_directory, url)
        print(f"ohtui serving on {url}", file=out, flush=True)
        print(f"data: {server.db.path}", file=out, flush=True)
        if key_file is not None:
            _print_key(out, key, how, key_file)
        print(f"connect with: ohtui connect {url}", file=out, flush=True)
        print(
            "  (on this machine the key is found in the data dir; elsewhere pass it with --key-file FILE or "
            "OHTUI_SESSION_API_KEY)",
            file=out,
            flush=True,
        )
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        print("stopping: finishing what is queued…", file=out, flush=True)
        if data_directory is not None:
            forget_server(data_directory)
        await server.stop()
        print("stopped", file=out, flush=True)
    return 0


def _print_key(out: TextIO, key: str, how: str, key_file: Path) -> None:
    if how == "new":
        print(f"session key: {key} (new; kept in {key_file}, mode 0600)", file=out, flush=True)
    else:
        print(f"session key: {how} (kept in {key_file}, mode 0600)", file=out, flush=True)
