"""The typed protocol models and their exact wire form (OPENHANDS_V0.md §2, §5, §9.4)."""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ohtui.protocol import (
    ActionSecurityRisk,
    AgentState,
    AgentStateChangedObservation,
    ChangeAgentStateAction,
    CmdOutputObservation,
    CmdRunAction,
    ErrorFrame,
    ErrorObservation,
    FileEditAction,
    FileEditObservation,
    ImageContent,
    InvalidEvent,
    Message,
    MessageAction,
    OpaqueEvent,
    ProtocolError,
    StatusUpdate,
    TextContent,
    event_from_dict,
    event_from_json,
    event_to_dict,
    event_to_json,
    parse_frame,
    stored_event_from_dict,
    stored_event_from_json,
)
from tests.samples import load_samples
from tests.strategies import EVENT_CLASSES, JSON_VALUES, events_of

SAMPLES = load_samples()


@pytest.mark.parametrize(("name", "data"), SAMPLES, ids=[name for name, _ in SAMPLES])
def test_sample_parses_into_its_class_and_writes_back_identically(name: str, data: dict[str, Any]) -> None:
    event = event_from_dict(copy.deepcopy(data))
    assert not isinstance(event, OpaqueEvent), name
    assert event.kind == data.get("action", data.get("observation"))
    assert json.dumps(event_to_dict(event)) == json.dumps(data)
    assert event_from_json(json.dumps(data)) == event
    assert json.loads(event_to_json(event)) == data


def test_samples_cover_every_class_they_name() -> None:
    kinds = {type(event_from_dict(data)).__name__ for _, data in SAMPLES}
    assert {"CmdRunAction", "CmdOutputObservation", "FileEditObservation", "RecallObservation"} <= kinds


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda cls: cls.__name__)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_every_class_round_trips(cls: type, data: st.DataObject) -> None:
    event = data.draw(events_of(cls))
    wire = event_to_dict(event)  # type: ignore[arg-type]
    assert event_from_dict(json.loads(json.dumps(wire))) == event
    assert event_from_json(event_to_json(event)) == event  # type: ignore[arg-type]


@settings(max_examples=400, deadline=None)
@given(value=JSON_VALUES)
def test_arbitrary_json_is_an_event_or_a_protocol_error(value: Any) -> None:
    with contextlib.suppress(ProtocolError):
        event_from_dict(value)


def _mutations() -> st.SearchStrategy[dict[str, Any]]:
    """Sample events with one key replaced by an arbitrary JSON value: close to valid, so validation is exercised."""

    def mutate(sample: dict[str, Any], where: str, key_index: int, value: Any) -> dict[str, Any]:
        event = copy.deepcopy(sample)
        target = event.get(where) if isinstance(event.get(where), dict) else event
        if target:
            keys = list(target)
            target[keys[key_index % len(keys)]] = value
        return event

    return st.builds(
        mutate,
        st.sampled_from([data for _, data in SAMPLES]),
        st.sampled_from(["args", "extras", "top"]),
        st.integers(0, 30),
        JSON_VALUES,
    )


@settings(max_examples=600, deadline=None)
@given(value=_mutations())
def test_mutated_samples_parse_or_raise_protocol_error(value: dict[str, Any]) -> None:
    try:
        event = event_from_dict(value)
    except ProtocolError as error:
        assert str(error)
    else:
        assert event_from_dict(event_to_dict(event)) == event
    with contextlib.suppress(ProtocolError):
        event_from_json(json.dumps(value))


@pytest.mark.parametrize(
    ("data", "names"),
    [
        ({"action": "run", "args": {"command": 5}}, "args.command"),
        ({"action": "run", "args": {}}, "args.command"),
        ({"action": "message", "args": {"content": "x", "wait_for_response": "yes"}}, "wait_for_response"),
        ({"id": "seven", "action": "think", "args": {}}, "id"),
        ({"observation": "run", "content": "", "extras": {"command": "ls", "metadata": []}}, "metadata"),
        ({"action": 3, "args": {}}, "action"),
        ({"content": "no type"}, "neither"),
        ([1, 2], "object"),
        ("text", "object"),
        ({"action": "change_agent_state", "args": {"agent_state": "dancing"}}, "agent_state"),
    ],
)
def test_invalid_events_raise_protocol_error_naming_the_field(data: Any, names: str) -> None:
    with pytest.raises(ProtocolError) as raised:
        event_from_dict(data)
    assert names in str(raised.value)


