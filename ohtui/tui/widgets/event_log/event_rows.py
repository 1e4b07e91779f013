"""How each protocol event reads in the log, as plain strings: labels, one-line summaries, result marks, body text.

Kept apart from the widget so the rules (what is noise, what groups under what, what counts as an error) are
readable and testable without Textual. What a row's type says (:class:`Traits`) is known from the envelope alone
(:func:`kind_traits`), so rows are made, grouped and filtered without parsing; everything else here reads models.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from ohtui.protocol import (
    ACTION_TYPES,
    OBSERVATION_TYPES,
    Action,
    ActionConfirmationStatus,
    AgentDelegateAction,
    AgentDelegateObservation,
    AgentFinishAction,
    AgentState,
    AgentStateChangedObservation,
    AgentThinkAction,
    AgentThinkObservation,
    BrowseInteractiveAction,
    BrowserOutputObservation,
    BrowseURLAction,
    ChangeAgentStateAction,
    CmdOutputObservation,
    CmdRunAction,
    CondensationAction,
    ErrorObservation,
    Event,
    EventSource,
    FileEditAction,
    FileEditObservation,
    FileReadAction,
    FileReadObservation,
    FileWriteAction,
    FileWriteObservation,
    InvalidEvent,
    IPythonRunCellAction,
    IPythonRunCellObservation,
    MCPAction,
    MCPObservation,
    MessageAction,
    NullAction,
    NullObservation,
    Observation,
    OpaqueEvent,
    RecallAction,
    RecallObservation,
    SystemMessageAction,
    TaskTrackingAction,
    UndeliveredObservation,
    UserRejectObservation,
)
from ohtui.protocol.summary import compact_json, invalid_summary, rest_lines, summary


class RowKind(IntEnum):
    CELL = 0
    """A header line plus optional body lines (cropped, or wrapped when expanded)."""
    PROSE = 1
    """A chat message, wrapped to the width (agent messages as markdown)."""
    SEPARATOR = 2
    """A thin ``── running ──`` rule for ``agent_state_changed``."""


SOURCE_LABELS = {EventSource.USER: "user", EventSource.AGENT: "agent", EventSource.ENVIRONMENT: "env"}
SOURCE_ALIASES = {"env": "environment"}


# Actions that wait for an observation; they show ``…`` until it arrives.
_RUNNABLE: tuple[type[Action], ...] = (
    CmdRunAction,
    IPythonRunCellAction,
    FileReadAction,
    FileWriteAction,
    FileEditAction,
    BrowseURLAction,
    BrowseInteractiveAction,
    MCPAction,
    AgentDelegateAction,
    TaskTrackingAction,
)
_NOISE: tuple[type[Event], ...] = (NullAction, NullObservation, SystemMessageAction, RecallAction)


Block = tuple[str, str]
"""``(text, style)``: a run of body lines; style is one of the log's component names without prefix."""


@dataclass(frozen=True, slots=True)
class Traits:
    """What the type of an event says about its row, computed once per class (the ingest hot path)."""

    kind: RowKind
    action: bool
    noise: bool
    """Always noise: null, system, recall actions (§6.1)."""
    env_noise: bool
    """Noise when it comes from the environment (``change_agent_state``)."""
    hideable: bool
    """Its args/extras have a ``hidden`` flag."""


_TRAITS: dict[type[Event], Traits] = {}


def _classify(cls: type[Event]) -> Traits:
    if issubclass(cls, AgentStateChangedObservation):
        kind = RowKind.SEPARATOR
    elif issubclass(cls, MessageAction):
        kind = RowKind.PROSE
    else:
        kind = RowKind.CELL
    hideable = (issubclass(cls, Action) and "hidden" in cls.args_class.model_fields) or (
        issubclass(cls, Observation) and "hidden" in cls.extras_class.model_fields
    )
    return Traits(
        kind=kind,
        action=issubclass(cls, Action),
        noise=issubclass(cls, _NOISE),
        env_noise=issubclass(cls, ChangeAgentStateAction),
        hideable=hideable,
    )


def traits(event: Event) -> Traits:
    return class_traits(type(event))


def class_traits(cls: type[Event]) -> Traits:
    found = _TRAITS.get(cls)
    if found is None:
        found = _TRAITS[cls] = _classify(cls)
    return found


def kind_traits(kind: str, acts: bool) -> Traits:
    """The traits of the class an envelope's ``action``/``observation`` names (an unknown one: kept whole)."""
    known = _ACTION_TRAITS if acts else _OBSERVATION_TRAITS
    found = known.get(kind)
    if found is None:
        cls: type[Event] | None = ACTION_TYPES.get(kind) if acts else OBSERVATION_TYPES.get(kind)
        found = known[kind] = class_traits(cls if cls is not None else OpaqueEvent)
    return found


