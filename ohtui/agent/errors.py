"""Errors the agent layer raises to its callers (the server turns them into error frames)."""

from __future__ import annotations

__all__ = ["IllegalAction", "MaxIterationsReached", "UnknownAgentError"]


class IllegalAction(ValueError):
    """A user action the controller refuses in its current state. The message says why, for the sender."""


class MaxIterationsReached(RuntimeError):
    """The agent stepped ``max_iterations`` times since the user last spoke: a guard against runaway agents."""


class UnknownAgentError(ValueError):
    """``create_agent`` was given a name no agent is registered under."""
