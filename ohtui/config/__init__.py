"""Settings shared by every layer, and the one reader of ``OHTUI_*`` variables. Imports nothing from the layers.

* :mod:`~ohtui.config.paths` — the data dir, the cache dir and the settings file's path;
* :mod:`~ohtui.config.settings` — :class:`Settings` (pydantic-settings: defaults < TOML file < ``OHTUI_*`` <
  flags), loaded and saved;
* :mod:`~ohtui.config.llm` — :class:`LLMSettings`, the LLM agent's model, endpoint and key, built from Settings;
* :mod:`~ohtui.config.files` — files and directories for this user only (0600/0700, atomic writes);
* :mod:`~ohtui.config.keys` — session keys: the environment, key files, the key of a local ``ohtui serve``;
* :mod:`~ohtui.config.event_loop` — whether a server keeps asyncio's loop (``OHTUI_EVENT_LOOP``).
"""

from ohtui.config.errors import SettingsError
from ohtui.config.event_loop import EVENT_LOOP_ENV, asyncio_loop_wanted
from ohtui.config.files import is_private, private_directory, private_file, write_private_text
from ohtui.config.keys import (
    KEY_ENV,
    KEY_FILE_NAME,
    SERVER_FILE_NAME,
    forget_server,
    key_file_path,
    local_server_key,
    read_key_file,
    record_server,
    session_key_from_environment,
)
from ohtui.config.llm import LLMSettings
from ohtui.config.paths import CONFIG_ENV, DATA_DIR_ENV, cache_dir, config_path, data_dir
from ohtui.config.settings import ENV_PREFIX, Settings, variable_of

__all__ = [
    "CONFIG_ENV",
    "DATA_DIR_ENV",
    "ENV_PREFIX",
    "EVENT_LOOP_ENV",
    "KEY_ENV",
    "KEY_FILE_NAME",
    "SERVER_FILE_NAME",
    "LLMSettings",
    "Settings",
    "SettingsError",
    "asyncio_loop_wanted",
    "cache_dir",
    "config_path",
    "data_dir",
    "forget_server",
    "is_private",
    "key_file_path",
    "local_server_key",
    "private_directory",
    "private_file",
    "read_key_file",
    "record_server",
    "session_key_from_environment",
    "variable_of",
    "write_private_text",
]
