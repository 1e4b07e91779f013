"""Where ohtui keeps its data, its caches and its settings file (platformdirs, unless the environment says)."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir, user_config_dir, user_data_dir

__all__ = ["CONFIG_ENV", "DATA_DIR_ENV", "cache_dir", "config_path", "data_dir"]

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
    """The settings file: ``$OHTUI_CONFIG``, else ``config.toml`` in the platform's user config dir."""
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return Path(from_env).expanduser()
    return Path(user_config_dir("ohtui", appauthor=False)) / "config.toml"
