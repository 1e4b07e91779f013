"""Observation classes (§2.5): exact extras, content and messages."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from ohtui.protocol.base import Extras, Observation, StrEnumField, WireModel
from ohtui.protocol.enums import AgentState, FileEditSource, FileReadSource, RecallType

JsonDict = dict[str, Any]
TRUNCATION_NOTICE = "\n[... Observation truncated due to length ...]\n"
MAX_CMD_OUTPUT_SIZE = 30_000


def truncate_middle(content: str, limit: int = MAX_CMD_OUTPUT_SIZE) -> str:
    """Upstream's middle cut for long command output: keep the head and the tail."""
    if len(content) <= limit:
        return content
    half = limit // 2
    return content[:half] + TRUNCATION_NOTICE + content[-half:]


class CmdOutputMetadata(WireModel):
    exit_code: int = -1
    pid: int = -1
    username: str | None = None
    hostname: str | None = None
    working_dir: str | None = None
    py_interpreter_path: str | None = None
    prefix: str = ""
    suffix: str = ""


class CmdOutputExtras(Extras):
    command: str
    metadata: CmdOutputMetadata = Field(default_factory=CmdOutputMetadata)
    hidden: bool = False

    legacy_keys: ClassVar[frozenset[str]] = frozenset({"exit_code", "command_id", "formatted_output_and_error"})

    @classmethod
    def upgrade(cls, data: dict[str, Any]) -> dict[str, Any]:
        """Old events carry ``exit_code``/``command_id`` beside ``metadata`` (§2.2)."""
        if cls.legacy_keys.isdisjoint(data):
            return data
        data = dict(data)
        data.pop("formatted_output_and_error", None)
        metadata = data.get("metadata")
        metadata = dict(metadata) if isinstance(metadata, dict) else {}
        if "exit_code" in data:
            metadata["exit_code"] = data.pop("exit_code")
        if "command_id" in data:
            metadata["pid"] = data.pop("command_id")
        data["metadata"] = metadata
        return data


class _SuccessObservation(Observation):
    """Run observations end with a derived ``success`` key (§2.1)."""

    success: bool = False
    derives_success: ClassVar[bool] = True


class CmdOutputObservation(_SuccessObservation):
    observation: Literal["run"] = "run"
    extras: CmdOutputExtras
    extras_class: ClassVar[type[Extras]] = CmdOutputExtras

    @property
    def exit_code(self) -> int:
        return self.extras.metadata.exit_code

    def derive_message(self) -> str:
        return f"Command `{self.extras.command}` executed with exit code {self.exit_code}."

    def derive_success(self) -> bool:
        return self.exit_code == 0


class IPythonRunCellExtras(Extras):
    code: str
    image_urls: list[str] | None = None


class IPythonRunCellObservation(_SuccessObservation):
    observation: Literal["run_ipython"] = "run_ipython"
    extras: IPythonRunCellExtras
    extras_class: ClassVar[type[Extras]] = IPythonRunCellExtras

    def derive_message(self) -> str:
        return "Code executed in IPython cell."


class FileReadExtras(Extras):
    path: str
    impl_source: StrEnumField[FileReadSource] = FileReadSource.DEFAULT


class FileReadObservation(Observation):
    observation: Literal["read"] = "read"
    extras: FileReadExtras
    extras_class: ClassVar[type[Extras]] = FileReadExtras

    def derive_message(self) -> str:
        return f"I read the file {self.extras.path}."


class FileWriteExtras(Extras):
    path: str


class FileWriteObservation(Observation):
    observation: Literal["write"] = "write"
    extras: FileWriteExtras
    extras_class: ClassVar[type[Extras]] = FileWriteExtras

    def derive_message(self) -> str:
        return f"I wrote to the file {self.extras.path}."


class FileEditExtras(Extras):
    path: str = ""
    prev_exist: bool = False
    old_content: str | None = None
    new_content: str | None = None
    impl_source: StrEnumField[FileEditSource] = FileEditSource.LLM_BASED_EDIT
    diff: str | None = None
    # Upstream's private dataclass field leaks into extras as ``_diff_cache`` (§2.5); keep it for parity.
    diff_cache: str | None = Field(default=None, alias="_diff_cache")

    model_config = Extras.model_config | {"validate_by_name": True, "serialize_by_alias": True}


class FileEditObservation(Observation):
    observation: Literal["edit"] = "edit"
    extras: FileEditExtras = Field(default_factory=FileEditExtras)
    extras_class: ClassVar[type[Extras]] = FileEditExtras

    def derive_message(self) -> str:
        return f"I edited the file {self.extras.path}."


class BrowserOutputExtras(Extras):
    url: str
    trigger_by_action: str
    screenshot: str = ""
    screenshot_path: str | None = None
    set_of_marks: str = ""
    error: bool = False
    goal_image_urls: list[Any] = Field(default_factory=list)
    open_pages_urls: list[Any] = Field(default_factory=list)
    active_page_index: int = -1
    dom_object: JsonDict = Field(default_factory=dict)
    axtree_object: JsonDict = Field(default_factory=dict)
    extra_element_properties: JsonDict = Field(default_factory=dict)
    last_browser_action: str = ""
    last_browser_action_error: str = ""
    focused_element_bid: str = ""
    filter_visible_only: bool = False


