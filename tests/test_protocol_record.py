"""EventRecord: the envelope read from the text agrees with the model, and the body is parsed only when used."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings

from ohtui.protocol import (
    Event,
    EventSource,
    InvalidEvent,
    MessageAction,
    ProtocolError,
    event_from_dict,
    event_to_json,
)
from ohtui.protocol.record import EventRecord
from tests.samples import load_samples
from tests.strategies import any_event

FIELDS = ("id", "kind", "is_action", "source", "cause", "timestamp", "has_metrics", "details")


def _agree(text: str, event: Event) -> None:
    from_text, from_model = EventRecord.from_json(text), EventRecord.from_event(event, text)
    for field in FIELDS:
        assert getattr(from_text, field) == getattr(from_model, field), (field, text[:200])
    assert from_text.event == event


def test_every_sample_event_reads_the_same_from_its_text_and_its_model() -> None:
    for _, data in load_samples():
        event = event_from_dict(data)
        _agree(event_to_json(event), event)


@settings(max_examples=300, deadline=None)
@given(event=any_event())
def test_any_event_reads_the_same_from_its_text_and_its_model(event: Event) -> None:
    _agree(event_to_json(event), event)


def test_the_body_is_parsed_only_when_asked_for_and_can_be_dropped() -> None:
    text = event_to_json(MessageAction(id=3, source=EventSource.USER, content="hello"))
    record = EventRecord.from_json(text)
    assert record.parsed is None and (record.id, record.kind, record.source) == (3, "message", EventSource.USER)
    assert isinstance(record.event, MessageAction) and record.parsed is not None
    record.forget_event()
    assert record.parsed is None and record.json == text


def test_a_body_that_does_not_validate_is_kept_and_read_as_invalid() -> None:
    text = json.dumps({"id": 4, "source": "agent", "action": "message", "args": {"content": 5}})
    record = EventRecord.from_json(text)
    assert (record.id, record.kind, record.is_action) == (4, "message", True)
    assert isinstance(record.event, InvalidEvent) and "content" in record.event.problem


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '{"id": 1}', '{"id": 1, "action": 7}'])
def test_what_has_no_envelope_is_refused(text: str) -> None:
    with pytest.raises(ProtocolError):
        EventRecord.from_json(text)


def test_an_odd_envelope_takes_the_lenient_path() -> None:
    text = json.dumps({"id": "7", "source": "robot", "observation": "null", "content": "", "extras": {}})
    record = EventRecord.from_json(text)
    assert record.kind == "null" and not record.is_action and record.parsed is not None
