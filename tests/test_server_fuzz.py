"""Thousands of malformed client actions: each gets an error frame, nothing is stored, the server keeps answering."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ohtui.server import OhtuiServer, ServerConfig
from tests.samples import load_samples
from tests.socket_helpers import V0Client, is_state
from tests.strategies import JSON_VALUES


class LoopThread:
    """A server and a connected client on an event loop in a background thread, for synchronous hypothesis tests."""

    def __init__(self, data_dir: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = OhtuiServer(ServerConfig(data_dir=data_dir, max_payload=256 * 1024))
        self.client = V0Client()

    def run(self, coroutine: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    async def start(self) -> None:
        await self.server.start()
        await self.client.connect(self.server.url, conversation_id="fuzz", session_api_key=self.server.key)
        await self.client.frames_until(is_state("awaiting_user_input"))

    async def stop(self) -> None:
        await self.client.close()
        await self.server.stop()

    def close(self) -> None:
        async def cancel_leftovers() -> None:
            current = asyncio.current_task()
            leftovers = [task for task in asyncio.all_tasks() if task is not current]
            for task in leftovers:
                task.cancel()
            await asyncio.gather(*leftovers, return_exceptions=True)

        self.run(cancel_leftovers())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopThread]:
    runner = LoopThread(tmp_path_factory.mktemp("fuzz"))
    runner.run(runner.start())
    try:
        yield runner
    finally:
        runner.run(runner.stop())
        runner.close()


VALID_ACTIONS = [data for _, data in load_samples() if "action" in data]


def _broken_actions() -> st.SearchStrategy[Any]:
    """Arbitrary JSON, and real actions with one arg replaced by a value of another type."""

    def corrupt(action: dict[str, Any], key_index: int, value: Any) -> dict[str, Any]:
        args = dict(action.get("args", {}))
        keys = list(args)
        if keys:
            args[keys[key_index % len(keys)]] = value
        return {"action": action["action"], "args": args}

    bad_values = st.one_of(st.lists(st.integers(), min_size=1), st.dictionaries(st.text(), st.integers(), min_size=1))
    near_misses = st.builds(corrupt, st.sampled_from(VALID_ACTIONS), st.integers(0, 20), bad_values)
    wrong_types = st.builds(
        lambda kind, args: {"action": kind, "args": args},
        st.text(max_size=12).filter(lambda k: k not in {a["action"] for a in VALID_ACTIONS}),
        JSON_VALUES,
    )
    return st.one_of(
        JSON_VALUES.filter(lambda v: not isinstance(v, dict) or "action" not in v), near_misses, wrong_types
    )


def _is_valid_somewhere(payload: Any) -> bool:
    from ohtui.protocol import Action, OpaqueEvent, ProtocolError, event_from_dict

    try:
        event = event_from_dict(payload)
    except ProtocolError:
        return False
    return isinstance(event, Action) and not isinstance(event, OpaqueEvent)


@settings(max_examples=1200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=_broken_actions())
def test_malformed_actions_are_refused_without_storing(live: LoopThread, payload: Any) -> None:
    store = live.server.db.events("fuzz")
    before = store.count()
    answer = live.run(live.client.action(payload))
    if _is_valid_somewhere(payload):
        # A corrupted field can still be valid (e.g. a dict where any dict is allowed): then the controller decides.
        return
    assert isinstance(answer, dict) and answer.get("error") is True, answer
    assert store.count() == before
    # The error frame reaches the sender too (other frames of the running conversation may come in between).
    live.run(live.client.frames_until(lambda frame: frame == answer))


def test_server_still_answers_after_the_fuzzing(live: LoopThread) -> None:
    async def conversation_still_works() -> list[Any]:
        live.client.drain()
        await live.client.action({"action": "message", "args": {"content": "still there?"}})
        return await live.client.frames_until(lambda f: f.get("args", {}).get("content") == "still there?")

    frames = live.run(conversation_still_works())
    assert frames[-1]["source"] == "user"
