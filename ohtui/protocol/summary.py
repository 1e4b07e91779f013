"""One-line text for events: what the event log's rows, ``ohtui tail`` and other plain views show.

Pure functions of the protocol models, so every view summarises an event the same way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from ohtui.protocol.actions import (
    AgentDelegateAction,
    AgentFinishAction,
    AgentThinkAction,
    BrowseInteractiveAction,
    BrowseURLAction,
    ChangeAgentStateAction,
    CmdRunAction,
    FileEditAction,
    FileReadAction,
    FileWriteAction,
    IPythonRunCellAction,
    MCPAction,
    MessageAction,
    RecallAction,
)
from ohtui.protocol.base import Event, Observation
from ohtui.protocol.observations import (
    AgentStateChangedObservation,
    CmdOutputObservation,
    FileDownloadObservation,
    FileEditObservation,
)
from ohtui.protocol.opaque import InvalidEvent, OpaqueEvent

_KIND_LABELS = {
    "run_ipython": "ipython",
    "call_tool_mcp": "mcp",
    "browse_interactive": "browse",
    "condensation": "condense",
    "condensation_request": "condense",
    "task_tracking": "tasks",
    "change_agent_state": "state",
    "agent_state_changed": "state",
    "user_rejected": "rejected",
    "loop_recovery": "loop",
    "loop_detection": "loop",
}

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def kind_label(event: Event) -> str:
    if isinstance(event, OpaqueEvent):
        return "invalid" if isinstance(event, InvalidEvent) else "unknown"
    kind = event.kind
    return _KIND_LABELS.get(kind, kind)


def clock_time(event: Event) -> str:
    """``HH:MM:SS`` straight from the wire timestamp (naive local time, §2.1); no parsing on the hot path."""
    stamp = event.timestamp
    if stamp and len(stamp) >= 19 and stamp[10] in "T ":
        return stamp[11:19]
    return "--:--:--"


def clean(line: str) -> str:
    """One display line: escapes and control characters dropped, a carriage return keeps what was drawn last."""
    if "\x1b" in line:
        line = _ANSI.sub("", line)
    if "\r" in line:
        line = line.rstrip("\r").rsplit("\r", 1)[-1]
    if "\t" in line:
        line = line.expandtabs(4)
    return _CONTROL.sub("", line)


def first_line(text: str) -> str:
    text = text.strip()
    cut = text.find("\n")
    return clean(text if cut < 0 else text[:cut])


def rest_lines(text: str) -> str:
    """Everything after the first line, for bodies whose first line is already the summary."""
    text = text.strip()
    cut = text.find("\n")
    return "" if cut < 0 else text[cut + 1 :]


def compact_json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        return repr(value)


def state_label(event: AgentStateChangedObservation) -> str:
    reason = first_line(event.extras.reason)
    return f"{event.agent_state.value}: {reason}" if reason else event.agent_state.value


def summary(event: Event) -> str:
    """The one line shown in the header of the event's row."""
    cls = type(event)
    found = _SUMMARY_OF.get(cls)
    if found is None:
        # The first entry the class is a subclass of, in table order (as a chain of isinstance tests would pick),
        # found once per class: the log summarises every row when it searches.
        found = next((rule for base, rule in _SUMMARIES if issubclass(cls, base)), _message_summary)
        _SUMMARY_OF[cls] = found
    return found(event)


def _message_summary(event: Event) -> str:
    return first_line(event.message)


def _observation_summary(event: Observation) -> str:
    return first_line(event.content) if event.content.strip() else first_line(event.message)


def _read_summary(event: FileReadAction) -> str:
    span = event.args.view_range
    return event.args.path + (f" [{span[0]}:{span[-1]}]" if span else "")


def _delegate_summary(event: AgentDelegateAction) -> str:
    task = event.args.inputs.get("task", "")
    return f"{event.args.agent}: {first_line(str(task))}" if task else event.args.agent


def invalid_summary(event: InvalidEvent) -> str:
    """What a kept-whole event that does not validate says in its row: that it could not be read, and why."""
    return first_line(f"could not read {event.kind or '?'}: {event.problem}")


_SUMMARIES: list[tuple[type[Event], Callable[[Any], str]]] = [
    (InvalidEvent, invalid_summary),
    (OpaqueEvent, lambda event: f"unknown event {event.kind or '?'}"),
    (MessageAction, lambda event: first_line(event.args.content)),
    (CmdRunAction, lambda event: ("⌨ " if event.args.is_input else "$ ") + first_line(event.args.command)),
    (IPythonRunCellAction, lambda event: ">>> " + first_line(event.args.code)),
    (FileReadAction, _read_summary),
    (FileWriteAction, lambda event: event.args.path),
    (FileEditAction, lambda event: f"{event.args.command} {event.args.path}".strip()),
    (BrowseURLAction, lambda event: event.args.url),
    (BrowseInteractiveAction, lambda event: first_line(event.args.browser_actions)),
    (AgentThinkAction, lambda event: first_line(event.args.thought)),
    (AgentFinishAction, lambda event: first_line(event.args.final_thought or event.message)),
    (AgentDelegateAction, _delegate_summary),
    (ChangeAgentStateAction, lambda event: f"→ {event.args.agent_state.value}"),
    (RecallAction, lambda event: f"{event.args.recall_type.value}: {first_line(event.args.query)}"),
    (MCPAction, lambda event: f"{event.args.name} {compact_json(event.args.arguments)}"),
    (AgentStateChangedObservation, state_label),
    (CmdOutputObservation, lambda event: f"$ {first_line(event.extras.command)} → exit {event.exit_code}"),
    (FileEditObservation, lambda event: event.extras.path or first_line(event.content)),
    (FileDownloadObservation, lambda event: event.extras.file_path),
    (Observation, _observation_summary),
]
"""How each kind of event is summarised, most specific first."""
_SUMMARY_OF: dict[type[Event], Callable[[Any], str]] = {}