class BrowserOutputObservation(Observation):
    observation: Literal["browse"] = "browse"
    extras: BrowserOutputExtras
    extras_class: ClassVar[type[Extras]] = BrowserOutputExtras

    def derive_message(self) -> str:
        return f"Visited {self.extras.url}"


class AgentThinkObservation(Observation):
    observation: Literal["think"] = "think"


class AgentStateChangedExtras(Extras):
    agent_state: StrEnumField[AgentState]
    reason: str = ""


class AgentStateChangedObservation(Observation):
    observation: Literal["agent_state_changed"] = "agent_state_changed"
    extras: AgentStateChangedExtras
    extras_class: ClassVar[type[Extras]] = AgentStateChangedExtras

    @property
    def agent_state(self) -> AgentState:
        return self.extras.agent_state

    def derive_message(self) -> str:
        return ""


class MicroagentKnowledge(WireModel):
    name: str
    trigger: str
    content: str


class RecallExtras(Extras):
    recall_type: StrEnumField[RecallType]
    repo_name: str = ""
    repo_directory: str = ""
    repo_branch: str = ""
    repo_instructions: str = ""
    runtime_hosts: dict[str, int] = Field(default_factory=dict)
    additional_agent_instructions: str = ""
    date: str = ""
    custom_secrets_descriptions: dict[str, str] = Field(default_factory=dict)
    conversation_instructions: str = ""
    working_dir: str = ""
    microagent_knowledge: list[MicroagentKnowledge] = Field(default_factory=list)


class RecallObservation(Observation):
    observation: Literal["recall"] = "recall"
    extras: RecallExtras
    extras_class: ClassVar[type[Extras]] = RecallExtras

    def derive_message(self) -> str:
        if self.extras.recall_type is RecallType.WORKSPACE_CONTEXT:
            return "Added workspace context"
        return "Added microagent knowledge"


class MCPExtras(Extras):
    name: str = ""
    arguments: JsonDict = Field(default_factory=dict)


class MCPObservation(Observation):
    observation: Literal["mcp"] = "mcp"
    extras: MCPExtras = Field(default_factory=MCPExtras)
    extras_class: ClassVar[type[Extras]] = MCPExtras


class ErrorExtras(Extras):
    error_id: str = ""


class ErrorObservation(Observation):
    observation: Literal["error"] = "error"
    extras: ErrorExtras = Field(default_factory=ErrorExtras)
    extras_class: ClassVar[type[Extras]] = ErrorExtras


class UserRejectObservation(Observation):
    observation: Literal["user_rejected"] = "user_rejected"


class SuccessObservation(Observation):
    observation: Literal["success"] = "success"


class NullObservation(Observation):
    observation: Literal["null"] = "null"

    def derive_message(self) -> str:
        return "No observation"


class AgentDelegateExtras(Extras):
    outputs: JsonDict


class AgentDelegateObservation(Observation):
    observation: Literal["delegate"] = "delegate"
    extras: AgentDelegateExtras
    extras_class: ClassVar[type[Extras]] = AgentDelegateExtras

    def derive_message(self) -> str:
        return ""


class AgentCondensationObservation(Observation):
    observation: Literal["condense"] = "condense"


class FileDownloadExtras(Extras):
    file_path: str


class FileDownloadObservation(Observation):
    observation: Literal["download"] = "download"
    extras: FileDownloadExtras
    extras_class: ClassVar[type[Extras]] = FileDownloadExtras

    def derive_message(self) -> str:
        return f"Downloaded the file at location: {self.extras.file_path}"


class TaskTrackingExtras(Extras):
    command: str = ""
    task_list: list[JsonDict] = Field(default_factory=list)


class TaskTrackingObservation(Observation):
    observation: Literal["task_tracking"] = "task_tracking"
    extras: TaskTrackingExtras = Field(default_factory=TaskTrackingExtras)
    extras_class: ClassVar[type[Extras]] = TaskTrackingExtras


class LoopDetectionObservation(Observation):
    observation: Literal["loop_detection"] = "loop_detection"

    def derive_message(self) -> str:
        return ""


class UndeliveredExtras(Extras):
    event_bytes: int = 0
    limit: int = 0


class UndeliveredObservation(Observation):
    """An ohtui extension: stands in for a stored event too large for one socket message (§9), sent in its place
    (with its id) to ohtui's clients, which store it as the record of a known gap. Stock clients never get it."""

    observation: Literal["ohtui_undelivered"] = "ohtui_undelivered"
    extras: UndeliveredExtras = Field(default_factory=UndeliveredExtras)
    extras_class: ClassVar[type[Extras]] = UndeliveredExtras


OBSERVATION_CLASSES: tuple[type[Observation], ...] = (
    NullObservation,
    CmdOutputObservation,
    IPythonRunCellObservation,
    BrowserOutputObservation,
    FileReadObservation,
    FileWriteObservation,
    FileEditObservation,
    AgentDelegateObservation,
    SuccessObservation,
    ErrorObservation,
    AgentStateChangedObservation,
    UserRejectObservation,
    AgentCondensationObservation,
    AgentThinkObservation,
    RecallObservation,
    MCPObservation,
    FileDownloadObservation,
    TaskTrackingObservation,
    LoopDetectionObservation,
    UndeliveredObservation,
)
