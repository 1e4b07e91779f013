"""Event (de)serialization in upstream's exact wire form (§2.1, §2.2), and frame classification (§1.4).

A dict of a known type is validated by its class's own validator, JSON text by a natively discriminated union:
either is one call into pydantic-core, with one Python hook per event (``Event._derive``). Anything they reject
takes the general path: one tagged union whose tag is ``a:<action>`` or ``o:<observation>``, which reads flat and
legacy input or explains the failure. A type that is not in the union becomes an :class:`OpaqueEvent` (§9.4).
Every failure is a :class:`ProtocolError`.

History is read leniently, input strictly: ``stored_event_from_json``/``stored_event_from_dict`` read what a server
or another program already stored (a store's rows, a replay, an import), and keep an event that does not validate
whole, as an :class:`InvalidEvent`; they refuse only what is not event-shaped at all. A user action goes through the
strict ``event_from_dict``. Both take the same fast path; leniency costs nothing until validation has failed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import Annotated, Any, Union

from pydantic import Discriminator, Field, Tag, TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError

from ohtui.protocol.actions import ACTION_CLASSES
from ohtui.protocol.base import Action, Event, Observation, ProtocolError
from ohtui.protocol.fast import json_dumpers, json_validator, python_dumpers, python_validators
from ohtui.protocol.observations import OBSERVATION_CLASSES
from ohtui.protocol.opaque import InvalidEvent, OpaqueEvent
from ohtui.protocol.status import ErrorFrame, StatusUpdate

Frame = Event | StatusUpdate | ErrorFrame


def _action_tag(cls: type[Action]) -> str:
    return "a:" + str(cls.model_fields["action"].default)


def _observation_tag(cls: type[Observation]) -> str:
    return "o:" + str(cls.model_fields["observation"].default)


ACTION_TYPES: dict[str, type[Action]] = {str(c.model_fields["action"].default): c for c in ACTION_CLASSES}
OBSERVATION_TYPES: dict[str, type[Observation]] = {
    str(c.model_fields["observation"].default): c for c in OBSERVATION_CLASSES
}
_KNOWN_TAGS = frozenset([_action_tag(c) for c in ACTION_CLASSES] + [_observation_tag(c) for c in OBSERVATION_CLASSES])


def _tag(value: Any) -> str | None:
    if isinstance(value, dict):
        action = value.get("action")
        if action is not None:
            tag = f"a:{action}" if isinstance(action, str) else None
        elif "observation" in value:
            observation = value["observation"]
            tag = f"o:{observation}" if isinstance(observation, str) else None
        else:
            return None
        return tag if tag in _KNOWN_TAGS else None
    if isinstance(value, Action):
        return _action_tag(type(value))
    if isinstance(value, Observation):
        return _observation_tag(type(value))
    return None


def _is_unknown_type(data: dict[str, Any]) -> bool:
    """An ``action``/``observation`` string this version has no class for (§9.4)."""
    if "action" in data and data["action"] is not None:
        return isinstance(data["action"], str) and "a:" + data["action"] not in _KNOWN_TAGS
    return isinstance(data.get("observation"), str) and "o:" + data["observation"] not in _KNOWN_TAGS


_ENVELOPE = ("id", "timestamp", "source", "cause")


def _opaque(data: dict[str, Any]) -> OpaqueEvent:
    fields = {k: data[k] for k in _ENVELOPE if k in data}
    return OpaqueEvent.model_validate({**fields, "raw": data})


def _is_event_shaped(data: Any) -> bool:
    """A JSON object with an ``action`` string, or else an ``observation`` string: what a lenient read keeps."""
    if not isinstance(data, dict):
        return False
    action = data.get("action")
    if action is not None:
        return isinstance(action, str)
    return isinstance(data.get("observation"), str)


def _kept_invalid(data: dict[str, Any], problem: str) -> InvalidEvent:
    """``data`` kept whole. Envelope fields that do not validate either are left to ``raw`` alone (which keeps
    them as they came): the event then has no ``id`` (or timestamp, source, cause) of its own."""
    prefix = f"{data.get('action') or data.get('observation')} "
    if problem.startswith(prefix):
        problem = problem[len(prefix) :]  # the kind is the event's own; the problem is the rest
    values = {**{k: data[k] for k in _ENVELOPE if k in data}, "raw": data, "problem": problem}
    try:
        return InvalidEvent.model_validate(values)
    except ValidationError as error:
        bad = {str(detail["loc"][0]) for detail in error.errors(include_url=False) if detail["loc"]}
        if bad & {"raw", "problem"}:
            raise ProtocolError(f"invalid event: {problem}") from None
    return InvalidEvent.model_validate({k: v for k, v in values.items() if k not in bad})


_members = [Annotated[c, Tag(_action_tag(c))] for c in ACTION_CLASSES]
_members += [Annotated[c, Tag(_observation_tag(c))] for c in OBSERVATION_CLASSES]
_EVENT_TYPE: Any = Annotated[Union[tuple(_members)], Discriminator(_tag)]  # noqa: UP007


@cache
def _event_adapter() -> TypeAdapter[Event]:
    """Built on first use, like the models (``defer_build``): building every event schema is most of the import
    time, and a client that only ever sees a few event types builds only theirs."""
    return TypeAdapter(_EVENT_TYPE)


# The JSON fast path: a union of two tagged unions with native string discriminators, resolved inside pydantic-core
# (the callable discriminator above makes it build Python objects first). Its errors mix both branches, so any
# failure is re-validated by the precise adapter, which explains it (or finds an unknown, opaque type).
_FAST_TYPE: Any = Annotated[
    Union[  # noqa: UP007
        Annotated[Union[ACTION_CLASSES], Field(discriminator="action")],  # noqa: UP007
        Annotated[Union[OBSERVATION_CLASSES], Field(discriminator="observation")],  # noqa: UP007
    ],
    Field(union_mode="left_to_right"),
]


@cache
def _fast_validate_json() -> Callable[[str | bytes], Event]:
    return json_validator(TypeAdapter(_FAST_TYPE))


def _describe(error: ValidationError, data: Any) -> str:
    """One line naming the field and the problem, without pydantic's union plumbing."""
    details = error.errors(include_url=False)
    if not details:
        return str(error)
    first = details[0]
    if first["type"] == "union_tag_not_found" or first["type"] == "union_tag_invalid":
        if not isinstance(data, dict):
            return f"an event must be a JSON object, got {type(data).__name__}"
        for key in ("action", "observation"):
            if key in data and not isinstance(data[key], str):
                return f"{key}: must be a string, got {type(data[key]).__name__}"
        return "not an event: it has neither an 'action' nor an 'observation' key"
    location = [str(part) for part in first["loc"]]
    kind = location.pop(0) if location and location[0][:2] in ("a:", "o:") else ""
    if location and location[0] == "raw":
        location.pop(0)
    field = ".".join(location) or "event"
    shown = repr(first.get("input"))
    if len(shown) > 80:
        shown = shown[:77] + "..."
    what = f"{kind[2:]} " if kind[:2] in ("a:", "o:") else ""
    extra = f" ({len(details) - 1} more)" if len(details) > 1 else ""
    return f"{what}{field}: {first['msg']}, got {shown}{extra}"


