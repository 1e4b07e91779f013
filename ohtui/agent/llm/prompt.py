"""The LLM's view of a conversation, rebuilt from the stored events on every step (§5 ``Message``).

Nothing about the conversation lives only in the agent: a restarted server, or another ohtui, continues it from the
store. Two stages: a *view* chooses what a request shows (:class:`PromptView`: the first events, a summary of those
it leaves out, the recent events; :mod:`~ohtui.agent.llm.context` chooses them so that a request fits the model's
window), then :func:`build_messages` turns the view into chat messages. The rules, close to upstream's
``ConversationMemory``:

* The system prompt is the agent's current one (stored ``system`` events are for the transcript); a summary, when
  the view has one, follows the view's head (the task) as a user message, standing for the events it replaces.
* A user ``message`` → a user message; an agent ``message`` → an assistant message.
* Events carrying ``tool_call_metadata`` come from one model response: at the first of them the assistant message
  of that response is emitted (its text and *all* its tool calls, ids included, taken from the stored
  ``model_response``), immediately followed by one ``tool`` message per call (``tool_call_id`` + ``name``) holding
  the text of the observation answering that call. A call that never got an observation (queued calls dropped when
  the user spoke, ``finish``, a restart) gets a short stand-in, so the sequence is always one the API accepts. An
  answer whose call was condensed away brings that response's assistant message back from its own metadata.
* The first user message's workspace ``recall`` adds the working directory and date; a command the user ran in the
  terminal, and errors outside tool calls, become user messages. Agent actions without metadata (a conversation
  started by another agent, an imported trajectory) become assistant text, their results user text.
* State changes, ``null``, ``recall`` and ``condensation`` actions are not shown to the model. Adjacent user
  messages are merged (some chat templates insist on alternating roles).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

from ohtui.protocol import (
    Action,
    AgentFinishAction,
    AgentStateChangedObservation,
    ChangeAgentStateAction,
    CmdOutputObservation,
    CondensationAction,
    CondensationRequestAction,
    ErrorObservation,
    Event,
    EventSource,
    FileEditObservation,
    FileWriteObservation,
    Message,
    MessageAction,
    NullAction,
    NullObservation,
    Observation,
    RecallAction,
    RecallObservation,
    RecallType,
    SystemMessageAction,
    TextContent,
    ToolCall,
    ToolCallFunction,
    ToolCallMetadata,
    truncate_middle,
)

__all__ = [
    "NOT_EXECUTED",
    "PromptView",
    "build_messages",
    "observation_text",
    "response_message",
    "shown_chars",
    "tool_calls_of",
]

NOT_EXECUTED = "This tool call was not executed."
_FINISHED = "The task was marked as finished."
_SKIPPED = (
    AgentStateChangedObservation,
    ChangeAgentStateAction,
    CondensationAction,
    CondensationRequestAction,
    NullAction,
    NullObservation,
    RecallAction,
    SystemMessageAction,
)


@dataclass(frozen=True)
class PromptView:
    """What one request shows the model of a conversation."""

    events: Iterable[Event]
    """The recent events to show, oldest first."""
    summary: str | None = None
    """What the events between ``head`` and ``events`` came to, in their place (None: nothing is left out)."""
    head: Sequence[Event] = ()
    """The first events (up to the task), shown before the summary."""


def build_messages(
    system_prompt: str, history: Iterable[Event], *, summary: str | None = None, head: Sequence[Event] = ()
) -> list[Message]:
    """The chat messages for the next completion: the system prompt, ``head``, the ``summary`` of what came between
    ``head`` and ``history`` if there is one, then ``history`` as the model should see it."""
    events = history if isinstance(history, Sequence) else list(history)
    results: dict[str, Observation] = {}
    for event in chain(head, events):
        if isinstance(event, Observation) and event.tool_call_metadata is not None:
            results[event.tool_call_metadata.tool_call_id] = event
    messages: list[Message] = [_text("system", system_prompt)]
    answered: set[str] = set()
    _add_events(messages, head, results, answered)
    if summary is not None:
        _add(messages, _text("user", summary))
    _add_events(messages, events, results, answered)
    return messages


def _add_events(
    messages: list[Message], events: Iterable[Event], results: dict[str, Observation], answered: set[str]
) -> None:
    for event in events:
        if isinstance(event, _SKIPPED):
            continue
        metadata = event.tool_call_metadata if isinstance(event, Action | Observation) else None
        if metadata is not None and event.source is EventSource.AGENT:
            if metadata.tool_call_id in answered:
                continue
            assistant = response_message(metadata)
            messages.append(assistant)
            for call in assistant.tool_calls or []:
                answered.add(call.id)
                messages.append(_tool_result(call, results.get(call.id)))
            continue
        message = _plain_message(event)
        if message is not None:
            _add(messages, message)


def shown_chars(event: Event) -> int:
    """About how many characters of text ``event`` adds to a request (0 when the model is not shown it): what
    :func:`build_messages` makes of it, with a response's text and tool calls shared among the actions it led to."""
    if isinstance(event, _SKIPPED):
        return 0
    metadata = event.tool_call_metadata if isinstance(event, Action | Observation) else None
    if metadata is not None and event.source is EventSource.AGENT:
        if isinstance(event, Observation):
            return len(observation_text(event))
        content, calls = _response_parts(metadata.model_response)
        spoken = len(content) + sum(len(call.function.name) + len(call.function.arguments) for call in calls)
        return spoken // max(len(calls), 1)
    message = _plain_message(event)
    return 0 if message is None else sum(len(getattr(part, "text", "")) for part in message.content)


