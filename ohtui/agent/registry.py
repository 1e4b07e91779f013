"""Agents by name, so the CLI and the server can pick one from a setting (``--agent echo``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ohtui.agent.base import Agent
from ohtui.agent.echo import EchoAgent
from ohtui.agent.errors import UnknownAgentError

__all__ = ["AGENTS", "create_agent", "register_agent"]

AGENTS: dict[str, Callable[..., Agent]] = {
    EchoAgent.name: EchoAgent,
}


def register_agent(name: str, factory: Callable[..., Agent]) -> None:
    """Make ``factory`` available as ``name`` (later agents, plugins, tests)."""
    AGENTS[name] = factory


def create_agent(name: str, **options: Any) -> Agent:
    """A new agent instance for one conversation; ``options`` go to its constructor."""
    try:
        factory = AGENTS[name]
    except KeyError:
        known = ", ".join(sorted(AGENTS)) or "none"
        raise UnknownAgentError(f"unknown agent {name!r}; known agents: {known}") from None
    return factory(**options)