def test_invalid_json_text_raises_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="JSON"):
        event_from_json("{not json")
    with pytest.raises(ProtocolError, match=r"args\.command"):
        event_from_json('{"action": "run", "args": {"command": null}}')


def test_unknown_event_type_is_kept_whole_and_written_back_unchanged() -> None:
    data = {
        "id": 9,
        "timestamp": "2025-11-28T10:00:00.000000",
        "source": "agent",
        "message": "hi",
        "action": "teleport",
        "args": {"where": [1, {"x": None}]},
        "brand_new_top_level": True,
    }
    event = event_from_dict(copy.deepcopy(data))
    assert isinstance(event, OpaqueEvent)
    assert (event.kind, event.id, event.message, event.is_action) == ("teleport", 9, "hi", True)
    assert json.dumps(event_to_dict(event)) == json.dumps(data)
    assert event_from_json(json.dumps(data)) == event
    renumbered = event.model_copy(update={"id": 12})
    assert event_to_dict(renumbered)["id"] == 12


def test_unknown_observation_without_id_gets_assigned_keys_first() -> None:
    event = event_from_dict({"observation": "hologram", "content": "x", "extras": {}})
    assert isinstance(event, OpaqueEvent)
    stamped = event.model_copy(update={"id": 3, "timestamp": "2025-01-01T00:00:00.000000"})
    assert list(event_to_dict(stamped))[:3] == ["id", "timestamp", "observation"]


# OpenHands 0.62's own serializer writes this (its dataclass takes any value); so do older or newer programs.
UPSTREAM_RECALL = {
    "id": 4,
    "timestamp": "2025-11-28T10:00:00.000000",
    "source": "user",
    "message": "Retrieving content for: hello",
    "action": "recall",
    "args": {"recall_type": None, "query": "hello", "thought": ""},
}


def test_history_that_does_not_validate_is_kept_whole_and_written_back_unchanged() -> None:
    """Read leniently (a store, a replay, an import), an event of a known type whose body does not validate is kept
    as it came, says why, and serializes back to the same dict and compact text; the strict reader refuses it."""
    with pytest.raises(ProtocolError, match="recall_type"):
        event_from_dict(copy.deepcopy(UPSTREAM_RECALL))
    event = stored_event_from_dict(copy.deepcopy(UPSTREAM_RECALL))
    assert isinstance(event, InvalidEvent) and isinstance(event, OpaqueEvent)
    assert (event.kind, event.is_action, event.id) == ("recall", True, 4)
    assert event.message == "Retrieving content for: hello"
    assert event.problem.startswith("args.recall_type: ") and "got None" in event.problem
    assert json.dumps(event_to_dict(event)) == json.dumps(UPSTREAM_RECALL)
    text = json.dumps(UPSTREAM_RECALL, separators=(",", ":"))
    assert event_to_json(event) == text
    assert stored_event_from_json(text) == event
    with pytest.raises(ProtocolError):
        event_from_json(text)
    assert event_to_dict(event.model_copy(update={"id": 9}))["id"] == 9


def test_lenient_reads_take_the_strict_result_when_there_is_one() -> None:
    for _, data in SAMPLES:
        assert stored_event_from_dict(copy.deepcopy(data)) == event_from_dict(copy.deepcopy(data))
        assert stored_event_from_json(json.dumps(data)) == event_from_json(json.dumps(data))
    unknown = {"id": 1, "action": "teleport", "args": {}}
    assert type(stored_event_from_dict(unknown)) is OpaqueEvent


def test_an_envelope_that_does_not_validate_is_left_to_raw() -> None:
    data = {"id": "seven", "source": "robot", "timestamp": 5, "cause": 2, "action": "think", "args": {}}
    event = stored_event_from_dict(copy.deepcopy(data))
    assert isinstance(event, InvalidEvent) and event.problem.startswith("id: ")
    assert (event.id, event.source, event.timestamp, event.cause) == (None, None, None, 2)
    assert event_to_dict(event) == data
    unknown = stored_event_from_dict({"id": 3, "source": "robot", "observation": "hologram"})
    assert isinstance(unknown, InvalidEvent) and unknown.kind == "hologram" and "source" in unknown.problem


