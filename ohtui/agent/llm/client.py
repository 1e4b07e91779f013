"""What the LLM agent needs from a model provider: :class:`ChatClient`, one chat completion with tools at a time.

A provider is one module with a class that satisfies the protocol (:mod:`ohtui.agent.llm.openai_client` is the
first: any OpenAI-compatible endpoint). Its contract:

* :meth:`ChatClient.complete` returns a :class:`Completion` whose ``response`` is a chat-completion dict (OpenAI's
  shape, which V0 stores as a tool call's ``model_response``), streamed or not;
* transient failures are retried inside ``complete``, each retry announced with
  :func:`~ohtui.agent.signals.report_retry` (:func:`backoff_seconds` says how long to wait); the last failure, and
  any failure a retry cannot fix, raise an :class:`LLMError` whose message says what to change and whose ``status``
  the controller puts in the conversation's status update;
* :meth:`ChatClient.aclose` releases its connections (the agent calls it when the conversation closes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ohtui.agent.signals import AgentFailure
from ohtui.config import LLMSettings
from ohtui.protocol import RuntimeStatus

__all__ = [
    "ChatClient",
    "ClientFactory",
    "Completion",
    "LLMAuthenticationError",
    "LLMError",
    "LLMRateLimitError",
    "LLMRequestError",
    "LLMServiceError",
    "TextDeltas",
    "backoff_seconds",
]

TextDeltas = Callable[[str], object]
"""Called with the text of a streamed response as it arrives (the stored action holds it whole)."""


@dataclass(frozen=True)
class Completion:
    """One model response, in chat-completion shape whether it was streamed or not."""

    response: dict[str, Any]
    """``{"id", "object": "chat.completion", "created", "model", "choices": [{"message": …}], "usage"}``."""
    latency: float
    """Seconds from sending the request to the end of the response (the successful attempt)."""


class ChatClient(Protocol):
    """One agent's connection to a model."""

    async def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> Completion:
        """The model's answer to ``messages`` (chat-completion message dicts), which may call ``tools``."""
        ...

    async def aclose(self) -> None: ...


ClientFactory = Callable[[LLMSettings, TextDeltas | None], ChatClient]
"""Makes the agent's client, at its first request: ``(settings, on_text_delta)``."""


class LLMError(AgentFailure):
    """The LLM request failed for good; the message is meant for the user."""


class LLMAuthenticationError(LLMError):
    status = RuntimeStatus.ERROR_LLM_AUTHENTICATION


class LLMRateLimitError(LLMError):
    status = RuntimeStatus.AGENT_RATE_LIMITED_STOPPED


class LLMServiceError(LLMError):
    status = RuntimeStatus.ERROR_LLM_SERVICE_UNAVAILABLE


class LLMRequestError(LLMError):
    status = RuntimeStatus.ERROR


def backoff_seconds(settings: LLMSettings, attempt: int, retry_after: float | None = None) -> float:
    """The wait before retry ``attempt`` (1-based): ``retry_min_wait`` doubling up to ``retry_max_wait``, or the
    server's ``Retry-After`` if that is longer (within the same ceiling)."""
    wait = min(settings.retry_max_wait, settings.retry_min_wait * 2 ** (attempt - 1))
    if retry_after is not None:
        wait = max(wait, min(retry_after, settings.retry_max_wait))
    return max(0.0, wait)
