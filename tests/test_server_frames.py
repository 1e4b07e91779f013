"""Raw Engine.IO / Socket.IO frames, as any program could write them, against a live server (hypothesis, bounded).

* Every well-formed Socket.IO event frame gets its answer: an acknowledgement that is either the stored id or an
  error frame, whatever the event name and payload (lone surrogates included); a refusal stores nothing.
* A malformed Engine.IO or Socket.IO packet, or a binary one, closes that one socket and nothing else.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ohtui.server.intake import parse_client_action
from tests.strategies import JSON_VALUES
from tests.test_server_fuzz import VALID_ACTIONS, LoopThread

WAIT = 10.0
LONE_SURROGATES = st.sampled_from(["\ud800", "a\udfff", "\udbff\udbff", "x\ud83d"])


class RawSocket:
    """A websocket speaking Engine.IO 4 by hand: opens the default namespace, answers pings, collects the rest."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[str] = asyncio.Queue()
        self.closed = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._next_ack = 0

    async def open(self, url: str, key: str, conversation_id: str) -> None:
        self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(
            f"{url}/socket.io/?EIO=4&transport=websocket&conversation_id={conversation_id}&session_api_key={key}"
        )
        assert (await self._ws.receive_str()).startswith("0{")
        await self._ws.send_str("40")
        self._reader = asyncio.create_task(self._read())
        await self.wait_for(lambda text: text.startswith("40{"))

    async def _read(self) -> None:
        assert self._ws is not None
        async for message in self._ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                continue
            if message.data == "2":
                await self._ws.send_str("3")
            else:
                self.messages.put_nowait(message.data)
        self.closed.set()

    async def wait_for(self, predicate: Any) -> str:
        async with asyncio.timeout(WAIT):
            while True:
                text = await self.messages.get()
                if predicate(text):
                    return text

    async def send_raw(self, data: str | bytes) -> None:
        assert self._ws is not None
        if isinstance(data, bytes):
            await self._ws.send_bytes(data)
        else:
            await self._ws.send_str(data)

    async def event(self, frame_json: str) -> Any:
        """Send ``42<id><frame_json>`` and return the acknowledgement's arguments."""
        self._next_ack += 1
        prefix = f"43{self._next_ack}["
        await self.send_raw(f"42{self._next_ack}{frame_json}")
        answer = await self.wait_for(lambda text: text.startswith(prefix))
        return json.loads(answer[len(prefix) - 1 :])

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._session is not None:
            await self._session.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LoopThread, RawSocket]]:
    runner = LoopThread(tmp_path_factory.mktemp("frames"))
    runner.run(runner.start())
    raw = RawSocket()
    server = runner.server
    runner.run(raw.open(server.url, server.key or "", "fuzz"))
    try:
        yield runner, raw
    finally:
        runner.run(raw.close())
        runner.run(runner.stop())
        runner.close()


def _with_surrogates(value: Any) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(value), LONE_SURROGATES.map(lambda bad: {"action": "message", "args": {"content": bad}}))


EVENT_NAMES = st.one_of(st.just("oh_user_action"), st.just("oh_action"), st.text(min_size=1, max_size=12))
PAYLOADS = st.one_of(st.sampled_from(VALID_ACTIONS), JSON_VALUES, JSON_VALUES.flatmap(_with_surrogates))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=EVENT_NAMES, payload=PAYLOADS)
def test_every_well_formed_event_frame_gets_its_answer(live: tuple[LoopThread, RawSocket], name: str, payload: Any):
    runner, raw = live
    store = runner.server.db.events("fuzz")
    before = store.count()
    frame = json.dumps([name, payload])  # lone surrogates travel as \\uXXXX escapes, as any JSON encoder writes them
    answer = runner.run(raw.event(frame))
    assert isinstance(answer, list) and len(answer) == 1 and isinstance(answer[0], dict), answer
    result = answer[0]
    acceptable = name in ("oh_user_action", "oh_action") and parse_client_action(payload, 10**6)[0]
    if "id" in result:
        assert acceptable and store.count() > before
    else:
        assert result.get("error") is True and isinstance(result.get("message"), str) and result["message"]
        if not acceptable:
            assert store.count() == before


MALFORMED = st.one_of(
    st.text(max_size=20).filter(lambda text: not text or text[0] not in "0123456"),
    st.text(max_size=20).map(lambda text: "42" + text).filter(lambda text: not _decodes(text)),
    st.sampled_from(['451-["oh_user_action",{"_placeholder":true,"num":0}]', "46", "9", ""]),
    st.binary(min_size=1, max_size=64),
)


def _decodes(eio_text: str) -> bool:
    from ohtui.server.socket_server import packet_problem

    return packet_problem(eio_text) is None


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bad=MALFORMED)
def test_a_malformed_packet_closes_that_socket_only(live: tuple[LoopThread, RawSocket], bad: str | bytes) -> None:
    runner, bystander = live
    server = runner.server
    store = server.db.events("fuzz")
    before = store.count()

    async def send_bad() -> bool:
        victim = RawSocket()
        await victim.open(server.url, server.key or "", "fuzz")
        try:
            await victim.send_raw(bad)
            async with asyncio.timeout(WAIT):
                await victim.closed.wait()
            return True
        finally:
            await victim.close()

    assert runner.run(send_bad())
    assert store.count() == before
    assert runner.run(bystander.event('["ohtui_ping"]')) == [{}]


def test_refusals_leave_the_server_storing_valid_actions(live: tuple[LoopThread, RawSocket]) -> None:
    runner, raw = live
    answer = runner.run(raw.event(json.dumps(["oh_user_action", {"action": "message", "args": {"content": "ok"}}])))
    assert "id" in answer[0]
    assert Path(runner.server.db.path).exists()
