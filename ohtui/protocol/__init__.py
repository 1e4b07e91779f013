"""Typed messages of the OpenHands V0 protocol and their wire form. Pure: no I/O, no other ohtui imports."""

from ohtui.protocol import actions as _actions
from ohtui.protocol import enums as _enums
from ohtui.protocol import observations as _observations
from ohtui.protocol.actions import *  # noqa: F403
from ohtui.protocol.base import Action, Args, Event, Extras, Observation, ProtocolError, wire_timestamp
from ohtui.protocol.enums import *  # noqa: F403
from ohtui.protocol.llm import ImageContent, Message, TextContent, ToolCall, ToolCallFunction
from ohtui.protocol.metrics import Cost, Metrics, ResponseLatency, TokenUsage, ToolCallMetadata
from ohtui.protocol.observations import *  # noqa: F403
from ohtui.protocol.opaque import InvalidEvent, OpaqueEvent
from ohtui.protocol.status import ErrorFrame, StatusUpdate
from ohtui.protocol.wire import (
    ACTION_TYPES,
    OBSERVATION_TYPES,
    Frame,
    event_from_dict,
    event_from_json,
    event_to_dict,
    event_to_json,
    frame_to_dict,
    parse_frame,
    stored_event_from_dict,
    stored_event_from_json,
)

__all__ = [
    "ACTION_TYPES",
    "OBSERVATION_TYPES",
    "Action",
    "Args",
    "Cost",
    "ErrorFrame",
    "Event",
    "Extras",
    "Frame",
    "ImageContent",
    "InvalidEvent",
    "Message",
    "Metrics",
    "Observation",
    "OpaqueEvent",
    "ProtocolError",
    "ResponseLatency",
    "StatusUpdate",
    "TextContent",
    "TokenUsage",
    "ToolCall",
    "ToolCallFunction",
    "ToolCallMetadata",
    "event_from_dict",
    "event_from_json",
    "event_to_dict",
    "event_to_json",
    "frame_to_dict",
    "parse_frame",
    "stored_event_from_dict",
    "stored_event_from_json",
    "wire_timestamp",
]
__all__ += [name for name in dir(_actions) if name.endswith(("Action", "Args", "CLASSES"))]
__all__ += [name for name in dir(_observations) if name[0].isupper() or name == "truncate_middle"]
__all__ += [name for name in dir(_enums) if name[0].isupper() and name not in ("IntEnum", "StrEnum")]