@pytest.mark.parametrize(
    ("data", "names"),
    [
        ([1, 2], "object"),
        ("text", "object"),
        ({"content": "no type"}, "neither"),
        ({"action": 3, "args": {}}, "action"),
        ({"observation": ["run"], "extras": {}}, "observation"),
    ],
)
def test_lenient_reads_refuse_what_is_not_event_shaped(data: Any, names: str) -> None:
    with pytest.raises(ProtocolError, match=names):
        stored_event_from_dict(data)
    with pytest.raises(ProtocolError, match=names):
        stored_event_from_json(json.dumps(data))
    with pytest.raises(ProtocolError, match="JSON"):
        stored_event_from_json('{"action": "run", "args": {')


@settings(max_examples=300, deadline=None)
@given(value=_mutations())
def test_mutated_samples_read_from_history_are_kept(value: dict[str, Any]) -> None:
    """Every event-shaped dict is read; one that does not validate writes back equal to what came in."""
    action = value.get("action")
    shaped = isinstance(action, str) if action is not None else isinstance(value.get("observation"), str)
    try:
        event = stored_event_from_dict(copy.deepcopy(value))
    except ProtocolError:
        assert not shaped
        return
    assert shaped
    if isinstance(event, OpaqueEvent):
        assert event_to_dict(event) == value
    assert stored_event_from_json(json.dumps(value)) == event


def test_unknown_fields_inside_known_types_survive() -> None:
    data = copy.deepcopy(dict(SAMPLES)["CmdOutputObservation"])
    data["extras"]["future_field"] = {"nested": [1, 2]}
    data["extras"]["metadata"]["gpu"] = "none"
    data["shiny"] = 1
    event = event_from_dict(copy.deepcopy(data))
    assert isinstance(event, CmdOutputObservation)
    assert event_to_dict(event) == data


def test_message_and_success_are_derived_not_trusted() -> None:
    data = copy.deepcopy(dict(SAMPLES)["CmdOutputObservation"])
    data["message"] = "lies"
    data["success"] = False
    data["extras"]["metadata"]["exit_code"] = 0
    event = event_from_dict(data)
    assert event.message == "Command `ls -la` executed with exit code 0."
    assert event_to_dict(event)["success"] is True
    failed = event_from_dict({**data, "extras": {**data["extras"], "metadata": {"exit_code": 2}}})
    assert event_to_dict(failed)["success"] is False


def test_a_state_change_keeps_the_message_openhands_writes_for_its_own_enum() -> None:
    """OpenHands' own code passes the enum member, and Python 3.12 formats it ``AgentState.RUNNING``; a client's
    string reads ``running``. Both write back as they came; any other message is derived."""
    data = {"id": 6, "source": "environment", "message": "Agent state changed to AgentState.RUNNING",
            "action": "change_agent_state", "args": {"agent_state": "running", "thought": ""}}  # fmt: skip
    assert event_to_dict(event_from_dict(copy.deepcopy(data))) == data
    assert event_from_json(json.dumps(data)).message == data["message"]
    for message in ("Agent state changed to AgentState.PAUSED", "lies", "Agent state changed to running"):
        event = event_from_dict({**data, "message": message})
        assert event.message == "Agent state changed to running"
    assert ChangeAgentStateAction(agent_state="running").message == "Agent state changed to running"


def test_success_key_only_on_run_observations() -> None:
    for _, data in SAMPLES:
        has_success = "success" in event_to_dict(event_from_dict(data))
        assert has_success == (data.get("observation") in ("run", "run_ipython"))


def test_events_built_in_python_take_flat_keyword_arguments() -> None:
    action = CmdRunAction(command="ls", thought="look", security_risk=ActionSecurityRisk.HIGH, timeout=30.0)
    wire = event_to_dict(action)
    assert list(wire) == ["message", "action", "args", "timeout"]
    assert wire["args"]["security_risk"] == 2
    assert wire["message"] == "Running command: ls"
    observation = ErrorObservation(content="boom", error_id="E1", cause=4)
    assert event_to_dict(observation) == {
        "message": "boom",
        "cause": 4,
        "observation": "error",
        "content": "boom",
        "extras": {"error_id": "E1"},
    }


def test_unset_top_level_values_are_left_out_but_null_args_stay() -> None:
    wire = event_to_dict(MessageAction(content="x"))
    assert "id" not in wire and "timestamp" not in wire and "timeout" not in wire
    assert wire["args"]["file_urls"] is None


def test_edit_observation_keeps_private_diff_cache_key() -> None:
    wire = event_to_dict(FileEditObservation(path="/a", content="ok"))
    assert wire["extras"]["_diff_cache"] is None
    assert list(wire["extras"])[-1] == "_diff_cache"