def _known_class(data: dict[str, Any]) -> type[Event] | None:
    """The class of a known ``action``/``observation`` type (the same choice as the tag of the precise adapter)."""
    action = data.get("action")
    if action is not None:
        return ACTION_TYPES.get(action) if isinstance(action, str) else None
    observation = data.get("observation")
    return OBSERVATION_TYPES.get(observation) if isinstance(observation, str) else None


def event_from_dict(data: Any) -> Event:
    """Parse one event dict (current or legacy form, §2.2). Raises :class:`ProtocolError` on anything else.

    The common case, a current event of a known type, is one call into pydantic-core (the class's validator, picked
    here: no discriminator in between); anything else (invalid, unknown types) takes the general path.
    """
    return _from_dict(data, _event_from_dict_general)


def _from_dict(data: Any, general: Callable[[Any], Event]) -> Event:
    cls = _known_class(data) if isinstance(data, dict) else None
    if cls is not None:
        try:
            return python_validators[cls](data)
        except (ValueError, TypeError, RecursionError):
            pass  # a ValidationError (or worse): the general path reads input that validation alone cannot (flat,
            # legacy) or explains the problem
    return general(data)


def _from_json(text: str | bytes, general: Callable[[Any], Event]) -> Event:
    try:
        return _fast_validate_json()(text)
    except ValidationError:
        pass
    # Anything else (invalid, flat or legacy input validation alone cannot read, unknown types): the general path.
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise ProtocolError(f"invalid JSON: {error}") from None
    return general(data)


