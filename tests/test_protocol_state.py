"""The conversation-state reducer and the agent-state rules: pure, no App, no I/O."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ohtui.protocol import (
    ActionConfirmationStatus,
    AgentState,
    AgentStateChangedObservation,
    CmdRunAction,
    ErrorObservation,
    EventSource,
    FileEditAction,
    MessageAction,
    Metrics,
    StatusUpdate,
)
from ohtui.protocol.rules import USER_TRANSITIONS, awaits_confirmation, can_stop, pause_or_resume, refusal
from ohtui.protocol.state import Approvals, ConversationState

ENV, AGENT = EventSource.ENVIRONMENT, EventSource.AGENT


def _state(value: AgentState, event_id: int, reason: str = "") -> AgentStateChangedObservation:
    return AgentStateChangedObservation(id=event_id, source=ENV, agent_state=value, reason=reason)


def _run(event_id: int, confirmation: ActionConfirmationStatus) -> CmdRunAction:
    return CmdRunAction(id=event_id, source=AGENT, command="ls", confirmation_state=confirmation)


def _metrics(cost: float) -> Metrics:
    return Metrics.model_validate({"accumulated_cost": cost})


def test_the_newest_state_wins_whatever_arrives_late() -> None:
    state = ConversationState()
    assert state.apply(_state(AgentState.RUNNING, 5))
    assert not state.apply(_state(AgentState.LOADING, 2))  # a gap repair's old event
    assert state.agent_state is AgentState.RUNNING
    state.apply(_state(AgentState.AWAITING_USER_INPUT, 9, "done"))
    assert (state.agent_state, state.reason) == (AgentState.AWAITING_USER_INPUT, "done")


def test_a_pending_action_awaits_confirmation_until_answered_or_the_state_moves_on() -> None:
    state = ConversationState()
    state.apply(_state(AgentState.AWAITING_USER_CONFIRMATION, 3))
    action = _run(4, ActionConfirmationStatus.AWAITING_CONFIRMATION)
    state.apply(action)
    assert state.pending == action and state.awaiting_confirmation
    assert state.approvals is Approvals.ASK
    state.apply(_run(5, ActionConfirmationStatus.CONFIRMED))
    assert state.pending is None and not state.awaiting_confirmation


def test_an_action_without_a_confirmation_field_is_the_one_awaited_after_the_state() -> None:
    state = ConversationState()
    state.apply(_state(AgentState.AWAITING_USER_CONFIRMATION, 3))
    edit = FileEditAction(id=4, source=AGENT, path="a.txt", command="create", file_text="x")
    state.apply(edit)
    assert state.pending == edit
    state.apply(_state(AgentState.RUNNING, 6))
    assert state.pending is None


def test_metrics_title_and_errors() -> None:
    state = ConversationState()
    state.apply(MessageAction(id=7, source=AGENT, content="hi", llm_metrics=_metrics(0.5)))
    state.apply(MessageAction(id=3, source=AGENT, content="older", llm_metrics=_metrics(0.1)))
    assert state.metrics is not None and state.metrics.accumulated_cost == 0.5
    assert state.apply_status(StatusUpdate(message="c", conversation_title="Fix the bug"))
    assert not state.apply_status(StatusUpdate(id="STATUS$READY"))
    assert state.title == "Fix the bug"
    state.apply(_state(AgentState.ERROR, 8))
    state.apply(ErrorObservation(id=9, source=AGENT, content="boom"))
    assert state.last_error == "boom" and state.reason == "boom"


def test_reset_forgets_the_previous_conversation() -> None:
    """The switch-conversation case: the new conversation's ids start again from 0."""
    state = ConversationState()
    state.apply(_state(AgentState.FINISHED, 17))
    state.apply(MessageAction(id=16, source=AGENT, content="x", llm_metrics=_metrics(1.0)))
    state.reset()
    assert state == ConversationState()
    state.apply(_state(AgentState.AWAITING_USER_CONFIRMATION, 4))
    state.apply(_run(5, ActionConfirmationStatus.AWAITING_CONFIRMATION))
    assert state.awaiting_confirmation and state.metrics is None