def test_session_close_observation_without_id_parses() -> None:
    data = {
        "message": "",
        "observation": "agent_state_changed",
        "content": "",
        "extras": {"agent_state": "stopped", "reason": ""},
    }
    event = event_from_dict(data)
    assert isinstance(event, AgentStateChangedObservation)
    assert event.agent_state is AgentState.STOPPED and event.id is None
    assert event_to_dict(event) == data


class TestLegacyInput:
    def test_init_state_reads_as_loading(self) -> None:
        event = event_from_dict(
            {"observation": "agent_state_changed", "content": "", "extras": {"agent_state": "init"}}
        )
        assert isinstance(event, AgentStateChangedObservation)
        assert event.agent_state is AgentState.LOADING

    def test_renamed_and_dropped_action_args(self) -> None:
        event = event_from_dict(
            {
                "action": "message",
                "args": {
                    "content": "hi",
                    "images_urls": ["data:x"],
                    "timestamp": "2025-11-28T10:00:00.000Z",
                    "keep_prompt": True,
                    "security_risk": 7,
                },
            }
        )
        assert isinstance(event, MessageAction)
        wire = event_to_dict(event)["args"]
        assert wire == {
            "content": "hi",
            "file_urls": None,
            "image_urls": ["data:x"],
            "wait_for_response": False,
            "security_risk": -1,
        }

    def test_is_confirmed_becomes_confirmation_state(self) -> None:
        event = event_from_dict({"action": "run", "args": {"command": "ls", "is_confirmed": "rejected"}})
        assert isinstance(event, CmdRunAction)
        assert event.args.confirmation_state == "rejected"

    def test_legacy_exit_code_and_command_id_move_into_metadata(self) -> None:
        event = event_from_dict(
            {
                "observation": "run",
                "content": "out",
                "extras": {"command": "ls", "exit_code": 3, "command_id": 42, "formatted_output_and_error": "x"},
            }
        )
        assert isinstance(event, CmdOutputObservation)
        assert (event.extras.metadata.exit_code, event.extras.metadata.pid) == (3, 42)
        assert "formatted_output_and_error" not in event_to_dict(event)["extras"]

    def test_translated_ipython_code_becomes_edit_args(self) -> None:
        code = "print(file_editor(**{'command': 'create', 'path': '/w/a.py', 'file_text': 'x = 1'}))"
        event = event_from_dict({"action": "edit", "args": {"path": "/w/a.py", "translated_ipython_code": code}})
        assert isinstance(event, FileEditAction)
        assert (event.args.command, event.args.file_text) == ("create", "x = 1")
        assert "translated_ipython_code" not in event_to_dict(event)["args"]


class TestFrames:
    def test_status_update(self) -> None:
        frame = parse_frame({"status_update": True, "type": "error", "id": "STATUS$ERROR", "message": "boom"})
        assert isinstance(frame, StatusUpdate) and frame.is_error and frame.id == "STATUS$ERROR"

    def test_title_update_has_no_id(self) -> None:
        data = {"status_update": True, "type": "info", "message": "abc", "conversation_title": "T"}
        frame = parse_frame(json.dumps(data))
        assert isinstance(frame, StatusUpdate)
        assert frame.model_dump(mode="json") == data

    def test_error_frame(self) -> None:
        frame = parse_frame({"error": True, "message": "Failed to create agent session: ValueError"})
        assert isinstance(frame, ErrorFrame) and frame.message.startswith("Failed")

    def test_event_frame(self) -> None:
        assert isinstance(parse_frame(dict(SAMPLES)["CmdOutputObservation"]), CmdOutputObservation)

    def test_an_event_frame_that_does_not_validate_is_kept(self) -> None:
        """What arrives on ``oh_event`` was sent by a server: read as history."""
        frame = parse_frame(json.dumps(UPSTREAM_RECALL))
        assert isinstance(frame, InvalidEvent) and event_to_dict(frame) == UPSTREAM_RECALL

    @pytest.mark.parametrize(
        "payload",
        [b"\xff", "[]", 5, None, {"status_update": True, "type": 3}, {"error": True}, "{", {"neither": 1}],
    )
    def test_bad_frames_raise_protocol_error(self, payload: Any) -> None:
        with pytest.raises(ProtocolError):
            parse_frame(payload)


