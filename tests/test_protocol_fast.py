"""ohtui/protocol/fast.py against pydantic's public API: each shortcut into pydantic's internals gives what the public
call it replaces gives, so a pydantic release that changes an internal fails here first."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ConfigDict, PrivateAttr, TypeAdapter

from ohtui.protocol import CmdRunAction, Event, event_from_dict
from ohtui.protocol.fast import (
    FastModel,
    copy_with_values,
    json_dumpers,
    json_validator,
    python_dumpers,
    python_only_init,
    python_validators,
    set_extra,
    set_fields_set,
)
from tests.samples import load_samples

EVENTS = [event_from_dict(data) for _, data in load_samples()]


class Point(FastModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    x: int
    y: int = 0
    _note: str = PrivateAttr(default="")


def test_field_values_and_extra_values_are_the_instance_dict_and_model_extra() -> None:
    point = Point.model_validate({"x": 1, "z": 3})
    assert point.field_values == {"x": 1, "y": 0} and point.field_values is point.__dict__
    assert point.extra_values == point.model_extra == {"z": 3}
    assert Point(x=1).extra_values == {}
    for event in EVENTS:
        assert event.field_values == {name: getattr(event, name) for name in type(event).model_fields}


def test_slot_setters_write_a_frozen_model() -> None:
    point = Point(x=1)
    shared = {"x", "y"}
    set_fields_set(point, shared)
    assert point.model_fields_set is shared
    set_extra(point, {"w": 4})
    assert point.model_extra == {"w": 4}


def test_shared_fields_set_names_every_field_of_each_class() -> None:
    assert Point.shared_fields_set == {"x", "y"}
    for event in EVENTS:
        assert type(event).shared_fields_set == set(type(event).model_fields)
        assert event.model_fields_set is type(event).shared_fields_set


@pytest.mark.parametrize("event", EVENTS, ids=lambda event: type(event).__name__)
def test_copy_with_values_is_model_copy_with_an_update(event: Event) -> None:
    update = {"id": 7, "timestamp": "2025-01-01T00:00:00.000000"}
    fast = copy_with_values(event, {**event.field_values, **update}, frozenset(update))
    slow = event.model_copy(update=update)
    assert type(fast) is type(slow) and fast == slow
    assert fast.model_fields_set == slow.model_fields_set and fast.model_extra == slow.model_extra
    assert json_dumpers[type(fast)](fast) == slow.model_dump_json().encode()


def test_copy_with_values_keeps_private_and_extra_values() -> None:
    point = Point.model_validate({"x": 1, "z": 3})
    point._note = "kept"
    copied = copy_with_values(point, {"x": 2, "y": 0})
    assert copied == point.model_copy(update={"x": 2}) and copied._note == "kept" and copied.model_extra == {"z": 3}
    assert copied.model_fields_set == point.model_fields_set


def test_validators_and_serializers_match_the_public_calls() -> None:
    data = {"action": "run", "args": {"command": "ls"}, "id": 3}
    assert python_validators[CmdRunAction](data) == CmdRunAction.model_validate(data)
    for event in EVENTS:
        assert python_dumpers[type(event)](event, mode="json") == event.model_dump(mode="json")
        assert json_dumpers[type(event)](event) == event.model_dump_json().encode()
    adapter = TypeAdapter(Point)
    assert json_validator(adapter)('{"x": 1}') == adapter.validate_json('{"x": 1}')


def test_a_class_first_used_through_the_per_class_methods_is_built_then() -> None:
    class Deferred(FastModel):  # FastModel defers the build to the first use
        x: int

    parsed = python_validators[Deferred]({"x": 1})
    assert parsed == Deferred(x=1) and json_dumpers[Deferred](parsed) == b'{"x":1}'
    assert python_validators[Deferred] is python_validators[Deferred]


def test_python_only_init_runs_for_python_construction_and_not_for_validation() -> None:
    calls: list[dict[str, Any]] = []

    class Counted(FastModel):
        x: int

        @python_only_init
        def __init__(self, /, **data: Any) -> None:
            calls.append(data)
            super().__init__(**data)

    Counted(x=1)
    assert calls == [{"x": 1}]
    assert Counted.model_validate({"x": 2}).x == 2 and Counted.model_validate_json('{"x": 3}').x == 3
    assert calls == [{"x": 1}]
