"""What an agent tells its controller besides "here is my next action".

Three things an LLM agent needs that :meth:`Agent.step` cannot return:

* a **failure with a status id** (:class:`AgentFailure`): the conversation goes to ``error`` as for any exception,
  but the status update carries a specific id (``STATUS$ERROR_LLM_AUTHENTICATION`` …) instead of ``STATUS$ERROR``;
* a **mistake the model should see** (:class:`ActionError`): a malformed tool call is not fatal; the controller
  records an ``error`` observation (with the tool call's metadata, so the model reads it as that call's result) and
  lets the agent step again, as upstream's controller does with ``FunctionCallValidationError``;
* **progress while it waits** (:func:`report_retry`): "Retrying LLM request, 1 / 5" status updates, and the
  ``rate_limited`` state while a rate limit is being waited out.

The controller installs a :class:`StepReporter` for the duration of each ``step`` call through a context variable,
so the :class:`~ohtui.agent.base.Agent` interface keeps its single method and an agent used on its own (a script,
a test) simply reports to nobody.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

from ohtui.protocol import RuntimeStatus, ToolCallMetadata

__all__ = ["ActionError", "AgentFailure", "StepReporter", "report_retry", "reporting_to"]


class AgentFailure(Exception):
    """The agent cannot go on. The controller records ``error`` and sends ``status`` (type error) with the message."""

    status: RuntimeStatus = RuntimeStatus.ERROR

    def __init__(self, message: str, status: RuntimeStatus | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class ActionError(Exception):
    """The step produced an error for the model instead of an action; the agent steps again after it is recorded."""

    def __init__(self, message: str, tool_call_metadata: ToolCallMetadata | None = None) -> None:
        super().__init__(message)
        self.tool_call_metadata = tool_call_metadata


class StepReporter(Protocol):
    """The controller's side of :func:`report_retry`."""

    async def retrying(self, attempt: int, attempts: int, *, rate_limited: bool) -> None: ...


_reporter: ContextVar[StepReporter | None] = ContextVar("ohtui_step_reporter", default=None)


@contextmanager
def reporting_to(reporter: StepReporter) -> Iterator[None]:
    """Route :func:`report_retry` calls made inside this block (and tasks it starts) to ``reporter``."""
    token = _reporter.set(reporter)
    try:
        yield
    finally:
        _reporter.reset(token)


async def report_retry(attempt: int, attempts: int, *, rate_limited: bool = False) -> None:
    """Tell the controller a request failed and retry ``attempt`` of ``attempts`` follows (a no-op outside a step)."""
    reporter = _reporter.get()
    if reporter is not None:
        await reporter.retrying(attempt, attempts, rate_limited=rate_limited)
