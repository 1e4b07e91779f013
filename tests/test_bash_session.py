"""BashSession against a real bash: persistence, exit codes, stdin, timeouts, interrupts, truncation, cleanup."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ohtui.agent.bash import (
    TRUNCATION_NOTICE,
    BashSession,
    CommandStillRunningError,
    NoCommandRunningError,
    truncate_middle,
)


@pytest.fixture
async def session(tmp_path: Path) -> AsyncIterator[BashSession]:
    bash = BashSession(str(tmp_path), kill_grace=0.5)
    await bash.start()
    try:
        yield bash
    finally:
        await bash.close()


async def test_cwd_and_env_persist(session: BashSession, tmp_path: Path) -> None:
    sub = tmp_path / "sub dir"
    sub.mkdir()
    result = await session.run(f"cd '{sub}' && export GREETING=hello")
    assert result.exit_code == 0
    assert result.working_dir == str(sub)
    result = await session.run("pwd; echo $GREETING")
    assert result.output == f"{sub}\nhello\n"
    assert result.pid == session.pid
    assert result.finished and result.timed_out is None and not result.truncated


@pytest.mark.parametrize(
    ("command", "exit_code"),
    [("true", 0), ("false", 1), ("exit 3", 3), ("(exit 4)", 4), ("bash -c 'exit 5'", 5), ("no_such_cmd_x", 127)],
)
async def test_exit_codes(session: BashSession, command: str, exit_code: int) -> None:
    result = await session.run(command)
    assert result.exit_code == exit_code
    assert result.finished


async def test_exit_keeps_the_shell(session: BashSession, tmp_path: Path) -> None:
    result = await session.run("export KEEP=1; cd /; echo before; exit 3; echo after")
    assert (result.output, result.exit_code, result.working_dir) == ("before\n", 3, "/")
    result = await session.run("echo $KEEP $?; pwd")
    assert result.output == "1 3\n/\n"


async def test_shell_death_restarts_in_last_cwd(session: BashSession, tmp_path: Path) -> None:
    old_pid = session.pid
    result = await session.run(f"cd '{tmp_path}'; export GONE=1; set -e; false; echo unreachable")
    assert (result.output, result.exit_code) == ("", 1)
    result = await session.run("pwd; echo ${GONE-unset}")
    assert result.output == f"{tmp_path}\nunset\n"
    assert session.pid != old_pid


async def test_stdout_and_stderr_interleave_in_order(session: BashSession) -> None:
    result = await session.run("echo a; echo b >&2; echo c; echo d >&2")
    assert result.output == "a\nb\nc\nd\n"


async def test_quoting_heredocs_and_multiline(session: BashSession) -> None:
    command = (
        "X='single \"double\" `back`'\n"
        "cat <<'EOF'\n$X stays 'literal' \\n !bang\nEOF\n"
        'echo "$X" \\\n  continued\n'
        "printf '%s\\n' \"it's\" é日本"
    )
    result = await session.run(command)
    assert result.output == ("$X stays 'literal' \\n !bang\nsingle \"double\" `back` continued\nit's\né日本\n")
    assert result.exit_code == 0


async def test_syntax_error_is_reported_and_harmless(session: BashSession) -> None:
    result = await session.run('echo "unterminated')
    assert result.exit_code == 2
    assert "unexpected EOF" in result.output
    assert (await session.run("echo ok")).output == "ok\n"


@pytest.mark.parametrize("command", ["cat", "read x", "python3 -c 'input()' 2>/dev/null || true", "head -c 10"])
async def test_stdin_readers_do_not_hang(session: BashSession, command: str) -> None:
    result = await asyncio.wait_for(session.run(command, soft_timeout=None), 5)
    assert result.finished
    assert result.exit_code in (0, 1)


async def test_cat_without_arguments_returns_zero(session: BashSession) -> None:
    result = await asyncio.wait_for(session.run("cat", soft_timeout=None), 5)
    assert (result.output, result.exit_code) == ("", 0)


async def test_interactive_command_reads_send_input(session: BashSession) -> None:
    result = await session.run("read -r x; echo got=$x", soft_timeout=0.2, interactive=True)
    assert not result.finished and result.timed_out == "soft"
    await session.send_input("hello world\n")
    result = await session.wait(soft_timeout=None, hard_timeout=5)
    assert (result.output, result.exit_code) == ("got=hello world\n", 0)


async def test_send_input_needs_an_interactive_command(session: BashSession) -> None:
    with pytest.raises(NoCommandRunningError):
        await session.send_input("x\n")
    await session.run("sleep 5", soft_timeout=0.05)
    with pytest.raises(NoCommandRunningError):
        await session.send_input("x\n")
    await session.interrupt()


async def test_non_utf8_output_is_replaced(session: BashSession) -> None:
    result = await session.run(r"printf 'a\xff\xfeb'")
    assert result.output == "a\ufffd\ufffdb"


async def test_soft_timeout_then_wait_collects_the_rest(session: BashSession) -> None:
    result = await session.run("echo start; sleep 1; echo end", soft_timeout=0.2)
    assert (result.output, result.exit_code, result.finished, result.timed_out) == ("start\n", -1, False, "soft")
    with pytest.raises(CommandStillRunningError):
        await session.run("echo too early")
    result = await session.wait(soft_timeout=None, hard_timeout=10)
    assert (result.output, result.exit_code, result.finished) == ("end\n", 0, True)
    with pytest.raises(NoCommandRunningError):
        await session.wait()


async def test_soft_timeout_counts_silence_not_runtime(session: BashSession) -> None:
    command = "for i in 1 2 3 4 5 6; do echo $i; sleep 0.1; done"
    result = await session.run(command, soft_timeout=0.5, hard_timeout=10)
    assert result.finished
    assert result.output == "1\n2\n3\n4\n5\n6\n"


async def test_interrupt_sleep_returns_130(session: BashSession) -> None:
    await session.run("export STAYS=1")
    result = await session.run("echo going; sleep 30; echo not reached", soft_timeout=0.2)
    assert not result.finished
    interrupted = await asyncio.wait_for(session.interrupt(), 5)
    assert interrupted is not None
    assert interrupted.exit_code == 130 and interrupted.finished
    assert "not reached" not in interrupted.output
    assert (await session.run("echo $STAYS")).output == "1\n"
    assert await session.interrupt() is None


async def test_interrupt_while_run_is_waiting(session: BashSession) -> None:
    running = asyncio.create_task(session.run("for i in 1 2 3; do sleep 10; done; echo no", soft_timeout=None))
    await asyncio.sleep(0)  # let run() send the command
    assert session.running
    await asyncio.wait_for(session.interrupt(), 5)
    result = await asyncio.wait_for(running, 5)
    assert result.exit_code == 130 and "no" not in result.output


# Run by a child interpreter that inherited SIGINT and SIGQUIT ignored: a session on a loop in a thread of its own
# (as the embedded server runs it) starts a command, interrupts it, and prints what it saw as JSON.
_IGNORING_CHILD = """
import asyncio, json, sys, threading
from ohtui.agent.bash import BashSession
from ohtui.server import loop as server_loop

