"""Agents by name, so the CLI and the server can pick one from a setting (``--agent echo``).

* ``echo`` — repeats the user (tests, snapshots).
* ``llm`` — :class:`~ohtui.agent.llm.agent.LLMAgent`: an OpenAI-compatible model with CodeAct tools. Options: any
  :class:`~ohtui.config.LLMSettings` field (``model``, ``base_url``, ``api_key``, ``num_retries``, ``stream``…),
  ``settings``, ``confirmation_mode`` (default True), ``work_dir``, ``system_prompt``, ``on_text_delta``,
  ``client_factory``. Without a configured model it does not fail: it answers with how to configure one.
  Its package is imported when the first one is made.
* ``replay`` — :class:`~ohtui.agent.replay.ReplayAgent`: plays a recorded trajectory (default: the bundled demo).
  Options: ``path``, ``events``, ``speed`` (0 = no waiting), ``max_delay``, ``confirmation_mode``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ohtui.agent.base import Agent
from ohtui.agent.echo import EchoAgent
from ohtui.agent.errors import UnknownAgentError
from ohtui.agent.replay import ReplayAgent

__all__ = ["AGENTS", "create_agent", "register_agent"]


def _llm_agent(**options: Any) -> Agent:
    from ohtui.agent.llm.agent import LLMAgent

    return LLMAgent(**options)


AGENTS: dict[str, Callable[..., Agent]] = {
    EchoAgent.name: EchoAgent,
    "llm": _llm_agent,
    ReplayAgent.name: ReplayAgent,
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