def response_message(metadata: ToolCallMetadata) -> Message:
    """The assistant message of the response a tool call came from, with every tool call of that response."""
    content, calls = _response_parts(metadata.model_response)
    if not any(call.id == metadata.tool_call_id for call in calls):
        calls.append(
            ToolCall(id=metadata.tool_call_id, function=ToolCallFunction(name=metadata.function_name, arguments="{}"))
        )
    return Message(role="assistant", content=[TextContent(text=content)] if content else [], tool_calls=calls)


def tool_calls_of(response: dict[str, Any]) -> tuple[str, list[ToolCall]]:
    """The text and the tool calls of a chat-completion response dict (tolerant of odd or partial shapes)."""
    return _response_parts(response)


def _response_parts(response: dict[str, Any]) -> tuple[str, list[ToolCall]]:
    choices = response.get("choices")
    first = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = first.get("message")
    if not isinstance(message, dict):
        return "", []
    content = message.get("content")
    text = content if isinstance(content, str) else ""
    calls: list[ToolCall] = []
    for raw in message.get("tool_calls") or []:
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
            continue
        function = raw.get("function")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            continue
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments) if arguments is not None else ""
        calls.append(ToolCall(id=raw["id"], function=ToolCallFunction(name=function["name"], arguments=arguments)))
    return text, calls


def _tool_result(call: ToolCall, observation: Observation | None) -> Message:
    if observation is not None:
        text = observation_text(observation)
    else:
        text = _FINISHED if call.function.name == "finish" else NOT_EXECUTED
    return Message(role="tool", content=[TextContent(text=text)], tool_call_id=call.id, name=call.function.name)


def observation_text(observation: Observation) -> str:
    """What the model reads for an observation: the output plus the context a terminal would show."""
    if isinstance(observation, CmdOutputObservation):
        meta = observation.extras.metadata
        text = meta.prefix + observation.content
        text += meta.suffix if text else meta.suffix.lstrip("\n")
        if not meta.suffix and meta.exit_code != -1:
            text += f"\n[Command finished with exit code {meta.exit_code}]"
        if meta.working_dir:
            text += f"\n[Current working directory: {meta.working_dir}]"
    elif isinstance(observation, FileWriteObservation | FileEditObservation):
        text = observation.content or observation.message
    else:
        text = observation.content or observation.message
    return truncate_middle(text)


def _plain_message(event: Event) -> Message | None:
    if isinstance(event, MessageAction):
        role = "user" if event.source is EventSource.USER else "assistant"
        return _text(role, event.args.content)
    if isinstance(event, RecallObservation):
        if event.extras.recall_type is not RecallType.WORKSPACE_CONTEXT:
            return None
        facts = []
        if event.extras.working_dir:
            facts.append(f"The working directory is {event.extras.working_dir}.")
        if event.extras.date:
            facts.append(f"Today's date is {event.extras.date} (UTC).")
        return _text("user", "\n".join(facts)) if facts else None
    if isinstance(event, AgentFinishAction):
        return _text("assistant", event.args.final_thought or event.args.thought or event.message)
    if isinstance(event, Action):
        if event.source is EventSource.USER:
            return None  # the user's terminal commands are shown through their results
        return _text("assistant", event.message) if event.message else None
    if isinstance(event, Observation):
        if event.source is EventSource.USER and isinstance(event, CmdOutputObservation):
            text = f"The user ran `{event.extras.command}` in the terminal:\n{observation_text(event)}"
            return _text("user", text)
        if isinstance(event, ErrorObservation):
            return _text("user", f"{truncate_middle(event.content)}\n[Error occurred in processing last action]")
        if event.cause is not None:
            return _text("user", observation_text(event))
    return None


def _text(role: Any, text: str) -> Message:
    return Message(role=role, content=[TextContent(text=text)])


def _add(messages: list[Message], message: Message) -> None:
    last = messages[-1] if messages else None
    if last is not None and last.role == "user" == message.role and last.tool_calls is None:
        messages[-1] = Message(role="user", content=[*last.content, *message.content])
        return
    messages.append(message)
