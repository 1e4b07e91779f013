"""LocalRuntime with real bash and real files: every action in, an observation out, never an exception."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ohtui.agent.base import Runtime
from ohtui.agent.runtime import CONTINUED_PREFIX, LocalRuntime
from ohtui.protocol import (
    Action,
    BrowseURLAction,
    CmdOutputObservation,
    CmdRunAction,
    ErrorObservation,
    FileEditAction,
    FileEditObservation,
    FileReadAction,
    FileReadObservation,
    FileReadSource,
    FileWriteAction,
    FileWriteObservation,
    Observation,
)

WAIT = 20.0


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[LocalRuntime]:
    rt = LocalRuntime(tmp_path / "work", soft_timeout=5.0)
    yield rt
    await rt.close()


async def run(rt: LocalRuntime, command: str, **args: Any) -> CmdOutputObservation:
    timeout = args.pop("timeout", None)
    action = CmdRunAction(command=command, **args)
    if timeout is not None:
        action = action.model_copy(update={"timeout": float(timeout)})
    observation = await asyncio.wait_for(rt.run_action(action), WAIT)
    assert isinstance(observation, CmdOutputObservation), observation
    return observation


async def act(rt: LocalRuntime, action: Action) -> Observation:
    return await asyncio.wait_for(rt.run_action(action), WAIT)


def edit(path: str, command: str, **args: Any) -> FileEditAction:
    return FileEditAction(path=path, command=command, **args)


def view(path: str, view_range: list[int] | None = None) -> FileReadAction:
    return FileReadAction(path=path, impl_source=FileReadSource.OH_ACI, view_range=view_range)


# ------------------------------------------------------------------------------------------------------- commands


async def test_is_a_runtime(runtime: LocalRuntime) -> None:
    assert isinstance(runtime, Runtime)


async def test_cwd_and_environment_persist(runtime: LocalRuntime) -> None:
    await run(runtime, "mkdir -p sub/dir && cd sub/dir && export GREETING=hi")
    observation = await run(runtime, 'pwd; echo "$GREETING"')
    assert observation.content == f"{runtime.work_dir}/sub/dir\nhi\n"
    assert observation.extras.metadata.working_dir == f"{runtime.work_dir}/sub/dir"


async def test_exit_codes_and_metadata(runtime: LocalRuntime) -> None:
    ok = await run(runtime, "true")
    failed = await run(runtime, "ls /definitely/not/here")
    exited = await run(runtime, "exit 7")
    assert (ok.exit_code, ok.success) == (0, True)
    assert failed.exit_code == 2 and not failed.success and "No such file" in failed.content
    assert exited.exit_code == 7
    assert exited.extras.metadata.suffix == "\n[The command completed with exit code 7.]"
    meta = ok.extras.metadata
    assert meta.pid > 0 and meta.hostname and meta.username and meta.working_dir == str(runtime.work_dir)
    assert (await run(runtime, "echo still here")).content == "still here\n"  # `exit` did not end the session


async def test_interleaved_stdout_and_stderr_keep_their_order(runtime: LocalRuntime) -> None:
    observation = await run(runtime, "echo out1; echo err1 >&2; echo out2; echo err2 >&2")
    assert observation.content == "out1\nerr1\nout2\nerr2\n"


async def test_a_command_reading_stdin_does_not_hang(tmp_path: Path) -> None:
    rt = LocalRuntime(tmp_path, soft_timeout=0.3)
    try:
        waiting = await run(rt, "read -r name; echo hello $name")
        assert waiting.exit_code == -1 and "is_input" in waiting.extras.metadata.suffix
        answered = await run(rt, "world", is_input=True, timeout=10, blocking=True)
        assert answered.content == "hello world\n" and answered.exit_code == 0
        assert answered.extras.metadata.prefix == CONTINUED_PREFIX
    finally:
        await rt.close()
    rt = LocalRuntime(tmp_path, interactive_stdin=False)
    try:
        done = await run(rt, "cat; echo eof")
        assert done.content == "eof\n" and done.exit_code == 0
    finally:
        await rt.close()


async def test_input_and_ctrl_c_for_a_running_command(tmp_path: Path) -> None:
    rt = LocalRuntime(tmp_path, soft_timeout=0.5)
    try:
        first = await run(rt, "echo tick; sleep 30")
        assert first.content == "tick\n" and first.exit_code == -1
        refused = await act(rt, CmdRunAction(command="echo other"))
        assert isinstance(refused, ErrorObservation) and "NOT executed" in refused.content
        waited = await run(rt, "", is_input=True)
        assert waited.exit_code == -1 and waited.content == ""
        stopped = await run(rt, "C-c", is_input=True)
        assert stopped.exit_code == 130 and "interrupted" in stopped.extras.metadata.suffix
        assert (await run(rt, "echo next")).content == "next\n"
        nothing = await act(rt, CmdRunAction(command="", is_input=True))
        assert isinstance(nothing, ErrorObservation) and "No command is running" in nothing.content
    finally:
        await rt.close()


async def test_hard_timeout_stops_the_command(runtime: LocalRuntime) -> None:
    observation = await run(runtime, "echo begin; sleep 30", timeout=1, blocking=True)
    assert observation.content.startswith("begin\n")
    assert observation.exit_code == 130 and "timed out after 1 second and" in observation.extras.metadata.suffix
    assert (await run(runtime, "echo after")).content == "after\n"


async def test_interrupt_stops_the_running_command(runtime: LocalRuntime, tmp_path: Path) -> None:
    fifo = tmp_path / "started.fifo"
    os.mkfifo(fifo)
    command = asyncio.create_task(
        runtime.run_action(CmdRunAction(command=f"echo go > {fifo}; sleep 30", blocking=True))
    )
    # Reading the FIFO returns once the command wrote to it, i.e. `sleep 30` is about to run.
    assert await asyncio.wait_for(asyncio.to_thread(fifo.read_text), WAIT) == "go\n"
    assert runtime.busy
    await asyncio.wait_for(runtime.interrupt(), 2.0)
    observation = await asyncio.wait_for(command, 2.0)
    assert isinstance(observation, CmdOutputObservation) and observation.exit_code == 130
    assert not runtime.busy


async def test_output_that_is_not_utf8_is_replaced_not_fatal(runtime: LocalRuntime) -> None:
    observation = await run(runtime, r"printf 'caf\xe9 \xff ok\n'")
    assert observation.content == "caf\ufffd \ufffd ok\n"


async def test_long_output_is_truncated_in_the_middle(tmp_path: Path) -> None:
    rt = LocalRuntime(tmp_path, max_output_chars=1000)
    try:
        observation = await run(rt, "seq 1 5000")
    finally:
        await rt.close()
    assert observation.content.startswith("1\n2\n") and observation.content.endswith("4999\n5000\n")
    assert "[... Observation truncated due to length ...]" in observation.content
    assert len(observation.content) < 1100


# ------------------------------------------------------------------------------------------------------- files


async def test_view_a_file_and_a_range(runtime: LocalRuntime) -> None:
    runtime.work_dir.mkdir(parents=True)
    (runtime.work_dir / "a.txt").write_text("one\ntwo\nthree\n")
    whole = await act(runtime, view("a.txt"))
    assert isinstance(whole, FileReadObservation)
    assert whole.extras.path == str(runtime.work_dir / "a.txt")
    assert whole.content.endswith("     1\tone\n     2\ttwo\n     3\tthree\n")
    part = await act(runtime, view(str(runtime.work_dir / "a.txt"), [2, -1]))
    assert part.content.endswith("     2\ttwo\n     3\tthree\n") and "one" not in part.content
    bad = await act(runtime, view("a.txt", [2, 9]))
    assert isinstance(bad, ErrorObservation) and "has only 3 lines" in bad.content
    plain = await act(runtime, FileReadAction(path="a.txt", start=1, end=2))
    assert plain.content == "two\n"


async def test_view_a_directory(runtime: LocalRuntime) -> None:
    for name in ("src/pkg/deep/x.py", "src/main.py", "README.md", ".hidden/secret"):
        path = runtime.work_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    listing = await act(runtime, view("."))
    root = runtime.work_dir
    for shown in (f"{root}/README.md", f"{root}/src/", f"{root}/src/main.py", f"{root}/src/pkg/"):
        assert shown in listing.content.splitlines()
    assert "x.py" not in listing.content and ".hidden" not in listing.content


async def test_create_replace_insert_undo_with_diffs(runtime: LocalRuntime) -> None:
    created = await act(runtime, edit("pkg/mod.py", "create", file_text="def f():\n    return 1\n"))
    assert isinstance(created, FileEditObservation)
    assert not created.extras.prev_exist and created.extras.old_content is None
    assert created.extras.new_content == "def f():\n    return 1\n"
    assert "+def f():" in (created.extras.diff or "")
    path = runtime.work_dir / "pkg" / "mod.py"
    assert path.read_text() == "def f():\n    return 1\n"

    replaced = await act(runtime, edit("pkg/mod.py", "str_replace", old_str="return 1", new_str="return 2"))
    assert isinstance(replaced, FileEditObservation) and replaced.extras.prev_exist
    assert "-    return 1\n+    return 2\n" in (replaced.extras.diff or "")
    assert "has been edited" in replaced.content and "     2\t    return 2" in replaced.content

    inserted = await act(runtime, edit("pkg/mod.py", "insert", insert_line=0, new_str="import os"))
    assert isinstance(inserted, FileEditObservation)
    assert path.read_text() == "import os\ndef f():\n    return 2\n"
    assert "+import os\n" in (inserted.extras.diff or "")

    undone = await act(runtime, edit("pkg/mod.py", "undo_edit"))
    assert isinstance(undone, FileEditObservation) and path.read_text() == "def f():\n    return 2\n"
    await act(runtime, edit("pkg/mod.py", "undo_edit"))
    assert path.read_text() == "def f():\n    return 1\n"
    await act(runtime, edit("pkg/mod.py", "undo_edit"))
    assert not path.exists()
    none_left = await act(runtime, edit("pkg/mod.py", "undo_edit"))
    assert isinstance(none_left, ErrorObservation) and "No edit history" in none_left.content


async def test_edit_errors_are_observations(runtime: LocalRuntime) -> None:
    runtime.work_dir.mkdir(parents=True)
    path = runtime.work_dir / "dup.txt"
    path.write_text("x = 1\ny = 2\nx = 1\n")
    cases = {
        "appears 2 times": edit("dup.txt", "str_replace", old_str="x = 1", new_str="x = 3"),
        "does not appear verbatim": edit("dup.txt", "str_replace", old_str="z", new_str="w"),
        "already exists": edit("dup.txt", "create", file_text="new"),
        "does not exist": edit("missing.txt", "str_replace", old_str="a", new_str="b"),
        "insert_line 9 is outside": edit("dup.txt", "insert", insert_line=9, new_str="q"),
        "is a directory": edit(".", "str_replace", old_str="a", new_str="b"),
        "Unknown edit command": edit("dup.txt", "frobnicate"),
    }
    for expected, action in cases.items():
        observation = await act(runtime, action)
        assert isinstance(observation, ErrorObservation), (expected, observation)
        assert expected in observation.content, (expected, observation.content)
    assert path.read_text() == "x = 1\ny = 2\nx = 1\n"
    (runtime.work_dir / "blob.bin").write_bytes(b"\xff\xfe\x00binary")
    binary = await act(runtime, view("blob.bin"))
    assert isinstance(binary, ErrorObservation) and "not a UTF-8 text file" in binary.content
    unsupported = await act(runtime, BrowseURLAction(url="https://example.com"))
    assert isinstance(unsupported, ErrorObservation) and "'browse'" in unsupported.content


async def test_write_keeps_line_endings_and_creates_directories(runtime: LocalRuntime) -> None:
    written = await act(runtime, FileWriteAction(path="out/crlf.txt", content="a\r\nb\r\n"))
    assert isinstance(written, FileWriteObservation) and written.extras.path == str(runtime.work_dir / "out/crlf.txt")
    assert (runtime.work_dir / "out" / "crlf.txt").read_bytes() == b"a\r\nb\r\n"
    replaced = await act(runtime, edit("out/crlf.txt", "str_replace", old_str="b\r\n", new_str="c\r\n"))
    assert isinstance(replaced, FileEditObservation)
    assert (runtime.work_dir / "out" / "crlf.txt").read_bytes() == b"a\r\nc\r\n"


async def test_after_close_actions_are_refused(tmp_path: Path) -> None:
    rt = LocalRuntime(tmp_path)
    await run(rt, "true")
    await rt.close()
    observation = await act(rt, CmdRunAction(command="true"))
    assert isinstance(observation, ErrorObservation) and "closed" in observation.content
    await rt.interrupt()  # harmless when idle or closed
