"""Action classes (§2.4): one per upstream ``ActionType`` that has a class, with exact args and messages."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from ohtui.protocol.base import Action, Args, IntEnumField, StrEnumField
from ohtui.protocol.enums import (
    ActionConfirmationStatus,
    ActionSecurityRisk,
    AgentState,
    FileEditSource,
    FileReadSource,
    RecallType,
)

Risk = IntEnumField[ActionSecurityRisk]
Confirmation = StrEnumField[ActionConfirmationStatus]
JsonDict = dict[str, Any]

_DROPPED_LEGACY_ARGS = ("keep_prompt", "task_completed", "timestamp")
_RISKS = frozenset(r.value for r in ActionSecurityRisk)
_LISTED_IDS = 10_000


class ActionArgs(Args):
    """Reads upstream's legacy args (§1.3): renamed keys, dropped keys, out-of-range risks."""

    legacy_keys: ClassVar[frozenset[str]] = frozenset({*_DROPPED_LEGACY_ARGS, "is_confirmed", "images_urls"})

    @classmethod
    def upgrade(cls, data: dict[str, Any]) -> dict[str, Any]:
        if cls.legacy_keys.isdisjoint(data) and "security_risk" not in data:
            return data
        data = dict(data)
        for key in _DROPPED_LEGACY_ARGS:
            data.pop(key, None)
        if "is_confirmed" in data:
            data.setdefault("confirmation_state", data.pop("is_confirmed"))
        if "images_urls" in data:
            data.setdefault("image_urls", data.pop("images_urls"))
        risk = data.get("security_risk")
        if isinstance(risk, int) and not isinstance(risk, bool) and risk not in _RISKS:
            del data["security_risk"]
        return data


class MessageArgs(ActionArgs):
    content: str
    file_urls: list[str] | None = None
    image_urls: list[str] | None = None
    wait_for_response: bool = False
    security_risk: Risk = ActionSecurityRisk.UNKNOWN


class MessageAction(Action):
    action: Literal["message"] = "message"
    args: MessageArgs
    args_class: ClassVar[type[Args]] = MessageArgs

    def derive_message(self) -> str:
        return self.args.content


class SystemMessageArgs(ActionArgs):
    content: str
    tools: list[Any] | None = None
    openhands_version: str | None = None
    agent_class: str | None = None


class SystemMessageAction(Action):
    action: Literal["system"] = "system"
    args: SystemMessageArgs
    args_class: ClassVar[type[Args]] = SystemMessageArgs

    def derive_message(self) -> str:
        return self.args.content


class CmdRunArgs(ActionArgs):
    command: str
    is_input: bool = False
    thought: str = ""
    blocking: bool = False
    is_static: bool = False
    cwd: str | None = None
    hidden: bool = False
    confirmation_state: Confirmation = ActionConfirmationStatus.CONFIRMED
    security_risk: Risk = ActionSecurityRisk.UNKNOWN


class CmdRunAction(Action):
    action: Literal["run"] = "run"
    args: CmdRunArgs
    args_class: ClassVar[type[Args]] = CmdRunArgs

    def derive_message(self) -> str:
        return f"Running command: {self.args.command}"


class IPythonRunCellArgs(ActionArgs):
    code: str
    thought: str = ""
    include_extra: bool = True
    confirmation_state: Confirmation = ActionConfirmationStatus.CONFIRMED
    security_risk: Risk = ActionSecurityRisk.UNKNOWN
    kernel_init_code: str = ""


class IPythonRunCellAction(Action):
    action: Literal["run_ipython"] = "run_ipython"
    args: IPythonRunCellArgs
    args_class: ClassVar[type[Args]] = IPythonRunCellArgs

    def derive_message(self) -> str:
        return f"Running Python code interactively: {self.args.code}"


class FileReadArgs(ActionArgs):
    path: str
    start: int = 0
    end: int = -1
    thought: str = ""
    security_risk: Risk = ActionSecurityRisk.UNKNOWN
    impl_source: StrEnumField[FileReadSource] = FileReadSource.DEFAULT
    view_range: list[int] | None = None


class FileReadAction(Action):
    action: Literal["read"] = "read"
    args: FileReadArgs
    args_class: ClassVar[type[Args]] = FileReadArgs

    def derive_message(self) -> str:
        return f"Reading file: {self.args.path}"


class FileWriteArgs(ActionArgs):
    path: str
    content: str
    start: int = 0
    end: int = -1
    thought: str = ""
    security_risk: Risk = ActionSecurityRisk.UNKNOWN


class FileWriteAction(Action):
    action: Literal["write"] = "write"
    args: FileWriteArgs
    args_class: ClassVar[type[Args]] = FileWriteArgs

    def derive_message(self) -> str:
        return f"Writing file: {self.args.path}"


