"""``ohtui serve`` as a subprocess: health, a stock client, clean exits, refusal to listen openly without a key."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from ohtui.protocol import MessageAction
from ohtui.store import Database
from tests.serve_process import ServeProcess
from tests.socket_helpers import is_state, v0_client


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


async def test_serve_refuses_a_public_address_without_a_key(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ohtui",
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        "0",
        "--data-dir",
        str(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin"},
    )
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 1
    assert b"--key" in err and b"OHTUI_SESSION_API_KEY" in err and b"Traceback" not in err


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
