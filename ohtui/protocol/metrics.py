"""LLM metrics (§4) and tool-call metadata (§2.1), as attached to agent actions."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Nested(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, strict=True)


class TokenUsage(_Nested):
    model: str = "default"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    context_window: int = 0
    per_turn_token: int = 0
    response_id: str = ""


class Cost(_Nested):
    model: str
    cost: float
    timestamp: float


class ResponseLatency(_Nested):
    model: str
    latency: float
    response_id: str


class Metrics(_Nested):
    """``Metrics.get()``: the accumulated figures plus the per-call lists (empty in the frontend-clean form)."""

    accumulated_cost: float = 0.0
    max_budget_per_task: float | None = None
    accumulated_token_usage: TokenUsage = Field(default_factory=TokenUsage)
    costs: list[Cost] = Field(default_factory=list)
    response_latencies: list[ResponseLatency] = Field(default_factory=list)
    token_usages: list[TokenUsage] = Field(default_factory=list)


class ToolCallMetadata(_Nested):
    function_name: str
    tool_call_id: str
    model_response: dict[str, Any]
    total_calls_in_response: int
