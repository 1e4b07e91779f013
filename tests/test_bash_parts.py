"""The parts of the bash session on their own: the output buffer, the marker protocol (pure, then against a real
bash with no BashSession), the bash process and its input pipe. No App, no runtime."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ohtui.agent.bash.markers import CommandEnd, CommandMarkers, MarkerReader, command_line, quote, setup_script
from ohtui.agent.bash.output import TRUNCATION_NOTICE, OutputBuffer, decode, incomplete_utf8_tail, truncate_middle
from ohtui.agent.bash.process import BashProcess, InputPipe, _default_dispositions

WAIT = 10.0

# ------------------------------------------------------------------------------------------------ output


def test_incomplete_utf8_tail_counts_only_an_unfinished_character() -> None:
    euro = "€".encode()  # 3 bytes
    assert incomplete_utf8_tail(b"abc") == 0
    assert incomplete_utf8_tail(b"a" + euro) == 0
    assert incomplete_utf8_tail(b"a" + euro[:1]) == 1
    assert incomplete_utf8_tail(b"a" + euro[:2]) == 2
    assert incomplete_utf8_tail(b"") == 0


def test_decode_replaces_bad_bytes_and_drops_the_tty_noise() -> None:
    noise = b"bash: [123: 2 (255)] tcsetattr: Inappropriate ioctl for device\n"
    assert decode(b"a\xffb\n" + noise + b"c") == "a\ufffdb\nc"


def test_the_buffer_keeps_a_head_and_a_tail_and_cuts_the_middle() -> None:
    buffer = OutputBuffer(10)
    for _ in range(1000):
        buffer.add(b"H" * 10)
    buffer.add(b"0123456789")
    assert len(buffer._head) + len(buffer._tail) <= 2 * (4 * 5 + 4)  # bounded whatever was added
    assert buffer.render(10) == ("HHHHH" + TRUNCATION_NOTICE + "56789", True)
    small = OutputBuffer(10)
    small.add(b"short\n")
    assert small.render(10) == ("short\n", False)
    assert truncate_middle("x" * 11, 10) == ("x" * 5 + TRUNCATION_NOTICE + "x" * 5, True)


def test_the_buffer_holds_back_a_split_character() -> None:
    buffer = OutputBuffer(100)
    buffer.add("ab€".encode()[:-1])
    rest = buffer.split_incomplete()
    assert buffer.render(100) == ("ab", False)
    assert rest == "€".encode()[:2] and buffer.split_incomplete() == b""


# ------------------------------------------------------------------------------------------------ markers


def _end(token: str, status: int, how: str, cwd: str) -> bytes:
    return f"__OHTUI_E_{token}_{status}_{how}_{cwd}__OHTUI_END__".encode()


def _feed_in_pieces(data: bytes, size: int, markers: CommandMarkers | None) -> tuple[bytes, list[CommandEnd]]:
    reader, sink, ends = MarkerReader(), OutputBuffer(10_000), []
    for i in range(0, len(data), size):
        ends += reader.feed(data[i : i + size], markers, sink)
    return sink.render(10_000)[0].encode(), ends


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
def test_markers_are_found_and_stripped_however_the_output_is_cut(size: int) -> None:
    token, stale = uuid.uuid4().hex, uuid.uuid4().hex
    markers = CommandMarkers(token)
    reader, sink = MarkerReader(), OutputBuffer(10_000)
    # An earlier command's end marker is dropped when it comes in one read with this command's begin marker.
    first = b"job output " + _end(stale, 0, "-", "/old") + f"__OHTUI_B_{token}__".encode()
    ends = reader.feed(first, markers, sink)
    rest = (
        b"hello\n__OHTUI_ partly like a marker\n"
        + _end(token, 3, "x", "/tmp/a b")
        + _end(token, 3, "-", "/tmp/a b")  # printed again (an interrupt's empty line): stripped too
        + b"later"
    )
    for i in range(0, len(rest), size):
        ends += reader.feed(rest[i : i + size], markers, sink)
    assert sink.render(10_000)[0] == "job output hello\n__OHTUI_ partly like a marker\nlater"
    assert ends[0] == CommandEnd(3, "/tmp/a b", by_exit=True, dying=False)
    assert len(ends) == 2 and markers.began


@pytest.mark.parametrize("size", [1, 4, 1000])
def test_a_begin_marker_cut_anywhere_is_found(size: int) -> None:
    token = uuid.uuid4().hex
    markers = CommandMarkers(token)
    output, ends = _feed_in_pieces(b"before " + f"__OHTUI_B_{token}__".encode() + b"after", size, markers)
    assert (output, ends, markers.began) == (b"before after", [], True)


def test_a_dying_bash_says_so_and_no_command_takes_everything() -> None:
    token = uuid.uuid4().hex
    _, ends = _feed_in_pieces(_end(token, 1, "d", "/"), 5, CommandMarkers(token, began=True))
    assert ends == [CommandEnd(1, "/", dying=True)]
    output, ends = _feed_in_pieces(b"between commands " + _end(token, 0, "-", "/"), 4, None)
    assert ends == [] and output.startswith(b"between commands __OHTUI_E_")


def test_a_marker_still_on_its_way_is_held_back_then_flushed_if_bash_dies() -> None:
    token = uuid.uuid4().hex
    reader, sink = MarkerReader(), OutputBuffer(1000)
    assert reader.feed(b"out" + _end(token, 0, "-", "/x")[:-3], CommandMarkers(token, began=True), sink) == []
    assert sink.render(1000) == ("out", False)
    reader.flush(sink)
    assert sink.render(1000)[0].startswith("out__OHTUI_E_")


def test_quote_refuses_nul_and_escapes_what_bash_could_read() -> None:
    with pytest.raises(ValueError, match="NUL"):
        quote("a\0b")
    assert quote("ls -la /tmp") == "$'ls -la /tmp'"
    assert quote("it's\n") == "$'it\\047s\\012'"


async def test_the_protocol_against_a_real_bash(tmp_path: Path) -> None:
    """The setup script and command lines, read back by the MarkerReader, with bash started by hand."""
    pipes = {"stdin": asyncio.subprocess.PIPE, "stdout": asyncio.subprocess.PIPE, "stderr": asyncio.subprocess.STDOUT}
    proc = await asyncio.create_subprocess_exec(
        "bash", "--noprofile", "--norc", "--noediting", "-i", cwd=tmp_path, start_new_session=True, **pipes
    )
    assert proc.stdin is not None and proc.stdout is not None
    reader = MarkerReader()

    async def until_end(markers: CommandMarkers) -> tuple[str, CommandEnd]:
        sink = OutputBuffer(10_000)
        assert proc.stdout is not None
        while not (ends := reader.feed(await asyncio.wait_for(proc.stdout.read(4096), WAIT), markers, sink)):
            pass
        return sink.render(10_000)[0], ends[0]

    try:
        setup = uuid.uuid4().hex
        proc.stdin.write(setup_script(setup))
        await until_end(CommandMarkers(setup, began=True))
        runs = [
            ("mkdir sub && cd sub && printf '%s\\n' \"it's\" here; (exit 4)", "it's\nhere\n", 4),
            ('echo "was $?"', "was 4\n", 0),  # a command starts with the previous one's status as $?
        ]
        for command, expected, status in runs:
            token = uuid.uuid4().hex
            proc.stdin.write(command_line(token, quote(command), "</dev/null"))
            output, end = await until_end(CommandMarkers(token))
            assert (output, end.exit_code, end.cwd, end.by_exit) == (expected, status, str(tmp_path / "sub"), False)
        token = uuid.uuid4().hex
        proc.stdin.write(command_line(token, quote("exit 3"), "</dev/null"))
        output, end = await until_end(CommandMarkers(token))
        assert (end.exit_code, end.by_exit) == (3, True)  # bash survives an exit
        assert proc.returncode is None
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()


# ------------------------------------------------------------------------------------------------ process


@pytest.fixture
async def pipe() -> AsyncIterator[InputPipe]:
    input_pipe = InputPipe()
    await input_pipe.open()
    yield input_pipe
    input_pipe.close()


async def test_the_input_pipe_discards_what_was_not_read(pipe: InputPipe) -> None:
    assert pipe.child_fd >= 60
    pipe.write("left over\n")
    await asyncio.sleep(0.05)  # the transport writes on the loop
    pipe.discard_unread()
    pipe.write("fresh\n")
    await asyncio.sleep(0.05)
    assert os.read(pipe.child_fd, 100) == b"fresh\n"


async def test_a_bash_process_reports_output_and_its_death(tmp_path: Path, pipe: InputPipe) -> None:
    chunks: list[bytes] = []
    exits: list[int] = []
    process = await BashProcess.spawn(
        str(tmp_path),
        dict(os.environ),
        pipe.child_fd,
        lambda p, data: chunks.append(data),
        lambda p, s: exits.append(s),
    )
    try:
        await process.write_line(b"echo hi from $PWD; kill -9 $$\n")
        for _ in range(200):
            if exits:
                break
            await asyncio.sleep(0.05)
        assert exits == [128 + signal.SIGKILL]
        assert f"hi from {tmp_path}".encode() in b"".join(chunks)
        assert process.returncode is not None
        await process.write_line(b"echo nobody reads this\n")  # a dead bash's stdin: no error
    finally:
        await process.kill()


async def test_interrupt_escalates_to_kill_for_what_ignores_sigint(tmp_path: Path, pipe: InputPipe) -> None:
    started, done = asyncio.Event(), asyncio.get_running_loop().create_future()
    output = bytearray()

    def exited(process: BashProcess, status: int) -> None:
        done.set_result(status)  # the command's end, as BashSession would see it

    process = await BashProcess.spawn(
        str(tmp_path), dict(os.environ), pipe.child_fd, lambda p, d: output.extend(d), exited
    )
    try:
        await process.write_line(b"trap '' INT; echo ready; sleep 30\n")
        for _ in range(200):
            if b"ready" in output:
                break
            await asyncio.sleep(0.05)
        started.set()
        await asyncio.wait_for(process.interrupt(started, done, grace=0.3), WAIT)
        assert done.result() == 128 + signal.SIGKILL  # two SIGINTs ignored, then the group was killed
    finally:
        await process.kill()


def test_ignored_signals_are_reset_in_the_child() -> None:
    before = signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    try:
        reset = _default_dispositions()
        assert reset is not None
        reset()  # what the child runs before exec
        assert signal.getsignal(signal.SIGUSR2) == signal.SIG_DFL
    finally:
        signal.signal(signal.SIGUSR2, before)
