"""How much one request may hold: the model's context window, and a token estimate that needs no tokenizer.

The window is ``LLMSettings.context_window`` when set (``llm_context_window``, ``OHTUI_LLM_CONTEXT_WINDOW``), else
the entry of :data:`KNOWN_WINDOWS` that names the model, else :data:`DEFAULT_WINDOW`. The table holds the windows
the providers document, rounded down; a model served locally often gets less than its weights allow (Ollama's
``num_ctx`` defaults to a few thousand tokens and silently drops the start of a longer prompt): the setting is
then the one to trust.

Tokens are estimated from characters (:data:`CHARS_PER_TOKEN`), not counted: a tokenizer would be one more
download per model family, and nothing here may use the network. Three characters a token is pessimistic for
English prose (about four) and about right for code, JSON and logs, so the estimate errs towards condensing early.
A request is condensed before it passes :data:`SHARE` of the window, which leaves the rest for the estimate's error
and the response.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ohtui.config import LLMSettings

__all__ = [
    "CHARS_PER_TOKEN",
    "DEFAULT_WINDOW",
    "KNOWN_WINDOWS",
    "MESSAGE_TOKENS",
    "SHARE",
    "Budget",
    "context_window",
    "estimate_tokens",
    "schema_tokens",
    "text_tokens",
]

CHARS_PER_TOKEN = 3
SHARE = 0.75
"""The part of the window a request may fill before older turns are condensed."""
DEFAULT_WINDOW = 32_768
"""An unknown model's window: what most models served today hold at least."""
MESSAGE_TOKENS = 4
"""What each message costs besides its text (its role and the separators of the chat template)."""

KNOWN_WINDOWS: dict[str, int] = {
    "gpt-3.5-turbo": 16_385,
    "gpt-4": 8_192,
    "gpt-4-turbo": 128_000,
    "gpt-4o": 128_000,
    "gpt-4o-mini": 128_000,
    "chatgpt-4o": 128_000,
    "gpt-4.1": 1_000_000,
    "gpt-4.1-mini": 1_000_000,
    "gpt-4.1-nano": 1_000_000,
    "gpt-5": 272_000,
    "o1": 200_000,
    "o1-mini": 128_000,
    "o3": 200_000,
    "o3-mini": 200_000,
    "o4-mini": 200_000,
    "claude": 200_000,
    "gemini": 1_000_000,
    "llama3": 8_192,
    "llama-3": 8_192,
    "llama3.1": 128_000,
    "llama-3.1": 128_000,
    "llama3.2": 128_000,
    "llama-3.2": 128_000,
    "llama3.3": 128_000,
    "llama-3.3": 128_000,
    "qwen2.5": 32_768,
    "qwen-2.5": 32_768,
    "qwen3": 32_768,
    "deepseek": 64_000,
    "mistral": 32_000,
    "mixtral": 32_000,
    "mistral-large": 128_000,
    "codestral": 32_000,
    "gemma2": 8_192,
    "gemma3": 128_000,
}
"""Context windows in tokens by model family; a model matches the longest entry its name holds as a whole word
(``gpt-4o-mini-2024-07-18`` is ``gpt-4o-mini``, ``openrouter/anthropic/claude-sonnet-4`` is ``claude``,
``qwen2.5-coder:14b`` is ``qwen2.5``)."""


def context_window(settings: LLMSettings) -> int:
    """The tokens ``settings``' model can read: the setting, else the table, else :data:`DEFAULT_WINDOW`."""
    if settings.context_window is not None:
        return settings.context_window
    return _known(settings.model) or DEFAULT_WINDOW


def _known(model: str) -> int | None:
    name = model.lower()
    best: tuple[int, int] | None = None
    for family, tokens in KNOWN_WINDOWS.items():
        # A whole word: not inside a longer name (o3 in foo3), nor the start of a newer one (gpt-4 in gpt-4.1).
        if re.search(rf"(?<![a-z0-9]){re.escape(family)}(?![a-z0-9.])", name) and (
            best is None or len(family) > best[0]
        ):
            best = (len(family), tokens)
    return None if best is None else best[1]


def text_tokens(chars: int) -> int:
    """The estimated tokens of ``chars`` characters of text."""
    return math.ceil(chars / CHARS_PER_TOKEN)


def estimate_tokens(messages: Iterable[dict[str, Any]]) -> int:
    """The estimated tokens of chat messages (dicts as sent): their text and tool calls, plus a little per
    message."""
    chars = 0
    count = 0
    for message in messages:
        count += 1
        content = message.get("content")
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            chars += sum(len(part.get("text") or "") for part in content if isinstance(part, dict))
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            chars += len(function.get("name") or "") + len(function.get("arguments") or "")
    return text_tokens(chars) + count * MESSAGE_TOKENS


def schema_tokens(tools: list[dict[str, Any]]) -> int:
    """The estimated tokens of the tools' definitions, which every request carries."""
    return text_tokens(len(json.dumps(tools)))


@dataclass(frozen=True)
class Budget:
    """What one request may spend, in estimated tokens, and how condensing divides it."""

    window: int
    limit: int
    """The most a request may hold: :data:`SHARE` of the window, less the room a capped response needs."""
    fixed: int
    """What every request spends before the conversation: the system prompt and the tools."""

    @classmethod
    def of(cls, settings: LLMSettings, fixed: int) -> Budget:
        window = context_window(settings)
        limit = int(window * SHARE)
        if settings.max_output_tokens is not None:
            limit = min(limit, window - settings.max_output_tokens)
        return cls(window, max(limit, 1), fixed)

    @property
    def events(self) -> int:
        """What the conversation's messages may take (at least a quarter of the limit, however long the prompt)."""
        return max(self.limit - self.fixed, self.limit // 4)

    @property
    def keep(self) -> int:
        """The recent turns a condensation keeps word for word."""
        return self.events // 2

    @property
    def summary(self) -> int:
        """The longest summary a condensation keeps."""
        return self.events // 4

    @property
    def reach(self) -> int:
        """How far back a step reads the history past the last condensation: enough to fill a request, and to
        give the summary a request's worth of the turns it replaces."""
        return self.events * 2
