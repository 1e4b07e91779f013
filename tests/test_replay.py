"""The replay agent: the bundled demo through the real server and client, and the rules of replaying."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from ohtui.agent.controller import AgentController
from ohtui.agent.registry import create_agent
from ohtui.agent.replay import NOT_RECORDED, REPLAY_OVER, ReplayAgent, build_script, demo_events
from ohtui.client.backoff import BackoffPolicy
from ohtui.client.connection import Connection
from ohtui.client.status import ConnectionState
from ohtui.protocol import (
    Action,
    AgentFinishAction,
    AgentState,
    AgentStateChangedObservation,
    AgentThinkAction,
    CmdOutputObservation,
    CmdRunAction,
    ErrorObservation,
    Event,
    EventSource,
    MessageAction,
    Observation,
    event_from_dict,
    event_to_dict,
)
from ohtui.protocol.intents import user_message
from ohtui.store import Database, EventStore
from tests.agent_helpers import ScriptedAgent, ScriptedRuntime, shapes
from tests.client_helpers import StateLog, store_until
from tests.socket_helpers import is_state, running_server, v0_client

S = AgentState
WAIT = 20.0


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "ohtui.db")
    yield database
    database.close()


def recorded_demo() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(
        resources.files("ohtui.agent").joinpath("trajectories/demo.json").read_text(encoding="utf-8")
    )
    return data


def agent_view(events: list[Event]) -> list[tuple[str, str, str]]:
    """What the agent side did: kind plus the command/path/content that identifies it, in order."""
    rows = []
    for event in events:
        if event.source is not EventSource.AGENT:
            continue
        data = event_to_dict(event)
        detail = data.get("args", {}).get("command") or data.get("args", {}).get("path") or data.get("content", "")
        rows.append(("action" if isinstance(event, Action) else "observation", event.kind, str(detail)))
    return rows


def state_of(store: EventStore) -> AgentState | None:
    states = [e for e in store.search() if isinstance(e, AgentStateChangedObservation)]
    return states[-1].agent_state if states else None


# ------------------------------------------------------------------------------------------------------- the demo file


def test_the_demo_is_a_valid_upstream_trajectory() -> None:
    data = recorded_demo()
    assert 30 <= len(data) <= 60
    for item in data:
        assert event_to_dict(event_from_dict(item)) == item  # upstream's exact dict form, key order included
    assert [item["id"] for item in data] == list(range(len(data)))
    events = demo_events()
    kinds = {e.kind for e in events}
    assert {"system", "message", "run", "edit", "read", "think", "finish"} <= kinds
    users = [e for e in events if isinstance(e, MessageAction) and e.source is EventSource.USER]
    assert len(users) == 2
    timestamps = [e.timestamp or "" for e in events]
    assert timestamps == sorted(timestamps)


def test_script_of_the_demo() -> None:
    events = demo_events()
    system, steps = build_script(events)
    assert system is not None and system.kind == "system"
    recorded = [e for e in events if isinstance(e, Action) and e.source is EventSource.AGENT and e.kind != "system"]
    assert [s.action.kind for s in steps] == [a.kind for a in recorded]
    assert [s.users_before for s in steps] == [1 if a.id < 26 else 2 for a in recorded if a.id is not None]
    for step, action in zip(steps, recorded, strict=True):
        assert step.action.id is None and step.action.source is None
        assert step.action.tool_call_metadata == action.tool_call_metadata
        answer = next((e for e in events if isinstance(e, Observation) and e.cause == action.id), None)
        if step.action.kind in ("run", "edit", "read"):
            assert answer is not None and step.observation is not None
            assert step.observation.content == answer.content and step.observation.cause is None
            assert step.duration > 0
        else:
            assert step.observation is None
    assert all(step.delay >= 0 for step in steps) and steps[0].delay > 1  # the model "thought" before acting


# ------------------------------------------------------------------------------------------------------- real server


FAST = BackoffPolicy(base=0.05, cap=0.3, stable_after=0.5)


@asynccontextmanager
async def ohtui_client(url: str, tmp_path: Path, key: str | None) -> AsyncIterator[tuple[Connection, EventStore]]:
    db = Database(tmp_path / f"client-{random.random()}.db")
    store = db.events("demo")
    log = StateLog()
    connection = Connection(url, "demo", store, key=key, on_change=log, backoff=FAST)
    await connection.start()
    try:
        await log.wait_for(ConnectionState.CONNECTED)
        yield connection, store
    finally:
        await connection.close()
        db.close()


async def test_the_demo_replays_through_the_real_server_and_client(tmp_path: Path) -> None:
    recorded = demo_events()
    async with (
        running_server(tmp_path, agent="replay", agent_options={"speed": 0}) as server,
        ohtui_client(server.url, tmp_path, server.key) as (connection, mirror),
    ):
        await store_until(mirror, lambda: state_of(mirror) is S.AWAITING_USER_INPUT, timeout=WAIT)
        assert (await connection.send(user_message("Show me what you can do"))).accepted
        await store_until(
            mirror,
            lambda: (
                state_of(mirror) is S.AWAITING_USER_INPUT
                and any(isinstance(e, MessageAction) and e.source is EventSource.AGENT for e in mirror.search())
            ),
            timeout=WAIT,
        )
        assert (await connection.send(user_message("Sure, go ahead"))).accepted
        await store_until(mirror, lambda: state_of(mirror) is S.FINISHED, timeout=WAIT)
        replayed = list(mirror.search())
    # The controller's own events (states, recall) are regenerated in the same order as recorded, and every
    # agent action and observation arrives as recorded.
    assert shapes(replayed) == shapes(recorded)
    assert agent_view(replayed) == agent_view(recorded)
    finish = [e for e in replayed if isinstance(e, AgentFinishAction)]
    assert finish[0].args.final_thought.startswith("Added `--top N`")
    metrics = [e.llm_metrics for e in replayed if isinstance(e, Action) and e.llm_metrics is not None]
    assert metrics and metrics[-1].accumulated_cost > 0


async def test_a_stock_v0_client_sees_the_recorded_agent_events_in_order(tmp_path: Path) -> None:
    recorded = [(e.kind, e.id) for e in demo_events() if e.source is EventSource.AGENT and e.kind != "system"]
    async with running_server(tmp_path, agent="replay", agent_options={"speed": 0}) as server:
        async with v0_client(server.url, conversation_id="demo", session_api_key=server.key) as client:
            await client.frames_until(is_state("awaiting_user_input"))
            await client.action({"action": "message", "args": {"content": "hello"}})
            frames = await client.frames_until(is_state("awaiting_user_input"))
            await client.action({"action": "message", "args": {"content": "yes"}})
            frames += await client.frames_until(is_state("finished"))
    live = [f.get("action") or f.get("observation") for f in frames if f.get("source") == "agent"]
    live = [kind for kind in live if kind not in ("agent_state_changed", "recall")]
    assert live == [kind for kind, _ in recorded]


async def test_replay_is_the_default_demo_and_ends_politely(tmp_path: Path, db: Database) -> None:
    agent = create_agent("replay", speed=0)
    assert isinstance(agent, ReplayAgent)
    store = db.events("c")
    controller = AgentController(store, agent)
    await controller.start()
    try:
        for text in ("go", "yes"):
            await controller.submit(MessageAction(content=text))
            await controller.wait_for_state(S.AWAITING_USER_INPUT, S.FINISHED, timeout=WAIT)
        assert controller.state is S.FINISHED
        await controller.submit(MessageAction(content="more?"))
        await controller.wait_for_state(S.AWAITING_USER_INPUT, timeout=WAIT)
        last = [e for e in store.search() if isinstance(e, MessageAction)][-1]
        assert last.source is EventSource.AGENT and last.args.content == REPLAY_OVER
    finally:
        await controller.close()


# ------------------------------------------------------------------------------------------------------- rules


def _recording(tmp_path: Path) -> list[dict[str, Any]]:
    """A small hand-made recording: a user message arrives mid-run (the agent did not stop for it)."""
    marker = tmp_path / "must-not-exist"
    base = "2025-01-01T10:00:"
    rows: list[dict[str, Any]] = [
        {"action": "message", "source": "user", "args": {"content": "start"}},
        {"action": "run", "source": "agent", "args": {"command": f"touch {marker}"}},
        {
            "observation": "run",
            "source": "agent",
            "cause": 1,
            "content": "recorded output\n",
            "extras": {"command": f"touch {marker}", "metadata": {"exit_code": 0}},
        },
        {"action": "message", "source": "user", "args": {"content": "and then?"}},
        {"action": "think", "source": "agent", "args": {"thought": "continuing"}},
        {"action": "finish", "source": "agent", "args": {"final_thought": "done"}},
    ]
    for number, row in enumerate(rows):
        row["id"] = number
        row["timestamp"] = f"{base}{10 + 2 * number:02d}.000000"
    return rows


async def test_waits_for_the_user_where_the_recording_had_a_message(tmp_path: Path, db: Database) -> None:
    store = db.events("c")
    runtime = ScriptedRuntime()
    controller = AgentController(store, ReplayAgent(events=_recording(tmp_path), speed=0), runtime=runtime)
    await controller.start()
    try:
        await controller.submit(MessageAction(content="anything"))
        await controller.wait_for_state(S.AWAITING_USER_INPUT, timeout=WAIT)
        assert shapes(list(store.search()))[-4:] == [
            "agent:run",
            "agent:run",
            "agent:change_agent_state=awaiting_user_input",
            "environment:agent_state_changed=awaiting_user_input",
        ]
        await controller.submit(MessageAction(content="go on"))
        await controller.wait_for_state(S.FINISHED, timeout=WAIT)
    finally:
        await controller.close()
    events = list(store.search())
    assert not (tmp_path / "must-not-exist").exists()  # the replay's own runtime ran nothing
    assert runtime.actions == []  # …and the server's runtime was not used
    (output,) = [e for e in events if isinstance(e, CmdOutputObservation)]
    assert output.content == "recorded output\n" and output.exit_code == 0
    assert [e.kind for e in events if isinstance(e, AgentThinkAction | AgentFinishAction)] == ["think", "finish"]


async def test_a_users_own_command_is_not_run(tmp_path: Path, db: Database) -> None:
    agent = ReplayAgent(events=_recording(tmp_path), speed=0)
    observation = await agent.provided_runtime.run_action(CmdRunAction(command=f"touch {tmp_path / 'x'}"))
    assert isinstance(observation, ErrorObservation) and observation.content == NOT_RECORDED
    assert not (tmp_path / "x").exists()


def test_pacing_comes_from_the_timestamps(tmp_path: Path) -> None:
    _, steps = build_script([event_from_dict(row) for row in _recording(tmp_path)])
    assert [(s.action.kind, s.delay, s.duration, s.users_before) for s in steps] == [
        ("run", 2.0, 2.0, 1),
        ("think", 2.0, 0.0, 2),
        ("finish", 2.0, 0.0, 2),
    ]


async def test_confirmation_copies_replay_once_and_rejected_actions_not_at_all(tmp_path: Path, db: Database) -> None:
    record = db.events("recorded")
    script = [
        CmdRunAction(command="echo kept", thought="why I ran it"),
        CmdRunAction(command="echo refused"),
        AgentFinishAction(final_thought="done"),
    ]
    controller = AgentController(record, ScriptedAgent(script), runtime=ScriptedRuntime(), confirmation_mode=True)
    await controller.start()
    try:
        await controller.submit(MessageAction(content="go"))
        await controller.wait_for_state(S.AWAITING_USER_CONFIRMATION, timeout=WAIT)
        await controller.submit(_state("user_confirmed"))
        await controller.wait_until(
            lambda: (
                controller.state is S.AWAITING_USER_CONFIRMATION
                and isinstance(p := controller.pending_action, CmdRunAction)
                and p.args.command == "echo refused"
            ),
            timeout=WAIT,
        )
        await controller.submit(_state("user_rejected"))
        await controller.submit(MessageAction(content="skip that"))
        await controller.wait_for_state(S.FINISHED, timeout=WAIT)
    finally:
        await controller.close()
    recorded = list(record.search())
    assert sum(1 for e in recorded if isinstance(e, CmdRunAction)) == 4  # two copies of each
    _, steps = build_script(recorded)
    assert [s.action.kind for s in steps] == ["run", "finish"]
    kept = steps[0].action
    assert isinstance(kept, CmdRunAction) and kept.args.thought == "why I ran it"
    assert kept.args.confirmation_state.value == "confirmed"
    assert isinstance(steps[0].observation, CmdOutputObservation)
    assert steps[0].observation.content == "output of echo kept\n"
    assert [s.users_before for s in steps] == [1, 2]


async def test_a_restarted_server_resumes_the_replay(tmp_path: Path, db: Database) -> None:
    store = db.events("c")
    first = AgentController(store, ReplayAgent(speed=0))
    await first.start()
    try:
        await first.submit(MessageAction(content="go"))
        await first.wait_for_state(S.AWAITING_USER_INPUT, timeout=WAIT)
    finally:
        await first.close()
    second = AgentController(store, ReplayAgent(speed=0))
    await second.start()
    try:
        await second.submit(MessageAction(content="yes"))
        await second.wait_for_state(S.FINISHED, timeout=WAIT)
    finally:
        await second.close()
    assert shapes(list(store.search())) == shapes(demo_events())


async def test_a_trajectory_file_can_be_replayed(tmp_path: Path) -> None:
    path = tmp_path / "trajectory.json"
    path.write_text(json.dumps(recorded_demo()))
    from_file = ReplayAgent(path, speed=0)
    assert [s.action for s in from_file.steps] == [s.action for s in ReplayAgent(speed=0).steps]
    with pytest.raises(ValueError):
        ReplayAgent(path, speed=-1)


def _state(state: str) -> Any:
    return event_from_dict({"action": "change_agent_state", "args": {"agent_state": state}})
