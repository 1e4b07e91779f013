"""The cost and token usage an LLM agent's actions carry (§4 ``Metrics.get()`` shape).

Every action gets the conversation's accumulated totals plus its response's own cost, token usage (cache reads and
writes included) and latency. The totals are restored from the last action that carried metrics, so a restarted
server keeps counting. Cost is what the endpoint reports (OpenRouter's ``usage.cost``), else computed from
``input_cost_per_token``/``output_cost_per_token`` when set, else 0.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ohtui.agent.llm.client import Completion
from ohtui.config import LLMSettings
from ohtui.protocol import Cost, Event, Metrics, ResponseLatency, TokenUsage

__all__ = ["UsageMeter"]


@dataclass
class _Turn:
    """One response's figures, as its ``usage`` dict reports them."""

    cost: float
    prompt_tokens: int
    completion_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int


class UsageMeter:
    """The conversation's running totals, and the metrics of each response on top of them."""

    def __init__(self) -> None:
        self.cost = 0.0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cache_read_tokens = 0
        self.cache_write_tokens = 0
        self.context_window = 0
        self.per_turn_token = 0

    @classmethod
    def restored(cls, history: Sequence[Event]) -> UsageMeter:
        """The totals as of the last action in ``history`` that carried metrics (zero if none did)."""
        meter = cls()
        found = (getattr(event, "llm_metrics", None) for event in reversed(history))
        last = next((metrics for metrics in found if isinstance(metrics, Metrics)), None)
        if last is not None:
            total = last.accumulated_token_usage
            meter.cost = last.accumulated_cost
            meter.prompt_tokens, meter.completion_tokens = total.prompt_tokens, total.completion_tokens
            meter.cache_read_tokens, meter.cache_write_tokens = total.cache_read_tokens, total.cache_write_tokens
            meter.context_window, meter.per_turn_token = total.context_window, total.per_turn_token
        return meter

    def record(self, completion: Completion, settings: LLMSettings) -> Metrics:
        """Add ``completion``'s usage to the totals; the metrics its actions carry."""
        response = completion.response
        turn = _turn(response, settings)
        self.cost += turn.cost
        self.prompt_tokens += turn.prompt_tokens
        self.completion_tokens += turn.completion_tokens
        self.cache_read_tokens += turn.cache_read_tokens
        self.cache_write_tokens += turn.cache_write_tokens
        self.per_turn_token = turn.prompt_tokens + turn.completion_tokens
        model = settings.model
        response_id = str(response.get("id") or "")
        return Metrics(
            accumulated_cost=self.cost,
            max_budget_per_task=None,
            accumulated_token_usage=self._usage(model, "", self),
            costs=[Cost(model=model, cost=turn.cost, timestamp=time.time())],
            response_latencies=[ResponseLatency(model=model, latency=completion.latency, response_id=response_id)],
            token_usages=[self._usage(model, response_id, turn)],
        )

    def _usage(self, model: str, response_id: str, figures: _Turn | UsageMeter) -> TokenUsage:
        return TokenUsage(
            model=model,
            prompt_tokens=figures.prompt_tokens,
            completion_tokens=figures.completion_tokens,
            cache_read_tokens=figures.cache_read_tokens,
            cache_write_tokens=figures.cache_write_tokens,
            context_window=self.context_window,
            per_turn_token=self.per_turn_token,
            response_id=response_id,
        )


def _turn(response: dict[str, Any], settings: LLMSettings) -> _Turn:
    raw = response.get("usage")
    usage: dict[str, Any] = raw if isinstance(raw, dict) else {}
    details = usage.get("prompt_tokens_details")
    prompt_details: dict[str, Any] = details if isinstance(details, dict) else {}
    prompt = _int(usage.get("prompt_tokens"))
    completion = _int(usage.get("completion_tokens"))
    return _Turn(
        cost=_cost(usage, prompt, completion, settings),
        prompt_tokens=prompt,
        completion_tokens=completion,
        cache_read_tokens=_int(prompt_details.get("cached_tokens")) or _int(usage.get("cache_read_input_tokens")),
        cache_write_tokens=_int(prompt_details.get("cache_write_tokens"))
        or _int(usage.get("cache_creation_input_tokens")),
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
