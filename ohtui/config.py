"""Settings shared by every layer: where data lives, and the user's preferences.

Precedence, lowest first: the defaults below, the TOML file (``config.toml`` in the platform's config directory, or
``$OHTUI_CONFIG``), ``OHTUI_*`` environment variables, then command-line flags (applied by the CLI).
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from platformdirs import user_cache_dir, user_config_dir, user_data_dir
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DATA_DIR_ENV = "OHTUI_DATA_DIR"
CONFIG_ENV = "OHTUI_CONFIG"
KEY_ENV = "OHTUI_SESSION_API_KEY"
KEY_FILE_NAME = "session_key"
"""In the data dir: the key ``ohtui serve`` of that data dir requires (mode 0600)."""
SERVER_FILE_NAME = "server.json"
"""In the data dir, while ``ohtui serve`` runs: where it listens (mode 0600), so local clients find its key."""
_MAX_KEY_FILE_BYTES = 4096
_PRIVATE_DIR = 0o700
_PRIVATE_FILE = 0o600


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


def session_key_from_environment(environ: Mapping[str, str] | None = None) -> str | None:
    return (os.environ if environ is None else environ).get(KEY_ENV) or None


def key_file_path(data_directory: Path) -> Path:
    return data_directory / KEY_FILE_NAME


def read_key_file(path: str | os.PathLike[str]) -> str:
    """A session key from a file: its first line, without the line end. :class:`SettingsError` says what is wrong."""
    path = Path(path).expanduser()
    try:
        with path.open("rb") as file:
            raw = file.read(_MAX_KEY_FILE_BYTES + 1)
    except OSError as error:
        raise SettingsError(f"cannot read the key file {path}: {error.strerror or error}") from None
    if len(raw) > _MAX_KEY_FILE_BYTES:
        raise SettingsError(f"the key file {path} is over {_MAX_KEY_FILE_BYTES} bytes: it is not a key file")
    try:
        lines = raw.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise SettingsError(f"the key file {path} is not UTF-8 text") from None
    key = lines[0].rstrip("\r") if lines else ""
    if not key.strip():
        raise SettingsError(f"the key file {path} is empty")
    return key


def is_private(path: Path) -> bool:
    """Whether no other user (group or others) may read ``path``."""
    return not path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO)


def private_directory(path: Path, *, tighten: bool = False) -> str | None:
    """Create ``path`` (and its parents) for this user only (0700). With ``tighten``, an existing directory others
    may enter is made 0700 too, and the notice saying so is returned (never the home directory or another user's)."""
    if not path.exists():
        path.mkdir(parents=True, exist_ok=True, mode=_PRIVATE_DIR)
        path.chmod(_PRIVATE_DIR)  # mkdir's mode is masked by the umask
        return None
    if not tighten or is_private(path) or path.resolve() == Path.home().resolve():
        return None
    if path.stat().st_uid != os.getuid():
        return f"{path} is another user's directory that others may read; ohtui's files in it are 0600"
    path.chmod(_PRIVATE_DIR)
    return f"{path} could be read by other users; it is now 0700 (this user only)"


def private_file(path: Path) -> str | None:
    """Make an existing file readable by this user only; the notice saying so, or None if it already was."""
    if not path.exists() or is_private(path):
        return None
    path.chmod(_PRIVATE_FILE)
    return f"{path} held a secret and could be read by other users; it is now 0600 (this user only)"


def write_private_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (mode 0600) atomically: a new file beside it, then renamed over it."""
    private_directory(path.parent)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # created 0600
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def record_server(data_directory: Path, url: str) -> Path:
    """Say in the data dir where its ``ohtui serve`` listens (0600), for local clients to find its key file."""
    path = data_directory / SERVER_FILE_NAME
    write_private_text(path, json.dumps({"url": url, "pid": os.getpid()}) + "\n")
    return path


def forget_server(data_directory: Path) -> None:
    """Remove the record of :func:`record_server`, if it is still this process's."""
    path = data_directory / SERVER_FILE_NAME
    try:
        if json.loads(path.read_text("utf-8")).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass


def local_server_key(url: str, data_directory: Path) -> str | None:
    """The key of the ``ohtui serve`` of this data dir, when ``url`` is where it says it listens (so the key never
    goes to another server, such as the far end of an ssh tunnel); None otherwise."""
    try:
        recorded = json.loads((data_directory / SERVER_FILE_NAME).read_text("utf-8")).get("url")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(recorded, str) or _origin(recorded) != _origin(url):
        return None
    try:
        return read_key_file(key_file_path(data_directory))
    except SettingsError:
        return None


def _origin(url: str) -> tuple[str, int | None]:
    """Loopback URLs compare by port alone (localhost, 127.0.0.1 and [::1] reach the same server)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        return host, None
    loopback = host == "localhost" or host.startswith("127.") or host == "::1"
    return ("loopback" if loopback else host), port


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
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Web pages allowed to call the server (origins such as https://app.example.org; * for any); "
        "browsers are refused otherwise",
    )
    allowed_hosts: list[str] = Field(
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

    @classmethod
    def load(
        cls, path: Path | None = None, environ: Mapping[str, str] | None = None, notices: list[str] | None = None
    ) -> Settings:
        """The file (if present) with the environment on top. Raises :class:`SettingsError` with the file's name.

        A file holding the LLM key that other users can read is made 0600; ``notices`` gets a line saying so."""
        path = path or config_path()
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        if path.exists():
            try:
                values = tomllib.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
                raise SettingsError(f"{path}: {error}") from None
            notice = private_file(path) if values.get("llm_api_key") else None
            if notice is not None and notices is not None:
                notices.append(notice)
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
        write_private_text(path, "".join(f"{name} = {_toml_value(value)}\n" for name, value in current.items()))
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
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value), ensure_ascii=False)
