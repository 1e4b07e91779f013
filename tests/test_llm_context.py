"""Requests that fit the model's window: the window table and its setting, and the token estimate."""

from __future__ import annotations

from pathlib import Path

import pytest

from ohtui.agent.llm.window import DEFAULT_WINDOW, Budget, context_window, estimate_tokens, text_tokens
from ohtui.config import LLMSettings, Settings

# ------------------------------------------------------------------------------------------------------- the window


@pytest.mark.parametrize(
    ("model", "tokens"),
    [
        ("gpt-4o", 128_000),
        ("gpt-4o-mini-2024-07-18", 128_000),
        ("gpt-4.1-mini", 1_000_000),
        ("gpt-4-1106-preview", 8_192),
        ("o4-mini", 200_000),
        ("openrouter/anthropic/claude-sonnet-4", 200_000),
        ("anthropic.claude-3-5-sonnet-20240620-v1:0", 200_000),
        ("gemini-2.5-pro", 1_000_000),
        ("llama3.1:8b", 128_000),
        ("meta-llama/Meta-Llama-3.1-70B-Instruct", 128_000),
        ("llama3:8b", 8_192),
        ("qwen2.5-coder:14b", 32_768),
        ("foo3", DEFAULT_WINDOW),
        ("my-own-model", DEFAULT_WINDOW),
    ],
)
def test_known_models_have_their_window_and_others_a_conservative_one(model: str, tokens: int) -> None:
    assert context_window(LLMSettings(model=model)) == tokens


def test_the_setting_overrides_the_table_from_every_source(tmp_path: Path) -> None:
    assert context_window(LLMSettings(model="gpt-4o", context_window=50_000)) == 50_000
    environ = {"OHTUI_LLM_CONTEXT_WINDOW": "65536"}
    loaded = Settings.load(tmp_path / "none.toml", environ=environ)
    assert LLMSettings.from_settings(loaded, {}).context_window == 65_536
    assert LLMSettings.from_env(environ).context_window == 65_536
    assert LLMSettings.from_env({}).context_window is None
    with pytest.raises(ValueError, match="context_window"):
        LLMSettings().replace(context_window=100)


def test_tokens_are_estimated_from_characters_and_the_budget_leaves_room_for_the_answer() -> None:
    messages = [
        {"role": "user", "content": "x" * 300},
        {"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "think", "arguments": "y" * 95}}]},
    ]
    assert estimate_tokens(messages) == text_tokens(300 + 5 + 95) + 2 * 4 == 142
    budget = Budget.of(LLMSettings(model="m", context_window=10_000), fixed=1_000)
    assert (budget.limit, budget.events, budget.keep) == (7_500, 6_500, 3_250)
    capped = Budget.of(LLMSettings(model="m", context_window=10_000, max_output_tokens=4_000), fixed=1_000)
    assert capped.limit == 6_000
