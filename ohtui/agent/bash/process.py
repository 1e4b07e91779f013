"""The bash child process: how it is started, read, signalled and killed, and the pipe commands read input from.

**Interactive bash over pipes** (``bash --norc --noprofile --noediting -i``). An interactive shell treats SIGINT like a
terminal's Ctrl-C: it abandons the whole command line (loops included) and keeps running, so cwd, exported variables
and functions survive an interrupt. Without a tty there is no job control, so bash and its foreground children share
one process group, which :meth:`BashProcess.interrupt` signals; bash runs background jobs with SIGINT ignored, so
``sleep 100 &`` survives an interrupt. A second SIGINT follows after 0.25 s if the command is still running (a process
forked while the first one was delivered misses it), then SIGKILL of the whole group after the kill grace. As in a
terminal, bash prints a newline when interrupted and ``[1] <pid>`` when a job is put in the background.

**stdin.** Commands read ``/dev/null`` unless run interactively; then they read a separate pipe (:class:`InputPipe`)
that :meth:`BashSession.send_input` writes to (bash reads its command lines from its own stdin, so input meant for a
command can never be executed as a command). Input left unread is discarded before the next interactive command.
There is no way to send EOF: interrupt instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import select
import signal
from collections.abc import Callable

__all__ = ["BashProcess", "InputPipe"]

READ_CHUNK = 65_536
SECOND_SIGINT_AFTER = 0.25
EOF_GRACE = 1.0
"""How long to wait for the last output of a bash that died (a daemonised grandchild may hold the pipe)."""


class InputPipe:
    """The pipe interactive commands read as stdin; it outlives any one bash, so input survives a restart."""

    def __init__(self) -> None:
        self._read_fd = -1
        self.child_fd = -1
        """The read end as bash gets it: a high fd, out of the way of fds commands open with ``exec 3>...``."""
        self._writer: asyncio.WriteTransport | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self._read_fd, write_fd = os.pipe()
        self.child_fd = fcntl.fcntl(self._read_fd, fcntl.F_DUPFD_CLOEXEC, 60)
        transport, _ = await loop.connect_write_pipe(asyncio.Protocol, os.fdopen(write_fd, "wb", buffering=0))
        self._writer = transport

    def write(self, text: str) -> None:
        assert self._writer is not None
        self._writer.write(text.encode("utf-8", "surrogateescape"))

    def discard_unread(self) -> None:
        """Drop input the previous interactive command left unread, so it cannot reach the next one."""
        while select.select([self._read_fd], [], [], 0)[0]:
            if not os.read(self._read_fd, READ_CHUNK):
                return

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        for fd in (self._read_fd, self.child_fd):
            if fd >= 0:
                os.close(fd)
        self._read_fd = self.child_fd = -1


class BashProcess:
    """One bash in a process group of its own, its stdout and stderr read as one stream.

    ``on_output`` gets each chunk bash prints, ``on_exit`` its exit status once it died and what it printed last was
    read (or ``EOF_GRACE`` passed). Both are called with this process, so a caller that replaced it can tell.
    """

    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        on_output: Callable[[BashProcess, bytes], None],
        on_exit: Callable[[BashProcess, int], None],
    ) -> None:
        self._proc = proc
        self._on_output = on_output
        self._on_exit = on_exit
        reader = asyncio.create_task(self._read())
        self._tasks = [reader, asyncio.create_task(self._watch(reader))]

    @classmethod
    async def spawn(
        cls,
        cwd: str,
        env: dict[str, str],
        input_fd: int,
        on_output: Callable[[BashProcess, bytes], None],
        on_exit: Callable[[BashProcess, int], None],
    ) -> BashProcess:
        """Start bash in ``cwd``; ``input_fd`` stays open in it (the :class:`InputPipe`)."""
        proc = await asyncio.create_subprocess_exec(
            "bash",
            "--noprofile",
            "--norc",
            "--noediting",
            "-i",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
            pass_fds=(input_fd,),
            preexec_fn=_default_dispositions(),
        )
        return cls(proc, on_output, on_exit)

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    async def write_line(self, line: bytes) -> None:
        stdin = self._proc.stdin
        assert stdin is not None
        with contextlib.suppress(OSError):  # bash died: on_exit finishes the command
            stdin.write(line)
            await stdin.drain()

    def signal(self, sig: int) -> None:
        """Signal bash's whole process group (its foreground command included), if bash is alive."""
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, sig)

    async def interrupt(self, started: asyncio.Event, done: asyncio.Future[int], grace: float) -> None:
        """Ctrl-C for the command that sets ``done`` when it ends; SIGKILL of the group if it outlives ``grace``.

        Returns when ``done`` is set, or when even the SIGKILL did not set it in time.
        """
        with contextlib.suppress(TimeoutError):
            # Signalling before bash has read the whole line could make it run a fragment of it.
            await asyncio.wait_for(started.wait(), grace)
        if done.done():
            return
        if started.is_set():
            # A process forked while the first SIGINT was being delivered misses it (bash itself only notices after
            # that child exits), so a command still running shortly after gets a second one, like a user pressing
            # Ctrl-C twice.
            first = min(SECOND_SIGINT_AFTER, grace / 2)
            for wait_for in (first, grace - first):
                self.signal(signal.SIGINT)
                # An empty line makes bash print a prompt, hence the marker, even if the SIGINT landed just as the
                # command ended and cut the previous prompt short; otherwise it does nothing.
                await self.write_line(b"\n")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(done), wait_for)
                if done.done():
                    return
        self.signal(signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(done), EOF_GRACE + grace)

    async def kill(self) -> None:
        """SIGKILL bash's process group and reap bash; its reader and watcher are cancelled."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        await self._proc.wait()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _read(self) -> None:
        stdout = self._proc.stdout
        assert stdout is not None
        while chunk := await stdout.read(READ_CHUNK):
            self._on_output(self, chunk)

    async def _watch(self, reader: asyncio.Task[None]) -> None:
        """When bash dies, kill what is left of its group and report, once its last output was read."""
        status = await self._proc.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(reader), EOF_GRACE)
        self._on_exit(self, status if status >= 0 else 128 - status)


# Reset in the child by subprocess itself (restore_signals), and the two a process cannot catch or ignore.
_RESTORED_ANYWAY = frozenset(
    getattr(signal, name) for name in ("SIGKILL", "SIGSTOP", "SIGPIPE", "SIGXFSZ", "SIGXFZ") if hasattr(signal, name)
)


def _default_dispositions() -> Callable[[], None] | None:
    """What bash needs run before exec so that it starts with no signal ignored; None when nothing is.

    A signal ignored here (ohtui started by ``nohup``, by ``&`` from a script, by some service managers) would be
    ignored by bash and every command it runs: SIGINT could not stop a command, so an interrupt or a hard timeout
    would escalate to SIGKILL of the whole group (137 instead of 130, and the shell's state lost). Caught signals
    go back to their default at exec anyway, and uvloop's libuv resets every disposition in its children; this
    does the same for asyncio's loop. Only when something is ignored, since a ``preexec_fn`` costs the fast
    spawn (vfork) every other start gets.
    """
    ignored = [
        sig for sig in signal.valid_signals() if sig not in _RESTORED_ANYWAY and signal.getsignal(sig) == signal.SIG_IGN
    ]
    if not ignored:
        return None

    def reset() -> None:
        for sig in ignored:
            signal.signal(sig, signal.SIG_DFL)

    return reset
