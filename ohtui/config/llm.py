"""Which model the LLM agent uses and how it talks to it: plain data the config layer fills and the agent reads.

Built from :class:`~ohtui.config.settings.Settings` (:meth:`LLMSettings.from_settings`): ``llm_model``,
``llm_base_url``, ``llm_api_key`` and ``llm_context_window`` (file < ``OHTUI_LLM_*`` < flags), with
``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` as the fallbacks of the endpoint and the key, as the openai tools have
them. The other fields are request knobs with defaults that suit hosted and local endpoints alike.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ohtui.config.settings import ENV_PREFIX, Settings, environment_values

__all__ = ["ENV_API_KEY", "ENV_BASE_URL", "ENV_MODEL", "FALLBACK_API_KEY", "FALLBACK_BASE_URL", "LLMSettings"]

ENV_MODEL = f"{ENV_PREFIX}LLM_MODEL"
ENV_BASE_URL = f"{ENV_PREFIX}LLM_BASE_URL"
ENV_API_KEY = f"{ENV_PREFIX}LLM_API_KEY"
FALLBACK_BASE_URL = "OPENAI_BASE_URL"
FALLBACK_API_KEY = "OPENAI_API_KEY"


class LLMSettings(BaseModel):
    """Model, endpoint, key and request knobs of the LLM agent (frozen: :meth:`replace` makes a changed copy)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(
        default="",
        description="The model name the endpoint expects (gpt-4o-mini, qwen2.5-coder:14b, anthropic/claude-sonnet-4)",
    )
    base_url: str | None = Field(
        default=None, description="The endpoint, up to /v1 (http://localhost:11434/v1); None: the OpenAI API"
    )
    api_key: str | None = Field(default=None, repr=False, description="The API key; None for a local endpoint")
    num_retries: int = Field(
        default=5,
        description="How often a rate-limited, failed (5xx) or unreachable request is retried before giving up",
    )
    retry_min_wait: float = Field(
        default=2.0, description="Seconds before the first retry; doubled for each further one"
    )
    retry_max_wait: float = Field(default=60.0, description="Seconds: the longest wait between two attempts")
    timeout: float = Field(default=120.0, description="Seconds one request may take")
    stream: bool = Field(
        default=True,
        description="Stream responses; off for endpoints that mishandle stream_options or streamed tool calls",
    )
    context_window: int | None = Field(
        default=None,
        ge=1024,
        description="Tokens the model's context window holds; None: the agent's table of known models, else a"
        " conservative default",
    )
    temperature: float | None = Field(default=None, description="Sampling temperature; None: the endpoint's default")
    max_output_tokens: int | None = Field(default=None, description="Cap on one response's tokens; None: no cap")
    input_cost_per_token: float | None = Field(
        default=None, description="Cost of a prompt token, when the endpoint reports no cost (0 if neither)"
    )
    output_cost_per_token: float | None = Field(
        default=None, description="Cost of a completion token, when the endpoint reports no cost"
    )

    @classmethod
    def from_settings(
        cls, settings: Settings, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> LLMSettings:
        """The LLM part of ``settings`` (the OpenAI variables of ``environ`` as fallbacks), then ``overrides``."""
        built = cls._with_fallbacks(settings.llm_model, settings.llm_base_url, settings.llm_api_key, environ)
        return built.replace(context_window=settings.llm_context_window).replace(**overrides)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> LLMSettings:
        """The environment alone (no settings file), then ``overrides`` (None values are ignored, so unset flags can
        pass): ``OHTUI_LLM_*`` as :class:`Settings` reads them, else the OpenAI variables."""
        values = environment_values(environ)
        model, base_url, api_key = (values.get(f"llm_{name}") for name in ("model", "base_url", "api_key"))
        built = cls._with_fallbacks(model, base_url, api_key, environ)
        return built.replace(context_window=_clean(values.get("llm_context_window"))).replace(**overrides)

    @classmethod
    def _with_fallbacks(
        cls, model: str | None, base_url: str | None, api_key: str | None, environ: Mapping[str, str] | None
    ) -> LLMSettings:
        env = os.environ if environ is None else environ
        return cls(
            model=_clean(model) or "",
            base_url=_clean(base_url) or _clean(env.get(FALLBACK_BASE_URL)),
            api_key=_clean(api_key) or _clean(env.get(FALLBACK_API_KEY)),
        )

    def replace(self, **changes: Any) -> LLMSettings:
        """A copy with ``changes`` applied (None values ignored); an unknown name raises TypeError, a bad value
        ValueError."""
        unknown = sorted(set(changes) - set(type(self).model_fields))
        if unknown:
            known = ", ".join(sorted(type(self).model_fields))
            raise TypeError(f"unknown LLM setting(s): {', '.join(unknown)} (known: {known})")
        given = {k: v for k, v in changes.items() if v is not None}
        if not given:
            return self
        try:
            return self.model_validate({**self.model_dump(), **given})
        except ValidationError as error:
            first = error.errors(include_url=False)[0]
            raise ValueError(f"LLM setting {first['loc'][0]}: {first['msg']}") from None

    @property
    def problem(self) -> str | None:
        """Why these settings cannot be used, or None."""
        if not self.model:
            return f"no model is set ({ENV_MODEL})"
        if not self.api_key and not self.base_url:
            return f"no API key ({ENV_API_KEY} or {FALLBACK_API_KEY}) and no local endpoint ({ENV_BASE_URL}) is set"
        if self.num_retries < 0:
            return "num_retries must not be negative"
        return None

    @property
    def is_configured(self) -> bool:
        return self.problem is None

    def describe(self) -> str:
        """``model @ endpoint`` for logs and status lines (never the key)."""
        return f"{self.model or '(no model)'} @ {self.base_url or 'https://api.openai.com/v1'}"


def _clean(value: str | None) -> str | None:
    """A value with its surrounding blanks removed; None for nothing or blanks only."""
    stripped = value.strip() if value else ""
    return stripped or None
