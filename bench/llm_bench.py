"""The LLM agent's first prompt on a resumed long conversation, against a scripted endpoint on loopback.

``python -m bench.llm_bench [--quick]``. A conversation of a first user message and N realistic events
(:func:`bench.common.realistic_events`, as the socket benchmark stores them) is restarted with the LLM agent
(model ``gpt-4o``: a 128,000-token window) behind a real :class:`~ohtui.agent.controller.AgentController`; the
user says one more thing and the figure is the wall clock from submitting it until the agent's answer is stored
(state ``awaiting_user_input``): every read of the store, any condensation (one more request) and the prompt.
The openai SDK is imported before the clock starts (the agent imports it at its first request, about a second on
its own). The endpoint (:class:`ScriptedEndpoint`, aiohttp on 127.0.0.1) answers each request at once with a short
text and keeps its size: messages, bytes of JSON, and an estimate of its tokens (the JSON's bytes / 4, which counts
the keys and quoting too). Run at two lengths, the request sizes show whether they grow with the conversation.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from bench.common import Row, failed_row, fill_conversation, row, standalone_main

MODEL = "gpt-4o"
TARGET_S = 3.0


@dataclass
class Request:
    messages: int
    bytes: int

    @property
    def tokens(self) -> int:
        return self.bytes // 4


@dataclass
class ScriptedEndpoint:
    """``POST /v1/chat/completions`` answered with a short text at once; the size of every request kept."""

    requests: list[Request] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application(client_max_size=2**31)  # the whole history of a long conversation, as main sends it
        app.router.add_post("/v1/chat/completions", self._answer)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/v1"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _answer(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = json.loads(raw)
        self.requests.append(Request(len(body["messages"]), len(raw)))
        message = {"role": "assistant", "content": f"Answer {len(self.requests)}: the tests pass now."}
        usage = {"prompt_tokens": len(raw) // 4, "completion_tokens": 12, "total_tokens": len(raw) // 4 + 12}
        return web.json_response(
            {"id": f"b-{len(self.requests)}", "object": "chat.completion", "created": 1, "model": body["model"],
             "choices": [{"index": 0, "message": message, "finish_reason": "stop"}], "usage": usage}
        )  # fmt: skip


def _build(db_path: Path, conversation_id: str, count: int) -> None:
    """A first user message, ``count`` realistic events, and the agent settled: what a restart finds."""
    from ohtui.protocol import AgentState, AgentStateChangedObservation, EventSource, MessageAction
    from ohtui.store import Database

    with Database(db_path) as db:
        db.events(conversation_id).append(MessageAction(content="Make the parser tests pass."), EventSource.USER)
    fill_conversation(db_path, conversation_id, count)
    with Database(db_path) as db:
        settled = AgentStateChangedObservation(agent_state=AgentState.AWAITING_USER_INPUT)
        db.events(conversation_id).append(settled, EventSource.ENVIRONMENT)


async def _prompts(db_path: Path, conversation_id: str, work: Path) -> tuple[list[float], list[Request]]:
    """Seconds from each of two user messages on the restarted conversation to the agent's stored answer; the
    requests."""
    import ohtui.agent.llm.openai_client  # noqa: F401  (the SDK's import, a second or so, is not the figure)
    from ohtui.agent.controller import AgentController
    from ohtui.agent.llm.agent import LLMAgent
    from ohtui.config import LLMSettings
    from ohtui.protocol import AgentState, MessageAction
    from ohtui.store import Database

    endpoint = ScriptedEndpoint()
    await endpoint.start()
    settings = LLMSettings(model=MODEL, base_url=endpoint.url, api_key="bench", stream=False, num_retries=0,
                           timeout=600.0)  # fmt: skip
    try:
        with Database(db_path) as db:
            agent = LLMAgent(settings, confirmation_mode=False, work_dir=str(work))
            controller = AgentController(db.events(conversation_id), agent, working_dir=str(work))
            await controller.start()
            seconds: list[float] = []
            try:
                for said in ("Now run the whole suite, please.", "And the linters?"):
                    asked = len(endpoint.requests)
                    started = time.perf_counter()
                    await controller.submit(MessageAction(content=said))
                    await controller.wait_until(lambda: len(endpoint.requests) > asked, timeout=600)  # noqa: B023
                    await controller.wait_for_state(AgentState.AWAITING_USER_INPUT, AgentState.ERROR, timeout=600)
                    seconds.append(time.perf_counter() - started)
                    if controller.state is not AgentState.AWAITING_USER_INPUT:
                        raise RuntimeError(f"the agent ended in {controller.state.value}")
            finally:
                await controller.close()
    finally:
        await endpoint.close()
    return seconds, endpoint.requests


def _rows(count: int, seconds: list[float], requests: list[Request], main: bool) -> list[Row]:
    first, second = requests[:-1], requests[-1]
    prompt = first[-1]
    condensed = len(first) > 1
    how = (f"{len(first)} requests: a condensation ({first[0].messages} messages, ~{first[0].tokens:,} "
           "tokens) then the prompt" if condensed else "one request, no condensation")  # fmt: skip
    figure = f"first prompt on a resumed {count:,}-event conversation"
    return [
        row(figure, seconds[0], "s", at_most=TARGET_S if main else None,
            note=f"wall clock from the user's message to the agent's stored answer; {how}; model {MODEL}"),
        row(f"request size of that prompt ({count:,} events)", prompt.tokens, "tokens",
            note=f"{prompt.messages:,} messages, {prompt.bytes / 1024:,.0f} KB of JSON; tokens ~ bytes / 4"),
        row(f"the next prompt on it ({count:,} events)", seconds[1], "s",
            note=f"one more user message and answer; {second.messages:,} messages, ~{second.tokens:,} tokens"),
    ]  # fmt: skip


async def _measure(work: Path, quick: bool) -> list[Row]:
    sizes = (2_000, 20_000) if quick else (10_000, 100_000)
    rows: list[Row] = []
    for count in sizes:
        db_path = work / f"{count}.db"
        try:
            _build(db_path, "long", count)
            seconds, requests = await _prompts(db_path, "long", work)
            rows += _rows(count, seconds, requests, count == sizes[-1])
        except Exception as error:  # a benchmark never fails; its row says what happened
            rows.append(failed_row(f"first prompt on a resumed {count:,}-event conversation", error))
    return rows


def run(quick: bool = False) -> list[Row]:
    work = Path(tempfile.mkdtemp(prefix="ohtui-bench-llm-"))
    try:
        return asyncio.run(_measure(work, quick))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    return standalone_main("llm", __doc__, run, "2,000 and 20,000 events", argv)


if __name__ == "__main__":
    raise SystemExit(main())
