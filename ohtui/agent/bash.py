"""One persistent bash process that runs an agent's shell commands one at a time.

Design choices (the "why" behind the code below):

* **Interactive bash over pipes** (``bash --norc --noprofile --noediting -i``). An interactive shell treats
  SIGINT like a terminal's Ctrl-C: it abandons the whole command line (loops included) and keeps running,
  so cwd, exported variables and functions survive an interrupt. Without a tty there is no job control, so
  bash and its foreground children share one process group and :meth:`BashSession.interrupt` signals that
  group; bash runs background jobs with SIGINT ignored, so ``sleep 100 &`` survives an interrupt. A second
  SIGINT follows after 0.25 s if the command is still running (a process forked while the first one was
  delivered misses it), then SIGKILL of the whole group after ``kill_grace``. As in a terminal, bash prints a
  newline when interrupted and ``[1] <pid>`` when a job is put in the background.
* **Completion marker.** Each command is sent as one line that sets a fresh random token, prints a begin
  marker and runs ``eval $'<command>'`` (the text is escaped byte by byte, so heredocs, quotes and multi-line
  commands arrive intact). Bash's ``PROMPT_COMMAND`` prints the end marker with the token, the exit code and
  ``$PWD``; it runs after every command line, including one abandoned by SIGINT, and background jobs that
  keep stdout open do not delay it. Both markers are stripped from the output.
* **stdin.** Commands read ``/dev/null`` unless run with ``interactive=True``; then they read a separate
  pipe that :meth:`BashSession.send_input` writes to (bash reads its command lines from its own stdin, so
  input meant for a command can never be executed as a command). Input left unread is discarded before the
  next interactive command. There is no way to send EOF: use :meth:`BashSession.interrupt`.
* **``exit``** is a shell function in the top-level shell: it records the status and aborts the command
  line the same way SIGINT does, so ``exit 3`` reports 3 and bash (with its variables) survives. In
  subshells it is the builtin. The helpers are visible to commands as ``exit``, ``__ohtui_*`` and
  ``PROMPT_COMMAND``; a command that replaces them or redirects the shell's own stdout (``exec >f``) leaves
  no marker, runs into its hard timeout and gets a fresh bash. If bash dies (``set -e``, ``kill -9 $$``, a
  hard timeout that needed SIGKILL) the session restarts bash transparently in the last known cwd on the next
  :meth:`run`; exported variables, functions and background jobs are lost in that case.
* **Soft timeout** = ``soft_timeout`` seconds with *no new output* (upstream's "no change" timeout): the
  call returns what it has with ``finished=False`` and the command keeps running; collect the rest with
  :meth:`BashSession.wait`. **Hard timeout** = wall time of the call; the command is then interrupted as
  above, and if it ignores SIGINT its whole process group (bash included, hence a restart) is killed.
* **Output** is stdout and stderr merged through one pipe (their relative order is preserved), decoded as
  UTF-8 with ``errors="replace"``, returned exactly as printed (trailing newline kept), and cut in the middle
  above ``max_output_chars`` like upstream's ``truncate_content``. While a command streams, only a head and
  a rolling tail are kept, so memory stays bounded whatever the command prints. Output nobody collected
  (background jobs printing between commands, the end of a soft-timed-out command that finished before
  anyone called ``wait``) is prepended to the next result.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import getpass
import os
import re
import select
import signal
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

from ohtui.protocol.observations import TRUNCATION_NOTICE
from ohtui.protocol.observations import truncate_middle as _truncate_middle

__all__ = [
    "MAX_OUTPUT_CHARS",
    "TRUNCATION_NOTICE",
    "BashSession",
    "CommandResult",
    "CommandStillRunningError",
    "NoCommandRunningError",
    "truncate_middle",
]

MAX_OUTPUT_CHARS = 30_000

_READ_CHUNK = 65_536
_SECOND_SIGINT_AFTER = 0.25
_START_TIMEOUT = 10.0
# How long to wait for the last output of a bash that died (a daemonised grandchild may hold the pipe).
_EOF_GRACE = 1.0
# Characters that need no escaping inside $'...'.
_SAFE_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 ,._+:@%/=-")

# An interactive bash without a tty says this whenever a foreground process dies of a signal
# (e.g. SIGPIPE in `yes | head`): it tries to restore terminal settings it never had.
_TTY_NOISE = re.compile(r"bash: \[\d+: \d+ \(\d+\)\] tcsetattr: [^\n]*\n")

_BEGIN = b"__OHTUI_B_%s__"
_END_PREFIX = b"__OHTUI_E_%s_"
_END_RE = rb"__OHTUI_E_%s_(\d+)_([xd-])_(.*?)__OHTUI_END__"
_STALE_END = re.compile(_END_RE % rb"[0-9a-f]{32}", re.DOTALL)

# Sent once after bash starts; each line is one command line, so each produces one prompt.
_SETUP = r"""PS1=''; PS2=''; PS0=''; unset PROMPT_COMMAND HISTFILE MAILCHECK MAILPATH; set +H +o history
__ohtui_prompt() {
  local s=$? f=${1:--}
  if [[ $f == - && -n ${__ohtui_ec-} ]]; then f=x; fi
  if [[ -n ${__ohtui_tok-} ]]; then
    builtin printf '__OHTUI_E_%s_%d_%s_%s__OHTUI_END__' "$__ohtui_tok" "${__ohtui_ec:-$s}" "$f" "$PWD"
  fi
  __ohtui_last=${__ohtui_ec:-$s}; __ohtui_tok=''; __ohtui_ec=''; PS1=''; PS2=''
}
__ohtui_status() { return "$1"; }
exit() {
  local s=$?
  if [[ $BASHPID != "$$" ]]; then builtin exit "${1-$s}"; fi
  __ohtui_ec=$(( ${1-$s} & 255 )); builtin kill -INT "$$"; builtin exit "$__ohtui_ec"
}
trap '__ohtui_prompt d' EXIT
PROMPT_COMMAND=__ohtui_prompt; __ohtui_tok=@TOKEN@
"""

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
    """The middle of the output was cut (see :func:`truncate_middle`)."""


class CommandStillRunningError(RuntimeError):
    """A new command was given while the previous one is still running (after a soft timeout)."""


class NoCommandRunningError(RuntimeError):
    """``wait`` or ``send_input`` was called with no command to talk to."""


def truncate_middle(text: str, max_chars: int = MAX_OUTPUT_CHARS) -> tuple[str, bool]:
    """Cut the middle out of long output the way upstream's ``truncate_content`` does."""
    if max_chars <= 0 or len(text) <= max_chars:
        return text, False
    return _truncate_middle(text, max_chars), True