def _event_from_dict_general(data: Any) -> Event:
    """Unknown types become opaque (§9.4), legacy shapes are upgraded (§2.2), failures become a ProtocolError."""
    try:
        if isinstance(data, dict):
            if _is_unknown_type(data):
                return _opaque(data)
            cls = _known_class(data)
            if cls is not None:
                data = cls.from_keywords(data)  # flat or legacy input, read as from Python
        return _event_adapter().validate_python(data)
    except ValidationError as error:
        raise ProtocolError(_describe(error, data)) from None
    except (TypeError, ValueError, RecursionError) as error:
        raise ProtocolError(f"invalid event: {error}") from None


def event_from_json(text: str | bytes) -> Event:
    """Parse one event from JSON text; the fast path (pydantic-core parses and validates in one pass)."""
    return _from_json(text, _event_from_dict_general)


def stored_event_from_dict(data: Any) -> Event:
    """:func:`event_from_dict` for history (a store, a replay, an import): an event-shaped dict that does not
    validate is kept whole as an :class:`InvalidEvent`. Raises :class:`ProtocolError` only for what is not
    event-shaped (not a dict, no ``action``/``observation`` string)."""
    return _from_dict(data, _stored_from_dict_general)


def _stored_from_dict_general(data: Any) -> Event:
    try:
        return _event_from_dict_general(data)
    except ProtocolError as error:
        if not _is_event_shaped(data):
            raise
        return _kept_invalid(data, str(error))


def stored_event_from_json(text: str | bytes) -> Event:
    """:func:`event_from_json` for history: see :func:`stored_event_from_dict`. Invalid JSON, or JSON that is not
    event-shaped, still raises :class:`ProtocolError`."""
    return _from_json(text, _stored_from_dict_general)


def event_to_dict(event: Event) -> dict[str, Any]:
    """The upstream dict: keys in §2.1 order, unset top-level values left out, enums as plain values."""
    try:
        return python_dumpers[type(event)](event, mode="json")
    except PydanticSerializationError as error:
        raise ProtocolError(f"cannot serialize {type(event).__name__}: {error}") from None


def event_to_json(event: Event) -> str:
    """Compact JSON text of :func:`event_to_dict`, serialized by pydantic-core."""
    try:
        return json_dumpers[type(event)](event).decode()
    except PydanticSerializationError as error:
        raise ProtocolError(f"cannot serialize {type(event).__name__}: {error}") from None


def parse_frame(payload: Any) -> Frame:
    """Tell apart the three things that arrive on ``oh_event``: an event, a status update, an error frame. An event
    here is one a server sent (stored or live), so it is read leniently (:func:`stored_event_from_dict`)."""
    if isinstance(payload, (str, bytes, bytearray)):
        try:
            payload = json.loads(payload)
        except (ValueError, RecursionError) as error:
            raise ProtocolError(f"invalid JSON: {error}") from None
    if not isinstance(payload, dict):
        raise ProtocolError(f"a frame must be a JSON object, got {type(payload).__name__}")
    if "status_update" in payload:
        return _validate_plain(StatusUpdate, payload)
    if payload.get("error") is True and "action" not in payload and "observation" not in payload:
        return _validate_plain(ErrorFrame, payload)
    return stored_event_from_dict(payload)


def _validate_plain(cls: type[StatusUpdate] | type[ErrorFrame], payload: dict[str, Any]) -> Frame:
    try:
        return cls.model_validate(payload)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        field = ".".join(str(part) for part in first["loc"]) or "frame"
        raise ProtocolError(f"{cls.__name__}: {field}: {first['msg']}") from None


def frame_to_dict(frame: Frame) -> dict[str, Any]:
    return frame.model_dump(mode="json")
