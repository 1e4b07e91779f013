"""The controller's StepLoop and ActionRunner, wired by hand to a Recorder on a real SQLite store and the scripted
agent and runtime of agent_helpers: no AgentController, no App."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pytest

from ohtui.agent.base import Agent, Runtime
from ohtui.agent.controller.confirmation import Confirmation
from ohtui.agent.controller.loop import StepLoop
from ohtui.agent.controller.recording import Recorder
from ohtui.agent.controller.runner import ActionRunner
from ohtui.agent.controller.tasks import BackgroundTasks
from ohtui.agent.controller.texts import ERROR_ACTION_NOT_EXECUTED_STOPPED_ID, NO_RUNTIME
from ohtui.agent.signals import ActionError, report_retry
from ohtui.protocol import (
    Action,
    AgentFinishAction,
    AgentState,
    AgentThinkAction,
    CmdRunAction,
    ErrorObservation,
    Event,
    MessageAction,
    Observation,
    StatusUpdate,
    ToolCallMetadata,
)
from ohtui.store import Database, EventStore
from tests.agent_helpers import ScriptedAgent, ScriptedRuntime, shapes

S = AgentState
WAIT = 10.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    db = Database(tmp_path / "x.db")
    yield db.events("conv")
    db.close()


@dataclass
class Parts:
    recorder: Recorder
    confirmation: Confirmation
    loop: StepLoop
    lock: asyncio.Lock
    statuses: list[StatusUpdate] = field(default_factory=list)

    async def run(self, *until: AgentState) -> list[Event]:
        """Set the state running, start the loop, and return what it stored by the time the state is one of
        ``until`` and the loop has stopped."""
        first = self.recorder.events.latest_id() + 1
        async with self.lock:
            self.recorder.restore(S.RUNNING)
            self.loop.ensure()
        await self.settled(*until)
        return list(self.recorder.events.search(start_id=first))

    async def settled(self, *states: AgentState) -> None:
        await self.recorder.wait_until(lambda: self.recorder.state in states and not self.loop.active, WAIT)


def parts(
    store: EventStore, agent: Agent, runtime: Runtime | None = None, *, mode: bool = False, max_iterations: int = 100
) -> Parts:
    tasks = BackgroundTasks()
    statuses: list[StatusUpdate] = []
    recorder = Recorder(store, tasks, name="test", on_status=statuses.append)
    confirmation = Confirmation(recorder, mode=mode)
    runner = ActionRunner(agent, runtime, name="test")
    lock = asyncio.Lock()
    loop = StepLoop(agent, recorder, confirmation, runner, tasks, lock, max_iterations=max_iterations, name="test")
    return Parts(recorder, confirmation, loop, lock, statuses)


async def test_the_loop_steps_runs_and_settles(store: EventStore) -> None:
    agent = ScriptedAgent([CmdRunAction(command="ls"), AgentThinkAction(thought="hm"), AgentFinishAction()])
    runtime = ScriptedRuntime()
    p = parts(store, agent, runtime)
    stored = await p.run(S.FINISHED)
    assert shapes(stored) == [
        "agent:run",
        "agent:run",
        "agent:think",
        "agent:think",
        "agent:finish",
        "environment:agent_state_changed=finished",
    ]
    assert stored[1].cause == stored[0].id and [a.id for a in runtime.actions] == [stored[0].id]
    assert len(agent.histories) == 3 and p.confirmation.pending is None


async def test_max_iterations_ends_the_run_in_error(store: EventStore) -> None:
    agent = ScriptedAgent([AgentThinkAction(thought=str(n)) for n in range(5)])
    p = parts(store, agent, max_iterations=2)
    stored = await p.run(S.ERROR)
    assert shapes(stored)[-1] == "environment:agent_state_changed=error"
    assert len(agent.histories) == 2 and agent.resets == 1
    assert [s.id for s in p.statuses] == ["STATUS$ERROR"]
    assert p.statuses[0].message.startswith("MaxIterationsReached: the agent took 2 steps")


async def test_an_action_error_is_shown_to_the_model_and_it_steps_again(store: EventStore) -> None:
    call = ToolCallMetadata(function_name="f", tool_call_id="c9", model_response={}, total_calls_in_response=1)
    agent = ScriptedAgent([ActionError("bad arguments", call), AgentFinishAction()])
    stored = await parts(store, agent).run(S.FINISHED)
    assert shapes(stored) == ["agent:error", "agent:finish", "environment:agent_state_changed=finished"]
    assert isinstance(stored[0], ErrorObservation) and stored[0].tool_call_metadata == call


async def test_confirmation_waits_then_execute_runs_the_confirmed_action(store: EventStore) -> None:
    runtime = ScriptedRuntime()
    p = parts(store, ScriptedAgent([CmdRunAction(command="rm x"), AgentFinishAction()]), runtime, mode=True)
    await p.run(S.AWAITING_USER_CONFIRMATION)
    assert runtime.actions == []
    async with p.lock:
        p.loop.execute(p.confirmation.confirm())
    await p.settled(S.FINISHED)
    assert shapes(store.search(start_id=2)) == [
        "agent:run",
        "environment:agent_state_changed=user_confirmed",
        "agent:run",
        "environment:agent_state_changed=running",
        "agent:finish",
        "environment:agent_state_changed=finished",
    ]


async def test_stop_interrupts_the_action_and_drops_its_late_result(store: EventStore) -> None:
    agent = ScriptedAgent([CmdRunAction(command="sleep 100")])
    runtime = ScriptedRuntime(gated=True, deaf=True)
    p = parts(store, agent, runtime)
    async with p.lock:
        p.recorder.restore(S.RUNNING)
        p.loop.ensure()
    await asyncio.wait_for(runtime.started.get(), WAIT)
    async with p.lock:
        task = await p.loop.stop()
    assert task is not None and runtime.interrupts == 1 and agent.resets == 1
    runtime.release()  # the deaf runtime finishes after all
    await asyncio.wait({task}, timeout=WAIT)
    await p.recorder.wait_until(lambda: runtime.finished == 1, WAIT)
    await asyncio.sleep(0)
    stored = list(store.search())
    assert shapes(stored) == ["agent:run", "agent:error", "environment:agent_state_changed=stopped"]
    assert isinstance(stored[1], ErrorObservation) and stored[1].extras.error_id == ERROR_ACTION_NOT_EXECUTED_STOPPED_ID
    assert not p.loop.active and p.recorder.state is S.STOPPED


class Stubborn(Agent):
    """Swallows the cancellation of its step and returns an action all the same (as some LLM clients do)."""

    name: ClassVar[str] = "stubborn"

    def __init__(self) -> None:
        self.started = asyncio.Event()

    async def step(self, history: Sequence[Event]) -> Action:
        self.started.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(WAIT)
        return AgentFinishAction()


async def test_a_step_that_returns_after_a_stop_stores_nothing(store: EventStore) -> None:
    agent = Stubborn()
    p = parts(store, agent)
    async with p.lock:
        p.recorder.restore(S.RUNNING)
        p.loop.ensure()
    await asyncio.wait_for(agent.started.wait(), WAIT)
    assert p.loop.active
    async with p.lock:
        task = await p.loop.stop()
    assert task is not None
    await asyncio.wait_for(task, WAIT)  # it returned normally: the cancellation was swallowed
    assert shapes(store.search()) == ["environment:agent_state_changed=stopped"]
    assert not p.loop.active


async def test_a_message_during_a_step_keeps_the_agent_running(store: EventStore) -> None:
    agent = ScriptedAgent([MessageAction(content="done?", wait_for_response=True), AgentFinishAction()], gated=True)
    p = parts(store, agent)
    async with p.lock:
        p.recorder.restore(S.RUNNING)
        p.loop.ensure()
    await asyncio.wait_for(agent.started.get(), WAIT)
    async with p.lock:
        p.loop.user_spoke()
    agent.release(2)
    await p.settled(S.FINISHED)
    assert shapes(store.search()) == [
        "agent:message",
        "environment:agent_state_changed=awaiting_user_input",
        "environment:agent_state_changed=running",
        "agent:finish",
        "environment:agent_state_changed=finished",
    ]


class RetryingAgent(Agent):
    name: ClassVar[str] = "retrying"

    async def step(self, history: Sequence[Event]) -> Action:
        await report_retry(1, 3, rate_limited=True)
        return AgentFinishAction()


async def test_retries_are_reported_and_a_rate_limit_is_a_state(store: EventStore) -> None:
    p = parts(store, RetryingAgent())
    stored = await p.run(S.FINISHED)
    assert shapes(stored) == [
        "environment:agent_state_changed=rate_limited",
        "environment:agent_state_changed=running",
        "agent:finish",
        "environment:agent_state_changed=finished",
    ]
    assert [(s.id, s.message) for s in p.statuses] == [("STATUS$LLM_RETRY", "Retrying LLM request, 1 / 3")]


async def test_a_halted_loop_does_not_start_again(store: EventStore) -> None:
    agent = ScriptedAgent([AgentFinishAction()])
    p = parts(store, agent)
    async with p.lock:
        assert p.loop.halt() == (None, None)
        p.recorder.restore(S.RUNNING)
        p.loop.ensure()
    await asyncio.sleep(0.01)
    assert agent.histories == [] and store.latest_id() == -1


def test_max_iterations_must_allow_a_step(store: EventStore) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        parts(store, ScriptedAgent(), max_iterations=0)


# ------------------------------------------------------------------------------------------------ ActionRunner


class BringsItsOwn(ScriptedAgent):
    def __init__(self) -> None:
        super().__init__()
        self.provided_runtime = ScriptedRuntime()


class MakesOne(ScriptedAgent):
    def __init__(self) -> None:
        super().__init__()
        self.made: list[ScriptedRuntime] = []

    def default_runtime(self) -> ScriptedRuntime:
        self.made.append(ScriptedRuntime())
        return self.made[-1]


async def test_runner_chooses_the_agents_runtime_and_closes_both() -> None:
    given = ScriptedRuntime()
    agent = BringsItsOwn()
    runner = ActionRunner(agent, given, name="test")
    assert runner.runtime is agent.provided_runtime
    await runner.close()
    assert agent.provided_runtime.closed and given.closed
    maker = MakesOne()
    assert ActionRunner(maker, given, name="test").runtime is given and maker.made == []
    assert ActionRunner(maker, None, name="test").runtime is maker.made[0]


async def test_runner_without_a_runtime_answers_with_an_error() -> None:
    runner = ActionRunner(ScriptedAgent(), None, name="test")
    observation = await runner.run(CmdRunAction(command="ls"))
    assert isinstance(observation, ErrorObservation) and observation.content == NO_RUNTIME
    await runner.interrupt()
    await runner.close()


async def test_runner_runs_one_action_at_a_time_and_knows_which() -> None:
    runtime = ScriptedRuntime(gated=True)
    runner = ActionRunner(ScriptedAgent(), runtime, name="test")
    first, second = CmdRunAction(command="one"), CmdRunAction(command="two")
    calls = [asyncio.create_task(runner.run(first)), asyncio.create_task(runner.run(second))]
    await asyncio.wait_for(runtime.started.get(), WAIT)
    await asyncio.sleep(0.01)
    assert runner.busy_with is first and runtime.actions == [first]
    runtime.release()
    await asyncio.wait_for(runtime.started.get(), WAIT)
    assert runner.busy_with is second
    runtime.release()
    await asyncio.gather(*calls)
    assert runner.busy_with is None


class Broken:
    async def run_action(self, action: Action) -> Observation:
        return "not an observation"  # type: ignore[return-value]

    async def interrupt(self) -> None:
        raise RuntimeError("interrupt bug")

    async def close(self) -> None:
        raise RuntimeError("close bug")


async def test_runner_refuses_a_non_observation_and_survives_a_broken_runtime(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runner = ActionRunner(ScriptedAgent(), Broken(), name="test")
    with pytest.raises(TypeError, match="not an Observation"):
        await runner.run(CmdRunAction(command="ls"))
    assert runner.busy_with is None
    with caplog.at_level(logging.ERROR):
        await runner.interrupt()
        await runner.close()
    assert "runtime.interrupt() failed" in caplog.text and "runtime.close() failed" in caplog.text
