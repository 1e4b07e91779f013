"""Settings shared by every layer. For now only where ohtui keeps its data."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_dir

DATA_DIR_ENV = "OHTUI_DATA_DIR"


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
