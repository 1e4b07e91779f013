"""``ohtui tail`` as a user runs it: a subprocess following a conversation of a real server."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

from ohtui.client.rest import RestClient
from tests.serve_process import ServeProcess
from tests.socket_helpers import is_state, v0_client


async def _lines_until(stream: asyncio.StreamReader, predicate: object, timeout: float = 30) -> list[str]:
    """Lines up to the first matching one; all that came if the stream ends or ``timeout`` passes first."""
    seen: list[str] = []
    try:
        async with asyncio.timeout(timeout):
            while raw := await stream.readline():
                seen.append(raw.decode().rstrip("\n"))
                if predicate(seen[-1]):  # type: ignore[operator]
                    break
    except TimeoutError:
        pass
    return seen


async def _start_tail(url: str, *options: str) -> asyncio.subprocess.Process:
    """``ohtui tail URL OPTIONS`` as a child process, its output piped."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ohtui",
        "tail",
        url,
        *options,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_tail_prints_events_and_follows_a_restart(tmp_path: Path) -> None:
    serve = ServeProcess(tmp_path / "server")
    url = await serve.start()
    tail = await _start_tail(url, "--new", "c", "--key", serve.key or "", "--json")
    try:
        assert tail.stdout is not None and tail.stderr is not None
        first = await _lines_until(
            tail.stdout, lambda line: '"agent_state_changed"' in line and "awaiting_user_input" in line
        )
        events = [json.loads(line) for line in first]
        assert events[0]["observation"] == "agent_state_changed" and events[-1]["id"] >= 2
        async with v0_client(url, conversation_id="c", session_api_key=serve.key) as client:
            await client.frames_until(is_state("awaiting_user_input"))
            await client.action({"action": "message", "args": {"content": "seen by tail"}})
            await client.frames_until(is_state("awaiting_user_input"))
        echoed = await _lines_until(tail.stdout, lambda line: "Echo: seen by tail" in line)
        assert any("seen by tail" in line for line in echoed)
        code = await serve.stop()
        assert code == 0
        states = await _lines_until(tail.stderr, lambda line: "reconnecting" in line)
        assert any("reconnecting" in line for line in states), states
        restarted = ServeProcess(tmp_path / "server")  # a new port: tail keeps retrying the old one, so
        await restarted.start()  # this only checks that tail stays up and reports its state meanwhile
        await restarted.stop()
        assert tail.returncode is None
        tail.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(tail.wait(), 20) == 0
    finally:
        if tail.returncode is None:
            tail.kill()
            await tail.wait()
        await serve.ensure_gone()


async def test_tail_with_a_wrong_key_exits_3_with_the_reason(tmp_path: Path) -> None:
    serve = ServeProcess(tmp_path / "server")
    url = await serve.start()
    try:
        tail = await _start_tail(url, "-c", "c", "--key", "wrong")
        out, err = await asyncio.wait_for(tail.communicate(), 30)
    finally:
        await serve.ensure_gone()
    assert tail.returncode == 3
    assert b"refused: invalid_session_api_key" in err and out == b""


async def test_tail_of_a_conversation_the_server_lacks_exits_1_and_creates_nothing(tmp_path: Path) -> None:
    """A connect would create the id (as upstream's does): tail asks first, and says how to create it."""
    serve = ServeProcess(tmp_path / "server")
    url = await serve.start()
    rest = RestClient(url, serve.key)
    try:
        tail = await _start_tail(url, "-c", "nosuchid", "--key", serve.key or "")
        try:
            out, err = await asyncio.wait_for(tail.communicate(), 30)
        finally:
            if tail.returncode is None:
                tail.kill()
                await tail.wait()
        assert tail.returncode == 1 and out == b""
        assert f"no conversation nosuchid on {url}; --new nosuchid creates one".encode() in err
        assert await rest.conversation("nosuchid") is None
        assert await rest.conversations() == []
        assert serve.process is not None and serve.process.returncode is None
    finally:
        await rest.close()
        await serve.ensure_gone()
