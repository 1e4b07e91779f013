"""Hypothesis strategies built from the protocol models' own annotations, so every class and field is covered."""

from __future__ import annotations

import enum
import types
import typing
from datetime import datetime
from typing import Any

from hypothesis import strategies as st
from pydantic import BaseModel

from ohtui.protocol import ACTION_TYPES, OBSERVATION_TYPES, Action, Event, Observation

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
TEXT = st.text(max_size=40)
JSON_SCALARS = st.none() | st.booleans() | INT64 | FLOATS | TEXT
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
TIMESTAMPS = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1)).map(
    lambda value: value.isoformat(timespec="microseconds")
)
DERIVED = frozenset({"message", "success"})


def for_annotation(annotation: Any) -> st.SearchStrategy[Any]:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return for_annotation(args[0])
    if origin in (typing.Union, types.UnionType):
        return st.one_of([for_annotation(arg) for arg in args])
    if origin is typing.Literal:
        return st.sampled_from(args)
    if origin is list:
        return st.lists(for_annotation(args[0]), max_size=3)
    if origin is dict:
        return st.dictionaries(for_annotation(args[0]), for_annotation(args[1]), max_size=3)
    if annotation is type(None):
        return st.none()
    if annotation is Any:
        return JSON_VALUES
    if annotation is str:
        return TEXT
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        return INT64
    if annotation is float:
        return FLOATS
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return st.sampled_from(list(annotation))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return model_instances(annotation)
    raise NotImplementedError(f"no strategy for {annotation!r}")


@st.composite
def model_instances(draw: st.DrawFn, cls: type[BaseModel]) -> BaseModel:
    values: dict[str, Any] = {}
    for name, field in cls.model_fields.items():
        if name in DERIVED or name in ("action", "observation"):
            continue
        if name == "timestamp" and issubclass(cls, Event):
            strategy = st.none() | TIMESTAMPS
        elif name in ("id", "cause"):
            strategy = st.none() | st.integers(min_value=0, max_value=2**62)
        else:
            strategy = for_annotation(field.annotation)
        if field.is_required() or draw(st.booleans()):
            values[field.alias or name] = draw(strategy)
    return cls.model_validate(values)


EVENT_CLASSES: list[type[Event]] = [*ACTION_TYPES.values(), *OBSERVATION_TYPES.values()]


def events_of(cls: type[Event]) -> st.SearchStrategy[BaseModel]:
    return model_instances(cls)


def any_event() -> st.SearchStrategy[BaseModel]:
    return st.one_of([events_of(cls) for cls in EVENT_CLASSES])


__all__ = ["EVENT_CLASSES", "JSON_VALUES", "Action", "Observation", "any_event", "events_of"]
