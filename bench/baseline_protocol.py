"""An upstream-style event serializer, the comparison point for ``bench.protocol_bench``.

Written for this benchmark from the algorithm of OPENHANDS_V0.md §2.1/§2.2 (not copied from upstream): events are
plain dataclasses whose wire fields are dataclass fields (in declaration order), while ``id``, ``timestamp``,
``source``, ``cause``, ``timeout``, ``tool_call_metadata`` and ``llm_metrics`` live in underscore attributes set
after construction, and ``message`` is a property. :func:`event_to_dict` runs ``dataclasses.asdict`` and then moves
the top-level keys out of it; :func:`event_from_dict` builds the dataclass from ``args``/``extras`` and sets the
underscore attributes. Nested values are pydantic models where upstream has pydantic models (``CmdOutputMetadata``,
``ToolCallMetadata``, the token usage and cost entries of ``Metrics``).

It covers the event types of the shared samples (every type that has a sample); ``bench.protocol_bench`` checks that
its output equals ohtui's for all of them, so the two do the same work.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from enum import Enum, IntEnum, StrEnum
from typing import Any

from pydantic import BaseModel


class EventSource(StrEnum):
    AGENT = "agent"
    USER = "user"
    ENVIRONMENT = "environment"


class ActionSecurityRisk(IntEnum):
    UNKNOWN = -1
    LOW = 0
    MEDIUM = 1
    HIGH = 2


class ActionConfirmationStatus(StrEnum):
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    AWAITING_CONFIRMATION = "awaiting_confirmation"


class RecallType(StrEnum):
    WORKSPACE_CONTEXT = "workspace_context"
    KNOWLEDGE = "knowledge"


class FileReadSource(StrEnum):
    OH_ACI = "oh_aci"
    DEFAULT = "default"


class FileEditSource(StrEnum):
    LLM_BASED_EDIT = "llm_based_edit"
    OH_ACI = "oh_aci"


class CmdOutputMetadata(BaseModel):
    exit_code: int = -1
    pid: int = -1
    username: str | None = None
    hostname: str | None = None
    working_dir: str | None = None
    py_interpreter_path: str | None = None
    prefix: str = ""
    suffix: str = ""


class ToolCallMetadata(BaseModel):
    function_name: str
    tool_call_id: str
    model_response: dict[str, Any]  # upstream: litellm's ModelResponse (costlier than a dict)
    total_calls_in_response: int


class TokenUsage(BaseModel):
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    context_window: int = 0
    per_turn_token: int = 0
    response_id: str = ""


class Cost(BaseModel):
    model: str
    cost: float
    timestamp: float


class ResponseLatency(BaseModel):
    model: str
    latency: float
    response_id: str = ""


class Metrics:
    """Accumulated LLM figures; :meth:`get` is the wire dict."""

    def __init__(self) -> None:
        self.accumulated_cost = 0.0
        self.max_budget_per_task: float | None = None
        self.accumulated_token_usage = TokenUsage(model="default")
        self.costs: list[Cost] = []
        self.response_latencies: list[ResponseLatency] = []
        self.token_usages: list[TokenUsage] = []

    def get(self) -> dict[str, Any]:
        return {
            "accumulated_cost": self.accumulated_cost,
            "max_budget_per_task": self.max_budget_per_task,
            "accumulated_token_usage": self.accumulated_token_usage.model_dump(),
            "costs": [cost.model_dump() for cost in self.costs],
            "response_latencies": [latency.model_dump() for latency in self.response_latencies],
            "token_usages": [usage.model_dump() for usage in self.token_usages],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Metrics:
        metrics = cls()
        metrics.accumulated_cost = data.get("accumulated_cost", 0.0)
        metrics.max_budget_per_task = data.get("max_budget_per_task")
        metrics.accumulated_token_usage = TokenUsage(**data.get("accumulated_token_usage", {}))
        metrics.costs = [Cost(**cost) for cost in data.get("costs", [])]
        metrics.response_latencies = [ResponseLatency(**lat) for lat in data.get("response_latencies", [])]
        metrics.token_usages = [TokenUsage(**usage) for usage in data.get("token_usages", [])]
        return metrics


@dataclasses.dataclass
class Event:
    """No dataclass fields of its own: the stream sets the underscore attributes."""

    @property
    def id(self) -> int:
        value = getattr(self, "_id", None)
        return -1 if value is None else int(value)

    @property
    def timestamp(self) -> str | None:
        return getattr(self, "_timestamp", None)

    @property
    def source(self) -> EventSource | None:
        return getattr(self, "_source", None)

    @property
    def cause(self) -> int | None:
        return getattr(self, "_cause", None)

    @property
    def timeout(self) -> float | None:
        return getattr(self, "_timeout", None)

    @property
    def message(self) -> str:
        return _MESSAGES[type(self)](self)


@dataclasses.dataclass
class Action(Event):
    pass


@dataclasses.dataclass
class Observation(Event):
    content: str = ""


Spec = tuple[str, list[tuple[str, Any]], Callable[[Any], str]]
_RISK = ActionSecurityRisk.UNKNOWN
_CONFIRMED = ActionConfirmationStatus.CONFIRMED


def _tasks(event: Any) -> str:
    count = len(event.task_list)
    if count == 0:
        return "Clearing the task list."
    return "Managing 1 task item." if count == 1 else f"Managing {count} task items."


def _condensation(event: Any) -> str:
    if event.summary:
        return f"Summary: {event.summary}"
    if event.forgotten_event_ids is not None:
        ids = event.forgotten_event_ids
    else:
        ids = list(range(event.forgotten_events_start_id, event.forgotten_events_end_id + 1))
    return f"Condenser is dropping the events: {ids}."


def _reject(event: Any) -> str:
    reason = event.outputs.get("reason")
    return "Task is rejected by the agent." + (f" Reason: {reason}" if reason else "")


# (class name, fields in declaration order with defaults, message) per action type (§2.4).
ACTION_SPECS: dict[str, Spec] = {
    "message": (
        "MessageAction",
        [("content", ""), ("file_urls", None), ("image_urls", None), ("wait_for_response", False),
         ("security_risk", _RISK)],
        lambda e: e.content,
    ),
    "system": (
        "SystemMessageAction",
        [("content", ""), ("tools", None), ("openhands_version", None), ("agent_class", None)],
        lambda e: e.content,
    ),
    "run": (
        "CmdRunAction",
        [("command", ""), ("is_input", False), ("thought", ""), ("blocking", False), ("is_static", False),
         ("cwd", None), ("hidden", False), ("confirmation_state", _CONFIRMED), ("security_risk", _RISK)],
        lambda e: f"Running command: {e.command}",
    ),
    "run_ipython": (
        "IPythonRunCellAction",
        [("code", ""), ("thought", ""), ("include_extra", True), ("confirmation_state", _CONFIRMED),
         ("security_risk", _RISK), ("kernel_init_code", "")],
        lambda e: f"Running Python code interactively: {e.code}",
    ),
    "read": (
        "FileReadAction",
        [("path", ""), ("start", 0), ("end", -1), ("thought", ""), ("security_risk", _RISK),
         ("impl_source", FileReadSource.DEFAULT), ("view_range", None)],
        lambda e: f"Reading file: {e.path}",
    ),
    "write": (
        "FileWriteAction",
        [("path", ""), ("content", ""), ("start", 0), ("end", -1), ("thought", ""), ("security_risk", _RISK)],
        lambda e: f"Writing file: {e.path}",
    ),
    "edit": (
        "FileEditAction",
        [("path", ""), ("command", ""), ("file_text", None), ("old_str", None), ("new_str", None),
         ("insert_line", None), ("content", ""), ("start", 1), ("end", -1), ("thought", ""),
         ("security_risk", _RISK), ("impl_source", FileEditSource.OH_ACI)],
        lambda e: "",
    ),
    "browse": (
        "BrowseURLAction",
        [("url", ""), ("thought", ""), ("security_risk", _RISK), ("return_axtree", False)],
        lambda e: f"I am browsing the URL: {e.url}",
    ),
    "think": ("AgentThinkAction", [("thought", "")], lambda e: f"I am thinking...: {e.thought}"),
    "finish": (
        "AgentFinishAction",
        [("final_thought", ""), ("outputs", {}), ("thought", "")],
        lambda e: e.thought or "All done! What's next on the agenda?",
    ),
    "reject": ("AgentRejectAction", [("outputs", {}), ("thought", "")], _reject),
    "delegate": (
        "AgentDelegateAction",
        [("agent", ""), ("inputs", {}), ("thought", "")],
        lambda e: f"I'm asking {e.agent} for help with this task.",
    ),
    "change_agent_state": (
        "ChangeAgentStateAction",
        [("agent_state", ""), ("thought", "")],
        lambda e: f"Agent state changed to {e.agent_state}",
    ),
    "recall": (
        "RecallAction",
        [("recall_type", RecallType.WORKSPACE_CONTEXT), ("query", ""), ("thought", "")],
        lambda e: f"Retrieving content for: {e.query[:50]}",
    ),
    "call_tool_mcp": (
        "MCPAction",
        [("name", ""), ("arguments", {}), ("thought", ""), ("security_risk", _RISK)],
        lambda e: "I am interacting with the MCP server with name:\n```\n"
        f"{e.name}\n```\nand arguments:\n```\n{e.arguments}\n```",
    ),
    "task_tracking": ("TaskTrackingAction", [("command", "view"), ("task_list", []), ("thought", "")], _tasks),
    "condensation": (
        "CondensationAction",
        [("forgotten_event_ids", None), ("forgotten_events_start_id", None), ("forgotten_events_end_id", None),
         ("summary", None), ("summary_offset", None)],
        _condensation,
    ),
    "null": ("NullAction", [], lambda e: "No action"),
}  # fmt: skip


def _content(event: Any) -> str:
    return str(event.content)


# Extras fields (after ``content``) in declaration order, per observation type (§2.5).
OBSERVATION_SPECS: dict[str, Spec] = {
    "run": (
        "CmdOutputObservation",
        [("command", ""), ("metadata", None), ("hidden", False)],
        lambda e: f"Command `{e.command}` executed with exit code {e.metadata.exit_code}.",
    ),
    "run_ipython": (
        "IPythonRunCellObservation",
        [("code", ""), ("image_urls", None)],
        lambda e: "Code executed in IPython cell.",
    ),
    "read": (
        "FileReadObservation",
        [("path", ""), ("impl_source", FileReadSource.DEFAULT)],
        lambda e: f"I read the file {e.path}.",
    ),
    "write": ("FileWriteObservation", [("path", "")], lambda e: f"I wrote to the file {e.path}."),
    "edit": (
        "FileEditObservation",
        [("path", ""), ("prev_exist", False), ("old_content", None), ("new_content", None),
         ("impl_source", FileEditSource.LLM_BASED_EDIT), ("diff", None), ("_diff_cache", None)],
        lambda e: f"I edited the file {e.path}.",
    ),
    "browse": (
        "BrowserOutputObservation",
        [("url", ""), ("trigger_by_action", ""), ("screenshot", ""), ("screenshot_path", None),
         ("set_of_marks", ""), ("error", False), ("goal_image_urls", []), ("open_pages_urls", []),
         ("active_page_index", -1), ("dom_object", {}), ("axtree_object", {}), ("extra_element_properties", {}),
         ("last_browser_action", ""), ("last_browser_action_error", ""), ("focused_element_bid", ""),
         ("filter_visible_only", False)],
        lambda e: f"Visited {e.url}",
    ),
    "think": ("AgentThinkObservation", [], _content),
    "agent_state_changed": (
        "AgentStateChangedObservation", [("agent_state", ""), ("reason", "")], lambda e: ""
    ),
    "recall": (
        "RecallObservation",
        [("recall_type", RecallType.WORKSPACE_CONTEXT), ("repo_name", ""), ("repo_directory", ""),
         ("repo_branch", ""), ("repo_instructions", ""), ("runtime_hosts", {}), ("additional_agent_instructions", ""),
         ("date", ""), ("custom_secrets_descriptions", {}), ("conversation_instructions", ""), ("working_dir", ""),
         ("microagent_knowledge", [])],
        lambda e: "Added workspace context" if e.recall_type == RecallType.WORKSPACE_CONTEXT
        else "Added microagent knowledge",
    ),
    "mcp": ("MCPObservation", [("name", ""), ("arguments", {})], _content),
    "error": ("ErrorObservation", [("error_id", "")], _content),
    "user_rejected": ("UserRejectObservation", [], _content),
    "success": ("SuccessObservation", [], _content),
    "null": ("NullObservation", [], lambda e: "No observation"),
    "download": (
        "FileDownloadObservation",
        [("file_path", "")],
        lambda e: f"Downloaded the file at location: {e.file_path}",
    ),
}  # fmt: skip

_MESSAGES: dict[type, Callable[[Any], str]] = {}


def _copier(value: Any) -> Callable[[], Any]:
    return lambda: copy.copy(value)


def _make(spec: Spec, base: type, kind_field: str, kind: str) -> type:
    name, fields, message = spec
    made: list[tuple[str, Any, Any]] = [
        (field, object, dataclasses.field(default_factory=_copier(default)))
        if isinstance(default, (list, dict))
        else (field, object, dataclasses.field(default=default))
        for field, default in fields
    ]
    made.append((kind_field, str, dataclasses.field(default=kind)))
    cls = dataclasses.make_dataclass(name, made, bases=(base,))
    _MESSAGES[cls] = message
    return cls


ACTION_CLASSES = {kind: _make(spec, Action, "action", kind) for kind, spec in ACTION_SPECS.items()}
OBSERVATION_CLASSES = {kind: _make(spec, Observation, "observation", kind) for kind, spec in OBSERVATION_SPECS.items()}
for _cls in (*ACTION_CLASSES.values(), *OBSERVATION_CLASSES.values()):
    if _cls.__name__ in ("CmdOutputObservation", "IPythonRunCellObservation"):
        _cls.success = property(  # type: ignore[attr-defined]
            (lambda e: e.metadata.exit_code == 0) if _cls.__name__ == "CmdOutputObservation" else (lambda e: True)
        )

TOP_KEYS = ("id", "timestamp", "source", "message", "cause", "action", "observation", "tool_call_metadata",
            "llm_metrics")  # fmt: skip
UNDERSCORE_KEYS = ("id", "timestamp", "source", "cause", "tool_call_metadata", "llm_metrics")


def event_to_dict(event: Event) -> dict[str, Any]:
    """§2.1: ``asdict``, then each top-level key from the attribute or its underscore twin, popped from the rest."""
    props = dataclasses.asdict(event)
    out: dict[str, Any] = {}
    for key in TOP_KEYS:
        value = getattr(event, key, None)
        if value is None:
            value = getattr(event, "_" + key, None)
        if value is not None:
            if key == "id" and value == -1:
                value = None
            elif key == "source":
                value = value.value
            elif key == "tool_call_metadata":
                value = value.model_dump()
            elif key == "llm_metrics":
                value = value.get()
            if value is not None:
                out[key] = value
        props.pop(key, None)
    if "security_risk" in props and props["security_risk"] is None:
        props.pop("security_risk")
    if "task_completed" in props and props["task_completed"] is None:
        props.pop("task_completed")
    if "action" in out:
        if "security_risk" in props:
            props["security_risk"] = props["security_risk"].value
        out["args"] = props
        if event.timeout is not None:
            out["timeout"] = event.timeout
    elif "observation" in out:
        out["content"] = props.pop("content", "")
        out["extras"] = {
            k: v.value if isinstance(v, Enum) else v.model_dump() if isinstance(v, BaseModel) else v
            for k, v in props.items()
        }
        if hasattr(event, "success"):
            out["success"] = event.success
    else:
        raise ValueError(f"neither an action nor an observation: {event}")
    return out


def _set_underscore_keys(event: Event, data: dict[str, Any]) -> None:
    for key in UNDERSCORE_KEYS:
        if key in data and data[key] is not None:
            value = data[key]
            if key == "source":
                value = EventSource(value)
            elif key == "tool_call_metadata":
                value = ToolCallMetadata(**value)
            elif key == "llm_metrics":
                value = Metrics.from_dict(value)
            setattr(event, "_" + key, value)


def event_from_dict(data: dict[str, Any]) -> Event:
    """§2.2: the action or observation class from its type string, built from ``args``/``extras``."""
    data = data.copy()
    if "action" in data:
        cls = ACTION_CLASSES[data["action"]]
        args = dict(data.get("args", {}))
        for dropped in ("keep_prompt", "task_completed", "timestamp"):
            args.pop(dropped, None)
        if "is_confirmed" in args:
            args["confirmation_state"] = args.pop("is_confirmed")
        if "images_urls" in args:
            args["image_urls"] = args.pop("images_urls")
        if "security_risk" in args:
            args["security_risk"] = ActionSecurityRisk(args["security_risk"])
        event: Event = cls(**args)
        if data.get("timeout") is not None:
            event._timeout = data["timeout"]  # type: ignore[attr-defined]
    elif "observation" in data:
        cls = OBSERVATION_CLASSES[data.pop("observation")]
        data.pop("message", None)
        content = data.pop("content", "")
        extras = copy.deepcopy(data.pop("extras", {}))
        if cls.__name__ == "CmdOutputObservation":
            if "exit_code" in extras or "command_id" in extras:
                metadata = dict(extras.get("metadata") or {})
                metadata.setdefault("exit_code", extras.pop("exit_code", -1))
                metadata.setdefault("pid", extras.pop("command_id", -1))
                extras["metadata"] = metadata
            extras.pop("formatted_output_and_error", None)
            extras["metadata"] = CmdOutputMetadata(**(extras.get("metadata") or {}))
        elif cls.__name__ == "RecallObservation" and "recall_type" in extras:
            extras["recall_type"] = RecallType(extras["recall_type"])
        event = cls(content=content, **extras)
    else:
        raise ValueError(f"Unknown event type: {data}")
    _set_underscore_keys(event, data)
    return event