@given(st.lists(st.tuples(st.sampled_from(list(AgentState)), st.integers(0, 50)), max_size=30))
def test_the_same_events_in_any_order_give_the_same_agent_state(changes: list[tuple[AgentState, int]]) -> None:
    events = [_state(value, event_id) for value, event_id in changes]
    forward, backward = ConversationState(), ConversationState()
    for event in events:
        forward.apply(event)
    for event in reversed(events):
        backward.apply(event)
    newest = max((e.id or 0 for e in events), default=None)
    if newest is not None and sum(1 for e in events if e.id == newest) == 1:
        assert forward.agent_state is backward.agent_state


def test_the_rules_the_controller_and_the_ui_share() -> None:
    assert can_stop(AgentState.RUNNING) and can_stop(AgentState.AWAITING_USER_CONFIRMATION)
    assert not can_stop(AgentState.AWAITING_USER_INPUT) and not can_stop(AgentState.FINISHED)
    assert pause_or_resume(AgentState.RUNNING) is AgentState.PAUSED
    assert pause_or_resume(AgentState.PAUSED) is AgentState.RUNNING
    assert pause_or_resume(AgentState.FINISHED) is None
    assert awaits_confirmation(AgentState.AWAITING_USER_CONFIRMATION)
    assert not awaits_confirmation(AgentState.RUNNING)
    for target, sources in USER_TRANSITIONS.items():
        for state in AgentState:
            assert (refusal(target, state) is None) == (state in sources)
    assert refusal(AgentState.FINISHED, AgentState.RUNNING) is not None
    assert refusal(AgentState.STOPPED, AgentState.FINISHED) == "there is nothing to stop (the agent is finished)"


def test_intents_are_typed_actions_with_one_wire_form() -> None:
    from ohtui.protocol import ChangeAgentStateAction, event_from_dict
    from ohtui.protocol.intents import (
        ALWAYS_ALLOW_ARG,
        always_allow,
        asks_always_allow,
        client_payload,
        request_state,
        user_message,
    )

    message = client_payload(user_message("hi", image_urls=["data:x"]))
    assert message["action"] == "message" and message["args"]["content"] == "hi"
    assert set(message) == {"action", "args"}  # the server assigns id, timestamp and source
    assert event_from_dict(message) == user_message("hi", image_urls=["data:x"])
    stop = client_payload(request_state(AgentState.STOPPED))
    assert stop["args"]["agent_state"] == "stopped" and ALWAYS_ALLOW_ARG not in stop["args"]
    allow = always_allow()
    assert client_payload(allow)["args"][ALWAYS_ALLOW_ARG] is True and asks_always_allow(allow)
    parsed = event_from_dict(client_payload(allow))
    assert isinstance(parsed, ChangeAgentStateAction) and asks_always_allow(parsed)
    assert not asks_always_allow(request_state(AgentState.USER_CONFIRMED))


def test_the_state_reads_records_without_building_their_models() -> None:
    from ohtui.protocol import event_to_json
    from ohtui.protocol.record import EventRecord

    texts = [
        event_to_json(_state(AgentState.AWAITING_USER_CONFIRMATION, 3)),
        event_to_json(_run(4, ActionConfirmationStatus.AWAITING_CONFIRMATION)),
        event_to_json(MessageAction(id=5, source=AGENT, content="x", llm_metrics=_metrics(2.5))),
    ]
    records = [EventRecord.from_json(text) for text in texts]
    state = ConversationState()
    for record in records:
        state.apply(record)
    assert state.agent_state is AgentState.AWAITING_USER_CONFIRMATION and state.awaiting_confirmation
    assert all(record.parsed is None for record in records)  # only envelopes were read
    assert state.pending is not None and state.pending.id == 4  # the model is built when it is shown
    assert state.metrics is not None and state.metrics.accumulated_cost == 2.5
    assert records[0].parsed is None
