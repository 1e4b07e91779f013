"""``ohtui serve``: run the server headless until SIGINT or SIGTERM, then stop cleanly with everything stored."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import TextIO

from ohtui.server.app import OhtuiServer, ServerConfig


async def serve_until_signalled(config: ServerConfig, out: TextIO = sys.stderr) -> int:
    """Start, print where to connect, wait for SIGINT/SIGTERM, stop. Returns the process exit code."""
    server = OhtuiServer(config)
    url, key = await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(f"ohtui serving on {url}", file=out, flush=True)
    print(f"data: {server.db.path}", file=out, flush=True)
    if key and config.generate_key and not config.key:
        print(f"session key: {key}", file=out, flush=True)
    elif not key:
        print("no session key: any local user can connect (pass --key to require one)", file=out, flush=True)
    print(f"connect with: ohtui connect {url}" + (" --key KEY" if key else ""), file=out, flush=True)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        print("stopping: finishing what is queued…", file=out, flush=True)
        await server.stop()
        print("stopped", file=out, flush=True)
    return 0
