"""The agent controller against a real SQLite store: the stored event sequences of OPENHANDS_V0.md §1.7."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ohtui.agent.base import Agent, Runtime, is_runnable
from ohtui.agent.controller import (
    ERROR_ACTION_NOT_EXECUTED_ERROR,
    ERROR_ACTION_NOT_EXECUTED_ERROR_ID,
    ERROR_ACTION_NOT_EXECUTED_STOPPED,
    ERROR_ACTION_NOT_EXECUTED_STOPPED_ID,
    NO_RUNTIME,
    RESTART_REASON,
    THOUGHT_LOGGED,
    USER_REJECTED,
    AgentController,
)
from ohtui.agent.echo import EchoAgent
from ohtui.agent.errors import IllegalAction, UnknownAgentError
from ohtui.agent.registry import AGENTS, create_agent
from ohtui.protocol import (
    Action,
    ActionConfirmationStatus,
    AgentFinishAction,
    AgentRejectAction,
    AgentState,
    AgentStateChangedObservation,
    AgentThinkAction,
    ChangeAgentStateAction,
    CmdOutputMetadata,
    CmdOutputObservation,
    CmdRunAction,
    ErrorObservation,
    Event,
    EventSource,
    FileEditAction,
    MessageAction,
    NullObservation,
    RecallAction,
    RecallObservation,
    RecallType,
    StatusUpdate,
    SystemMessageAction,
    ToolCallMetadata,
    UserRejectObservation,
    event_from_dict,
)
from ohtui.store import Database, EventStore
from tests.agent_helpers import ScriptedAgent, ScriptedRuntime, shapes

S = AgentState
WAIT = 10.0  # seconds; only reached when something is broken

START = ["environment:agent_state_changed=loading", "environment:change_agent_state=awaiting_user_input"]
START += ["environment:agent_state_changed=awaiting_user_input"]
FIRST_MESSAGE = ["user:message", "user:recall", "environment:agent_state_changed=running", "environment:recall"]
LATER_MESSAGE = ["user:message", "user:recall", "environment:agent_state_changed=running", "environment:null"]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "ohtui.db")
    yield database
    close = getattr(database, "close", None)
    if close is not None:
        close()


@pytest.fixture
def store(db: Database) -> EventStore:
    return db.events("conv-1")


class Recorder:
    """What the controller reported through its callbacks."""

    def __init__(self) -> None:
        self.statuses: list[StatusUpdate] = []
        self.states: list[AgentState] = []

    def on_status(self, status: StatusUpdate) -> None:
        self.statuses.append(status)

    def on_state(self, state: AgentState) -> None:
        self.states.append(state)


def make(
    store: EventStore,
    agent: Agent | None = None,
    *,
    runtime: Runtime | None = None,
    recorder: Recorder | None = None,
    **options: Any,
) -> AgentController:
    recorder = recorder or Recorder()
    return AgentController(
        store,
        agent or EchoAgent(),
        runtime=runtime,
        on_status=recorder.on_status,
        on_state=recorder.on_state,
        working_dir="/workspace",
        **options,
    )


def events(store: EventStore, start: int = 0) -> list[Event]:
    return list(store.search(start_id=start))


def message(text: str) -> MessageAction:
    """What the V0 frontend sends, parsed as the server parses it."""
    return event_from_dict({"action": "message", "args": {"content": text, "image_urls": [], "file_urls": []}})


def change(state: AgentState) -> ChangeAgentStateAction:
    return ChangeAgentStateAction(agent_state=state)


def tool_call(call_id: str) -> ToolCallMetadata:
    return ToolCallMetadata(
        function_name="execute_bash", tool_call_id=call_id, model_response={}, total_calls_in_response=1
    )


async def started(controller: AgentController, store: EventStore) -> int:
    """Start a new conversation; return the id the next event will get."""
    await controller.start()
    return store.latest_id() + 1


async def wait_stored(controller: AgentController, store: EventStore, done: Callable[[list[Event]], bool]) -> None:
    await controller.wait_until(lambda: done(events(store)), timeout=WAIT)


# ------------------------------------------------------------------------------------------------ start and echo


async def test_new_conversation_records_loading_then_awaiting_user_input(store: EventStore) -> None:
    recorder = Recorder()
    controller = make(store, recorder=recorder)
    assert controller.state is S.LOADING

    await controller.start()

    stored = events(store)
    assert shapes(stored) == START
    assert [e.id for e in stored] == [0, 1, 2]
    assert all(e.timestamp for e in stored)
    assert [s.id for s in recorder.statuses] == ["STATUS$STARTING_RUNTIME", "STATUS$RUNTIME_STARTED", "STATUS$READY"]
    assert {(s.type, s.message) for s in recorder.statuses} == {("info", "")}
    assert recorder.states == [S.LOADING, S.AWAITING_USER_INPUT]
    assert controller.state is S.AWAITING_USER_INPUT
    with pytest.raises(RuntimeError):
        await controller.start()
    await controller.close()


async def test_new_conversation_records_the_agents_system_message(store: EventStore) -> None:
    system = SystemMessageAction(content="You are a test.", agent_class="scripted")
    controller = make(store, ScriptedAgent(system=system))
    await controller.start()
    assert shapes(events(store)) == [START[0], "agent:system", *START[1:]]
    await controller.close()


async def test_echo_flow_state_sequence_and_events(store: EventStore) -> None:
    recorder = Recorder()
    controller = make(store, recorder=recorder)
    first = await started(controller, store)

    sent = await controller.submit(message("hello"))
    assert sent.id == first and sent.source is EventSource.USER and sent.timestamp
    assert controller.state is S.RUNNING
    await controller.wait_for_state(S.AWAITING_USER_INPUT, timeout=WAIT)

    turn = events(store, first)
    assert shapes(turn) == [*FIRST_MESSAGE, "agent:message", "environment:agent_state_changed=awaiting_user_input"]
    _, recall, _, recalled, answer, _ = turn
    assert isinstance(recall, RecallAction)
    assert recall.args.recall_type is RecallType.WORKSPACE_CONTEXT and recall.args.query == "hello"
    assert isinstance(recalled, RecallObservation) and recalled.cause == recall.id
    assert recalled.content == "Added workspace context"
    assert recalled.extras.working_dir == "/workspace"
    assert recalled.extras.date == str(datetime.now(UTC).date())
    assert isinstance(answer, MessageAction)
    assert answer.args.content == "Echo: hello" and answer.args.wait_for_response

    second = store.latest_id() + 1
    await controller.submit(message("again"))
    await controller.wait_for_state(S.AWAITING_USER_INPUT, timeout=WAIT)
    turn = events(store, second)
    assert shapes(turn) == [*LATER_MESSAGE, "agent:message", "environment:agent_state_changed=awaiting_user_input"]
    assert isinstance(turn[1], RecallAction) and turn[1].args.recall_type is RecallType.KNOWLEDGE
    assert isinstance(turn[3], NullObservation) and turn[3].cause == turn[1].id
    assert isinstance(turn[4], MessageAction) and turn[4].args.content == "Echo: again"

    assert recorder.states == [S.LOADING, S.AWAITING_USER_INPUT] + [S.RUNNING, S.AWAITING_USER_INPUT] * 2
    await controller.close()


async def test_start_with_an_initial_message(store: EventStore) -> None:
    controller = make(store)
    await controller.start(initial_message=message("hi"))
    await controller.wait_for_state(S.AWAITING_USER_INPUT, timeout=WAIT)
    assert shapes(events(store)) == [
        "environment:agent_state_changed=loading",
        "user:message",
        "environment:change_agent_state=running",
        "user:recall",
        "environment:agent_state_changed=running",
        "environment:recall",
        "agent:message",
        "environment:agent_state_changed=awaiting_user_input",
    ]
    await controller.close()


# ------------------------------------------------------------------------------------------------ agent actions


async def test_runnable_action_runs_and_its_observation_answers_it(store: EventStore) -> None:
    metadata = tool_call("call-1")
    agent = ScriptedAgent([CmdRunAction(command="ls", tool_call_metadata=metadata), AgentFinishAction()])
    runtime = ScriptedRuntime()
    controller = make(store, agent, runtime=runtime)
    first = await started(controller, store)

    await controller.submit(message("list files"))
    await controller.wait_for_state(S.FINISHED, timeout=WAIT)

    turn = events(store, first)
    assert shapes(turn) == [
        *FIRST_MESSAGE,
        "agent:run",
        "agent:run",
        "agent:finish",
        "environment:agent_state_changed=finished",
    ]
    action, observation = turn[4], turn[5]
    assert isinstance(observation, CmdOutputObservation)
    assert observation.cause == action.id
    assert observation.tool_call_metadata == metadata
    assert observation.content == "output of ls\n"
    assert [a.id for a in runtime.actions] == [action.id]
    # The agent saw the observation before it finished.
    assert agent.histories[1][-1] == observation
    await controller.close()


async def test_think_finish_and_reject(store: EventStore) -> None:
    agent = ScriptedAgent([AgentThinkAction(thought="hmm"), AgentRejectAction(outputs={"reason": "no"})])
    controller = make(store, agent)
    first = await started(controller, store)
    await controller.submit(message("do it"))
    await controller.wait_for_state(S.REJECTED, timeout=WAIT)
    turn = events(store, first)
    assert shapes(turn) == [
        *FIRST_MESSAGE,
        "agent:think",
        "agent:think",
        "agent:reject",
        "environment:agent_state_changed=rejected",
    ]
    assert turn[5].cause == turn[4].id and turn[5].message == THOUGHT_LOGGED
    await controller.close()


async def test_agent_message_without_wait_lets_the_loop_go_on(store: EventStore) -> None:
    agent = ScriptedAgent([MessageAction(content="working on it"), AgentFinishAction()])
    controller = make(store, agent)
    first = await started(controller, store)
    await controller.submit(message("go"))
    await controller.wait_for_state(S.FINISHED, timeout=WAIT)
    assert shapes(events(store, first))[4:] == [
        "agent:message",
        "agent:finish",
        "environment:agent_state_changed=finished",
    ]
    await controller.close()


# ------------------------------------------------------------------------------------------------ confirmation


async def _awaiting_confirmation(store: EventStore, runtime: ScriptedRuntime) -> tuple[AgentController, int]:
    agent = ScriptedAgent(
        [
            CmdRunAction(command="rm -rf build", thought="clean up", tool_call_metadata=tool_call("c1")),
            AgentFinishAction(),
        ]
    )
    controller = make(store, agent, runtime=runtime, confirmation_mode=True)
    first = await started(controller, store)
    await controller.submit(message("clean"))
    await controller.wait_for_state(S.AWAITING_USER_CONFIRMATION, timeout=WAIT)
    turn = events(store, first)
    assert shapes(turn) == [*FIRST_MESSAGE, "environment:agent_state_changed=awaiting_user_confirmation", "agent:run"]
    pending = turn[-1]
    assert isinstance(pending, CmdRunAction)
    assert pending.args.confirmation_state is ActionConfirmationStatus.AWAITING_CONFIRMATION
    assert pending.args.thought == "clean up"
    assert controller.pending_action == pending
    assert runtime.actions == []
    return controller, pending.id or 0


async def test_confirmation_confirmed(store: EventStore) -> None:
    runtime = ScriptedRuntime()
    controller, pending_id = await _awaiting_confirmation(store, runtime)
    mark = store.latest_id() + 1

    await controller.submit(change(S.USER_CONFIRMED))
    await controller.wait_for_state(S.FINISHED, timeout=WAIT)

    turn = events(store, mark)
    assert shapes(turn) == [
        "user:change_agent_state=user_confirmed",
        "agent:run",
        "environment:agent_state_changed=user_confirmed",
        "agent:run",
        "environment:agent_state_changed=running",
        "agent:finish",
        "environment:agent_state_changed=finished",
    ]
    readded, observation = turn[1], turn[3]
    assert isinstance(readded, CmdRunAction)
    assert readded.id != pending_id
    assert readded.args.thought == ""
    assert readded.args.confirmation_state is ActionConfirmationStatus.CONFIRMED
    assert readded.args.command == "rm -rf build"
    assert readded.tool_call_metadata == tool_call("c1")
    assert observation.cause == readded.id and observation.tool_call_metadata == tool_call("c1")
    assert [a.id for a in runtime.actions] == [readded.id]
    await controller.close()


async def test_confirmation_rejected(store: EventStore) -> None:
    runtime = ScriptedRuntime()
    controller, pending_id = await _awaiting_confirmation(store, runtime)
    mark = store.latest_id() + 1

    await controller.submit(change(S.USER_REJECTED))

    turn = events(store, mark)
    assert shapes(turn) == [
        "user:change_agent_state=user_rejected",
        "agent:run",
        "environment:agent_state_changed=user_rejected",
        "agent:user_rejected",
        "environment:agent_state_changed=awaiting_user_input",
    ]
    readded, rejection = turn[1], turn[3]
    assert isinstance(readded, CmdRunAction) and readded.id != pending_id
    assert readded.args.confirmation_state is ActionConfirmationStatus.REJECTED and readded.args.thought == ""
    assert isinstance(rejection, UserRejectObservation)
    assert rejection.cause == readded.id and rejection.content == USER_REJECTED
    assert rejection.tool_call_metadata == tool_call("c1")
    assert controller.state is S.AWAITING_USER_INPUT and controller.pending_action is None
    assert runtime.actions == []
    await controller.close()


async def test_a_message_while_awaiting_confirmation_rejects_the_pending_action(store: EventStore) -> None:
    runtime = ScriptedRuntime()
    controller, _ = await _awaiting_confirmation(store, runtime)
    mark = store.latest_id() + 1
    await controller.submit(message("no, do something else"))
    await controller.wait_for_state(S.FINISHED, timeout=WAIT)
    assert shapes(events(store, mark)) == [
        "user:message",
        "agent:run",
        "agent:user_rejected",
        *LATER_MESSAGE[1:],
        "agent:finish",
        "environment:agent_state_changed=finished",
    ]
    assert runtime.actions == []
    await controller.close()


async def test_confirmation_covers_actions_without_a_confirmation_field(store: EventStore) -> None:
    agent = ScriptedAgent([FileEditAction(path="/a.py", command="create", file_text="x", thought="write it")])
    runtime = ScriptedRuntime()
    controller = make(store, agent, runtime=runtime, confirmation_mode=True)
    await started(controller, store)
    await controller.submit(message("edit"))
    await controller.wait_for_state(S.AWAITING_USER_CONFIRMATION, timeout=WAIT)
    pending = controller.pending_action
    assert isinstance(pending, FileEditAction) and "confirmation_state" not in pending.args.model_dump()
    await controller.submit(change(S.USER_CONFIRMED))
    await controller.wait_for_state(S.AWAITING_USER_INPUT, timeout=WAIT)
    assert len(runtime.actions) == 1
    assert isinstance(runtime.actions[0], FileEditAction) and runtime.actions[0].args.thought == ""
    await controller.close()


# ------------------------------------------------------------------------------------------------ stop and pause


async def test_stop_while_the_runtime_is_running_the_action(store: EventStore) -> None:
    metadata = tool_call("call-9")
    agent = ScriptedAgent([CmdRunAction(command="sleep 100", tool_call_metadata=metadata)])
    runtime = ScriptedRuntime(gated=True)
    recorder = Recorder()
    controller = make(store, agent, runtime=runtime, recorder=recorder)
    first = await started(controller, store)
    await controller.submit(message("wait"))
    running = await asyncio.wait_for(runtime.started.get(), WAIT)
    assert controller.active

    await controller.submit(change(S.STOPPED))

    assert controller.state is S.STOPPED and not controller.active
    assert runtime.interrupts == 1
    assert agent.resets == 1
    turn = events(store, first)
    assert shapes(turn) == [
        *FIRST_MESSAGE,
        "agent:run",
        "user:change_agent_state=stopped",
        "agent:error",
        "environment:agent_state_changed=stopped",
    ]
    error = turn[6]
    assert isinstance(error, ErrorObservation)
    assert error.cause == running.id == turn[4].id
    assert error.content == ERROR_ACTION_NOT_EXECUTED_STOPPED
    assert error.extras.error_id == ERROR_ACTION_NOT_EXECUTED_STOPPED_ID
    assert error.tool_call_metadata == metadata
    assert recorder.states[-2:] == [S.RUNNING, S.STOPPED]

    # The interrupted command's late result is not stored: the error observation already answered it.
    count = store.count()
    await controller.close()
    assert runtime.finished == 1 and runtime.closed
    assert store.count() == count


async def test_stop_while_the_agent_is_thinking(store: EventStore) -> None:
    agent = ScriptedAgent([AgentFinishAction()], gated=True)
    controller = make(store, agent)
    first = await started(controller, store)
    await controller.submit(message("think"))
    await asyncio.wait_for(agent.started.get(), WAIT)

    await controller.submit(change(S.STOPPED))
    agent.release()

    assert shapes(events(store, first)) == [
        *FIRST_MESSAGE,
        "user:change_agent_state=stopped",
        "environment:agent_state_changed=stopped",
    ]
    # A new message starts a new run from the stopped state.
    await controller.submit(message("again"))
    agent.release()
    await controller.wait_for_state(S.FINISHED, timeout=WAIT)
    await controller.close()


async def test_stop_while_awaiting_confirmation(store: EventStore) -> None:
    runtime = ScriptedRuntime()
    controller, pending_id = await _awaiting_confirmation(store, runtime)
    mark = store.latest_id() + 1
    await controller.submit(change(S.STOPPED))
    turn = events(store, mark)
    assert shapes(turn) == [
        "user:change_agent_state=stopped",
        "agent:error",
        "environment:agent_state_changed=stopped",
    ]
    assert turn[1].cause == pending_id
    assert runtime.interrupts == 0 and runtime.actions == []
    await controller.close()


async def test_pause_halts_after_the_current_step_and_resume_continues(store: EventStore) -> None:
    agent = ScriptedAgent([CmdRunAction(command="make"), AgentFinishAction()], gated=True)
    runtime = ScriptedRuntime()
    controller = make(store, agent, runtime=runtime)
    first = await started(controller, store)
    await controller.submit(message("build"))
    assert await asyncio.wait_for(agent.started.get(), WAIT) == 1

    await controller.submit(change(S.PAUSED))
    assert controller.state is S.PAUSED
    agent.release()  # the step in flight completes, and its action runs
    await controller.wait_until(lambda: not controller.active and len(runtime.actions) == 1, timeout=WAIT)
    await wait_stored(controller, store, lambda stored: stored[-1].kind == "run" and stored[-1].cause is not None)
    assert agent.started.empty() and controller.state is S.PAUSED

    turn = events(store, first)
    assert shapes(turn) == [
        *FIRST_MESSAGE,
        "user:change_agent_state=paused",
        "environment:agent_state_changed=paused",
        "agent:run",
        "agent:run",
    ]

    await controller.submit(change(S.RUNNING))
    assert await asyncio.wait_for(agent.started.get(), WAIT) == 2
    assert agent.histories[1][-1].kind == "agent_state_changed"
    agent.release()
    await controller.wait_for_state(S.FINISHED, timeout=WAIT)
    assert shapes(events(store, first))[len(turn) :] == [
        "user:change_agent_state=running",
        "environment:agent_state_changed=running",
        "agent:finish",
        "environment:agent_state_changed=finished",
    ]
    await controller.close()


async def test_a_message_resumes_a_paused_agent(store: EventStore) -> None:
    agent = ScriptedAgent([AgentThinkAction(thought="1"), AgentFinishAction()], gated=True)
    controller = make(store, agent)
    await started(controller, store)
    await controller.submit(message("go"))
    await asyncio.wait_for(agent.started.get(), WAIT)
    await controller.submit(change(S.PAUSED))
    agent.release()
    await controller.wait_until(lambda: not controller.active, timeout=WAIT)
    await controller.submit(message("carry on"))
    assert controller.state is S.RUNNING
    await asyncio.wait_for(agent.started.get(), WAIT)
    agent.release()
    await controller.wait_for_state(S.FINISHED, timeout=WAIT)
    await controller.close()


async def test_a_message_sent_while_the_agent_steps_is_answered(store: EventStore) -> None:
    agent = ScriptedAgent([MessageAction(content="question?", wait_for_response=True), AgentFinishAction()], gated=True)
    controller = make(store, agent)
    first = await started(controller, store)
    await controller.submit(message("one"))
    await asyncio.wait_for(agent.started.get(), WAIT)
    await controller.submit(message("two"))  # while step 1 (which has not seen it) is in flight
    agent.release(2)
    await controller.wait_for_state(S.FINISHED, timeout=WAIT)
    assert shapes(events(store, first)) == [
        *FIRST_MESSAGE,
        "user:message",
        "user:recall",
        "environment:null",
        "agent:message",
        "environment:agent_state_changed=awaiting_user_input",
        "environment:agent_state_changed=running",
        "agent:finish",
        "environment:agent_state_changed=finished",
    ]
    assert [e.kind for e in agent.histories[1] if e.source is EventSource.USER].count("message") == 2
    await controller.close()


async def test_stop_does_not_interrupt_a_users_command(store: EventStore) -> None:
    agent = ScriptedAgent([CmdRunAction(command="agent-cmd")])
    runtime = ScriptedRuntime(gated=True)
    controller = make(store, agent, runtime=runtime)
    first = await started(controller, store)
    user_cmd = await controller.submit(CmdRunAction(command="user-cmd"))
    await asyncio.wait_for(runtime.started.get(), WAIT)
    await controller.submit(message("go"))
    # The agent's command waits for the runtime, which is busy with the user's.
    await wait_stored(
        controller, store, lambda stored: stored[-1].kind == "run" and stored[-1].source is EventSource.AGENT
    )
    await controller.submit(change(S.STOPPED))
    assert runtime.interrupts == 0
    runtime.release()
    await wait_stored(controller, store, lambda stored: stored[-1].cause == user_cmd.id)
    assert shapes(events(store, first)) == [
        "user:run",
        *FIRST_MESSAGE,
        "agent:run",
        "user:change_agent_state=stopped",
        "agent:error",
        "environment:agent_state_changed=stopped",
        "user:run",
    ]
    await controller.close()
    assert [a.id for a in runtime.actions] == [user_cmd.id]


# ------------------------------------------------------------------------------------------------ errors


async def test_agent_exception_sets_error_with_reason_and_status(store: EventStore) -> None:
    agent = ScriptedAgent([RuntimeError("boom")])
    recorder = Recorder()
    controller = make(store, agent, recorder=recorder)
    first = await started(controller, store)
    await controller.submit(message("fail"))
    await controller.wait_for_state(S.ERROR, timeout=WAIT)

    turn = events(store, first)
    assert shapes(turn) == [*FIRST_MESSAGE, "environment:agent_state_changed=error"]
    assert isinstance(turn[-1], AgentStateChangedObservation) and turn[-1].extras.reason == "RuntimeError: boom"
    assert recorder.statuses[-1] == StatusUpdate(type="error", id="STATUS$ERROR", message="RuntimeError: boom")
    assert agent.resets == 1

    # The conversation goes on: a new message runs the agent again.
    await controller.submit(message("again"))
    await controller.wait_for_state(S.AWAITING_USER_INPUT, timeout=WAIT)
    await controller.close()


async def test_runtime_exception_answers_the_action_and_sets_error(store: EventStore) -> None:
    agent = ScriptedAgent([CmdRunAction(command="ls")])
    runtime = ScriptedRuntime([OSError("sandbox gone")])
    recorder = Recorder()
    controller = make(store, agent, runtime=runtime, recorder=recorder)
    first = await started(controller, store)
    await controller.submit(message("ls"))
    await controller.wait_for_state(S.ERROR, timeout=WAIT)
    turn = events(store, first)
    assert shapes(turn) == [*FIRST_MESSAGE, "agent:run", "agent:error", "environment:agent_state_changed=error"]
    assert turn[5].cause == turn[4].id
    assert isinstance(turn[5], ErrorObservation) and turn[5].extras.error_id == ERROR_ACTION_NOT_EXECUTED_ERROR_ID
    assert isinstance(turn[6], AgentStateChangedObservation) and turn[6].extras.reason == "OSError: sandbox gone"
    assert recorder.statuses[-1].message == "OSError: sandbox gone" and recorder.statuses[-1].is_error
    await controller.close()


async def test_max_iterations_stops_a_runaway_agent(store: EventStore) -> None:
    agent = ScriptedAgent([AgentThinkAction(thought=str(i)) for i in range(10)])
    controller = make(store, agent, max_iterations=3)
    await started(controller, store)
    await controller.submit(message("loop"))
    await controller.wait_for_state(S.ERROR, timeout=WAIT)
    last = events(store)[-1]
    assert isinstance(last, AgentStateChangedObservation)
    assert last.extras.reason.startswith("MaxIterationsReached: ")
    assert "max_iterations=3" in last.extras.reason
    assert len(agent.histories) == 3
    # Resuming grants a fresh budget.
    await controller.submit(change(S.RUNNING))
    await controller.wait_for_state(S.ERROR, timeout=WAIT)
    assert len(agent.histories) == 6
    await controller.close()


async def test_a_bad_return_value_is_an_agent_error(store: EventStore) -> None:
    agent = ScriptedAgent([NullObservation(content="")])  # type: ignore[list-item]
    controller = make(store, agent)
    await started(controller, store)
    await controller.submit(message("x"))
    await controller.wait_for_state(S.ERROR, timeout=WAIT)
    last = events(store)[-1]
    assert isinstance(last, AgentStateChangedObservation) and last.extras.reason.startswith("TypeError: ")
    await controller.close()


async def test_failing_callbacks_do_not_break_the_controller(store: EventStore) -> None:
    def explode(_: object) -> None:
        raise ValueError("callback bug")

    controller = AgentController(store, EchoAgent(), on_status=explode, on_state=explode)
    await controller.start()
    await controller.submit(message("hi"))
    await controller.wait_for_state(S.AWAITING_USER_INPUT, timeout=WAIT)
    await controller.close()


async def test_async_callbacks_are_scheduled(store: EventStore) -> None:
    seen: list[AgentState] = []

    async def on_state(state: AgentState) -> None:
        seen.append(state)

    controller = AgentController(store, EchoAgent(), on_state=on_state)
    await controller.start()
    await controller.close()  # waits for callback tasks
    assert seen == [S.LOADING, S.AWAITING_USER_INPUT]


# ------------------------------------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        (S.PAUSED, "only a running agent can be paused"),
        (S.STOPPED, "nothing to stop"),
        (S.USER_CONFIRMED, "no action is awaiting confirmation"),
        (S.USER_REJECTED, "no action is awaiting confirmation"),
        (S.LOADING, "not a state a user can ask for"),
        (S.ERROR, "not a state a user can ask for"),
        (S.FINISHED, "not a state a user can ask for"),
        (S.AWAITING_USER_INPUT, "not a state a user can ask for"),
        (S.AWAITING_USER_CONFIRMATION, "not a state a user can ask for"),
        (S.RATE_LIMITED, "not a state a user can ask for"),
    ],
)
async def test_illegal_state_changes_are_refused_and_nothing_is_stored(
    store: EventStore, target: AgentState, reason: str
) -> None:
    controller = make(store)
    await controller.start()
    count = store.count()
    assert reason in (controller.check(change(target)) or "")
    with pytest.raises(IllegalAction, match=reason):
        await controller.submit(change(target))
    assert store.count() == count
    assert controller.state is S.AWAITING_USER_INPUT
    await controller.close()


async def test_refusals_in_other_states(store: EventStore) -> None:
    controller = make(store, ScriptedAgent([CmdRunAction(command="x")]), confirmation_mode=True)
    assert "still starting" in (controller.check(message("early")) or "")
    with pytest.raises(IllegalAction):
        await controller.submit(message("early"))
    assert store.count() == 0

    await controller.start()
    await controller.submit(message("go"))
    await controller.wait_for_state(S.AWAITING_USER_CONFIRMATION, timeout=WAIT)
    count = store.count()
    for refused, reason in [
        (change(S.RUNNING), "confirm or reject it first"),
        (change(S.PAUSED), "only a running agent can be paused"),
        (change(S.AWAITING_USER_CONFIRMATION), "not a state a user can ask for"),
        (AgentFinishAction(), "a user cannot send a 'finish' action"),
        (AgentThinkAction(thought="x"), "a user cannot send a 'think' action"),
        (RecallAction(recall_type=RecallType.KNOWLEDGE), "a user cannot send a 'recall' action"),
    ]:
        with pytest.raises(IllegalAction, match=reason):
            await controller.submit(refused)
    assert "only actions" in (controller.check(NullObservation(content="")) or "")
    assert store.count() == count
    await controller.close()
    assert controller.check(message("late")) == "this conversation is closed"


async def test_illegal_action_is_a_value_error() -> None:
    assert issubclass(IllegalAction, ValueError)


# ------------------------------------------------------------------------------------------------ user commands


async def test_user_run_action_is_executed_by_the_runtime(store: EventStore) -> None:
    runtime = ScriptedRuntime()
    controller = make(store, runtime=runtime)
    first = await started(controller, store)
    sent = await controller.submit(event_from_dict({"action": "run", "args": {"command": "ls", "hidden": False}}))
    await wait_stored(controller, store, lambda stored: stored[-1].cause == sent.id)
    turn = events(store, first)
    assert shapes(turn) == ["user:run", "user:run"]
    assert turn[1].cause == sent.id
    assert controller.state is S.AWAITING_USER_INPUT
    await controller.close()


async def test_user_run_action_without_a_runtime(store: EventStore) -> None:
    controller = make(store)
    await controller.start()
    sent = await controller.submit(CmdRunAction(command="ls"))
    await wait_stored(controller, store, lambda stored: stored[-1].cause == sent.id)
    answer = events(store)[-1]
    assert isinstance(answer, ErrorObservation) and answer.content == NO_RUNTIME
    assert answer.source is EventSource.USER
    await controller.close()


async def test_agent_action_without_a_runtime_is_answered_with_an_error(store: EventStore) -> None:
    controller = make(store, ScriptedAgent([CmdRunAction(command="ls")]))
    first = await started(controller, store)
    await controller.submit(message("ls"))
    await controller.wait_for_state(S.AWAITING_USER_INPUT, timeout=WAIT)
    turn = events(store, first)
    assert shapes(turn)[4:6] == ["agent:run", "agent:error"]
    assert turn[5].cause == turn[4].id and turn[5].content == NO_RUNTIME
    await controller.close()


# ------------------------------------------------------------------------------------------------ concurrency


async def test_two_controllers_run_side_by_side(db: Database) -> None:
    store_a, store_b = db.events("conv-a"), db.events("conv-b")
    agent_a = ScriptedAgent([CmdRunAction(command="a"), AgentFinishAction()], gated=True)
    runtime_b = ScriptedRuntime(gated=True)
    agent_b = ScriptedAgent([CmdRunAction(command="b"), AgentFinishAction()])
    a = make(store_a, agent_a, runtime=ScriptedRuntime())
    b = make(store_b, agent_b, runtime=runtime_b)
    await asyncio.gather(a.start(), b.start())
    await asyncio.gather(a.submit(message("to a")), b.submit(message("to b")))

    # a is thinking and b's command is running, both at once on one loop.
    await asyncio.wait_for(agent_a.started.get(), WAIT)
    await asyncio.wait_for(runtime_b.started.get(), WAIT)
    assert a.active and b.active

    await b.submit(change(S.STOPPED))
    assert b.state is S.STOPPED and a.state is S.RUNNING
    agent_a.release(2)
    await a.wait_for_state(S.FINISHED, timeout=WAIT)

    assert shapes(events(store_a))[3:] == [
        *FIRST_MESSAGE,
        "agent:run",
        "agent:run",
        "agent:finish",
        "environment:agent_state_changed=finished",
    ]
    assert shapes(events(store_b))[3:] == [
        *FIRST_MESSAGE,
        "agent:run",
        "user:change_agent_state=stopped",
        "agent:error",
        "environment:agent_state_changed=stopped",
    ]
    await asyncio.gather(a.close(), b.close())


async def test_many_echo_conversations_at_once(db: Database) -> None:
    controllers = [make(db.events(f"c{i}")) for i in range(8)]
    await asyncio.gather(*(c.start() for c in controllers))
    await asyncio.gather(*(c.submit(message(f"n{i}")) for i, c in enumerate(controllers)))
    await asyncio.gather(*(c.wait_for_state(S.AWAITING_USER_INPUT, timeout=WAIT) for c in controllers))
    for i, controller in enumerate(controllers):
        answer = events(controller.events)[-2]
        assert isinstance(answer, MessageAction) and answer.args.content == f"Echo: n{i}"
    await asyncio.gather(*(c.close() for c in controllers))


# ------------------------------------------------------------------------------------------------ restart


async def test_restart_of_an_idle_conversation_records_nothing(store: EventStore) -> None:
    controller = make(store)
    await controller.start()
    await controller.submit(message("hi"))
    await controller.wait_for_state(S.AWAITING_USER_INPUT, timeout=WAIT)
    await controller.close()
    count = store.count()

    recorder = Recorder()
    again = make(store, recorder=recorder)
    await again.start()
    assert again.state is S.AWAITING_USER_INPUT
    assert store.count() == count
    assert recorder.states == [S.AWAITING_USER_INPUT]
    assert [s.id for s in recorder.statuses] == ["STATUS$STARTING_RUNTIME", "STATUS$RUNTIME_STARTED", "STATUS$READY"]
    # The next message is not the first one any more.
    await again.submit(message("again"))
    await again.wait_for_state(S.AWAITING_USER_INPUT, timeout=WAIT)
    assert shapes(events(store, count))[:4] == LATER_MESSAGE
    await again.close()


async def test_restart_after_dying_mid_run(db: Database, tmp_path: Path) -> None:
    store = db.events("conv-1")
    agent = ScriptedAgent([CmdRunAction(command="sleep 100", tool_call_metadata=tool_call("t"))])
    runtime = ScriptedRuntime(gated=True, deaf=True)
    controller = make(store, agent, runtime=runtime, close_timeout=0.01)
    await controller.start()
    await controller.submit(message("wait"))
    action = await asyncio.wait_for(runtime.started.get(), WAIT)
    # The sandbox hangs and the process goes away: close() records nothing for a run in progress.
    await controller.close()
    assert runtime.interrupts == 1 and runtime.closed and not controller.active
    assert events(store)[-1].id == action.id
    count = store.count()

    reopened = Database(tmp_path / "ohtui.db")
    try:
        store = reopened.events("conv-1")
        recorder = Recorder()
        again = make(store, recorder=recorder)
        await again.start()
        turn = events(store, count)
        assert shapes(turn) == ["agent:error", "environment:agent_state_changed=awaiting_user_input"]
        assert turn[0].cause == action.id
        assert isinstance(turn[0], ErrorObservation) and turn[0].content == ERROR_ACTION_NOT_EXECUTED_ERROR
        assert turn[0].tool_call_metadata == tool_call("t")
        assert isinstance(turn[1], AgentStateChangedObservation) and turn[1].extras.reason == RESTART_REASON
        assert again.state is S.AWAITING_USER_INPUT and recorder.states == [S.AWAITING_USER_INPUT]
        await again.close()
    finally:
        close = getattr(reopened, "close", None)
        if close is not None:
            close()


async def test_close_mid_run_keeps_the_interrupted_result(store: EventStore) -> None:
    agent = ScriptedAgent([CmdRunAction(command="sleep 100")])
    runtime = ScriptedRuntime(gated=True)
    controller = make(store, agent, runtime=runtime)
    await controller.start()
    await controller.submit(message("wait"))
    action = await asyncio.wait_for(runtime.started.get(), WAIT)
    await controller.close()
    assert runtime.interrupts == 1 and runtime.closed and not controller.active
    last = events(store)[-1]
    assert isinstance(last, CmdOutputObservation) and last.cause == action.id and last.exit_code == 130
    # Its last state is still "running": the next start marks the restart, with no error observation.
    again = make(store)
    await again.start()
    assert shapes(events(store, (last.id or 0) + 1)) == ["environment:agent_state_changed=awaiting_user_input"]
    await again.close()


async def test_restart_keeps_a_pending_confirmation(store: EventStore) -> None:
    runtime = ScriptedRuntime()
    controller, pending_id = await _awaiting_confirmation(store, runtime)
    await controller.close()
    count = store.count()

    runtime = ScriptedRuntime()
    again = make(store, ScriptedAgent([AgentFinishAction()]), runtime=runtime, confirmation_mode=True)
    await again.start()
    assert again.state is S.AWAITING_USER_CONFIRMATION and store.count() == count
    assert again.pending_action is not None and again.pending_action.id == pending_id
    await again.submit(change(S.USER_CONFIRMED))
    await again.wait_for_state(S.FINISHED, timeout=WAIT)
    assert len(runtime.actions) == 1 and isinstance(runtime.actions[0], CmdRunAction)
    assert runtime.actions[0].args.confirmation_state is ActionConfirmationStatus.CONFIRMED
    await again.close()


@pytest.mark.parametrize("state", [S.STOPPED, S.FINISHED, S.ERROR, S.PAUSED, S.REJECTED])
async def test_restart_restores_settled_states(store: EventStore, state: AgentState) -> None:
    store.append(AgentStateChangedObservation(agent_state=S.LOADING), EventSource.ENVIRONMENT)
    store.append(AgentStateChangedObservation(agent_state=state), EventSource.ENVIRONMENT)
    controller = make(store)
    await controller.start()
    assert controller.state is state and store.count() == 2
    await controller.close()


@pytest.mark.parametrize("state", [S.RUNNING, S.LOADING, S.USER_CONFIRMED, S.RATE_LIMITED])
async def test_restart_from_transient_states(store: EventStore, state: AgentState) -> None:
    store.append(AgentStateChangedObservation(agent_state=state), EventSource.ENVIRONMENT)
    controller = make(store)
    await controller.start()
    assert controller.state is S.AWAITING_USER_INPUT
    last = events(store)[-1]
    assert isinstance(last, AgentStateChangedObservation) and last.extras.reason == RESTART_REASON
    await controller.close()


async def test_close_is_idempotent_and_closes_the_runtime(store: EventStore) -> None:
    runtime = ScriptedRuntime()
    controller = make(store, runtime=runtime)
    await controller.start()
    count = store.count()
    await controller.close()
    await controller.close()
    assert runtime.closed and store.count() == count
    with pytest.raises(IllegalAction, match="closed"):
        await controller.submit(message("late"))


# ------------------------------------------------------------------------------------------------ small parts


def test_registry_creates_echo_and_names_the_known_agents() -> None:
    assert isinstance(create_agent("echo"), EchoAgent)
    assert create_agent("echo", prefix="> ").prefix == "> "  # type: ignore[attr-defined]
    assert "echo" in AGENTS
    with pytest.raises(UnknownAgentError, match=r"known agents: .*echo"):
        create_agent("nope")


async def test_echo_agent_is_deterministic() -> None:
    history: list[Event] = [message("one").model_copy(update={"source": EventSource.USER, "id": 3})]
    agent = EchoAgent()
    first, second = await agent.step(history), await agent.step(history)
    assert first == second
    assert isinstance(first, MessageAction) and first.args.content == "Echo: one" and first.args.wait_for_response


def test_runnable_kinds() -> None:
    runnable: list[Action] = [CmdRunAction(command="x"), FileEditAction(path="p")]
    assert all(is_runnable(a) for a in runnable)
    assert not any(is_runnable(a) for a in [MessageAction(content="x"), AgentThinkAction(), AgentFinishAction()])


def test_scripted_runtime_satisfies_the_runtime_protocol() -> None:
    assert isinstance(ScriptedRuntime(), Runtime)
    observation = CmdOutputObservation(content="", command="x", metadata=CmdOutputMetadata(exit_code=0))
    assert observation.success
