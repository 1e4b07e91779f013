"""One persistent bash that runs an agent's shell commands one at a time: :class:`BashSession`.

It drives a :class:`~ohtui.agent.bash.process.BashProcess`, reads its output through a
:class:`~ohtui.agent.bash.markers.MarkerReader` into an :class:`~ohtui.agent.bash.output.OutputBuffer`, and decides
when a call returns:

* **Soft timeout** = ``soft_timeout`` seconds with *no new output* (upstream's "no change" timeout): the call returns
  what it has with ``finished=False`` and the command keeps running; collect the rest with :meth:`BashSession.wait`.
  **Hard timeout** = wall time of the call; the command is then interrupted, and if it ignores SIGINT its whole
  process group (bash included, hence a restart) is killed.
* Output nobody collected (background jobs printing between commands, the end of a soft-timed-out command that
  finished before anyone called ``wait``) is prepended to the next result.
* If bash dies (``set -e``, ``kill -9 $$``, a hard timeout that needed SIGKILL) the session restarts bash
  transparently in the last known cwd on the next :meth:`BashSession.run`; exported variables, functions and
  background jobs are lost in that case.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import signal
import socket
import uuid
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

from ohtui.agent.bash.markers import CommandEnd, CommandMarkers, MarkerReader, command_line, quote, setup_script
from ohtui.agent.bash.output import MAX_OUTPUT_CHARS, OutputBuffer
from ohtui.agent.bash.process import BashProcess, InputPipe

__all__ = ["BashSession", "CommandResult", "CommandStillRunningError", "NoCommandRunningError"]

_START_TIMEOUT = 10.0

TimeoutKind = Literal["soft", "hard"]


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What one :meth:`BashSession.run`/``wait``/``interrupt`` call observed; maps onto CmdOutputMetadata."""

    output: str
    exit_code: int
    """The command's exit status, or -1 while it is still running (upstream's convention)."""
    pid: int
    """The pid of the bash process that ran the command."""
    working_dir: str
    """Bash's cwd after the command (before it, while the command is still running)."""
    username: str | None
    hostname: str | None
    finished: bool
    """The command is over: it exited, was interrupted, or was killed by a hard timeout."""
    timed_out: TimeoutKind | None
    """``"soft"``: partial output, still running; ``"hard"``: killed for running too long."""
    truncated: bool
    """The middle of the output was cut (see :func:`~ohtui.agent.bash.output.truncate_middle`)."""


class CommandStillRunningError(RuntimeError):
    """A new command was given while the previous one is still running (after a soft timeout)."""


class NoCommandRunningError(RuntimeError):
    """``wait`` or ``send_input`` was called with no command to talk to."""


class _Command:
    """Book-keeping for the command currently (or last) sent to bash."""

    def __init__(self, token: str, interactive: bool, *, began: bool = False) -> None:
        self.token = token
        self.interactive = interactive
        self.markers = CommandMarkers(token, began=began)
        self.started = asyncio.Event()
        """Set once bash has read the whole command line (so SIGINT cannot cut it), or when it finished."""
        if began:
            self.started.set()
        self.done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.collected = False
        """The final result has been handed out."""
        self.strip_newline = False
        """``exit`` aborted the line and bash printed a newline for it."""

    def mark_started(self) -> None:
        self.markers.began = True
        self.started.set()


