"""The LLM agent: any OpenAI-compatible chat-completions endpoint, with CodeAct-style tools (OPENHANDS_V0.md §5).

OpenAI, OpenRouter, Ollama, vLLM, llama.cpp's server, LM Studio…: anything that speaks ``/v1/chat/completions``
with function calling. The pieces:

* :class:`LLMSettings` — model, endpoint, key and request knobs; :meth:`LLMSettings.from_env` reads
  ``OHTUI_LLM_MODEL``, ``OHTUI_LLM_BASE_URL`` (else ``OPENAI_BASE_URL``) and ``OHTUI_LLM_API_KEY`` (else
  ``OPENAI_API_KEY``). The lead's config file and CLI flags override fields with ``from_env(**overrides)``.
* :class:`LLMAgent` — registered as ``"llm"``. Each step rebuilds the chat from the stored events
  (:mod:`ohtui.agent.llm_history`), asks the model (:mod:`ohtui.agent.llm_client`: streaming, retries, readable
  errors) and turns its answer into actions (:mod:`ohtui.agent.llm_tools`). A response with several tool calls
  yields one action per step, in order, each with its ``tool_call_metadata`` (``total_calls_in_response`` = the
  count); the queue is dropped when the user speaks (the calls left get "not executed" results in the next prompt).
  Plain text becomes ``MessageAction(wait_for_response=True)``. A malformed tool call becomes an ``error``
  observation that the model reads as that call's result (:class:`~ohtui.agent.signals.ActionError`), as upstream
  does; nothing runs.
* Every action carries ``llm_metrics``: the conversation's accumulated cost and token usage (restored from the
  store after a restart) plus this response's own cost, token usage (cache reads and writes included) and latency.
  Cost is what the endpoint reports (OpenRouter's ``usage.cost``), else computed from
  ``input_cost_per_token``/``output_cost_per_token`` when set, else 0.
* **Not configured** (no model, or neither a key nor a base URL): ``create_agent("llm")`` still succeeds, and the
  agent answers every message with :data:`NOT_CONFIGURED` plus what is missing (how to configure a model, and the
  offline demo ``--agent replay``). It never raises, hangs or calls the network for lack of a key. A front end
  that wants to offer the demo up front checks ``LLMSettings.from_env().is_configured``.
* ``confirmation_mode = True`` by default: the controller then asks the user before each command or edit.
* Where it acts: the server's runtime if it gives one (``runtime_factory``), else :meth:`LLMAgent.default_runtime`,
  a :class:`~ohtui.agent.runtime.LocalRuntime` in ``work_dir`` (default: the current directory).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ohtui.agent.base import Agent
from ohtui.agent.llm_client import ChatClient, Completion
from ohtui.agent.llm_history import build_messages, tool_calls_of
from ohtui.agent.llm_tools import TOOLS, ToolCallError, action_from_tool_call, system_prompt
from ohtui.agent.runtime import LocalRuntime
from ohtui.agent.signals import ActionError
from ohtui.protocol import (
    Action,
    Cost,
    Event,
    EventSource,
    MessageAction,
    MessageArgs,
    Metrics,
    ResponseLatency,
    SystemMessageAction,
    SystemMessageArgs,
    TokenUsage,
    ToolCallMetadata,
)

__all__ = ["ENV_API_KEY", "ENV_BASE_URL", "ENV_MODEL", "NOT_CONFIGURED", "LLMAgent", "LLMSettings"]

ENV_MODEL = "OHTUI_LLM_MODEL"
ENV_BASE_URL = "OHTUI_LLM_BASE_URL"
ENV_API_KEY = "OHTUI_LLM_API_KEY"
_FALLBACK_BASE_URL = "OPENAI_BASE_URL"
_FALLBACK_API_KEY = "OPENAI_API_KEY"

NOT_CONFIGURED = (
    "No LLM is configured, so I cannot work on this yet. Set OHTUI_LLM_MODEL (for example gpt-4o-mini) and"
    " OHTUI_LLM_API_KEY (or OPENAI_API_KEY). For a local OpenAI-compatible server (Ollama, vLLM, LM Studio,"
    " llama.cpp) set OHTUI_LLM_BASE_URL (for example http://localhost:11434/v1) instead of a key. Then restart"
    " ohtui. To watch ohtui at work without a model, run the offline demo: ohtui --agent replay."
)
_EMPTY_RESPONSE = "(The model returned an empty response.)"


@dataclass(frozen=True)
class LLMSettings:
    """Which model to use and how to talk to it. Plain data: the config layer fills it, the agent reads it."""

    model: str = ""
    """The model name the endpoint expects (``gpt-4o-mini``, ``qwen2.5-coder:14b``, ``anthropic/claude-sonnet-4``)."""
    base_url: str | None = None
    """The endpoint, up to ``/v1`` (``http://localhost:11434/v1``); None: the OpenAI API."""
    api_key: str | None = field(default=None, repr=False)
    num_retries: int = 5
    """How often a rate-limited, failed (5xx) or unreachable request is retried before the agent gives up."""
    retry_min_wait: float = 2.0
    """Seconds before the first retry; doubled for each further one."""
    retry_max_wait: float = 60.0
    timeout: float = 120.0
    """Seconds one request may take."""
    stream: bool = True
    """Stream responses; turn off for endpoints that mishandle ``stream_options`` or streamed tool calls."""
    temperature: float | None = None
    max_output_tokens: int | None = None
    input_cost_per_token: float | None = None
    output_cost_per_token: float | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> LLMSettings:
        """Settings from the environment, then ``overrides`` (None values are ignored, so unset flags can pass)."""
        env = os.environ if environ is None else environ

        def first(*names: str) -> str | None:
            for name in names:
                value = env.get(name, "").strip()
                if value:
                    return value
            return None

        settings = cls(
            model=first(ENV_MODEL) or "",
            base_url=first(ENV_BASE_URL, _FALLBACK_BASE_URL),
            api_key=first(ENV_API_KEY, _FALLBACK_API_KEY),
        )
        return settings.replace(**overrides)

    def replace(self, **changes: Any) -> LLMSettings:
        """A copy with ``changes`` applied (None values ignored); unknown names raise TypeError."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise TypeError(f"unknown LLM setting(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def problem(self) -> str | None:
        """Why these settings cannot be used, or None."""
        if not self.model:
            return f"no model is set ({ENV_MODEL})"
        if not self.api_key and not self.base_url:
            return f"no API key ({ENV_API_KEY} or {_FALLBACK_API_KEY}) and no local endpoint ({ENV_BASE_URL}) is set"
        if self.num_retries < 0:
            return "num_retries must not be negative"
        return None

    @property
    def is_configured(self) -> bool:
        return self.problem is None

    def describe(self) -> str:
        """``model @ endpoint`` for logs and status lines (never the key)."""
        return f"{self.model or '(no model)'} @ {self.base_url or 'https://api.openai.com/v1'}"


@dataclass
class _Usage:
    """The conversation's running totals."""

    cost: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    context_window: int = 0
    per_turn_token: int = 0


class LLMAgent(Agent):
    """An agent backed by an OpenAI-compatible chat model (see the module docstring).

    Options (``create_agent("llm", **options)``): ``settings`` (an :class:`LLMSettings`; default
    ``LLMSettings.from_env()``), any :class:`LLMSettings` field as a keyword to override it (``model=``,
    ``base_url=``, ``api_key=``, ``num_retries=``, ``stream=``…; None means "not given"), ``confirmation_mode``
    (default True), ``work_dir`` (named in the system prompt, and where :meth:`default_runtime` works when the
    server gives the conversation no runtime; default: the current directory), ``system_prompt`` (replaces ours),
    ``on_text_delta`` (called with streamed text as it arrives).
    """

    name: ClassVar[str] = "llm"

    def __init__(
        self,
        settings: LLMSettings | None = None,
        *,
        confirmation_mode: bool = True,
        work_dir: str | None = None,
        system_prompt: str | None = None,
        on_text_delta: Callable[[str], object] | None = None,
        **overrides: Any,
    ) -> None:
        base = settings if settings is not None else LLMSettings.from_env()
        self.settings = base.replace(**overrides)
        self.confirmation_mode = confirmation_mode
        self.work_dir = os.path.abspath(work_dir) if work_dir else None
        self._custom_prompt = system_prompt
        self.client = ChatClient(self.settings, on_text_delta=on_text_delta)
        self._queue: deque[Action | ActionError] = deque()
        self._queued_at_users = 0
        self._usage: _Usage | None = None

    @property
    def prompt(self) -> str:
        """The system prompt: the one given, else ours naming the working directory once it is known."""
        return self._custom_prompt if self._custom_prompt is not None else system_prompt(self.work_dir)

    def default_runtime(self) -> LocalRuntime:
        """The runtime when the host supplies none: a local shell in ``work_dir``, else the current directory."""
        if self.work_dir is None:
            self.work_dir = os.getcwd()
        return LocalRuntime(self.work_dir)

    def system_message(self) -> SystemMessageAction | None:
        if not self.settings.is_configured:
            return None
        return SystemMessageAction(
            args=SystemMessageArgs(content=self.prompt, tools=TOOLS, openhands_version=None, agent_class="LLMAgent")
        )

    def reset(self) -> None:
        self._queue.clear()

    async def aclose(self) -> None:
        """Close the HTTP client (the controller calls this when the conversation closes)."""
        await self.client.aclose()

    async def step(self, history: Sequence[Event]) -> Action:
        problem = self.settings.problem
        if problem is not None:
            text = f"{NOT_CONFIGURED} (Missing: {problem}.)"
            return MessageAction(args=MessageArgs(content=text, wait_for_response=True))
        users = sum(1 for e in history if isinstance(e, MessageAction) and e.source is EventSource.USER)
        if self._queue and users != self._queued_at_users:
            self._queue.clear()  # the user spoke: the rest of the previous response is stale
        if not self._queue:
            if self._usage is None:
                self._usage = _restore_usage(history)
            messages = [m.model_dump() for m in build_messages(self.prompt, history)]
            completion = await self.client.complete(messages, TOOLS)
            self._queue.extend(self._actions(completion))
            self._queued_at_users = users
        item = self._queue.popleft()
        if isinstance(item, ActionError):
            raise item
        return item

    def _actions(self, completion: Completion) -> list[Action | ActionError]:
        response = completion.response
        metrics = self._metrics(completion)
        content, calls = tool_calls_of(response)
        if not calls:
            text = content if content.strip() else _EMPTY_RESPONSE
            return [MessageAction(args=MessageArgs(content=text, wait_for_response=True), llm_metrics=metrics)]
        items: list[Action | ActionError] = []
        for index, call in enumerate(calls):
            metadata = ToolCallMetadata(
                function_name=call.function.name,
                tool_call_id=call.id,
                model_response=response,
                total_calls_in_response=len(calls),
            )
            try:
                action = action_from_tool_call(
                    call.function.name, call.function.arguments, thought=content if index == 0 else ""
                )
            except ToolCallError as error:
                items.append(ActionError(str(error), metadata))
                continue
            items.append(action.model_copy(update={"tool_call_metadata": metadata, "llm_metrics": metrics}))
        return items

    def _metrics(self, completion: Completion) -> Metrics:
        """Accumulated totals plus this response's cost, usage and latency (§4 ``Metrics.get()`` shape)."""
        usage = self._usage if self._usage is not None else _Usage()
        self._usage = usage
        response = completion.response
        model = self.settings.model
        response_id = str(response.get("id") or "")
        raw = response.get("usage")
        data: dict[str, Any] = raw if isinstance(raw, dict) else {}
        details = data.get("prompt_tokens_details")
        prompt_details: dict[str, Any] = details if isinstance(details, dict) else {}
        prompt = _int(data.get("prompt_tokens"))
        completion_tokens = _int(data.get("completion_tokens"))
        cache_read = _int(prompt_details.get("cached_tokens")) or _int(data.get("cache_read_input_tokens"))
        cache_write = _int(prompt_details.get("cache_write_tokens")) or _int(data.get("cache_creation_input_tokens"))
        cost = self._cost(data, prompt, completion_tokens)
        usage.cost += cost
        usage.prompt_tokens += prompt
        usage.completion_tokens += completion_tokens
        usage.cache_read_tokens += cache_read
        usage.cache_write_tokens += cache_write
        usage.per_turn_token = prompt + completion_tokens
        turn = TokenUsage(
            model=model,
            prompt_tokens=prompt,
            completion_tokens=completion_tokens,
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
            context_window=usage.context_window,
            per_turn_token=prompt + completion_tokens,
            response_id=response_id,
        )
        total = TokenUsage(
            model=model,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            context_window=usage.context_window,
            per_turn_token=usage.per_turn_token,
            response_id="",
        )
        return Metrics(
            accumulated_cost=usage.cost,
            max_budget_per_task=None,
            accumulated_token_usage=total,
            costs=[Cost(model=model, cost=cost, timestamp=time.time())],
            response_latencies=[ResponseLatency(model=model, latency=completion.latency, response_id=response_id)],
            token_usages=[turn],
        )

    def _cost(self, usage: dict[str, Any], prompt: int, completion: int) -> float:
        reported = usage.get("cost")
        if isinstance(reported, int | float) and not isinstance(reported, bool):
            return float(reported)
        settings = self.settings
        if settings.input_cost_per_token is None and settings.output_cost_per_token is None:
            return 0.0
        return prompt * (settings.input_cost_per_token or 0.0) + completion * (settings.output_cost_per_token or 0.0)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _restore_usage(history: Sequence[Event]) -> _Usage:
    """The running totals as of the last action that carried metrics (so a restart keeps counting)."""
    for event in reversed(history):
        metrics = getattr(event, "llm_metrics", None)
        if isinstance(metrics, Metrics):
            total = metrics.accumulated_token_usage
            return _Usage(
                cost=metrics.accumulated_cost,
                prompt_tokens=total.prompt_tokens,
                completion_tokens=total.completion_tokens,
                cache_read_tokens=total.cache_read_tokens,
                cache_write_tokens=total.cache_write_tokens,
                context_window=total.context_window,
                per_turn_token=total.per_turn_token,
            )
    return _Usage()
