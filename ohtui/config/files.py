"""Files and directories for this user only: secrets on disk (the settings file with the LLM key, key files, the
data dir and its database) are never readable by other users of the machine."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

__all__ = ["is_private", "private_directory", "private_file", "write_private_text"]

_PRIVATE_DIR = 0o700
_PRIVATE_FILE = 0o600


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