_ACTION_TRAITS: dict[str, Traits] = {}
_OBSERVATION_TRAITS: dict[str, Traits] = {}


def source_label(event: Event) -> str:
    source = event.source
    return SOURCE_LABELS[source] if source is not None else "?"


def is_error(event: Event) -> bool:
    """Errors the log highlights: error observations, non-zero exits, the error state, failed browsing."""
    if isinstance(event, (ErrorObservation, UndeliveredObservation)):
        return True
    if isinstance(event, CmdOutputObservation):
        return event.exit_code not in (0, -1)
    if isinstance(event, AgentStateChangedObservation):
        return event.agent_state is AgentState.ERROR
    if isinstance(event, BrowserOutputObservation):
        return event.extras.error
    return False


def result_mark(head: Event, children: Sequence[Event]) -> tuple[str, str] | None:
    """``(glyph, style)`` for the action's outcome: ✓ done, ✗ failed, … pending, ? awaiting confirmation."""
    if not isinstance(head, Action):
        return ("✗", "error") if is_error(head) else None
    confirmation = getattr(head.args, "confirmation_state", None)
    if confirmation is ActionConfirmationStatus.AWAITING_CONFIRMATION and not children:
        return ("?", "pending")
    if confirmation is ActionConfirmationStatus.REJECTED:
        return ("⊘", "pending")
    if not children:
        return ("…", "pending") if isinstance(head, _RUNNABLE) else None
    if any(is_error(child) for child in children):
        return ("✗", "error")
    if any(isinstance(child, UserRejectObservation) for child in children):
        return ("⊘", "pending")
    last = children[-1]
    if isinstance(last, CmdOutputObservation) and last.exit_code == -1:
        return ("…", "pending")
    return ("✓", "ok") if isinstance(head, _RUNNABLE) else None


def _tasks(task_list: list[dict[str, Any]]) -> str:
    marks = {"done": "☑", "in_progress": "◐", "todo": "☐"}
    return "\n".join(f"{marks.get(str(t.get('status')), '☐')} {t.get('title', '')}" for t in task_list)


def _thought(event: Action) -> list[Block]:
    thought = getattr(event.args, "thought", "")
    return [(thought.strip(), "thought")] if isinstance(thought, str) and thought.strip() else []


def _observation_head(event: Observation) -> list[Block]:
    return [(rest_lines(event.content), "error" if is_error(event) else "output")]


def _edit_head(event: FileEditObservation) -> list[Block]:
    return [(event.extras.diff, "diff")] if event.extras.diff else _observation_head(event)


BlockFn = Callable[[Any], list[Block]]

_HEAD_BLOCKS: dict[type[Event], BlockFn] = {
    InvalidEvent: lambda e: [(compact_json(e.raw), "unknown")],
    OpaqueEvent: lambda e: [],
    MessageAction: lambda e: [],
    AgentStateChangedObservation: lambda e: [],
    AgentThinkAction: lambda e: [(rest_lines(e.args.thought), "text")],
    AgentFinishAction: lambda e: [(rest_lines(e.args.final_thought or e.message), "text")],
    CmdRunAction: lambda e: [*_thought(e), (rest_lines(e.args.command), "code")],
    IPythonRunCellAction: lambda e: [*_thought(e), (rest_lines(e.args.code), "code")],
    FileWriteAction: lambda e: [*_thought(e), (e.args.content, "code")],
    TaskTrackingAction: lambda e: [*_thought(e), (_tasks(e.args.task_list), "text")],
    CondensationAction: lambda e: [(rest_lines(e.message), "text")],
    BrowseInteractiveAction: lambda e: [*_thought(e), (rest_lines(e.message), "text")],
    Action: _thought,
    CmdOutputObservation: lambda e: [(e.content, "error" if is_error(e) else "output")],
    FileEditObservation: _edit_head,
    Observation: _observation_head,
}


def _run_child(event: CmdOutputObservation) -> list[Block]:
    blocks: list[Block] = [(event.content, "output")]
    if event.exit_code not in (0, -1):
        blocks.append((f"exit code {event.exit_code}", "error"))
    return blocks


