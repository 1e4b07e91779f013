"""The OpenAI SDK behind :class:`~ohtui.agent.llm.client.ChatClient`: any OpenAI-compatible chat-completions endpoint.

Built on the official ``openai`` package's ``AsyncOpenAI`` (its own retries are switched off: ours report progress
to the conversation). Importing this module imports the SDK, which takes longer than the rest of the agent: the
agent imports it when it makes its first request. Streaming (``stream=True``, the default) assembles text and
tool-call deltas into the same response dict a non-streamed call returns, so everything downstream sees one shape;
``on_text_delta`` receives the text as it arrives (the V0 protocol has no partial events, so the controller stores
only complete actions). Token usage of streamed responses needs ``stream_options.include_usage``; an endpoint that
refuses that option is asked again without it (usage then counts as 0).

Retried, with exponential backoff (:func:`~ohtui.agent.llm.client.backoff_seconds`, or the server's ``Retry-After``
if longer) up to ``num_retries`` times: 429, 408, 409 and 5xx answers, connection failures and timeouts, and streams
that break off. Each retry is reported ("Retrying LLM request, n / N"; a 429 also puts the conversation in
``rate_limited``). Everything else, and the last failure, raises an :class:`~ohtui.agent.llm.client.LLMError` whose
message says what happened and what to change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

import openai
from openai import AsyncOpenAI

from ohtui.agent.llm.client import (
    Completion,
    LLMAuthenticationError,
    LLMError,
    LLMRateLimitError,
    LLMRequestError,
    LLMServiceError,
    TextDeltas,
    backoff_seconds,
)
from ohtui.agent.signals import report_retry
from ohtui.config import LLMSettings
from ohtui.protocol import RuntimeStatus

__all__ = ["OpenAIChatClient"]

log = logging.getLogger(__name__)

_RETRYABLE_STATUS = frozenset({408, 409, 429})
_DETAIL_CHARS = 300


class _BrokenStream(Exception):
    """A stream that ended in something other than an HTTP status (a reset connection, a bad chunk)."""


class OpenAIChatClient:
    """Sends chat completions for one agent; holds one HTTP connection pool until :meth:`aclose`."""

    def __init__(self, settings: LLMSettings, on_text_delta: TextDeltas | None = None) -> None:
        self.settings = settings
        self.on_text_delta = on_text_delta
        self._client: AsyncOpenAI | None = None
        self._stream_options = True  # dropped for endpoints that refuse ``stream_options``

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()

    async def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> Completion:
        """The model's response to ``messages``, retrying transient failures; raises :class:`LLMError`."""
        settings = self.settings
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                response = await self._request(messages, tools)
                return Completion(response=response, latency=time.monotonic() - started)
            except openai.APIStatusError as error:
                if error.status_code == 400 and self._stream_options and "stream_options" in _describe(error):
                    self._stream_options = False  # an older server: ask again without it, usage unknown
                    continue
                if error.status_code not in _RETRYABLE_STATUS and error.status_code < 500:
                    raise self._final_error(error, attempt) from None
                failure: Exception = error
            except (openai.APIError, _BrokenStream) as error:  # connection failures, timeouts, broken streams
                failure = error
            attempt += 1
            if attempt > settings.num_retries:
                raise self._final_error(failure, attempt - 1) from None
            rate_limited = isinstance(failure, openai.APIStatusError) and failure.status_code == 429
            log.info("LLM request failed (%s); retry %d / %d", _describe(failure), attempt, settings.num_retries)
            await report_retry(attempt, settings.num_retries, rate_limited=rate_limited)
            await asyncio.sleep(backoff_seconds(settings, attempt, _retry_after(failure)))

    def _openai(self) -> AsyncOpenAI:
        if self._client is None:
            settings = self.settings
            self._client = AsyncOpenAI(
                # Local servers (Ollama, llama.cpp, vLLM) take any key, but the client insists on one.
                api_key=settings.api_key or "not-needed",
                base_url=settings.base_url or None,
                timeout=settings.timeout,
                max_retries=0,
            )
        return self._client

    def _options(self) -> dict[str, Any]:
        settings = self.settings
        options: dict[str, Any] = {}
        if settings.temperature is not None:
            options["temperature"] = settings.temperature
        if settings.max_output_tokens is not None:
            options["max_tokens"] = settings.max_output_tokens
        return options

    async def _request(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
        # Plain dicts on purpose (the §5 serializer's output): the typed params would only restate them.
        create: Any = self._openai().chat.completions.create
        model = self.settings.model
        options = self._options()
        if tools:
            options["tools"] = tools
        if not self.settings.stream:
            completion = await create(model=model, messages=messages, **options)
            data: dict[str, Any] = completion.model_dump(mode="json", exclude_none=True)
            return data
        if self._stream_options:
            options["stream_options"] = {"include_usage": True}
        stream = await create(model=model, messages=messages, stream=True, **options)
        return await self._assemble(stream)

    async def _assemble(self, stream: Any) -> dict[str, Any]:
        """Fold a chat-completion chunk stream into one non-streamed response dict."""
        response: dict[str, Any] = {"id": "", "object": "chat.completion", "created": 0, "model": self.settings.model}
        text: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        finish_reason: str | None = None
        usage: dict[str, Any] | None = None
        try:
            async for chunk in stream:
                response["id"] = response["id"] or chunk.id or ""
                response["created"] = response["created"] or chunk.created or 0
                response["model"] = chunk.model or response["model"]
                if chunk.usage is not None:
                    usage = chunk.usage.model_dump(mode="json", exclude_none=True)
                for choice in chunk.choices:
                    finish_reason = choice.finish_reason or finish_reason
                    delta = choice.delta
                    if delta is None:
                        continue
                    if delta.content:
                        text.append(delta.content)
                        self._emit_delta(delta.content)
                    for part in delta.tool_calls or []:
                        slot = calls.setdefault(part.index, {"id": "", "name": "", "arguments": ""})
                        if part.id:
                            slot["id"] = part.id
                        if part.function is not None:
                            if part.function.name and not slot["name"]:
                                slot["name"] = part.function.name
                            if part.function.arguments:
                                slot["arguments"] += part.function.arguments
        except openai.APIError:
            raise
        except Exception as error:  # the transport broke mid-stream (the error type depends on the HTTP library)
            raise _BrokenStream(f"the response stream broke off: {_describe(error)}") from error
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()
        message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
        if calls:
            message["tool_calls"] = [
                {
                    "id": slot["id"] or f"call_{uuid.uuid4().hex[:24]}",
                    "type": "function",
                    "function": {"name": slot["name"], "arguments": slot["arguments"]},
                }
                for _, slot in sorted(calls.items())
            ]
        response["choices"] = [{"index": 0, "message": message, "finish_reason": finish_reason}]
        if usage is not None:
            response["usage"] = usage
        return response

    def _emit_delta(self, text: str) -> None:
        if self.on_text_delta is None:
            return
        try:
            self.on_text_delta(text)
        except Exception:
            log.exception("on_text_delta failed")

    def _final_error(self, failure: Exception, retries: int) -> LLMError:
        settings = self.settings
        where = settings.base_url or "the OpenAI API"
        detail = _describe(failure)
        tried = f" (gave up after {retries} {'retry' if retries == 1 else 'retries'})" if retries else ""
        if isinstance(failure, openai.AuthenticationError):
            return LLMAuthenticationError(
                f"the LLM rejected the API key: {detail}; set OHTUI_LLM_API_KEY (or OPENAI_API_KEY) to a valid key"
                f" for {where}"
            )
        if isinstance(failure, openai.PermissionDeniedError):
            return LLMAuthenticationError(
                f"the LLM refused access: {detail}; check that the API key may use the model {settings.model!r}"
            )
        if isinstance(failure, openai.APIStatusError):
            status = failure.status_code
            if status == 429:
                return LLMRateLimitError(
                    f"the LLM kept refusing requests with a rate limit{tried}: {detail}; wait a little and send a"
                    " message or resume to try again"
                )
            if status == 402:
                return LLMError(
                    f"the LLM account has run out of credits: {detail}", RuntimeStatus.ERROR_LLM_OUT_OF_CREDITS
                )
            if status == 404:
                return LLMRequestError(
                    f"the LLM endpoint {where} does not know the model {settings.model!r}: {detail}; check"
                    " OHTUI_LLM_MODEL and OHTUI_LLM_BASE_URL"
                )
            if status >= 500:
                return LLMServiceError(
                    f"the LLM service failed{tried}: HTTP {status}: {detail}",
                    RuntimeStatus.ERROR_LLM_INTERNAL_SERVER_ERROR if status == 500 else None,
                )
            if "tool" in detail.lower() and "support" in detail.lower():
                return LLMRequestError(
                    f"the model {settings.model!r} cannot call tools ({detail}); ohtui's agent needs a model with"
                    " function calling: choose another one in OHTUI_LLM_MODEL"
                )
            return LLMRequestError(f"the LLM rejected the request (HTTP {status}): {detail}")
        if isinstance(failure, openai.APITimeoutError):
            return LLMServiceError(f"the LLM at {where} did not answer within {settings.timeout:g} s{tried}")
        if isinstance(failure, openai.APIConnectionError):
            return LLMServiceError(f"cannot reach the LLM at {where}{tried}: {detail}")
        return LLMServiceError(f"the LLM request failed{tried}: {detail}")


def _describe(error: BaseException) -> str:
    """A one-line description of an openai (or transport) error, without the request dump."""
    if isinstance(error, openai.APIStatusError):
        body = error.body
        inner = body.get("error", body) if isinstance(body, dict) else None
        said = inner.get("message") if isinstance(inner, dict) else None
        text = said if isinstance(said, str) and said else error.message or f"HTTP {error.status_code}"
    elif isinstance(error, openai.APIConnectionError):
        cause = error.__cause__
        text = f"{error.message}: {cause}" if cause is not None and str(cause) else error.message
    else:
        text = str(error) or type(error).__name__
    text = " ".join(text.split())
    return text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 1] + "…"


def _retry_after(error: Exception) -> float | None:
    if not isinstance(error, openai.APIStatusError):
        return None
    headers = error.response.headers
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return float(value) * scale
        except ValueError:
            return None
    return None
