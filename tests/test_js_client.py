"""A stock V0 client: the JS ``socket.io-client`` (as the OpenHands web frontend uses) against ``ohtui serve``.

``.ci/run`` installs the npm package into a temporary folder and names it in ``OHTUI_JS_CLIENT_DIR``; run alone, the
test installs it itself into pytest's temporary directory.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path

import aiohttp
import pytest

from tests.serve_process import ServeProcess

SCRIPT = Path(__file__).parent / "js" / "v0_client.js"


@pytest.fixture(scope="session")
def js_client_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("OHTUI_JS_CLIENT_DIR")
    if given and (Path(given) / "node_modules" / "socket.io-client").is_dir():
        return Path(given)
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed for the JS client test (.ci/run installs them)")
    folder = tmp_path_factory.mktemp("js-client")
    result = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(folder), "socket.io-client@4"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        pytest.fail(f"npm install socket.io-client failed: {result.stderr[-2000:]}")
    return folder


async def test_stock_js_client_gets_replay_sends_and_sees_its_echo(tmp_path: Path, js_client_dir: Path) -> None:
    serve = ServeProcess(tmp_path)
    try:
        url = await serve.start()
        headers = {"X-Session-API-Key": serve.key or ""}
        async with aiohttp.ClientSession(headers=headers) as session:
            body = {"conversation_id": "js", "initial_user_msg": "earlier message"}
            async with session.post(f"{url}/api/conversations", json=body) as response:
                assert response.status == 201
        process = await asyncio.create_subprocess_exec(
            "node",
            str(SCRIPT),
            url,
            "js",
            serve.key or "",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "NODE_PATH": str(js_client_dir / "node_modules")},
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        await serve.ensure_gone()
    lines = out.decode().splitlines()
    assert process.returncode == 0, (lines[-5:], err.decode()[-2000:])
    assert lines[-1] == "DONE"
    frames = [json.loads(line) for line in lines[:-1]]
    contents = [f["args"].get("content") for f in frames if f.get("action") == "message"]
    assert contents.index("earlier message") < contents.index("hello from js")  # replay came first
    replayed = frames[: [f.get("args", {}).get("content") for f in frames].index("hello from js")]
    states = [f for f in replayed if f.get("observation") == "agent_state_changed"]
    assert len(states) == 1 and states[0]["extras"]["agent_state"] == "awaiting_user_input"  # held to the end
    echo = next(f for f in frames if f.get("action") == "message" and f["args"]["content"] == "hello from js")
    assert echo["source"] == "user" and isinstance(echo["id"], int)
