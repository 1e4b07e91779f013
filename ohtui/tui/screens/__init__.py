"""Screens pushed over the main screen."""

from ohtui.tui.screens.help import HelpScreen

__all__ = ["HelpScreen"]