class BashSession:
    """A persistent bash: cwd, variables and functions carry over from one command to the next."""

    def __init__(
        self,
        work_dir: str,
        env: dict[str, str] | None = None,
        *,
        max_output_chars: int = MAX_OUTPUT_CHARS,
        kill_grace: float = 2.0,
    ) -> None:
        """``env`` replaces the environment (as in :mod:`subprocess`); None inherits ``os.environ``.

        ``kill_grace`` is how long a command gets to die after SIGINT before its process group is killed.
        """
        if max_output_chars <= 0:
            raise ValueError("max_output_chars must be positive")
        self._work_dir = os.path.abspath(work_dir)
        self._env = dict(env) if env is not None else None
        self._max_chars = max_output_chars
        self._kill_grace = kill_grace
        self._cwd = self._work_dir
        self._username = _username()
        self._hostname = socket.gethostname()
        self._process: BashProcess | None = None
        self._input = InputPipe()
        self._cmd: _Command | None = None
        self._reader = MarkerReader()
        self._sink = OutputBuffer(max_output_chars)
        self._last_output = 0.0
        self._wakeup = asyncio.Event()
        self._lock = asyncio.Lock()
        self._started = False
        self._closed = False
        self._dying = False
        """Bash printed its last marker from its EXIT trap: the next command needs a new bash."""

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Launch bash; idempotent."""
        if self._closed:
            raise RuntimeError("the session is closed")
        if self._started:
            return
        self._started = True
        await self._input.open()
        await self._spawn(self._work_dir)

    async def close(self) -> None:
        """Kill bash and everything in its process group, and reap it; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._process is not None:
            await self._process.kill()
        self._input.close()
        cmd = self._cmd
        if cmd is not None and not cmd.done.done():
            cmd.done.set_result(128 + signal.SIGKILL)
            cmd.started.set()
        self._wakeup.set()

    async def __aenter__(self) -> BashSession:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def pid(self) -> int:
        """The current bash pid (it changes when bash had to be restarted), or -1 before start."""
        return self._process.pid if self._process is not None else -1

    @property
    def working_dir(self) -> str:
        """Bash's cwd as of the last finished command."""
        return self._cwd

    @property
    def running(self) -> bool:
        """A command is still running (after a soft timeout, or while a call is waiting on it)."""
        return self._cmd is not None and not self._cmd.done.done()

    # ----------------------------------------------------------------- commands

    async def run(
        self,
        command: str,
        soft_timeout: float | None = 10.0,
        hard_timeout: float | None = 120.0,
        *,
        interactive: bool = False,
    ) -> CommandResult:
        """Run ``command`` in the persistent shell and return when it finishes or a timeout fires.

        ``soft_timeout``: seconds without new output before returning a partial result (None: never).
        ``hard_timeout``: seconds before the command is killed (None: never).
        ``interactive``: the command reads :meth:`send_input` instead of /dev/null.
        Raises :class:`CommandStillRunningError` if the previous command is still running.
        """
        quoted = quote(command)
        async with self._lock:
            self._check_usable()
            if self.running:
                raise CommandStillRunningError("the previous command is still running: wait() or interrupt()")
            process = self._process
            if process is None or process.returncode is not None or self._dying:
                process = await self._spawn(self._cwd)
            fd = self._input.child_fd
            if interactive:
                self._input.discard_unread()
                redirect = f"<&{fd} {fd}<&-"
            else:
                redirect = f"</dev/null {fd}<&-"
            cmd = _Command(uuid.uuid4().hex, interactive)
            self._cmd = cmd
            await process.write_line(command_line(cmd.token, quoted, redirect))
            return await self._collect(cmd, soft_timeout, hard_timeout)

    async def wait(self, soft_timeout: float | None = 10.0, hard_timeout: float | None = 120.0) -> CommandResult:
        """Collect more output of a command that soft-timed-out, and its exit code once it finishes.

        The timeouts mean what they mean for :meth:`run`; a hard timeout kills the command.
        """
        async with self._lock:
            cmd = self._cmd
            if cmd is None or cmd.collected:
                raise NoCommandRunningError("no command is running")
            return await self._collect(cmd, soft_timeout, hard_timeout)

    async def send_input(self, text: str) -> None:
        """Write ``text`` (add the newline yourself) to the stdin of a command run with ``interactive=True``."""
        cmd = self._cmd
        if cmd is None or cmd.done.done():
            raise NoCommandRunningError("no command is running")
        if not cmd.interactive:
            raise NoCommandRunningError("the running command was not started with interactive=True")
        self._input.write(text)

    async def interrupt(self) -> CommandResult | None:
        """Send SIGINT to the running command (as Ctrl-C would) and return its result; None if idle.

        If the command ignores SIGINT, its process group is killed after ``kill_grace`` seconds. When another
        task is awaiting :meth:`run` or :meth:`wait`, that call gets the output and this returns the rest.
        """
        cmd = self._cmd
        if cmd is None or cmd.collected:
            return None
        await self._stop(cmd)
        async with self._lock:
            return self._result(cmd, None) if self._cmd is cmd else None

    # ----------------------------------------------------------------- internals

    def _check_usable(self) -> None:
        if self._closed:
            raise RuntimeError("the session is closed")
        if not self._started:
            raise RuntimeError("the session is not started: await start() first")

    async def _spawn(self, cwd: str) -> BashProcess:
        """Start a fresh bash in ``cwd`` (falling back to the work dir) and wait until it is set up."""
        if self._process is not None:
            await self._process.kill()
        self._reader.clear()
        self._dying = False
        env = dict(self._env) if self._env is not None else dict(os.environ)
        spawn = (self._input.child_fd, self._on_output, self._on_exit)
        try:
            process = await BashProcess.spawn(cwd, env, *spawn)
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            if cwd == self._work_dir:
                raise
            cwd = self._work_dir  # the last cwd is gone
            process = await BashProcess.spawn(cwd, env, *spawn)
        self._process = process
        self._cwd = cwd
        sync = _Command(uuid.uuid4().hex, interactive=False, began=True)
        self._cmd = sync
        await process.write_line(setup_script(sync.token))
        try:
            await asyncio.wait_for(asyncio.shield(sync.done), _START_TIMEOUT)
        except TimeoutError:
            await process.kill()
            raise RuntimeError("bash did not start") from None
        finally:
            self._cmd = None
        if process.returncode is not None:
            raise RuntimeError(f"bash exited during start-up with status {process.returncode}")
        self._sink = OutputBuffer(self._max_chars)  # drop the start-up chatter ("no job control", prompt)
        return process

    def _on_output(self, process: BashProcess, data: bytes) -> None:
        """Route bash's output into the buffer, stripping markers and noticing command completion."""
        if process is not self._process:
            return
        self._last_output = asyncio.get_running_loop().time()
        self._wakeup.set()
        cmd = self._cmd
        ends = self._reader.feed(data, cmd.markers if cmd is not None else None, self._sink)
        if cmd is None:
            return
        if cmd.markers.began:
            cmd.started.set()
        for end in ends:
            if not cmd.done.done():
                self._ended(cmd, end)

    def _ended(self, cmd: _Command, end: CommandEnd) -> None:
        cmd.strip_newline = end.by_exit
        self._dying = end.dying
        self._finish(cmd, end.exit_code, end.cwd)

    def _on_exit(self, process: BashProcess, status: int) -> None:
        """Bash died: what it held back is output, and the command it was running is over."""
        if process is not self._process:
            return
        self._reader.flush(self._sink)
        cmd = self._cmd
        if cmd is not None and not cmd.done.done():
            self._finish(cmd, status, self._cwd)
        self._wakeup.set()

    def _finish(self, cmd: _Command, exit_code: int, cwd: str) -> None:
        self._cwd = cwd
        cmd.mark_started()
        cmd.done.set_result(exit_code)
        self._wakeup.set()

    async def _collect(self, cmd: _Command, soft: float | None, hard: float | None) -> CommandResult:
        """Wait for ``cmd`` to finish, go quiet for ``soft`` seconds, or outlive ``hard`` seconds."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        hard_deadline = start + hard if hard is not None else None
        while True:
            self._wakeup.clear()
            if cmd.done.done():
                return self._result(cmd, None)
            now = loop.time()
            if hard_deadline is not None and now >= hard_deadline:
                await self._stop(cmd)
                return self._result(cmd, "hard")
            soft_deadline = max(self._last_output, start) + soft if soft is not None else None
            if soft_deadline is not None and now >= soft_deadline:
                return self._result(cmd, "soft")
            deadlines = [d for d in (soft_deadline, hard_deadline) if d is not None]
            timeout = min(deadlines) - now if deadlines else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout)

    def _result(self, cmd: _Command, timed_out: TimeoutKind | None) -> CommandResult:
        """Hand out the output gathered since the previous result."""
        buf = self._sink
        self._sink = OutputBuffer(self._max_chars)
        finished = cmd.done.done()
        if finished:
            cmd.collected = True
        else:
            self._sink.add(buf.split_incomplete())
        output, truncated = buf.render(self._max_chars)
        if finished and cmd.strip_newline and output.endswith("\n"):
            output = output[:-1]
            cmd.strip_newline = False
        return CommandResult(
            output=output,
            exit_code=cmd.done.result() if finished else -1,
            pid=self.pid,
            working_dir=self._cwd,
            username=self._username,
            hostname=self._hostname,
            finished=finished,
            timed_out=timed_out,
            truncated=truncated,
        )

    async def _stop(self, cmd: _Command) -> None:
        """SIGINT the command; if it is still running after ``kill_grace`` seconds, kill the whole group."""
        if self._process is not None:
            await self._process.interrupt(cmd.started, cmd.done, self._kill_grace)
        if not cmd.done.done():
            self._finish(cmd, 128 + signal.SIGKILL, self._cwd)


def _username() -> str | None:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return None
