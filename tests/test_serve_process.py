"""``ohtui serve`` as a subprocess: health, a stock client, clean exits, and its session key: always one, kept in a
private file, never blank or short."""

from __future__ import annotations

import asyncio
import json
import signal
import stat
import sys
from pathlib import Path

import aiohttp
import pytest
import socketio

from ohtui.protocol import MessageAction
from ohtui.store import Database
from tests.serve_process import ServeProcess
from tests.socket_helpers import V0Client, is_state, v0_client


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_serve_answers_and_exits_cleanly_with_everything_stored(tmp_path: Path, signum: int) -> None:
    serve = ServeProcess(tmp_path)
    try:
        url = await serve.start()
        async with aiohttp.ClientSession() as session, session.get(f"{url}/api/health") as response:
            assert response.status == 200 and (await response.json())["status"] == "ok"
        async with v0_client(url, conversation_id="c", session_api_key=serve.key) as client:
            await client.frames_until(is_state("awaiting_user_input"))
            ack = await client.action({"action": "message", "args": {"content": "persist me"}})
            await client.frames_until(is_state("awaiting_user_input"))
            code = await serve.stop(signum)
    finally:
        await serve.ensure_gone()
    assert code == 0, serve.stderr_lines
    assert serve.stderr_lines[-1] == "stopped"
    with Database(tmp_path / "ohtui.db") as db:
        stored = db.events("c").get(ack["id"])
        assert isinstance(stored, MessageAction) and stored.args.content == "persist me"
        assert db.events("c").latest_id() > ack["id"]  # the echo's reply was stored too


async def test_serve_without_a_key_makes_one_in_a_private_file_requires_it_and_keeps_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    serve = ServeProcess(data, key=None)
    try:
        url = await serve.start()
        line = await serve.line_starting("session key: ")
        key_file = data / "session_key"
        key = key_file.read_text().strip()
        assert len(key) >= 16 and key in line and "(new" in line
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        assert stat.S_IMODE((data / "server.json").stat().st_mode) == 0o600
        assert json.loads((data / "server.json").read_text())["url"] == url
        assert await _connect_error(url, conversation_id="c") == {"message": "invalid_session_api_key"}
        async with v0_client(url, conversation_id="c", session_api_key=key) as client:
            await client.frames_until(is_state("awaiting_user_input"))
        assert await serve.stop() == 0
        assert not (data / "server.json").exists()
        again = ServeProcess(data, key=None)
        try:
            await again.start()
            line = await again.line_starting("session key: ")
            assert key not in line and str(key_file) in line
            assert key_file.read_text().strip() == key
        finally:
            await again.ensure_gone()
    finally:
        await serve.ensure_gone()


@pytest.mark.parametrize("key", ["   ", "short-key", " padded-key-0123456789 "])
async def test_serve_refuses_a_blank_short_or_padded_key(tmp_path: Path, key: str) -> None:
    env = {"PATH": "/usr/bin:/bin", "OHTUI_SESSION_API_KEY": key, "OHTUI_CONFIG": str(tmp_path / "none.toml")}
    process = await asyncio.create_subprocess_exec(
        *_serve_args(tmp_path), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 1
    assert b"session key" in err and b"Traceback" not in err and b"serving on" not in err


async def test_serve_key_from_a_file_and_a_warning_for_a_key_in_argv(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("from-a-file-0123456789\n")
    from_file = ServeProcess(tmp_path / "a", "--key-file", str(key_file), key=None)
    in_argv = ServeProcess(tmp_path / "b", "--key", "in-argv-key-0123456789", key=None)
    try:
        url = await from_file.start()
        async with v0_client(url, conversation_id="c", session_api_key="from-a-file-0123456789") as client:
            assert client.sio.connected
        await in_argv.start()
        assert any("--key can be read by every user" in line for line in in_argv.stderr_lines)
        assert not any("--key can be read" in line for line in from_file.stderr_lines)
        assert (tmp_path / "b" / "session_key").read_text().strip() == "in-argv-key-0123456789"
    finally:
        await from_file.ensure_gone()
        await in_argv.ensure_gone()


def _serve_args(tmp_path: Path) -> list[str]:
    return [sys.executable, "-m", "ohtui", "serve", "--port", "0", "--data-dir", str(tmp_path / "data")]


async def _connect_error(url: str, **query: str) -> object:
    client = V0Client()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(url, **query)
    await client.close()
    return client.connect_error


async def test_serve_on_a_port_in_use_says_so(tmp_path: Path) -> None:
    first = ServeProcess(tmp_path / "a")
    try:
        await first.start()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ohtui",
            "serve",
            "--port",
            str(first.port),
            "--data-dir",
            str(tmp_path / "b"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(process.communicate(), 30)
    finally:
        await first.ensure_gone()
    assert process.returncode == 1
    assert b"cannot listen" in err and b"Traceback" not in err
