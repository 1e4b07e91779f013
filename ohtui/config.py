"""Settings shared by every layer: where data lives, and the user's preferences.

Precedence, lowest first: the defaults below, the TOML file (``config.toml`` in the platform's config directory, or
``$OHTUI_CONFIG``), ``OHTUI_*`` environment variables, then command-line flags (applied by the CLI).
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from platformdirs import user_cache_dir, user_config_dir, user_data_dir
from pydantic import BaseModel, ConfigDict, Field, ValidationError

DATA_DIR_ENV = "OHTUI_DATA_DIR"
CONFIG_ENV = "OHTUI_CONFIG"


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data directory: an explicit argument wins, then ``$OHTUI_DATA_DIR``, then the platform's user data dir.

    The directory is not created here; whoever writes into it does that, so a read-only query never makes one.
    """
    if explicit is not None and str(explicit) != "":
        return Path(explicit).expanduser()
    from_env = os.environ.get(DATA_DIR_ENV)
    if from_env:
        return Path(from_env).expanduser()
    return Path(user_data_dir("ohtui", appauthor=False))


def cache_dir() -> Path:
    """Where the UI keeps its mirrors of remote conversations (safe to delete)."""
    return Path(user_cache_dir("ohtui", appauthor=False))


def config_path() -> Path:
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return Path(from_env).expanduser()
    return Path(user_config_dir("ohtui", appauthor=False)) / "config.toml"


class SettingsError(ValueError):
    """The settings file or an ``OHTUI_*`` variable is invalid; the message names where and what."""


class Settings(BaseModel):
    """Every user setting. Each field but ``keymap`` is also ``OHTUI_<NAME>`` in the environment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    theme: str = Field(
        default="textual-dark", description="Textual theme, e.g. textual-dark, textual-light, nord, gruvbox"
    )
    keymap: dict[str, str] = Field(
        default_factory=dict,
        description='Key remapping by binding id, e.g. {"app.stop" = "ctrl+c", "app.help" = "f1,?"} (see F1)',
    )
    agent: str = Field(
        default="auto",
        description="Agent for new conversations: auto (llm if configured, else the demo), llm, echo, replay",
    )
    confirmation_mode: bool = Field(default=True, description="Ask before the LLM agent runs commands or edits files")
    llm_model: str | None = Field(
        default=None, description="Model for the llm agent, e.g. gpt-4o, openrouter/…, llama3.1 (Ollama)"
    )
    llm_base_url: str | None = Field(
        default=None, description="OpenAI-compatible endpoint (default: OpenAI); e.g. http://127.0.0.1:11434/v1"
    )
    llm_api_key: str | None = Field(
        default=None, description="API key (prefer the environment: OHTUI_LLM_API_KEY or OPENAI_API_KEY)"
    )
    host: str = Field(
        default="127.0.0.1", description="Address the embedded server binds (and `ohtui serve`'s default)"
    )
    port: int = Field(default=0, ge=0, le=65535, description="Port of the embedded server; 0 picks a free one")
    backoff_base: float = Field(default=0.5, gt=0, description="Seconds: first reconnect delay ceiling (full jitter)")
    backoff_cap: float = Field(default=10.0, gt=0, description="Seconds: largest reconnect delay")
    max_attempts: int | None = Field(
        default=None, ge=1, description="Give up (offline) after this many attempts; unset = never"
    )
    give_up_after: float | None = Field(
        default=None, gt=0, description="Give up after failing this many seconds; unset = never"
    )

    @classmethod
    def load(cls, path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
        """The file (if present) with the environment on top. Raises :class:`SettingsError` with the file's name."""
        path = path or config_path()
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        if path.exists():
            try:
                values = tomllib.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
                raise SettingsError(f"{path}: {error}") from None
        for name in cls.model_fields:
            raw = environ.get(f"OHTUI_{name.upper()}")
            if raw is not None and name != "keymap":
                values[name] = None if raw == "" and name in ("max_attempts", "give_up_after") else raw
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            first = error.errors(include_url=False)[0]
            where = ".".join(str(part) for part in first["loc"]) or "settings"
            raise SettingsError(f"{path} or OHTUI_{where.upper()}: {where}: {first['msg']}") from None

    def save(self, path: Path | None = None, **changes: Any) -> Settings:
        """Write ``changes`` into the settings file (other keys are kept as they are) and return the new settings."""
        path = path or config_path()
        current: dict[str, Any] = {}
        if path.exists():
            try:
                current = tomllib.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
                raise SettingsError(f"{path}: {error}; not overwriting it") from None
        for name, value in changes.items():
            if value is None:
                current.pop(name, None)
            else:
                current[name] = value
        updated = self.with_overrides(**changes)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{name} = {_toml_value(value)}\n" for name, value in current.items()), "utf-8")
        return updated

    def with_overrides(self, **values: Any) -> Settings:
        """Flags on top: None means "not given"."""
        given = {k: v for k, v in values.items() if v is not None}
        try:
            return self.model_validate({**self.model_dump(), **given})
        except ValidationError as error:
            first = error.errors(include_url=False)[0]
            raise SettingsError(f"--{str(first['loc'][0]).replace('_', '-')}: {first['msg']}") from None


def _toml_value(value: Any) -> str:
    """TOML for the value types settings use (JSON strings are valid TOML basic strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value), ensure_ascii=False)