class TestLlmMessages:
    """The five generated outputs of §5, reproduced exactly."""

    def test_default_flags_give_a_string(self) -> None:
        message = Message(
            role="user",
            content=[TextContent(text="hello"), ImageContent(image_urls=["http://x/a.png"]), TextContent(text="world")],
        )
        assert message.model_dump() == {"content": "hello\nworld", "role": "user"}

    def test_vision_with_cache_prompt(self) -> None:
        message = Message(
            role="user",
            vision_enabled=True,
            content=[
                TextContent(text="hello", cache_prompt=True),
                ImageContent(image_urls=["http://x/a.png", "http://x/b.png"], cache_prompt=True),
            ],
        )
        assert message.model_dump() == {
            "content": [
                {"type": "text", "text": "hello", "cache_control": {"type": "ephemeral"}},
                {"type": "image_url", "image_url": {"url": "http://x/a.png"}},
                {"type": "image_url", "image_url": {"url": "http://x/b.png"}, "cache_control": {"type": "ephemeral"}},
            ],
            "role": "user",
        }

    def test_cache_without_vision_drops_images(self) -> None:
        message = Message(
            role="user",
            cache_enabled=True,
            content=[TextContent(text="hello"), ImageContent(image_urls=["http://x/a.png"])],
        )
        assert message.model_dump() == {"content": [{"type": "text", "text": "hello"}], "role": "user"}

    def test_tool_role_moves_cache_control_to_the_message(self) -> None:
        message = Message(
            role="tool",
            function_calling_enabled=True,
            content=[TextContent(text="out", cache_prompt=True)],
            tool_call_id="call_1",
            name="execute_bash",
        )
        dumped = message.model_dump()
        assert json.dumps(dumped) == json.dumps(
            {
                "content": [{"type": "text", "text": "out"}],
                "role": "tool",
                "cache_control": {"type": "ephemeral"},
                "tool_call_id": "call_1",
                "name": "execute_bash",
            }
        )

    def test_force_string_serializer(self) -> None:
        message = Message(
            role="assistant",
            force_string_serializer=True,
            function_calling_enabled=True,
            content=[TextContent(text="a"), TextContent(text="b")],
        )
        assert message.model_dump() == {"content": "a\nb", "role": "assistant"}

    def test_tool_calls_are_listed(self) -> None:
        message = Message.model_validate(
            {
                "role": "assistant",
                "content": [{"text": "x"}],
                "tool_calls": [{"id": "c1", "function": {"name": "think", "arguments": "{}"}}],
            }
        )
        assert message.model_dump()["tool_calls"] == [
            {"id": "c1", "type": "function", "function": {"name": "think", "arguments": "{}"}}
        ]


def test_condensation_of_a_huge_range_has_a_short_message() -> None:
    event = event_from_dict(
        {"action": "condensation", "args": {"forgotten_events_start_id": 0, "forgotten_events_end_id": 2**62}}
    )
    assert event.message == f"Condenser is dropping the events: [0, 1, ..., {2**62}]."
    small = event_from_dict(
        {"action": "condensation", "args": {"forgotten_events_start_id": 1, "forgotten_events_end_id": 3}}
    )
    assert small.message == "Condenser is dropping the events: [1, 2, 3]."


def test_parsed_events_share_one_fields_set_per_class() -> None:
    first, second = (event_from_dict(dict(SAMPLES)["CmdOutputObservation"]) for _ in range(2))
    assert first.model_fields_set is second.model_fields_set
    assert first.extras.model_fields_set is second.extras.model_fields_set  # type: ignore[attr-defined]
    copied = first.model_copy(update={"id": 99})
    assert copied.model_fields_set is first.model_fields_set and copied.id == 99
    assert copied == first.model_copy(update={"id": 99}) and copied != first


LEGACY_INPUTS = [
    {"action": "message", "args": {"content": "hi", "images_urls": ["data:x"], "keep_prompt": True}},
    {"action": "run", "args": {"command": "ls", "is_confirmed": "rejected", "task_completed": None}},
    {"action": "run", "args": {"command": "ls", "is_confirmed": "rejected", "confirmation_state": "confirmed"}},
    {"action": "run", "args": {"command": "ls", "security_risk": 7, "timestamp": "2025-11-28T10:00:00.000Z"}},
    {"observation": "run", "content": "", "extras": {"command": "ls", "exit_code": 1, "metadata": {"pid": 5, "x": 1}}},
    {"action": "edit", "args": {"path": "/a", "translated_ipython_code": "print(file_editor(**{'command': 'view'}))"}},
]


