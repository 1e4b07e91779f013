"""A fake OpenAI-compatible chat-completions server on loopback, for driving the real ``openai`` client in tests.

``POST /v1/chat/completions`` answers with the next scripted :class:`Reply` (streamed as SSE when the request asks
for ``stream``, a JSON body otherwise) and records every request body, so tests can inspect the prompts the agent
built. A reply can be held back until the test releases it (``gate``). Requests without tools (the agent's summary
requests when it condenses) take their replies from ``summaries`` instead, so a script of tool calls is not
disturbed by a condensation.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["FakeLLM", "Reply", "error", "text", "tools"]

_ids = itertools.count(1)


@dataclass
class Reply:
    status: int = 200
    content: str | None = None
    tool_calls: list[tuple[str, str]] = field(default_factory=list)
    """(function name, raw arguments text) pairs."""
    error_message: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    usage: dict[str, Any] | None = None
    gate: asyncio.Event | None = None


def text(content: str, **options: Any) -> Reply:
    return Reply(content=content, **options)


def tools(*calls: tuple[str, dict[str, Any] | str], content: str | None = None, **options: Any) -> Reply:
    """A response with tool calls; dict arguments are JSON-encoded, str arguments sent verbatim (maybe broken)."""
    encoded = [(name, args if isinstance(args, str) else json.dumps(args)) for name, args in calls]
    return Reply(content=content, tool_calls=encoded, **options)


def error(status: int, message: str = "scripted failure", **options: Any) -> Reply:
    return Reply(status=status, error_message=message, **options)


class FakeLLM:
    def __init__(self, *replies: Reply) -> None:
        self.replies: deque[Reply] = deque(replies)
        self.summaries: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self.auth: list[str] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    def add(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{port}/v1"
        return self.url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def last_messages(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self.requests[-1]["messages"]
        return messages

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        self.auth.append(request.headers.get("Authorization", ""))
        queue = self.replies if body.get("tools") else self.summaries
        reply = queue.popleft() if queue else text("(fake LLM: no scripted reply left)")
        if reply.gate is not None:
            await reply.gate.wait()
        if reply.status != 200:
            payload = {"error": {"message": reply.error_message, "type": "scripted", "code": reply.status}}
            return web.json_response(payload, status=reply.status, headers=reply.headers)
        response_id = f"chatcmpl-{next(_ids)}"
        calls = [
            {"id": f"call_{next(_ids)}", "type": "function", "function": {"name": name, "arguments": arguments}}
            for name, arguments in reply.tool_calls
        ]
        usage = reply.usage or {
            "prompt_tokens": 100 + len(body["messages"]),
            "completion_tokens": 10,
            "total_tokens": 110 + len(body["messages"]),
            "prompt_tokens_details": {"cached_tokens": 40},
        }
        finish = "tool_calls" if calls else "stop"
        if body.get("stream"):
            return await self._stream(request, body, response_id, reply.content, calls, finish, usage)
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if calls:
            message["tool_calls"] = calls
        return web.json_response(
            {
                "id": response_id,
                "object": "chat.completion",
                "created": 1700000000,
                "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": usage,
            }
        )

    async def _stream(
        self,
        request: web.Request,
        body: dict[str, Any],
        response_id: str,
        content: str | None,
        calls: list[dict[str, Any]],
        finish: str,
        usage: dict[str, Any],
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)

        async def send(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> None:
            chunk = {
                "id": response_id,
                "object": "chat.completion.chunk",
                "created": 1700000000,
                "model": body["model"],
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
                **extra,
            }
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())

        await send({"role": "assistant", "content": ""})
        if content:
            middle = len(content) // 2
            await send({"content": content[:middle]})
            await send({"content": content[middle:]})
        for index, call in enumerate(calls):
            arguments = call["function"]["arguments"]
            middle = len(arguments) // 2
            first = {"index": index, "id": call["id"], "type": "function"}
            first["function"] = {"name": call["function"]["name"], "arguments": arguments[:middle]}
            await send({"tool_calls": [first]})
            await send({"tool_calls": [{"index": index, "function": {"arguments": arguments[middle:]}}]})
        await send({}, finish)
        if (body.get("stream_options") or {}).get("include_usage"):
            chunk = {
                "id": response_id,
                "object": "chat.completion.chunk",
                "created": 1700000000,
                "model": body["model"],
                "choices": [],
                "usage": usage,
            }
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response
