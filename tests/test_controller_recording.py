"""The controller's Recorder and BackgroundTasks on their own, against a real SQLite store: no controller, no App."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from ohtui.agent.controller.recording import Recorder, rebuild
from ohtui.agent.controller.tasks import BackgroundTasks
from ohtui.agent.controller.texts import ERROR_ACTION_NOT_EXECUTED_STOPPED, ERROR_ACTION_NOT_EXECUTED_STOPPED_ID
from ohtui.protocol import (
    ActionConfirmationStatus,
    AgentState,
    AgentStateChangedObservation,
    ChangeAgentStateAction,
    CmdOutputMetadata,
    CmdOutputObservation,
    CmdRunAction,
    ErrorObservation,
    EventSource,
    MessageAction,
    NullObservation,
    RuntimeStatus,
    StatusUpdate,
    ToolCallMetadata,
)
from ohtui.store import Database, EventStore
from tests.agent_helpers import shapes

S = AgentState
CALL = ToolCallMetadata(function_name="execute_bash", tool_call_id="c1", model_response={}, total_calls_in_response=1)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    db = Database(tmp_path / "x.db")
    yield db.events("conv")
    db.close()


class Heard:
    def __init__(self) -> None:
        self.states: list[AgentState] = []
        self.statuses: list[StatusUpdate] = []


def recorder_for(store: EventStore, heard: Heard | None = None, tasks: BackgroundTasks | None = None) -> Recorder:
    heard = heard or Heard()
    return Recorder(
        store, tasks or BackgroundTasks(), name="test", on_state=heard.states.append, on_status=heard.statuses.append
    )


async def test_append_stores_a_copy_as_new_and_returns_it_typed(store: EventStore) -> None:
    recorder = recorder_for(store)
    first = recorder.append(MessageAction(content="hi"), EventSource.USER)
    again = recorder.append(first, EventSource.AGENT)  # already stored: stored once more, with a new id
    assert isinstance(again, MessageAction)
    assert (first.id, again.id) == (0, 1)
    assert (first.source, again.source) == (EventSource.USER, EventSource.AGENT)
    assert [e.id for e in store.search()] == [0, 1]


async def test_set_state_records_only_a_change(store: EventStore) -> None:
    heard = Heard()
    recorder = recorder_for(store, heard)
    assert recorder.state is S.LOADING
    recorder.set_state(S.LOADING)
    assert store.latest_id() == -1 and heard.states == []
    recorder.set_state(S.RUNNING)
    recorder.set_state(S.RUNNING)
    recorder.set_state(S.ERROR, "Boom: no")
    stored = list(store.search())
    assert shapes(stored) == ["environment:agent_state_changed=running", "environment:agent_state_changed=error"]
    assert isinstance(stored[1], AgentStateChangedObservation) and stored[1].extras.reason == "Boom: no"
    assert heard.states == [S.RUNNING, S.ERROR]
    recorder.record_state(S.ERROR)  # recorded even though it is the state held
    assert store.latest_id() == 2 and heard.states == [S.RUNNING, S.ERROR, S.ERROR]


async def test_what_ends_a_run_is_stored_before_the_state_and_sees_the_new_state(store: EventStore) -> None:
    recorder = recorder_for(store)
    seen: list[AgentState] = []

    def first() -> None:
        seen.append(recorder.state)
        recorder.append(ErrorObservation(content="not run"), EventSource.AGENT)

    recorder.set_state(S.STOPPED, first=first)
    recorder.set_state(S.STOPPED, first=first)  # no change: nothing runs
    assert seen == [S.STOPPED]
    assert shapes(store.search()) == ["agent:error", "environment:agent_state_changed=stopped"]


async def test_observation_answers_its_action(store: EventStore) -> None:
    recorder = recorder_for(store)
    action = recorder.append(CmdRunAction(command="ls", tool_call_metadata=CALL), EventSource.USER)
    output = CmdOutputObservation(content="a\n", command="ls", metadata=CmdOutputMetadata(exit_code=0))
    recorder.observation(action, output)
    recorder.observation(action, NullObservation(content=""))  # dropped
    stored = list(store.search())
    assert shapes(stored) == ["user:run", "user:run"]
    assert (stored[1].cause, stored[1].tool_call_metadata) == (action.id, CALL)


async def test_not_executed_is_an_error_with_its_id(store: EventStore) -> None:
    recorder = recorder_for(store)
    action = recorder.append(CmdRunAction(command="ls", tool_call_metadata=CALL), EventSource.AGENT)
    recorder.not_executed(action, ERROR_ACTION_NOT_EXECUTED_STOPPED, ERROR_ACTION_NOT_EXECUTED_STOPPED_ID)
    error = list(store.search())[-1]
    assert isinstance(error, ErrorObservation) and error.source is EventSource.AGENT
    assert (error.content, error.extras.error_id) == (
        ERROR_ACTION_NOT_EXECUTED_STOPPED,
        ERROR_ACTION_NOT_EXECUTED_STOPPED_ID,
    )
    assert (error.cause, error.tool_call_metadata) == (action.id, CALL)


async def test_restore_stores_nothing_and_announce_tells_the_state(store: EventStore) -> None:
    heard = Heard()
    recorder = recorder_for(store, heard)
    recorder.restore(S.FINISHED)
    assert recorder.state is S.FINISHED and heard.states == []
    recorder.announce()
    assert heard.states == [S.FINISHED] and store.latest_id() == -1


async def test_status_updates_are_told_not_stored(store: EventStore) -> None:
    heard = Heard()
    recorder_for(store, heard).status(RuntimeStatus.ERROR, "bad", level="error")
    assert heard.statuses == [StatusUpdate(type="error", id="STATUS$ERROR", message="bad")]
    assert store.latest_id() == -1


async def test_wait_until_wakes_on_a_store_and_on_notify(store: EventStore) -> None:
    recorder = recorder_for(store)
    flag: list[bool] = []
    waiter = asyncio.create_task(recorder.wait_until(lambda: bool(flag), timeout=10))
    await asyncio.sleep(0)
    flag.append(True)
    recorder.notify()
    await waiter
    waiter = asyncio.create_task(recorder.wait_until(lambda: store.latest_id() >= 0, timeout=10))
    await asyncio.sleep(0)
    recorder.append(MessageAction(content="x"), EventSource.USER)
    await waiter
    with pytest.raises(TimeoutError, match="agent state: loading"):
        await recorder.wait_until(lambda: False, timeout=0.01)


async def test_callbacks_may_be_async_or_fail(store: EventStore, caplog: pytest.LogCaptureFixture) -> None:
    tasks = BackgroundTasks()
    heard: list[AgentState] = []

    async def later(state: AgentState) -> None:
        heard.append(state)

    def broken(status: StatusUpdate) -> None:
        raise RuntimeError("callback bug")

    recorder = Recorder(store, tasks, name="test", on_state=later, on_status=broken)
    with caplog.at_level(logging.ERROR):
        recorder.set_state(S.RUNNING)
        recorder.status(RuntimeStatus.READY)
    assert len(tasks) == 1 and heard == []
    await asyncio.wait(list(tasks))
    assert heard == [S.RUNNING] and len(tasks) == 0
    assert "callback bug" in caplog.text
    assert store.latest_id() == 0


def test_rebuild_replaces_or_drops_args_in_an_unstored_copy() -> None:
    stored = CmdRunAction(command="ls", thought="look", id=7, source=EventSource.AGENT)
    copy = rebuild(stored, thought="", confirmation_state=ActionConfirmationStatus.REJECTED.value)
    assert (copy.id, copy.source, copy.timestamp) == (None, None, None)
    assert (copy.args.command, copy.args.thought) == ("ls", "")
    assert copy.args.confirmation_state is ActionConfirmationStatus.REJECTED
    flagged = ChangeAgentStateAction.model_validate(
        {"action": "change_agent_state", "args": {"agent_state": "user_confirmed", "extra_flag": True}}
    )
    assert "extra_flag" in (flagged.args.model_extra or {})
    plain = rebuild(flagged, drop=("extra_flag",))
    assert plain.args.model_extra == {} and plain.args.agent_state is S.USER_CONFIRMED


async def test_background_tasks_keep_until_done_and_swallow_what_nobody_read() -> None:
    tasks = BackgroundTasks()

    async def fails() -> None:
        raise RuntimeError("nobody reads this")

    reported: list[dict[str, object]] = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: reported.append(context))
    failing = tasks.spawn(fails())
    sleeping = tasks.spawn(asyncio.sleep(10))
    assert len(tasks) == 2
    await asyncio.wait([failing])
    assert len(tasks) == 1
    del failing
    gc.collect()
    assert reported == []  # asyncio reports an exception never retrieved when the task is collected
    tasks.cancel()
    await asyncio.wait([sleeping])
    assert sleeping.cancelled() and len(tasks) == 0