@pytest.mark.parametrize("data", LEGACY_INPUTS, ids=lambda data: json.dumps(data)[:40])
def test_legacy_input_reads_the_same_from_json_and_from_python(data: dict[str, Any]) -> None:
    event = event_from_dict(copy.deepcopy(data))
    wire = event_to_dict(event)
    assert not set(wire.get("args", wire.get("extras", {}))) & {"images_urls", "is_confirmed", "exit_code", "timestamp"}
    assert event_from_json(json.dumps(data)) == event
    kind = {k: data[k] for k in ("action", "observation") if k in data}
    payload: dict[str, Any] = data["args"] if "args" in data else data["extras"]
    rest = {k: v for k, v in data.items() if k not in ("action", "observation", "args", "extras")}
    if not payload.keys() & type(event).model_fields.keys():  # (a legacy args timestamp is not the event's)
        assert type(event)(**rest, **payload) == event  # flat keyword arguments, legacy keys and all
        assert event_from_dict({**kind, **rest, **payload}) == event  # a flat dict too


def test_flat_wire_dicts_put_unknown_keys_into_the_payload() -> None:
    """Input without its ``args``/``extras`` key is read as flat keyword arguments (as before: unknown top-level keys
    belong to the payload), whichever function reads it."""
    cases: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({"action": "run", "command": "ls"}, {"command": "ls"}),
        ({"action": "finish", "brand_new": 1}, {"brand_new": 1}),
        ({"observation": "error", "content": "x", "error_id": "E"}, {"error_id": "E"}),
    ]
    for data, expected in cases:
        for event in (event_from_dict(copy.deepcopy(data)), event_from_json(json.dumps(data))):
            wire = event_to_dict(event)
            payload: dict[str, Any] = wire["args"] if "args" in wire else wire["extras"]
            assert expected.items() <= payload.items()
            assert event.model_extra == {}


def test_action_key_wins_over_observation_key_in_both_parsers() -> None:
    data = {"action": "run", "observation": "run", "content": "", "args": {"command": "a"}, "extras": {"command": "b"}}
    assert isinstance(event_from_dict(copy.deepcopy(data)), CmdRunAction)
    assert isinstance(event_from_json(json.dumps(data)), CmdRunAction)
    assert isinstance(event_from_json(json.dumps(data).encode()), CmdRunAction)
    assert isinstance(event_from_json(json.dumps({**data, "action": None})), CmdOutputObservation)


def test_every_parse_path_shares_the_fields_sets_and_derives_the_message() -> None:
    data = dict(SAMPLES)["CmdOutputObservation"]
    parsed = event_from_dict(data)
    for event in (
        event_from_json(json.dumps(data)),
        event_from_json(json.dumps(data).encode()),
        CmdOutputObservation(**{k: v for k, v in data.items() if k != "observation"}),
        CmdOutputObservation.model_validate(data),
        CmdOutputObservation.model_validate_json(json.dumps(data)),
    ):
        assert event == parsed and event.message == parsed.message
        assert event.model_fields_set is parsed.model_fields_set
        assert event.extras.model_fields_set is parsed.extras.model_fields_set  # type: ignore[attr-defined]


def test_summaries_pick_the_most_specific_rule_for_each_class() -> None:
    from ohtui.protocol import (
        CmdOutputObservation,
        CmdRunAction,
        CmdRunArgs,
        FileReadAction,
        FileReadArgs,
        NullObservation,
        event_from_dict,
    )
    from ohtui.protocol.summary import summary

    class ShellAction(CmdRunAction):  # a subclass takes its base's rule, not the generic one
        pass

    assert summary(CmdRunAction(args=CmdRunArgs(command="ls -la\nmore"))) == "$ ls -la"
    assert summary(ShellAction(args=CmdRunArgs(command="pwd", is_input=True))) == "⌨ pwd"
    assert summary(FileReadAction(args=FileReadArgs(path="/a.py", view_range=[3, 9]))) == "/a.py [3:9]"
    empty = NullObservation(content="")
    assert summary(empty) == empty.message == "No observation"  # no content: the (derived) message
    assert summary(NullObservation(content="  first\nsecond")) == "first"
    for name, raw in load_samples():
        event = event_from_dict(raw)
        text = summary(event)
        assert isinstance(text, str) and "\n" not in text, name
        if isinstance(event, CmdOutputObservation):
            assert text.endswith(f"→ exit {event.exit_code}"), name