class FileEditArgs(ActionArgs):
    path: str
    command: str = ""
    file_text: str | None = None
    old_str: str | None = None
    new_str: str | None = None
    insert_line: int | None = None
    content: str = ""
    start: int = 1
    end: int = -1
    thought: str = ""
    security_risk: Risk = ActionSecurityRisk.UNKNOWN
    impl_source: StrEnumField[FileEditSource] = FileEditSource.OH_ACI

    legacy_keys: ClassVar[frozenset[str]] = ActionArgs.legacy_keys | {"translated_ipython_code"}

    @classmethod
    def upgrade(cls, data: dict[str, Any]) -> dict[str, Any]:
        """Old trajectories carry ``translated_ipython_code`` = ``print(file_editor(**{...}))``; keep its args."""
        if "translated_ipython_code" in data:
            from ohtui.protocol.legacy import file_editor_args

            data = dict(data)
            for key, value in file_editor_args(data.pop("translated_ipython_code")).items():
                data.setdefault(key, value)
        return super().upgrade(data)


class FileEditAction(Action):
    action: Literal["edit"] = "edit"
    args: FileEditArgs
    args_class: ClassVar[type[Args]] = FileEditArgs


class BrowseURLArgs(ActionArgs):
    url: str
    thought: str = ""
    security_risk: Risk = ActionSecurityRisk.UNKNOWN
    return_axtree: bool = False


class BrowseURLAction(Action):
    action: Literal["browse"] = "browse"
    args: BrowseURLArgs
    args_class: ClassVar[type[Args]] = BrowseURLArgs

    def derive_message(self) -> str:
        return f"I am browsing the URL: {self.args.url}"


class BrowseInteractiveArgs(ActionArgs):
    browser_actions: str
    thought: str = ""
    browsergym_send_msg_to_user: str = ""
    security_risk: Risk = ActionSecurityRisk.UNKNOWN
    return_axtree: bool = False


class BrowseInteractiveAction(Action):
    action: Literal["browse_interactive"] = "browse_interactive"
    args: BrowseInteractiveArgs
    args_class: ClassVar[type[Args]] = BrowseInteractiveArgs

    def derive_message(self) -> str:
        return f"I am interacting with the browser:\n```\n{self.args.browser_actions}\n```"


class ThoughtArgs(ActionArgs):
    thought: str = ""


class AgentThinkAction(Action):
    action: Literal["think"] = "think"
    args: ThoughtArgs = Field(default_factory=ThoughtArgs)
    args_class: ClassVar[type[Args]] = ThoughtArgs

    def derive_message(self) -> str:
        return f"I am thinking...: {self.args.thought}"


class AgentFinishArgs(ActionArgs):
    final_thought: str = ""
    outputs: JsonDict = Field(default_factory=dict)
    thought: str = ""


class AgentFinishAction(Action):
    action: Literal["finish"] = "finish"
    args: AgentFinishArgs = Field(default_factory=AgentFinishArgs)
    args_class: ClassVar[type[Args]] = AgentFinishArgs

    def derive_message(self) -> str:
        return self.args.thought or "All done! What's next on the agenda?"


class AgentRejectArgs(ActionArgs):
    outputs: JsonDict = Field(default_factory=dict)
    thought: str = ""


class AgentRejectAction(Action):
    action: Literal["reject"] = "reject"
    args: AgentRejectArgs = Field(default_factory=AgentRejectArgs)
    args_class: ClassVar[type[Args]] = AgentRejectArgs

    def derive_message(self) -> str:
        message = "Task is rejected by the agent."
        if "reason" in self.args.outputs:
            message += f" Reason: {self.args.outputs['reason']}"
        return message


class AgentDelegateArgs(ActionArgs):
    agent: str
    inputs: JsonDict
    thought: str = ""


class AgentDelegateAction(Action):
    action: Literal["delegate"] = "delegate"
    args: AgentDelegateArgs
    args_class: ClassVar[type[Args]] = AgentDelegateArgs

    def derive_message(self) -> str:
        return f"I'm asking {self.args.agent} for help with this task."


class ChangeAgentStateArgs(ActionArgs):
    agent_state: StrEnumField[AgentState]
    thought: str = ""


class ChangeAgentStateAction(Action):
    action: Literal["change_agent_state"] = "change_agent_state"
    args: ChangeAgentStateArgs
    args_class: ClassVar[type[Args]] = ChangeAgentStateArgs

    def derive_message(self) -> str:
        """Upstream formats the ``agent_state`` it was given: a client's string (``running``), or its own enum member,
        which Python 3.12 formats as ``AgentState.RUNNING`` (OpenHands' agent session writes that form when a
        conversation starts). A received message in the member's form for this very state is kept, so that such an
        event writes back unchanged; anything else is derived."""
        state = self.args.agent_state
        as_member = f"Agent state changed to AgentState.{state.name}"
        return as_member if self.field_values.get("message") == as_member else f"Agent state changed to {state.value}"


