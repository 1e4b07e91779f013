"""``ohtui serve`` as a real subprocess: start it on port 0, read where it listens, stop or kill it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

START_TIMEOUT = 30.0
TEST_KEY = "test-session-key-0123456789"


class ServeProcess:
    def __init__(self, data_dir: Path, *extra: str, key: str | None = TEST_KEY) -> None:
        """``key`` reaches the server through ``OHTUI_SESSION_API_KEY``; None leaves it to make or find its own."""
        self.data_dir = data_dir
        self.key = key
        self.args = [sys.executable, "-m", "ohtui", "serve", "--port", "0", "--data-dir", str(data_dir), *extra]
        self.process: asyncio.subprocess.Process | None = None
        self.url = ""
        self.stderr_lines: list[str] = []

    async def start(self) -> str:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("OHTUI_SESSION_API_KEY", None)
        if self.key is not None:
            env["OHTUI_SESSION_API_KEY"] = self.key
        self.process = await asyncio.create_subprocess_exec(
            *self.args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=env
        )
        async with asyncio.timeout(START_TIMEOUT):
            while True:
                line = await self._line()
                if line is None:
                    raise RuntimeError(f"ohtui serve exited early: {self.stderr_lines}")
                if line.startswith("ohtui serving on "):
                    self.url = line.removeprefix("ohtui serving on ").strip()
                    return self.url

    async def line_starting(self, prefix: str) -> str:
        """The first line of stderr, seen or still to come, that starts with ``prefix``."""
        async with asyncio.timeout(START_TIMEOUT):
            for line in self.stderr_lines:
                if line.startswith(prefix):
                    return line
            while True:
                line = await self._line()
                if line is None:
                    raise RuntimeError(f"ohtui serve never printed {prefix!r}: {self.stderr_lines}")
                if line.startswith(prefix):
                    return line

    async def _line(self) -> str | None:
        assert self.process is not None and self.process.stderr is not None
        raw = await self.process.stderr.readline()
        if not raw:
            return None
        line = raw.decode(errors="replace").rstrip("\n")
        self.stderr_lines.append(line)
        return line

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    async def stop(self, signum: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Send ``signum``, read the rest of stderr, and return the exit code."""
        assert self.process is not None
        self.process.send_signal(signum)
        async with asyncio.timeout(timeout):
            while await self._line() is not None:
                pass
            return await self.process.wait()

    async def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        await self.process.wait()

    async def ensure_gone(self) -> None:
        if self.process is not None and self.process.returncode is None:
            await self.kill()
