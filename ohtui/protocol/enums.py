"""Enumerations of the OpenHands V0 protocol (§2.3), with the exact wire strings."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class EventSource(StrEnum):
    AGENT = "agent"
    USER = "user"
    ENVIRONMENT = "environment"


class AgentState(StrEnum):
    """The twelve agent states. The legacy frontend value ``init`` is read as ``loading``."""

    LOADING = "loading"
    RUNNING = "running"
    AWAITING_USER_INPUT = "awaiting_user_input"
    PAUSED = "paused"
    STOPPED = "stopped"
    FINISHED = "finished"
    REJECTED = "rejected"
    ERROR = "error"
    AWAITING_USER_CONFIRMATION = "awaiting_user_confirmation"
    USER_CONFIRMED = "user_confirmed"
    USER_REJECTED = "user_rejected"
    RATE_LIMITED = "rate_limited"

    @classmethod
    def _missing_(cls, value: object) -> AgentState | None:
        if value == "init":
            return cls.LOADING
        return None


class ActionConfirmationStatus(StrEnum):
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    AWAITING_CONFIRMATION = "awaiting_confirmation"


class ActionSecurityRisk(IntEnum):
    UNKNOWN = -1
    LOW = 0
    MEDIUM = 1
    HIGH = 2


class FileEditSource(StrEnum):
    LLM_BASED_EDIT = "llm_based_edit"
    OH_ACI = "oh_aci"


class FileReadSource(StrEnum):
    OH_ACI = "oh_aci"
    DEFAULT = "default"


class RecallType(StrEnum):
    WORKSPACE_CONTEXT = "workspace_context"
    KNOWLEDGE = "knowledge"


class RuntimeStatus(StrEnum):
    """Status-update ids (§1.4). Status frames may carry other ids too; this lists the known ones."""

    STOPPED = "STATUS$STOPPED"
    BUILDING_RUNTIME = "STATUS$BUILDING_RUNTIME"
    STARTING_RUNTIME = "STATUS$STARTING_RUNTIME"
    RUNTIME_STARTED = "STATUS$RUNTIME_STARTED"
    SETTING_UP_WORKSPACE = "STATUS$SETTING_UP_WORKSPACE"
    SETTING_UP_GIT_HOOKS = "STATUS$SETTING_UP_GIT_HOOKS"
    READY = "STATUS$READY"
    ERROR = "STATUS$ERROR"
    ERROR_RUNTIME_DISCONNECTED = "STATUS$ERROR_RUNTIME_DISCONNECTED"
    ERROR_LLM_AUTHENTICATION = "STATUS$ERROR_LLM_AUTHENTICATION"
    ERROR_LLM_SERVICE_UNAVAILABLE = "STATUS$ERROR_LLM_SERVICE_UNAVAILABLE"
    ERROR_LLM_INTERNAL_SERVER_ERROR = "STATUS$ERROR_LLM_INTERNAL_SERVER_ERROR"
    ERROR_LLM_OUT_OF_CREDITS = "STATUS$ERROR_LLM_OUT_OF_CREDITS"
    ERROR_LLM_CONTENT_POLICY_VIOLATION = "STATUS$ERROR_LLM_CONTENT_POLICY_VIOLATION"
    AGENT_RATE_LIMITED_STOPPED = "CHAT_INTERFACE$AGENT_RATE_LIMITED_STOPPED_MESSAGE"
    GIT_PROVIDER_AUTHENTICATION_ERROR = "STATUS$GIT_PROVIDER_AUTHENTICATION_ERROR"
    LLM_RETRY = "STATUS$LLM_RETRY"
    ERROR_MEMORY = "STATUS$ERROR_MEMORY"
