"""Event base classes shared by actions and observations (§2.1).

The models mirror the wire shape (``args`` / ``extras`` nested, top-level keys declared in upstream's order) so that
pydantic-core validates and serializes them in one pass and the key order of ``event_to_dict`` is the declaration
order. Models are frozen: an event is a fact, and a stored event is shared by every reader.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from datetime import datetime
from functools import partial
from typing import Annotated, Any, ClassVar, Self, TypeVar

from pydantic import ConfigDict, Field, PlainSerializer, model_validator

from ohtui.protocol.enums import EventSource
from ohtui.protocol.fast import FastModel, python_only_init, set_extra, set_fields_set
from ohtui.protocol.metrics import Metrics, ToolCallMetadata


class ProtocolError(ValueError):
    """Anything that is not a valid frame or event. The message names the field and the problem."""


# ``exclude_if`` of the optional top-level keys. pydantic-core calls it for each of them on every dump: a C callable
# (``operator.is_(None, value)``) costs no Python frame, where a ``def`` costs one per key, per event.
_is_none = partial(operator.is_, None)


# Enum fields: read leniently (the wire has plain strings and ints), written as their plain values. pydantic-core's
# own enum serializer reads ``.value``, a Python property: a frame per enum field, per dump. ``str``/``int`` of a
# StrEnum/IntEnum member gives the same value from C.
_Enum = TypeVar("_Enum")
StrEnumField = Annotated[
    _Enum, Field(strict=False), PlainSerializer(str, return_type=str, when_used="json-unless-none")
]
IntEnumField = Annotated[
    _Enum, Field(strict=False), PlainSerializer(int, return_type=int, when_used="json-unless-none")
]


def wire_timestamp(moment: datetime | None = None) -> str:
    """Upstream's timestamp form: naive local time, ISO 8601, always with microseconds (§2.1, §8.7)."""
    return (moment or datetime.now()).isoformat(timespec="microseconds")


class WireModel(FastModel):
    """Base of every protocol model: strict primitives, unknown keys kept for round trips (§9.4). Every parsed
    instance of a class shares its class's fields set (see ``Event._derive``)."""

    # defer_build: a class's schema is built when it is first used, not at import (about 0.3 s for all of them).
    model_config = ConfigDict(extra="allow", frozen=True, strict=True, validate_default=False, defer_build=True)


