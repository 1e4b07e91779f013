"""Session keys: ``$OHTUI_SESSION_API_KEY``, key files, and how a local client finds the key of a local
``ohtui serve`` (the server records where it listens in its data dir; the key goes to that address only)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from ohtui.config.errors import SettingsError
from ohtui.config.files import write_private_text

__all__ = [
    "KEY_ENV",
    "KEY_FILE_NAME",
    "SERVER_FILE_NAME",
    "forget_server",
    "key_file_path",
    "local_server_key",
    "read_key_file",
    "record_server",
    "session_key_from_environment",
]

KEY_ENV = "OHTUI_SESSION_API_KEY"
KEY_FILE_NAME = "session_key"
"""In the data dir: the key ``ohtui serve`` of that data dir requires (mode 0600)."""
SERVER_FILE_NAME = "server.json"
"""In the data dir, while ``ohtui serve`` runs: where it listens (mode 0600), so local clients find its key."""
_MAX_KEY_FILE_BYTES = 4096


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
