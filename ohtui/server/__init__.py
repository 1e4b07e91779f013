"""The embedded/remote back end: aiohttp + python-socketio speaking the OpenHands V0 protocol."""

from ohtui.server.app import OhtuiServer, ServerConfig, ServerError

__all__ = ["OhtuiServer", "ServerConfig", "ServerError"]
