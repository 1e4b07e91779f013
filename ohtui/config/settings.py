"""Every user setting, read through pydantic-settings: the defaults below, then the TOML file (``config.toml`` in
the platform's config directory, or ``$OHTUI_CONFIG``), then ``OHTUI_<NAME>`` environment variables, then
command-line flags (the CLI applies those with :meth:`Settings.with_overrides`).

``Settings()`` is the defaults and whatever is passed to it, nothing else (tests and an app started without the CLI
rely on that); :meth:`Settings.load` adds the file and the environment. A bad value is a :class:`SettingsError`
that names where it came from: the file (and the key), the variable, or the flag.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import tomli_w
from pydantic import Field, ValidationError, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from ohtui.config.errors import SettingsError
from ohtui.config.files import private_file, write_private_text
from ohtui.config.paths import config_path

__all__ = ["ENV_PREFIX", "Settings", "environment_values", "variable_of"]

ENV_PREFIX = "OHTUI_"
_OPTIONAL = ("llm_model", "llm_base_url", "llm_api_key", "llm_context_window", "max_attempts", "give_up_after")


class Settings(BaseSettings):
    """Every user setting. Each is also ``OHTUI_<NAME>`` in the environment: lists comma-separated, the keymap as a
    JSON object, and an empty value unsets an optional one."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", validate_assignment=True)

    theme: str = Field(
        default="textual-dark", description="Textual theme, e.g. textual-dark, textual-light, nord, gruvbox"
    )
    keymap: Annotated[dict[str, str], NoDecode] = Field(
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
        default=None,
        description="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL, else OpenAI); e.g. http://127.0.0.1:11434/v1",
    )
    llm_api_key: str | None = Field(
        default=None, repr=False, description="API key (prefer the environment: OHTUI_LLM_API_KEY or OPENAI_API_KEY)"
    )
    llm_context_window: int | None = Field(
        default=None,
        ge=1024,
        description="Tokens the model's context window holds (unset: known for common models, else 32768); older"
        " turns are summarised before a request passes 3/4 of it. Set it to Ollama's num_ctx for a local model",
    )
    host: str = Field(
        default="127.0.0.1", description="Address the embedded server binds (and `ohtui serve`'s default)"
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Web pages allowed to call the server (origins such as https://app.example.org; * for any); "
        "browsers are refused otherwise",
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host names the server answers to besides loopback ones (a reverse proxy's name)",
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

    @field_validator("allowed_origins", "allowed_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        """``OHTUI_ALLOWED_ORIGINS=a,b``: a list from the environment."""
        return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value

    @field_validator("keymap", mode="before")
    @classmethod
    def _json_object(cls, value: Any) -> Any:
        """``OHTUI_KEYMAP={"app.stop": "ctrl+c"}``: a table from the environment."""
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value) if value.strip() else {}
        except json.JSONDecodeError as error:
            raise ValueError(f"not a JSON object ({error.msg})") from None

    @field_validator(*_OPTIONAL, mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the values given: :meth:`load` reads the file and the environment, so ``Settings()`` is the defaults."""
        return (init_settings,)

    @classmethod
    def load(
        cls, path: Path | None = None, environ: Mapping[str, str] | None = None, notices: list[str] | None = None
    ) -> Settings:
        """The file (if present) with the environment on top. Raises :class:`SettingsError` naming the file or variable.

        A file holding the LLM key that other users can read is made 0600; ``notices`` gets a line saying so."""
        path = path or config_path()
        from_file = _read_file(path)
        notice = private_file(path) if from_file.get("llm_api_key") else None
        if notice is not None and notices is not None:
            notices.append(notice)
        from_env = environment_values(environ)
        try:
            return cls.model_validate({**from_file, **from_env})
        except ValidationError as error:
            first = error.errors(include_url=False)[0]
            name = str(first["loc"][0]) if first["loc"] else ""
            where = variable_of(name) if name in from_env else f"{path}: {_location(first)}"
            raise SettingsError(f"{where}: {_problem(first)}") from None

    def save(self, path: Path | None = None, **changes: Any) -> Settings:
        """Write ``changes`` into the settings file (other keys are kept as they are; None removes a key), mode 0600,
        and return the settings with the changes applied."""
        path = path or config_path()
        try:
            current = _read_file(path)
        except SettingsError as error:
            raise SettingsError(f"{error}; not overwriting it") from None
        for name, value in changes.items():
            if value is None:
                current.pop(name, None)
            else:
                current[name] = value
        updated = self.with_overrides(**changes)
        write_private_text(path, tomli_w.dumps(current))
        return updated

    def with_overrides(self, **values: Any) -> Settings:
        """Flags on top: None means "not given". Raises :class:`SettingsError` naming the flag."""
        given = {k: v for k, v in values.items() if v is not None}
        try:
            return self.model_validate({**self.model_dump(), **given})
        except ValidationError as error:
            first = error.errors(include_url=False)[0]
            raise SettingsError(f"--{str(first['loc'][0]).replace('_', '-')}: {_problem(first)}") from None


class _Environment(EnvSettingsSource):
    """``OHTUI_*`` variables from a given mapping (a test's, or ``os.environ``)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.env_vars = {name.lower(): value for name, value in environ.items()}


def variable_of(name: str) -> str:
    """The environment variable of the setting ``name``: ``OHTUI_<NAME>``."""
    return f"{ENV_PREFIX}{name.upper()}"


def environment_values(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The settings that ``OHTUI_*`` variables give, by field name, as the text they hold (not validated yet)."""
    return _Environment(Settings, os.environ if environ is None else environ)()


def _read_file(path: Path) -> dict[str, Any]:
    """The settings file's table ({} when there is none)."""
    if path.exists() and not path.is_file():
        raise SettingsError(f"{path}: not a file")
    try:
        return dict(TomlConfigSettingsSource(Settings, toml_file=path).toml_data)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise SettingsError(f"{path}: {error}") from None


def _location(error: ErrorDetails) -> str:
    return ".".join(str(part) for part in error["loc"]) or "settings"


def _problem(error: ErrorDetails) -> str:
    if error["type"] == "extra_forbidden":
        return "not a setting (`ohtui config` lists them all)"
    return error["msg"].removeprefix("Value error, ")