_CHILD_BLOCKS: dict[type[Event], BlockFn] = {
    InvalidEvent: lambda e: [(invalid_summary(e), "unknown")],
    OpaqueEvent: lambda e: [(f"unknown event {e.kind or '?'}", "unknown")],
    AgentThinkObservation: lambda e: [],
    CmdOutputObservation: _run_child,
    FileEditObservation: lambda e: [(e.extras.diff, "diff")] if e.extras.diff else [(e.content, "output")],
    AgentDelegateObservation: lambda e: [(e.content or compact_json(e.extras.outputs), "output")],
    ErrorObservation: lambda e: [(e.content, "error")],
    UserRejectObservation: lambda e: [(e.content, "pending")],
    Observation: lambda e: [(e.content, "error" if is_error(e) else "output")],
}


def _lookup(table: dict[type[Event], BlockFn], event: Event) -> BlockFn:
    """Exact type first; else the nearest registered base, remembered for the next event of that type."""
    cls = type(event)
    found = table.get(cls)
    if found is None:
        found = next((table[base] for base in cls.__mro__ if base in table), lambda e: [])
        table[cls] = found
    return found


def _kept(blocks: list[Block]) -> list[Block]:
    out: list[Block] = []
    for text, style in blocks:
        text = text.strip("\n")
        if text.strip():
            out.append((text, style))
    return out


def head_blocks(head: Event) -> list[Block]:
    """What an event shows under its own header; empty blocks are dropped."""
    return _kept(_lookup(_HEAD_BLOCKS, head)(head))


def child_blocks(child: Event) -> list[Block]:
    """What an observation adds to the cell of the action that caused it."""
    return _kept(_lookup(_CHILD_BLOCKS, child)(child))


def body_blocks(head: Event, children: Sequence[Event]) -> list[Block]:
    """The text under a cell's header, in display order: the head's blocks, then each child's."""
    blocks = head_blocks(head)
    for child in children:
        blocks.extend(child_blocks(child))
    return blocks


def count_lines(blocks: Sequence[Block]) -> int:
    return sum(text.count("\n") + 1 for text, _ in blocks)


def search_text(head: Event, children: Sequence[Event]) -> str:
    parts = [summary(head)]
    if isinstance(head, MessageAction):
        parts.append(head.args.content)
    parts.extend(text for text, _ in body_blocks(head, children))
    return "\n".join(parts)


NUMBER = "\x00number"
"""In :data:`SEARCH_FRAGMENTS`: the kind's search text holds a number its JSON may not (an exit code, a range)."""
BLANK = "\x00blank"
"""In :data:`SEARCH_FRAGMENTS`: with blank content, the kind's summary is its message, derived when parsed."""
_SAYS_MESSAGE_IF_BLANK = (BLANK,)

SEARCH_FRAGMENTS: dict[type[Event], tuple[str, ...]] = {
    MessageAction: (),
    SystemMessageAction: (),
    CmdRunAction: ("$ ", "⌨ "),
    IPythonRunCellAction: (">>> ",),
    FileReadAction: (" [", ":", "]", NUMBER),
    FileWriteAction: (),
    FileEditAction: (" ",),
    BrowseURLAction: (),
    AgentThinkAction: (),
    AgentFinishAction: ("All done! What's next on the agenda?",),
    ChangeAgentStateAction: ("→ ",),
    RecallAction: (": ",),
    NullAction: ("No action",),
    AgentStateChangedObservation: (": ",),
    CmdOutputObservation: ("$ ", " → exit ", "exit code ", NUMBER),
    FileEditObservation: (),
    FileReadObservation: _SAYS_MESSAGE_IF_BLANK,
    FileWriteObservation: _SAYS_MESSAGE_IF_BLANK,
    IPythonRunCellObservation: _SAYS_MESSAGE_IF_BLANK,
    MCPObservation: _SAYS_MESSAGE_IF_BLANK,
    RecallObservation: _SAYS_MESSAGE_IF_BLANK,
    BrowserOutputObservation: _SAYS_MESSAGE_IF_BLANK,
    ErrorObservation: _SAYS_MESSAGE_IF_BLANK,
    UserRejectObservation: _SAYS_MESSAGE_IF_BLANK,
    NullObservation: _SAYS_MESSAGE_IF_BLANK,
    AgentThinkObservation: _SAYS_MESSAGE_IF_BLANK,
}
"""What :func:`search_text` adds to the JSON strings of an event of each kind (the text a search looks in is
otherwise those strings, each whole or a line of it). A search may skip an event whose stored JSON lacks the
needle only if the needle cannot overlap any of these; kinds not listed are always read in full."""


def search_fragments(kind: str, acts: bool) -> tuple[str, ...] | None:
    """:data:`SEARCH_FRAGMENTS` of the class an envelope names; None if it must always be read in full."""
    cls: type[Event] | None = ACTION_TYPES.get(kind) if acts else OBSERVATION_TYPES.get(kind)
    return SEARCH_FRAGMENTS.get(cls) if cls is not None else None