def _quote(command: str) -> str:
    """Return ``command`` as a bash ``$'...'`` word that survives any quoting, newline or heredoc."""
    data = command.encode("utf-8", "surrogateescape")
    if b"\0" in data:
        raise ValueError("a shell command cannot contain a NUL character")
    return "$'" + "".join(chr(b) if b in _SAFE_BYTES else f"\\{b:03o}" for b in data) + "'"


def _partial_suffix(data: bytearray, marker: bytes) -> int:
    """Length of the longest tail of ``data`` that could be the start of ``marker`` (to hold back)."""
    for n in range(min(len(marker) - 1, len(data)), 0, -1):
        if data.endswith(marker[:n]):
            return n
    return 0


def _incomplete_utf8_tail(data: bytes | bytearray) -> int:
    """Bytes at the end of ``data`` that start a UTF-8 character not yet complete."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # a lead byte or ASCII
            need = 2 if byte & 0xE0 == 0xC0 else 3 if byte & 0xF0 == 0xE0 else 4 if byte & 0xF8 == 0xF0 else 1
            return back if need > back else 0
    return 0


def _decode(data: bytes | bytearray) -> str:
    return _TTY_NOISE.sub("", data.decode("utf-8", "replace"))


class _OutputBuffer:
    """Output not yet returned to the caller: a head and a rolling tail, so huge output stays bounded."""

    def __init__(self, max_chars: int) -> None:
        # Decoding yields at least one character per 4 bytes, so this many bytes always cover half the limit.
        self._keep = 4 * (max_chars // 2) + 4
        self._head = bytearray()
        self._tail = bytearray()
        self._dropped = 0

    def add(self, data: bytes | bytearray) -> None:
        room = self._keep - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if data:
            self._tail += data
            excess = len(self._tail) - self._keep
            if excess > 0:
                del self._tail[:excess]
                self._dropped += excess

    def split_incomplete(self) -> bytes:
        """Remove and return a trailing partial UTF-8 character, so a partial result does not split it."""
        buf = self._tail if self._tail else self._head
        n = _incomplete_utf8_tail(buf)
        if not n:
            return b""
        rest = bytes(buf[-n:])
        del buf[-n:]
        return rest

    def render(self, max_chars: int) -> tuple[str, bool]:
        if not self._dropped:
            return truncate_middle(_decode(self._head + self._tail), max_chars)
        half = max_chars // 2
        tail = _decode(self._tail)[-half:] if half else ""
        return _decode(self._head)[:half] + TRUNCATION_NOTICE + tail, True


class _Command:
    """Book-keeping for the command currently (or last) sent to bash."""

    def __init__(self, token: str, interactive: bool) -> None:
        self.token = token
        self.interactive = interactive
        tok = token.encode()
        self.begin = _BEGIN % tok
        self.end_prefix = _END_PREFIX % tok
        self.end_re = re.compile(_END_RE % tok, re.DOTALL)
        self.started = asyncio.Event()
        """Set once bash has read the whole command line (so SIGINT cannot cut it), or when it finished."""
        self.done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.collected = False
        """The final result has been handed out."""
        self.strip_newline = False
        """``exit`` aborted the line and bash printed a newline for it."""


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
        self._proc: asyncio.subprocess.Process | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._cmd: _Command | None = None
        self._pending = bytearray()
        self._sink = _OutputBuffer(max_output_chars)
        self._last_output = 0.0
        self._wakeup = asyncio.Event()
        self._lock = asyncio.Lock()
        self._input_r = -1
        self._input_child = -1
        self._input: asyncio.WriteTransport | None = None
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
        loop = asyncio.get_running_loop()
        self._input_r, input_w = os.pipe()
        # A high fd number in bash, out of the way of fds that user commands open with `exec 3>...`.
        self._input_child = fcntl.fcntl(self._input_r, fcntl.F_DUPFD_CLOEXEC, 60)
        transport, _ = await loop.connect_write_pipe(asyncio.Protocol, os.fdopen(input_w, "wb", buffering=0))
        self._input = transport
        await self._spawn(self._work_dir)

    async def close(self) -> None:
        """Kill bash and everything in its process group, and reap it; idempotent."""
        if self._closed:
            return
        self._closed = True
        await self._kill_bash()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._input is not None:
            self._input.close()
        for fd in (self._input_r, self._input_child):
            if fd >= 0:
                os.close(fd)
        self._input_r = self._input_child = -1
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
        return self._proc.pid if self._proc is not None else -1

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
        quoted = _quote(command)
        async with self._lock:
            self._check_usable()
            if self.running:
                raise CommandStillRunningError("the previous command is still running: wait() or interrupt()")
            if self._proc is None or self._proc.returncode is not None or self._dying:
                await self._spawn(self._cwd)
            if interactive:
                self._discard_unread_input()
                redirect = f"<&{self._input_child} {self._input_child}<&-"
            else:
                redirect = f"</dev/null {self._input_child}<&-"
            cmd = _Command(uuid.uuid4().hex, interactive)
            self._cmd = cmd
            # `__ohtui_status ... && :` gives the command the previous `$?` without tripping `set -e`.
            line = (
                f"__ohtui_tok={cmd.token}; builtin printf '__OHTUI_B_%s__' {cmd.token}; "
                f'{{ __ohtui_status "${{__ohtui_last:-0}}" && :; builtin eval {quoted}; }} {redirect}\n'
            )
            await self._write_line(line.encode())
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
        assert self._input is not None
        self._input.write(text.encode("utf-8", "surrogateescape"))

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

    async def _spawn(self, cwd: str) -> None:
        """Start a fresh bash in ``cwd`` (falling back to the work dir) and wait until it is set up."""
        await self._kill_bash()
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        self._pending.clear()
        self._dying = False
        env = dict(self._env) if self._env is not None else dict(os.environ)
        try:
            proc = await self._exec_bash(cwd, env)
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            if cwd == self._work_dir:
                raise
            cwd = self._work_dir  # the last cwd is gone
            proc = await self._exec_bash(cwd, env)
        self._proc = proc
        self._cwd = cwd
        reader = asyncio.create_task(self._read(proc))
        self._tasks = [reader, asyncio.create_task(self._watch(proc, reader))]
        sync = _Command(uuid.uuid4().hex, interactive=False)
        sync.started.set()
        self._cmd = sync
        await self._write_line(_SETUP.replace("@TOKEN@", sync.token).encode())
        try:
            await asyncio.wait_for(asyncio.shield(sync.done), _START_TIMEOUT)
        except TimeoutError:
            await self._kill_bash()
            raise RuntimeError("bash did not start") from None
        finally:
            self._cmd = None
        if proc.returncode is not None:
            raise RuntimeError(f"bash exited during start-up with status {proc.returncode}")
        self._sink = _OutputBuffer(self._max_chars)  # drop the start-up chatter ("no job control", prompt)

    async def _exec_bash(self, cwd: str, env: dict[str, str]) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
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
            pass_fds=(self._input_child,),
            preexec_fn=_default_dispositions(),
        )

    async def _write_line(self, line: bytes) -> None:
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        with contextlib.suppress(OSError):  # bash died: _watch finishes the command
            proc.stdin.write(line)
            await proc.stdin.drain()

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(_READ_CHUNK):
            if self._proc is proc:
                self._feed(chunk)

    async def _watch(self, proc: asyncio.subprocess.Process, reader: asyncio.Task[None]) -> None:
        """When bash dies, kill what is left of its group and finish the command it was running."""
        status = await proc.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(reader), _EOF_GRACE)
        if self._proc is not proc:
            return
        self._sink.add(self._pending)
        self._pending.clear()
        cmd = self._cmd
        if cmd is not None and not cmd.done.done():
            self._finish(cmd, status if status >= 0 else 128 - status, self._cwd)
        self._wakeup.set()

    def _feed(self, data: bytes) -> None:
        """Route bash's output into the buffer, stripping markers and noticing command completion."""
        self._last_output = asyncio.get_running_loop().time()
        self._wakeup.set()
        pending = self._pending
        pending += data
        while pending:
            cmd = self._cmd
            if cmd is None:
                self._sink.add(pending)
                pending.clear()
                return
            # A finished command stays current so that a repeated marker (see _stop) is stripped too.
            if not cmd.started.is_set():
                i = pending.find(cmd.begin)
                if i >= 0:
                    self._sink.add(_STALE_END.sub(b"", pending[:i]))
                    del pending[: i + len(cmd.begin)]
                    cmd.started.set()
                    continue
            i = pending.find(cmd.end_prefix)
            if i >= 0:
                self._sink.add(pending[:i])
                del pending[:i]
                match = cmd.end_re.match(pending)
                if match is None:
                    return  # the rest of the marker is still on its way
                status, flag, cwd = match.groups()  # copies: the match reads from `pending`
                del pending[: match.end()]
                if not cmd.done.done():
                    cmd.strip_newline = flag == b"x"
                    self._dying = flag == b"d"
                    self._finish(cmd, int(status), os.fsdecode(cwd))
                continue
            hold = _partial_suffix(pending, cmd.end_prefix)
            if not cmd.started.is_set():
                hold = max(hold, _partial_suffix(pending, cmd.begin))
            self._sink.add(pending[: len(pending) - hold])
            del pending[: len(pending) - hold]
            return

    def _finish(self, cmd: _Command, exit_code: int, cwd: str) -> None:
        self._cwd = cwd
        cmd.started.set()
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
        self._sink = _OutputBuffer(self._max_chars)
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
        grace = self._kill_grace
        with contextlib.suppress(TimeoutError):
            # Signalling before bash has read the whole line could make it run a fragment of it.
            await asyncio.wait_for(cmd.started.wait(), grace)
        if cmd.done.done():
            return
        if cmd.started.is_set():
            # A process forked while the first SIGINT was being delivered misses it (bash itself only
            # notices after that child exits), so a command still running shortly after gets a second one,
            # like a user pressing Ctrl-C twice.
            first = min(_SECOND_SIGINT_AFTER, grace / 2)
            for wait_for in (first, grace - first):
                self._signal(signal.SIGINT)
                # An empty line makes bash print a prompt, hence the marker, even if the SIGINT landed just as
                # the command ended and cut the previous prompt short; otherwise it does nothing.
                await self._write_line(b"\n")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(cmd.done), wait_for)
                if cmd.done.done():
                    return
        self._signal(signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(cmd.done), _EOF_GRACE + grace)
        if not cmd.done.done():
            self._finish(cmd, 128 + signal.SIGKILL, self._cwd)

    def _signal(self, sig: int) -> None:
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)

    async def _kill_bash(self) -> None:
        proc = self._proc
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()

    def _discard_unread_input(self) -> None:
        """Drop input the previous interactive command left unread, so it cannot reach the next one."""
        while select.select([self._input_r], [], [], 0)[0]:
            if not os.read(self._input_r, _READ_CHUNK):
                return


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


def _username() -> str | None:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return None
