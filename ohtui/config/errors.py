"""The one error of the config layer."""

from __future__ import annotations

__all__ = ["SettingsError"]


class SettingsError(ValueError):
    """The settings file, an ``OHTUI_*`` variable, a flag or a key file is invalid; the message names which and what."""
