"""The cost and token usage an LLM agent's actions carry (§4 ``Metrics.get()`` shape).

Every action gets the conversation's accumulated totals plus its response's own cost, token usage (cache reads and
writes included) and latency. The totals are restored from the last action that carried metrics, so a restarted
server keeps counting. Cost is what the endpoint reports (OpenRouter's ``usage.cost``), else computed from
``input_cost_per_token``/``output_cost_per_token`` when set, else 0.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ohtui.agent.llm.client import Completion
from ohtui.config import LLMSettings
from ohtui.protocol import Cost, Event, Metrics, ResponseLatency, TokenUsage

__all__ = ["UsageMeter"]


@dataclass
class UsageMeter:
    """The conversation's running totals, and the metrics of each response on top of them."""

    cost: float = 0.0
    total: TokenUsage = field(default_factory=TokenUsage)

    @classmethod
    def restored(cls, history: Sequence[Event]) -> UsageMeter:
        """The totals as of the last action in ``history`` that carried metrics (zero if none did)."""
        found = (getattr(event, "llm_metrics", None) for event in reversed(history))
        last = next((metrics for metrics in found if isinstance(metrics, Metrics)), None)
        return cls() if last is None else cls(last.accumulated_cost, last.accumulated_token_usage)

    def record(self, completion: Completion, settings: LLMSettings) -> Metrics:
        """Add ``completion``'s usage to the totals; the metrics its actions carry."""
        response = completion.response
        model = settings.model
        response_id = str(response.get("id") or "")
        raw = response.get("usage")
        usage: dict[str, Any] = raw if isinstance(raw, dict) else {}
        turn = _turn(usage, model, response_id, self.total.context_window)
        cost = _cost(usage, turn.prompt_tokens, turn.completion_tokens, settings)
        self.cost += cost
        self.total = TokenUsage(
            model=model,
            prompt_tokens=self.total.prompt_tokens + turn.prompt_tokens,
            completion_tokens=self.total.completion_tokens + turn.completion_tokens,
            cache_read_tokens=self.total.cache_read_tokens + turn.cache_read_tokens,
            cache_write_tokens=self.total.cache_write_tokens + turn.cache_write_tokens,
            context_window=self.total.context_window,
            per_turn_token=turn.per_turn_token,
            response_id="",
        )
        return Metrics(
            accumulated_cost=self.cost,
            max_budget_per_task=None,
            accumulated_token_usage=self.total,
            costs=[Cost(model=model, cost=cost, timestamp=time.time())],
            response_latencies=[ResponseLatency(model=model, latency=completion.latency, response_id=response_id)],
            token_usages=[turn],
        )


def _turn(usage: dict[str, Any], model: str, response_id: str, context_window: int) -> TokenUsage:
    """One response's token usage, as its ``usage`` dict reports it (OpenAI's and Anthropic's cache fields)."""
    details = usage.get("prompt_tokens_details")
    prompt_details: dict[str, Any] = details if isinstance(details, dict) else {}
    prompt = _int(usage.get("prompt_tokens"))
    completion = _int(usage.get("completion_tokens"))
    return TokenUsage(
        model=model,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cache_read_tokens=_int(prompt_details.get("cached_tokens")) or _int(usage.get("cache_read_input_tokens")),
        cache_write_tokens=_int(prompt_details.get("cache_write_tokens"))
        or _int(usage.get("cache_creation_input_tokens")),
        context_window=context_window,
        per_turn_token=prompt + completion,
        response_id=response_id,
    )


def _cost(usage: dict[str, Any], prompt: int, completion: int, settings: LLMSettings) -> float:
    reported = usage.get("cost")
    if isinstance(reported, int | float) and not isinstance(reported, bool):
        return float(reported)
    if settings.input_cost_per_token is None and settings.output_cost_per_token is None:
        return 0.0
    return prompt * (settings.input_cost_per_token or 0.0) + completion * (settings.output_cost_per_token or 0.0)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