class Payload(WireModel):
    """Base of ``args`` and ``extras``: the objects that may carry legacy keys (§1.3, §2.2).

    Legacy input is rare and validation runs on every parse, so the rewriting (:meth:`upgrade`) is not part of the
    validation schema: a legacy key that validation kept as an unknown field makes the event upgrade its payload
    afterwards (``Event._derive``); input that validation rejects (an out-of-range risk) is upgraded first by the
    wire functions' general path; Python construction upgrades first (``__init__``).
    """

    legacy_keys: ClassVar[frozenset[str]] = frozenset()

    @python_only_init
    def __init__(self, /, **data: Any) -> None:
        super().__init__(**type(self).upgrade(data))

    @classmethod
    def upgrade(cls, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` in the current shape: a new dict if it had legacy keys, else ``data`` itself."""
        return data

    def has_legacy_keys(self) -> bool:
        extra = self.extra_values
        if not extra:
            return False
        return not self.legacy_keys.isdisjoint(extra)

    def upgraded(self) -> Self:
        """This payload validated again from its upgraded data: what validating the upgraded input gives."""
        given = self.model_dump(exclude_unset=True, by_alias=True)  # the fields and unknown keys it was given
        return self.model_validate(self.upgrade(given))


class Args(Payload):
    """The ``args`` object of an action."""


class Extras(Payload):
    """The ``extras`` object of an observation."""


Source = Annotated[StrEnumField[EventSource] | None, Field(exclude_if=_is_none)]


class Event(WireModel):
    """Common top-level fields. ``message`` is derived from the rest and recomputed on every parse."""

    id: int | None = Field(default=None, exclude_if=_is_none)
    timestamp: str | None = Field(default=None, exclude_if=_is_none)
    source: Source = None
    message: str = ""
    cause: int | None = Field(default=None, exclude_if=_is_none)

    # The key of the nested payload (``args``/``extras``), and whether the class derives a ``success`` key too.
    payload_key: ClassVar[str] = ""
    derives_success: ClassVar[bool] = False

    @python_only_init  # parsing never needs it
    def __init__(self, /, **data: Any) -> None:
        super().__init__(**type(self).from_keywords(data))

    @classmethod
    def model_validate(cls, obj: Any, **options: Any) -> Self:
        return super().model_validate(cls.from_keywords(obj) if type(obj) is dict else obj, **options)

    @classmethod
    def from_keywords(cls, data: dict[str, Any]) -> dict[str, Any]:
        """Keyword input (``CmdRunAction(command="ls")``): keys that are not top-level fields go into the payload,
        and a legacy payload is upgraded. Parsing does this only for input that validation alone rejects."""
        key = cls.payload_key
        if not key:
            return data
        if key not in data:
            data = _nest(data, cls.shared_fields_set, key)
        return cls.upgrade(data)

    @classmethod
    def upgrade(cls, data: dict[str, Any]) -> dict[str, Any]:
        """The event dict with its payload's legacy keys rewritten (§2.2); ``data`` itself if there were none."""
        key = cls.payload_key
        payload = data.get(key) if key else None
        if type(payload) is not dict:
            return data
        upgraded = cls.payload_class().upgrade(payload)
        return data if upgraded is payload else {**data, key: upgraded}

    @classmethod
    def payload_class(cls) -> type[Payload]:
        return Payload

    @property
    def kind(self) -> str:
        """The ``action`` or ``observation`` type string."""
        raise NotImplementedError

    @property
    def hidden(self) -> bool:
        """``args.hidden`` / ``extras.hidden`` where the type has it (read from the field values: a ``getattr`` of a
        missing attribute goes through pydantic's slow ``__getattr__``)."""
        values = self.field_values
        payload = values.get("args") or values.get("extras")
        return payload is not None and payload.field_values.get("hidden", False) is True

    def derive_message(self) -> str:
        return ""

    def derive_success(self) -> bool:
        """The ``success`` key of the classes that have one (``derives_success``)."""
        return True

    @model_validator(mode="after")
    def _derive(self) -> Self:
        """The one Python hook of a parse (a call per event, so it makes few calls of its own).

        It reads flat input and upgrades a legacy payload (both rare: a parse pays for two truth tests), writes the
        derived fields straight into the instance dict (the model is frozen), and gives the event and its payload
        their class's shared fields set. That set is a third of a parsed event's memory, and nothing in ohtui uses
        ``exclude_unset`` (the shared set names every field: ``model_dump(exclude_unset=True)`` equals
        ``model_dump()`` for events).
        """
        values = self.field_values
        key = self.payload_key
        payload = values.get(key)
        if payload is not None:
            if self.extra_values and key not in self.model_fields_set:
                values[key] = payload = self._payload_from_unknown_keys()
            elif payload.extra_values and payload.has_legacy_keys():
                values[key] = payload = payload.upgraded()
            set_fields_set(payload, payload.shared_fields_set)
        values["message"] = self.derive_message()
        if self.derives_success:
            values["success"] = self.derive_success()
        set_fields_set(self, self.shared_fields_set)
        return self

    def _payload_from_unknown_keys(self) -> Payload:
        """Input without its payload key is flat, as in :meth:`from_keywords`: its unknown top-level keys (kept as
        the event's extra fields by validation) are the payload's."""
        flat = dict(self.extra_values or {})
        set_extra(self, {})
        payload_class = self.payload_class()
        return payload_class.model_validate(payload_class.upgrade(flat))

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        copied = super().model_copy(update=update, deep=deep)
        # pydantic gave the copy (and a deep copy's payload) sets of their own: share them again.
        set_fields_set(copied, copied.shared_fields_set)
        payload = copied.field_values.get(copied.payload_key)
        if isinstance(payload, WireModel):
            set_fields_set(payload, payload.shared_fields_set)
        return copied


def _nest(data: dict[str, Any], top_fields: AbstractSet[str], key: str) -> dict[str, Any]:
    top = {k: v for k, v in data.items() if k in top_fields}
    top[key] = {k: v for k, v in data.items() if k not in top_fields}
    return top


class Action(Event):
    action: str
    tool_call_metadata: ToolCallMetadata | None = Field(default=None, exclude_if=_is_none)
    llm_metrics: Metrics | None = Field(default=None, exclude_if=_is_none)
    args: Args
    timeout: float | None = Field(default=None, exclude_if=_is_none)

    args_class: ClassVar[type[Args]] = Args
    payload_key: ClassVar[str] = "args"

    @classmethod
    def payload_class(cls) -> type[Payload]:
        return cls.args_class

    @property
    def kind(self) -> str:
        return self.action


class Observation(Event):
    observation: str
    tool_call_metadata: ToolCallMetadata | None = Field(default=None, exclude_if=_is_none)
    llm_metrics: Metrics | None = Field(default=None, exclude_if=_is_none)
    content: str = ""
    extras: Extras = Field(default_factory=Extras)

    extras_class: ClassVar[type[Extras]] = Extras
    payload_key: ClassVar[str] = "extras"

    @classmethod
    def payload_class(cls) -> type[Payload]:
        return cls.extras_class

    @property
    def kind(self) -> str:
        return self.observation

    def derive_message(self) -> str:
        return self.content
