"""ohtui: a terminal front end and embedded back end for OpenHands V0 agent sessions."""

__version__ = "0.1.0"
