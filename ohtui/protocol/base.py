"""Event base classes shared by actions and observations (§2.1).

The models mirror the wire shape (``args`` / ``extras`` nested, top-level keys declared in upstream's order) so that
pydantic-core validates and serializes them in one pass and the key order of ``event_to_dict`` is the declaration
order. Models are frozen: an event is a fact, and a stored event is shared by every reader.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ohtui.protocol.enums import EventSource
from ohtui.protocol.metrics import Metrics, ToolCallMetadata


class ProtocolError(ValueError):
    """Anything that is not a valid frame or event. The message names the field and the problem."""


def _is_none(value: object) -> bool:
    return value is None


def wire_timestamp(moment: datetime | None = None) -> str:
    """Upstream's timestamp form: naive local time, ISO 8601, always with microseconds (§2.1, §8.7)."""
    return (moment or datetime.now()).isoformat(timespec="microseconds")


class WireModel(BaseModel):
    """Base of every protocol model: strict primitives, unknown keys kept for round trips (§9.4)."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True, validate_default=False)


class Args(WireModel):
    """The ``args`` object of an action."""


class Extras(WireModel):
    """The ``extras`` object of an observation."""


Source = Annotated[EventSource | None, Field(strict=False, exclude_if=_is_none)]


class Event(WireModel):
    """Common top-level fields. ``message`` is derived from the rest and recomputed on every parse."""

    id: int | None = Field(default=None, exclude_if=_is_none)
    timestamp: str | None = Field(default=None, exclude_if=_is_none)
    source: Source = None
    message: str = ""
    cause: int | None = Field(default=None, exclude_if=_is_none)

    @property
    def kind(self) -> str:
        """The ``action`` or ``observation`` type string."""
        raise NotImplementedError

    @property
    def hidden(self) -> bool:
        """``args.hidden`` / ``extras.hidden`` where the type has it (read from instance dicts: a ``getattr`` of a
        missing attribute goes through pydantic's slow ``__getattr__``)."""
        payload = self.__dict__.get("args") or self.__dict__.get("extras")
        return payload is not None and payload.__dict__.get("hidden", False) is True

    def derive_message(self) -> str:
        return ""

    @model_validator(mode="after")
    def _derive(self) -> Self:
        # Frozen model: write the derived value straight into the instance dict, once, at validation.
        self.__dict__["message"] = self.derive_message()
        _share_fields_set(self)
        return self

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        copied = super().model_copy(update=update, deep=deep)
        _share_fields_set(copied)
        return copied


_SHARED_FIELDS_SETS: dict[type[BaseModel], set[str]] = {}


def _share_fields_set(event: BaseModel) -> None:
    """Give an event (and its args/extras) one shared ``__pydantic_fields_set__`` per class instead of its own.

    That set is a third of a parsed event's memory, and nothing in ohtui uses ``exclude_unset``; the shared set
    names every field, so ``model_dump(exclude_unset=True)`` equals ``model_dump()`` for events. Never mutated.
    """
    for model in (event, event.__dict__.get("args"), event.__dict__.get("extras")):
        if isinstance(model, BaseModel):
            cls = type(model)
            shared = _SHARED_FIELDS_SETS.get(cls)
            if shared is None:
                shared = _SHARED_FIELDS_SETS.setdefault(cls, set(cls.model_fields))
            object.__setattr__(model, "__pydantic_fields_set__", shared)


def _nest(data: dict[str, Any], top_fields: Mapping[str, object], key: str) -> dict[str, Any]:
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

    @model_validator(mode="before")
    @classmethod
    def _flat_args(cls, data: Any) -> Any:
        """Allow ``CmdRunAction(command="ls")``: keys that are not top-level fields go into ``args``."""
        if type(data) is dict and "args" not in data:
            return _nest(data, cls.model_fields, "args")
        return data

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

    @model_validator(mode="before")
    @classmethod
    def _flat_extras(cls, data: Any) -> Any:
        """Allow ``ErrorObservation(content="x", error_id="E")``: non-top-level keys go into ``extras``."""
        if type(data) is dict and "extras" not in data:
            return _nest(data, cls.model_fields, "extras")
        return data

    @property
    def kind(self) -> str:
        return self.observation

    def derive_message(self) -> str:
        return self.content