async def main():
    async with BashSession(sys.argv[1], kill_grace=5) as bash:
        await bash.run("export STAYS=kept")
        pid = bash.pid
        await bash.run("echo going; sleep 30; echo not reached", soft_timeout=0.2)
        interrupted = await asyncio.wait_for(bash.interrupt(), 15)
        after = await bash.run("echo $STAYS")
        print(json.dumps([interrupted.exit_code, after.output, bash.pid == pid]))

loop = server_loop.new_event_loop() if sys.argv[2] == "server" else asyncio.new_event_loop()
worker = threading.Thread(target=loop.run_until_complete, args=(main(),))
worker.start()
worker.join()
"""


@pytest.mark.parametrize("loop", ["asyncio", "server"])
async def test_interrupt_works_when_started_with_sigint_ignored(tmp_path: Path, loop: str) -> None:
    """``nohup``, ``&`` from a script: ignored signals are inherited, yet an interrupt still gives 130, same bash."""
    child = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        "trap '' INT QUIT; exec \"$@\"",
        "bash",
        sys.executable,
        "-c",
        _IGNORING_CHILD,
        str(tmp_path),
        loop,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        out, _ = await asyncio.wait_for(child.communicate(), 30)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert child.returncode == 0
    assert json.loads(out) == [130, "kept\n", True]


async def test_hard_timeout_interrupts_and_keeps_the_shell(session: BashSession) -> None:
    await session.run("export STAYS=1")
    result = await session.run("while :; do :; done", soft_timeout=None, hard_timeout=0.3)
    assert (result.timed_out, result.finished, result.exit_code) == ("hard", True, 130)
    assert (await session.run("echo $STAYS")).output == "1\n"


async def test_hard_timeout_kills_what_ignores_sigint(session: BashSession, tmp_path: Path) -> None:
    old_pid = session.pid
    result = await session.run(
        f"cd '{tmp_path}'; export LOST=1; trap '' INT; sleep 30", soft_timeout=None, hard_timeout=0.3
    )
    assert (result.timed_out, result.finished) == ("hard", True)
    result = await session.run("pwd; echo ${LOST-unset}")
    assert result.output == f"{tmp_path}\nunset\n"
    assert session.pid != old_pid


async def test_background_job_does_not_block(session: BashSession) -> None:
    result = await asyncio.wait_for(session.run("sleep 100 & echo started"), 5)
    assert result.finished and result.exit_code == 0
    assert result.output.endswith("started\n")
    assert (await session.run("echo next")).output == "next\n"


def test_truncate_middle_matches_upstream() -> None:
    text = "a" * 20 + "b" * 20
    assert truncate_middle(text, 40) == (text, False)
    assert truncate_middle(text, 10) == ("a" * 5 + TRUNCATION_NOTICE + "b" * 5, True)


async def test_long_output_is_cut_in_the_middle(tmp_path: Path) -> None:
    async with BashSession(str(tmp_path), max_output_chars=100) as bash:
        result = await bash.run("printf 'H%.0s' $(seq 200); printf 'T%.0s' $(seq 200)")
        assert result.truncated
        assert result.output == "H" * 50 + TRUNCATION_NOTICE + "T" * 50
        small = await bash.run("printf '%0100d' 0")
        assert (len(small.output), small.truncated) == (100, False)


async def test_default_limit_is_30000_chars(session: BashSession) -> None:
    result = await session.run("head -c 30000 /dev/zero | tr '\\0' x")
    assert (len(result.output), result.truncated) == (30_000, False)
    result = await session.run("head -c 30001 /dev/zero | tr '\\0' x")
    assert result.truncated
    assert result.output == "x" * 15_000 + TRUNCATION_NOTICE + "x" * 15_000


async def test_huge_output_stays_bounded(session: BashSession) -> None:
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is bytes on macOS, KiB on Linux
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
    result = await session.run("yes | head -c 50000000; echo; echo END", soft_timeout=None)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale - before
    assert result.exit_code == 0 and result.truncated
    assert len(result.output) == 30_000 + len(TRUNCATION_NOTICE)
    assert result.output.startswith("y\ny\n") and result.output.endswith("y\n\nEND\n")
    assert grown < 20_000_000


async def test_close_leaves_no_process(tmp_path: Path) -> None:
    bash = BashSession(str(tmp_path))
    await bash.start()
    await bash.run("sleep 100 &")
    pid = bash.pid
    await bash.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    await bash.close()  # idempotent
    with pytest.raises(RuntimeError):
        await bash.run("true")
