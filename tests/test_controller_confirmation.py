"""The controller's Confirmation (the pending action and the user's say over it) with a Recorder on a real SQLite
store: no controller, no loop, no App."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ohtui.agent.controller.confirmation import Confirmation
from ohtui.agent.controller.recording import Recorder
from ohtui.agent.controller.tasks import BackgroundTasks
from ohtui.agent.controller.texts import (
    ALWAYS_ALLOW_ARG,
    ERROR_ACTION_NOT_EXECUTED_ERROR,
    ERROR_ACTION_NOT_EXECUTED_ERROR_ID,
    USER_REJECTED,
)
from ohtui.protocol import (
    ActionConfirmationStatus,
    AgentState,
    ChangeAgentStateAction,
    CmdOutputMetadata,
    CmdOutputObservation,
    CmdRunAction,
    ErrorObservation,
    FileEditAction,
    UserRejectObservation,
    event_from_dict,
)
from ohtui.store import Database, EventStore
from tests.agent_helpers import shapes

S = AgentState
AWAITING = ActionConfirmationStatus.AWAITING_CONFIRMATION


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    db = Database(tmp_path / "x.db")
    yield db.events("conv")
    db.close()


def parts(store: EventStore, *, mode: bool) -> tuple[Recorder, Confirmation]:
    recorder = Recorder(store, BackgroundTasks(), name="test")
    recorder.restore(S.RUNNING)
    return recorder, Confirmation(recorder, mode=mode)


def run(command: str = "make") -> CmdRunAction:
    return CmdRunAction(command=command, thought="because")


def output() -> CmdOutputObservation:
    return CmdOutputObservation(content="ok\n", command="make", metadata=CmdOutputMetadata(exit_code=0))


async def test_without_confirmation_the_action_runs_at_once(store: EventStore) -> None:
    recorder, confirmation = parts(store, mode=False)
    to_run = confirmation.propose(run())
    assert to_run is not None and to_run is confirmation.pending and to_run.id == 0
    assert to_run.args.confirmation_state is ActionConfirmationStatus.CONFIRMED  # as the agent made it
    assert recorder.state is S.RUNNING
    confirmation.observed(to_run, output())
    assert confirmation.pending is None
    assert shapes(store.search()) == ["agent:run", "agent:run"]


async def test_with_confirmation_the_action_waits_marked_awaiting(store: EventStore) -> None:
    recorder, confirmation = parts(store, mode=True)
    assert confirmation.propose(run()) is None
    assert recorder.state is S.AWAITING_USER_CONFIRMATION
    stored = list(store.search())
    assert shapes(stored) == ["environment:agent_state_changed=awaiting_user_confirmation", "agent:run"]
    assert isinstance(stored[1], CmdRunAction) and stored[1].args.confirmation_state is AWAITING
    assert confirmation.pending == stored[1]
    # An action whose args have no confirmation field waits all the same.
    _, other = parts(store, mode=True)
    assert other.propose(FileEditAction(path="/a", command="create", file_text="x")) is None
    assert other.pending is not None and other.pending.kind == "edit"


async def test_confirm_stores_the_action_again_to_be_run(store: EventStore) -> None:
    recorder, confirmation = parts(store, mode=True)
    confirmation.propose(run())
    first = confirmation.pending
    confirmed = confirmation.confirm()
    assert isinstance(confirmed, CmdRunAction) and confirmed is confirmation.pending
    assert first is not None and confirmed.id != first.id
    assert (confirmed.args.command, confirmed.args.thought) == ("make", "")
    assert confirmed.args.confirmation_state is ActionConfirmationStatus.CONFIRMED
    assert recorder.state is S.USER_CONFIRMED
    assert shapes(store.search(start_id=2)) == ["agent:run", "environment:agent_state_changed=user_confirmed"]


async def test_reject_by_the_buttons_records_the_states_around_the_answer(store: EventStore) -> None:
    recorder, confirmation = parts(store, mode=True)
    confirmation.propose(run())
    confirmation.reject(record_states=True)
    turn = list(store.search(start_id=2))
    assert shapes(turn) == [
        "agent:run",
        "environment:agent_state_changed=user_rejected",
        "agent:user_rejected",
        "environment:agent_state_changed=awaiting_user_input",
    ]
    rejected, answer = turn[0], turn[2]
    assert isinstance(rejected, CmdRunAction) and rejected.args.confirmation_state is ActionConfirmationStatus.REJECTED
    assert isinstance(answer, UserRejectObservation) and (answer.content, answer.cause) == (USER_REJECTED, rejected.id)
    assert confirmation.pending is None and recorder.state is S.AWAITING_USER_INPUT


async def test_a_message_rejects_only_an_action_awaiting_confirmation(store: EventStore) -> None:
    recorder, confirmation = parts(store, mode=False)
    confirmation.propose(run())  # running, not awaiting: a message leaves it alone
    confirmation.reject_for_message()
    assert confirmation.pending is not None and store.latest_id() == 0
    recorder, confirmation = parts(store, mode=True)
    confirmation.propose(run())
    confirmation.reject_for_message()
    assert confirmation.pending is None
    assert shapes(store.search(start_id=3)) == ["agent:run", "agent:user_rejected"]  # no states: the message's own
    assert recorder.state is S.AWAITING_USER_CONFIRMATION


def _confirm_flag(state: AgentState, value: object) -> ChangeAgentStateAction:
    args = {"agent_state": state.value, ALWAYS_ALLOW_ARG: value}
    action = event_from_dict({"action": "change_agent_state", "args": args})
    assert isinstance(action, ChangeAgentStateAction)
    return action


@pytest.mark.parametrize(
    ("state", "value", "still_asks"),
    [(S.USER_CONFIRMED, True, False), (S.USER_CONFIRMED, "yes", True), (S.USER_REJECTED, True, True)],
)
async def test_always_allow_is_taken_off_the_action(
    store: EventStore, state: AgentState, value: object, still_asks: bool
) -> None:
    _, confirmation = parts(store, mode=True)
    plain = confirmation.take_always_allow(_confirm_flag(state, value))
    assert ALWAYS_ALLOW_ARG not in (plain.args.model_extra or {}) and plain.args.agent_state is state
    assert confirmation.mode is still_asks
    untouched = ChangeAgentStateAction(agent_state=S.USER_CONFIRMED)
    assert confirmation.take_always_allow(untouched) is untouched


async def test_not_executed_answers_the_pending_action_once(store: EventStore) -> None:
    _, confirmation = parts(store, mode=False)
    confirmation.not_executed(ERROR_ACTION_NOT_EXECUTED_ERROR, ERROR_ACTION_NOT_EXECUTED_ERROR_ID)  # nothing pending
    assert store.latest_id() == -1
    action = confirmation.propose(run())
    assert action is not None
    confirmation.not_executed(ERROR_ACTION_NOT_EXECUTED_ERROR, ERROR_ACTION_NOT_EXECUTED_ERROR_ID)
    confirmation.not_executed(ERROR_ACTION_NOT_EXECUTED_ERROR, ERROR_ACTION_NOT_EXECUTED_ERROR_ID)
    answers = list(store.search(start_id=1))
    assert len(answers) == 1 and isinstance(answers[0], ErrorObservation) and answers[0].cause == action.id
    # The observation of another action (the user's own command) leaves the pending one pending.
    confirmation.restore(action)
    other = CmdRunAction(command="user's own", id=99)
    confirmation.observed(other, output())
    assert confirmation.pending is action
