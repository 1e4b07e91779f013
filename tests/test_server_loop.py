"""The server's event loop: uvloop where installed, asyncio's own on request."""

from __future__ import annotations

import asyncio

import pytest

from ohtui.server import loop as server_loop


async def _running_loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_servers_run_on_uvloop_where_it_is_installed() -> None:
    pytest.importorskip("uvloop")
    assert server_loop.loop_name() == "uvloop"
    assert server_loop.run(_running_loop_module()).startswith("uvloop")
    loop = server_loop.new_event_loop()
    try:
        assert type(loop).__module__.startswith("uvloop")
    finally:
        loop.close()


def test_the_environment_can_ask_for_asyncios_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(server_loop.ENVIRONMENT_VARIABLE, "asyncio")
    assert server_loop.loop_name() == "asyncio"
    assert server_loop.run(_running_loop_module()).startswith("asyncio")
