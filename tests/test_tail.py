"""``ohtui tail`` as a user runs it: a subprocess following a conversation of a real server."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

from ohtui.client.rest import RestClient
from ohtui.protocol import stored_event_from_json
from ohtui.store import Database
from tests.samples import history_with_invalid_events
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


async def test_tail_finds_the_key_of_a_local_serve_by_itself(tmp_path: Path) -> None:
    serve = ServeProcess(tmp_path / "server", key=None)
    url = await serve.start()
    key = (tmp_path / "server" / "session_key").read_text().strip()
    tail: asyncio.subprocess.Process | None = None
    try:
        async with v0_client(url, conversation_id="c", session_api_key=key) as client:
            await client.frames_until(is_state("awaiting_user_input"))
        tail = await _start_tail(url, "-c", "c", "--data-dir", str(tmp_path / "server"))
        assert tail.stdout is not None and tail.stderr is not None
        lines = await _lines_until(tail.stdout, lambda line: "awaiting_user_input" in line)
        assert lines and "awaiting_user_input" in lines[-1]
    finally:
        if tail is not None and tail.returncode is None:
            tail.send_signal(signal.SIGINT)
            await tail.wait()
        await serve.ensure_gone()


async def test_tail_prints_a_line_for_history_that_does_not_validate(tmp_path: Path) -> None:
    texts = history_with_invalid_events()
    with Database(tmp_path / "server" / "ohtui.db") as seed:
        seed.events("c").insert_many([stored_event_from_json(text) for text in texts], texts)
    serve = ServeProcess(tmp_path / "server")
    url = await serve.start()
    tail = await _start_tail(url, "-c", "c", "--key", serve.key or "")
    try:
        assert tail.stdout is not None
        lines = await _lines_until(tail.stdout, lambda line: line.split()[:1] == ["3"])
        tail.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(tail.wait(), 20) == 0
    finally:
        if tail.returncode is None:
            tail.kill()
            await tail.wait()
        await serve.ensure_gone()
    by_id = {line.split()[0]: line for line in lines}
    assert "invalid" in by_id["1"] and "could not read recall: args.recall_type: Input should be" in by_id["1"]
    assert "invalid" in by_id["2"] and "could not read message: args.content: Input should be" in by_id["2"]
    assert "think" in by_id["3"] and "hmm" in by_id["3"]


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