class RecallArgs(ActionArgs):
    recall_type: StrEnumField[RecallType]
    query: str = ""
    thought: str = ""


class RecallAction(Action):
    action: Literal["recall"] = "recall"
    args: RecallArgs
    args_class: ClassVar[type[Args]] = RecallArgs

    def derive_message(self) -> str:
        return f"Retrieving content for: {self.args.query[:50]}"


class MCPArgs(ActionArgs):
    name: str
    arguments: JsonDict = Field(default_factory=dict)
    thought: str = ""
    security_risk: Risk = ActionSecurityRisk.UNKNOWN


class MCPAction(Action):
    action: Literal["call_tool_mcp"] = "call_tool_mcp"
    args: MCPArgs
    args_class: ClassVar[type[Args]] = MCPArgs

    def derive_message(self) -> str:
        return (
            f"I am interacting with the MCP server with name:\n```\n{self.args.name}\n```\n"
            f"and arguments:\n```\n{self.args.arguments!r}\n```"
        )


class TaskTrackingArgs(ActionArgs):
    command: str = "view"
    task_list: list[JsonDict] = Field(default_factory=list)
    thought: str = ""


class TaskTrackingAction(Action):
    action: Literal["task_tracking"] = "task_tracking"
    args: TaskTrackingArgs = Field(default_factory=TaskTrackingArgs)
    args_class: ClassVar[type[Args]] = TaskTrackingArgs

    def derive_message(self) -> str:
        count = len(self.args.task_list)
        if count == 0:
            return "Clearing the task list."
        if count == 1:
            return "Managing 1 task item."
        return f"Managing {count} task items."


class CondensationArgs(ActionArgs):
    forgotten_event_ids: list[int] | None = None
    forgotten_events_start_id: int | None = None
    forgotten_events_end_id: int | None = None
    summary: str | None = None
    summary_offset: int | None = None


class CondensationAction(Action):
    action: Literal["condensation"] = "condensation"
    args: CondensationArgs = Field(default_factory=CondensationArgs)
    args_class: ClassVar[type[Args]] = CondensationArgs

    @property
    def forgotten(self) -> range | list[int]:
        """The ids this condensation drops: the explicit list, or the inclusive range (lazily: it may be huge)."""
        if self.args.forgotten_event_ids is not None:
            return list(self.args.forgotten_event_ids)
        start, end = self.args.forgotten_events_start_id, self.args.forgotten_events_end_id
        if start is None or end is None:
            return []
        return range(start, end + 1)

    def derive_message(self) -> str:
        if self.args.summary:
            return f"Summary: {self.args.summary}"
        forgotten = self.forgotten
        if isinstance(forgotten, range) and forgotten.stop - forgotten.start > _LISTED_IDS:
            # Upstream prints the whole list; past a few thousand ids that is a message nobody reads (or memory
            # nobody has), so the range is shown as its ends.
            shown = f"[{forgotten.start}, {forgotten.start + 1}, ..., {forgotten.stop - 1}]"
        else:
            shown = str(list(forgotten))
        return f"Condenser is dropping the events: {shown}."


class CondensationRequestAction(Action):
    action: Literal["condensation_request"] = "condensation_request"
    args: ActionArgs = Field(default_factory=ActionArgs)
    args_class: ClassVar[type[Args]] = ActionArgs

    def derive_message(self) -> str:
        return "Requesting a condensation of the conversation history."


class LoopRecoveryArgs(ActionArgs):
    option: int = 1


class LoopRecoveryAction(Action):
    action: Literal["loop_recovery"] = "loop_recovery"
    args: LoopRecoveryArgs = Field(default_factory=LoopRecoveryArgs)
    args_class: ClassVar[type[Args]] = LoopRecoveryArgs


class NullAction(Action):
    action: Literal["null"] = "null"
    args: ActionArgs = Field(default_factory=ActionArgs)
    args_class: ClassVar[type[Args]] = ActionArgs

    def derive_message(self) -> str:
        return "No action"


ACTION_CLASSES: tuple[type[Action], ...] = (
    NullAction,
    CmdRunAction,
    IPythonRunCellAction,
    BrowseURLAction,
    BrowseInteractiveAction,
    FileReadAction,
    FileWriteAction,
    FileEditAction,
    AgentThinkAction,
    AgentFinishAction,
    AgentRejectAction,
    AgentDelegateAction,
    RecallAction,
    ChangeAgentStateAction,
    MessageAction,
    SystemMessageAction,
    CondensationAction,
    CondensationRequestAction,
    MCPAction,
    TaskTrackingAction,
    LoopRecoveryAction,
)
