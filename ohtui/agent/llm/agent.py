"""The LLM agent: any OpenAI-compatible chat-completions endpoint, with CodeAct-style tools (OPENHANDS_V0.md §5).

OpenAI, OpenRouter, Ollama, vLLM, llama.cpp's server, LM Studio…: anything that speaks ``/v1/chat/completions``
with function calling. The pieces, each a module of this package:

* settings — :class:`~ohtui.config.LLMSettings` (the config layer): model, endpoint, key and request knobs.
* :class:`LLMAgent` — registered as ``"llm"``. Each step rebuilds the chat from the stored events
  (:mod:`~ohtui.agent.llm.prompt`): the task, the latest summary and the turns since, read from the end of the
  history (:mod:`~ohtui.agent.llm.context`), never the whole of it. When that would pass 3/4 of the model's context
  window (:mod:`~ohtui.agent.llm.window`), the step is a ``condensation`` instead: one request for a summary of
  the older turns (:mod:`~ohtui.agent.llm.condenser`), stored like any action, and the next step builds from it.
  It asks the model through a :class:`~ohtui.agent.llm.client.ChatClient`
  (:mod:`~ohtui.agent.llm.openai_client` unless given another: streaming, retries, readable errors; the SDK is
  imported at the first request) and turns its answer into actions (:mod:`~ohtui.agent.llm.tools`). A response with
  several tool calls yields one action per step, in order, each with its ``tool_call_metadata``
  (``total_calls_in_response`` = the count); the queue is dropped when the user speaks (the calls left get "not
  executed" results in the next prompt). Plain text becomes ``MessageAction(wait_for_response=True)``. A malformed
  tool call becomes an ``error`` observation that the model reads as that call's result
  (:class:`~ohtui.agent.signals.ActionError`), as upstream does; nothing runs.
* Every action carries ``llm_metrics`` (:mod:`~ohtui.agent.llm.usage`): the conversation's accumulated cost and
  token usage plus this response's own.
* **Not configured** (no model, or neither a key nor a base URL): ``create_agent("llm")`` still succeeds, and the
  agent answers every message with :data:`NOT_CONFIGURED` plus what is missing (how to configure a model, and the
  offline demo ``--agent replay``). It never raises, hangs or calls the network for lack of a key. A front end
  that wants to offer the demo up front checks ``LLMSettings.is_configured``.
* ``confirmation_mode = True`` by default: the controller then asks the user before each command or edit.
* Where it acts: the server's runtime if it gives one (``runtime_factory``), else :meth:`LLMAgent.default_runtime`,
  a :class:`~ohtui.agent.runtime.LocalRuntime` in ``work_dir`` (default: the current directory).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

from ohtui.agent.base import Agent
from ohtui.agent.llm.client import ChatClient, ClientFactory, Completion, TextDeltas
from ohtui.agent.llm.condenser import Plan, plan
from ohtui.agent.llm.context import Context, Recent
from ohtui.agent.llm.prompt import build_messages, tool_calls_of
from ohtui.agent.llm.tools import TOOLS, ToolCallError, action_from_tool_call, system_prompt
from ohtui.agent.llm.usage import UsageMeter
from ohtui.agent.llm.window import Budget, estimate_tokens, schema_tokens, text_tokens
from ohtui.agent.signals import ActionError
from ohtui.config import LLMSettings
from ohtui.protocol import (
    Action,
    CondensationAction,
    Event,
    EventSource,
    MessageAction,
    MessageArgs,
    Metrics,
    SystemMessageAction,
    SystemMessageArgs,
    ToolCallMetadata,
)

if TYPE_CHECKING:
    from ohtui.agent.runtime import LocalRuntime

__all__ = ["NOT_CONFIGURED", "LLMAgent", "openai_client"]

NOT_CONFIGURED = (
    "No LLM is configured, so I cannot work on this yet. Set OHTUI_LLM_MODEL (for example gpt-4o-mini) and"
    " OHTUI_LLM_API_KEY (or OPENAI_API_KEY). For a local OpenAI-compatible server (Ollama, vLLM, LM Studio,"
    " llama.cpp) set OHTUI_LLM_BASE_URL (for example http://localhost:11434/v1) instead of a key. Then restart"
    " ohtui. To watch ohtui at work without a model, run the offline demo: ohtui --agent replay."
)
_EMPTY_RESPONSE = "(The model returned an empty response.)"


@cache
def _tools_tokens() -> int:
    return schema_tokens(TOOLS)


def openai_client(settings: LLMSettings, on_text_delta: TextDeltas | None) -> ChatClient:
    """The default :data:`~ohtui.agent.llm.client.ClientFactory`: the OpenAI SDK, imported now (it is slow to)."""
    from ohtui.agent.llm.openai_client import OpenAIChatClient

    return OpenAIChatClient(settings, on_text_delta)


class LLMAgent(Agent):
    """An agent backed by an OpenAI-compatible chat model (see the module docstring).

    Options (``create_agent("llm", **options)``): ``settings`` (an :class:`LLMSettings`; default
    ``LLMSettings.from_env()``), any :class:`LLMSettings` field as a keyword to override it (``model=``,
    ``base_url=``, ``api_key=``, ``num_retries=``, ``stream=``…; None means "not given"), ``confirmation_mode``
    (default True), ``work_dir`` (named in the system prompt, and where :meth:`default_runtime` works when the
    server gives the conversation no runtime; default: the current directory), ``system_prompt`` (replaces ours),
    ``on_text_delta`` (called with streamed text as it arrives), ``client_factory`` (another provider: a
    :data:`~ohtui.agent.llm.client.ClientFactory`; default :func:`openai_client`).
    """

    name: ClassVar[str] = "llm"

    def __init__(
        self,
        settings: LLMSettings | None = None,
        *,
        confirmation_mode: bool = True,
        work_dir: str | None = None,
        system_prompt: str | None = None,
        on_text_delta: TextDeltas | None = None,
        client_factory: ClientFactory = openai_client,
        **overrides: Any,
    ) -> None:
        base = settings if settings is not None else LLMSettings.from_env()
        self.settings = base.replace(**overrides)
        self.confirmation_mode = confirmation_mode
        self.work_dir = os.path.abspath(work_dir) if work_dir else None
        self._custom_prompt = system_prompt
        self._on_text_delta = on_text_delta
        self._client_factory = client_factory
        self._client: ChatClient | None = None
        self._queue: deque[Action | ActionError] = deque()
        self._queued_after: int | None = None  # the newest event's id when the queue was filled
        self._usage: UsageMeter | None = None
        self._context = Context()

    @property
    def prompt(self) -> str:
        """The system prompt: the one given, else ours naming the working directory once it is known."""
        return self._custom_prompt if self._custom_prompt is not None else system_prompt(self.work_dir)

    @property
    def client(self) -> ChatClient:
        """The connection to the model, made at the first request."""
        if self._client is None:
            self._client = self._client_factory(self.settings, self._on_text_delta)
        return self._client

    def default_runtime(self) -> LocalRuntime:
        """The runtime when the host supplies none: a local shell in ``work_dir``, else the current directory."""
        from ohtui.agent.runtime import LocalRuntime

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
        """Close the model's client, if one was made (the controller calls this when the conversation closes)."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def step(self, history: Sequence[Event]) -> Action:
        problem = self.settings.problem
        if problem is not None:
            text = f"{NOT_CONFIGURED} (Missing: {problem}.)"
            return MessageAction(args=MessageArgs(content=text, wait_for_response=True))
        if self._queue and self._user_spoke(history):
            self._queue.clear()  # the rest of the previous response is stale
        if not self._queue:
            newest = next(reversed(history), None)
            self._queue.extend(await self._respond(history))
            self._queued_after = None if newest is None else newest.id
        item = self._queue.popleft()
        if isinstance(item, ActionError):
            raise item
        return item

    def _user_spoke(self, history: Sequence[Event]) -> bool:
        """Whether a user message came after the queue was filled (read back from the newest event to there)."""
        for event in reversed(history):
            if event.id is not None and self._queued_after is not None and event.id <= self._queued_after:
                return False
            if isinstance(event, MessageAction) and event.source is EventSource.USER:
                return True
        return False

    async def _respond(self, history: Sequence[Event]) -> list[Action | ActionError]:
        """Ask the model about ``history`` (its recent part); its answer as actions, in order, or the condensation
        that makes the request fit."""
        budget = Budget.of(self.settings, text_tokens(len(self.prompt)) + _tools_tokens())
        recent = self._context.read(history, budget)
        if self._usage is None:
            self._usage = UsageMeter.restored(recent.events)
        messages = self._messages(recent) if recent.complete else None
        if messages is None or estimate_tokens(messages) + _tools_tokens() > budget.limit:
            condensing = plan(recent, budget)
            if condensing is not None:
                return [await self._condense(condensing, budget)]
        completion = await self.client.complete(messages or self._messages(recent), TOOLS)
        return self._actions(completion, self._usage.record(completion, self.settings))

    def _messages(self, recent: Recent) -> list[dict[str, Any]]:
        view = recent.view()
        return [m.model_dump() for m in build_messages(self.prompt, view.events, summary=view.summary, head=view.head)]

    async def _condense(self, condensing: Plan, budget: Budget) -> CondensationAction:
        """One request for the summary; the condensation action that records it (with the request's metrics)."""
        assert self._usage is not None
        completion = await self.client.complete(condensing.request(budget), [])
        summary, _ = tool_calls_of(completion.response)
        action = condensing.action(summary, budget)
        return action.model_copy(update={"llm_metrics": self._usage.record(completion, self.settings)})

    def _actions(self, completion: Completion, metrics: Metrics) -> list[Action | ActionError]:
        response = completion.response
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
