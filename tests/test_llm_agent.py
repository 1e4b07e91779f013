"""The LLM agent end to end: real controller, real SQLite store, real bash, the real ``openai`` client talking to a
fake OpenAI-compatible server on loopback (tests/fake_llm.py)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ohtui.agent.controller import ERROR_ACTION_NOT_EXECUTED_STOPPED, USER_REJECTED, AgentController
from ohtui.agent.llm.agent import NOT_CONFIGURED, LLMAgent
from ohtui.agent.llm.prompt import NOT_EXECUTED
from ohtui.agent.registry import create_agent
from ohtui.agent.runtime import CONTINUED_PREFIX, LocalRuntime
from ohtui.config import LLMSettings
from ohtui.protocol import (
    Action,
    ActionConfirmationStatus,
    AgentFinishAction,
    AgentState,
    AgentStateChangedObservation,
    ChangeAgentStateAction,
    CmdOutputObservation,
    CmdRunAction,
    ErrorObservation,
    Event,
    EventSource,
    FileEditObservation,
    FileReadObservation,
    MessageAction,
    Observation,
    StatusUpdate,
    SystemMessageAction,
    event_from_dict,
    event_to_dict,
)
from ohtui.store import Database, EventStore
from tests.agent_helpers import shapes
from tests.fake_llm import FakeLLM, error, text, tools
from tests.socket_helpers import is_state, running_server, v0_client

S = AgentState
WAIT = 20.0  # seconds; only reached when something is broken
ENV_NAMES = ("OHTUI_LLM_MODEL", "OHTUI_LLM_BASE_URL", "OHTUI_LLM_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL")

START = [
    "environment:agent_state_changed=loading",
    "agent:system",
    "environment:change_agent_state=awaiting_user_input",
]
START += ["environment:agent_state_changed=awaiting_user_input"]
FIRST = ["user:message", "user:recall", "environment:agent_state_changed=running", "environment:recall"]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "ohtui.db")
    yield database
    database.close()


@pytest.fixture
async def fake() -> AsyncIterator[FakeLLM]:
    server = FakeLLM()
    await server.start()
    yield server
    await server.close()


def settings(fake: FakeLLM, **changes: Any) -> LLMSettings:
    base = LLMSettings(
        model="fake-model", base_url=fake.url, api_key="sk-test", retry_min_wait=0.01, retry_max_wait=0.05, timeout=10
    )
    return base.replace(**changes)


@dataclass
class Session:
    controller: AgentController
    store: EventStore
    runtime: LocalRuntime
    work: Path
    statuses: list[StatusUpdate] = field(default_factory=list)

    async def say(self, content: str) -> None:
        await self.controller.submit(MessageAction(content=content))

    async def decide(self, state: AgentState, **extra: Any) -> None:
        action = event_from_dict({"action": "change_agent_state", "args": {"agent_state": state.value, **extra}})
        assert isinstance(action, ChangeAgentStateAction)
        await self.controller.submit(action)

    async def wait(self, *states: AgentState) -> None:
        await self.controller.wait_for_state(*states, timeout=WAIT)

    def events(self) -> list[Event]:
        return list(self.store.search())

    def shapes(self) -> list[str]:
        return shapes(self.events())

    def of(self, cls: type[Any]) -> list[Any]:
        return [e for e in self.events() if isinstance(e, cls)]

    def states(self) -> list[str]:
        return [e.agent_state.value for e in self.of(AgentStateChangedObservation)]


@asynccontextmanager
async def session(
    tmp_path: Path,
    db: Database,
    fake: FakeLLM,
    *,
    confirmation_mode: bool = False,
    runtime_options: dict[str, Any] | None = None,
    conversation: str = "c",
    **llm: Any,
) -> AsyncIterator[Session]:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    runtime = LocalRuntime(work, **(runtime_options or {}))
    agent = LLMAgent(settings(fake, **llm), confirmation_mode=confirmation_mode, work_dir=str(work))
    store = db.events(conversation)
    statuses: list[StatusUpdate] = []
    controller = AgentController(store, agent, runtime=runtime, on_status=statuses.append, working_dir=str(work))
    await controller.start()
    try:
        yield Session(controller, store, runtime, work, statuses)
    finally:
        await controller.close()


def answered(events: list[Event], action: Action) -> Observation:
    matches = [e for e in events if isinstance(e, Observation) and e.cause == action.id]
    assert len(matches) == 1, matches
    return matches[0]


# ------------------------------------------------------------------------------------------------------- the happy path


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "no-stream"])
async def test_runs_commands_edits_a_file_and_finishes(
    tmp_path: Path, db: Database, fake: FakeLLM, stream: bool
) -> None:
    fake.add(
        tools(("execute_bash", {"command": "mkdir -p pkg && cd pkg && echo hello"}), content="Let me look around."),
        tools(("str_replace_editor", {"command": "create", "path": "pkg/hi.py", "file_text": "print('hi')\n"})),
        tools(
            ("str_replace_editor", {"command": "str_replace", "path": "pkg/hi.py", "old_str": "hi", "new_str": "yo"})
        ),
        tools(("str_replace_editor", {"command": "view", "path": "pkg/hi.py"})),
        tools(("execute_bash", {"command": "python3 hi.py; exit 3"})),
        tools(("think", {"thought": "It prints yo."})),
        tools(("finish", {"message": "Wrote pkg/hi.py."}), content="Done."),
    )
    async with session(tmp_path, db, fake, stream=stream) as s:
        await s.say("Write pkg/hi.py")
        await s.wait(S.FINISHED)
        assert s.shapes() == [
            *START,
            *FIRST,
            "agent:run",
            "agent:run",
            "agent:edit",
            "agent:edit",
            "agent:edit",
            "agent:edit",
            "agent:read",
            "agent:read",
            "agent:run",
            "agent:run",
            "agent:think",
            "agent:think",
            "agent:finish",
            "environment:agent_state_changed=finished",
        ]
        events = s.events()
        runs = s.of(CmdRunAction)
        first = answered(events, runs[0])
        assert isinstance(first, CmdOutputObservation)
        assert first.content == "hello\n"
        assert first.extras.metadata.exit_code == 0
        assert first.extras.metadata.working_dir == str(s.work / "pkg")
        assert first.extras.metadata.pid > 0 and first.extras.metadata.hostname
        assert first.extras.metadata.suffix == "\n[The command completed with exit code 0.]"
        assert runs[0].args.thought == "Let me look around."
        second = answered(events, runs[1])
        assert isinstance(second, CmdOutputObservation)
        assert second.content == "yo\n" and second.exit_code == 3 and not second.success  # cwd persisted
        edit = s.of(FileEditObservation)[-1]
        assert edit.extras.prev_exist and edit.extras.old_content == "print('hi')\n"
        assert edit.extras.new_content == "print('yo')\n"
        assert "-print('hi')\n+print('yo')\n" in (edit.extras.diff or "")
        assert (s.work / "pkg" / "hi.py").read_text() == "print('yo')\n"
        view = s.of(FileReadObservation)[0]
        assert "     1\tprint('yo')" in view.content
        finish = s.of(AgentFinishAction)[0]
        assert finish.args.final_thought == "Wrote pkg/hi.py." and finish.message == "Done."

        # Metadata and metrics as upstream attaches them.
        actions = [e for e in events if isinstance(e, Action) and e.source is EventSource.AGENT]
        tool_actions = [a for a in actions if a.tool_call_metadata is not None]
        assert len(tool_actions) == 7
        for action in tool_actions:
            metadata = action.tool_call_metadata
            assert metadata is not None and metadata.total_calls_in_response == 1
            assert metadata.model_response["choices"][0]["message"]["tool_calls"][0]["id"] == metadata.tool_call_id
            assert action.llm_metrics is not None and action.llm_metrics.response_latencies
            if not isinstance(action, AgentFinishAction):
                observation = answered(events, action)
                assert observation.tool_call_metadata == metadata
        metrics = [a.llm_metrics for a in tool_actions if a.llm_metrics is not None]
        assert [m.accumulated_token_usage.completion_tokens for m in metrics] == [10 * n for n in range(1, 8)]
        assert metrics[-1].accumulated_token_usage.cache_read_tokens == 7 * 40
        assert metrics[-1].token_usages[0].prompt_tokens > metrics[0].token_usages[0].prompt_tokens

        # The prompt is rebuilt from the events: tool calls with their ids, each followed by its result.
        assert len(fake.requests) == 7
        assert all(r.get("stream", False) is stream for r in fake.requests)
        messages = fake.last_messages
        assert messages[0]["role"] == "system" and str(s.work) in messages[0]["content"]
        assert messages[1]["role"] == "user" and messages[1]["content"].startswith("Write pkg/hi.py")
        assert [m["role"] for m in messages[2:]] == ["assistant", "tool"] * 6
        for action, (call, result) in zip(tool_actions, zip(messages[2::2], messages[3::2], strict=True), strict=False):
            metadata = action.tool_call_metadata
            assert metadata is not None
            assert call["tool_calls"][0]["id"] == metadata.tool_call_id == result["tool_call_id"]
            assert result["name"] == metadata.function_name
        assert messages[2]["content"] == "Let me look around."
        assert messages[3]["content"].startswith("hello\n\n[The command completed with exit code 0.]")
        assert "[Current working directory:" in messages[3]["content"]
        assert fake.auth[0] == "Bearer sk-test"


async def test_a_restarted_server_continues_the_same_conversation(tmp_path: Path, db: Database, fake: FakeLLM) -> None:
    fake.add(
        tools(("execute_bash", {"command": "echo one"})),
        tools(("finish", {"message": "done"})),
    )
    async with session(tmp_path, db, fake) as s:
        await s.say("first task")
        await s.wait(S.FINISHED)
        before = s.events()
    ids = [a.tool_call_metadata.tool_call_id for a in before if isinstance(a, Action) and a.tool_call_metadata]

    fake.add(text("Hello again."))
    async with session(tmp_path, db, fake) as s:
        assert s.controller.state is S.FINISHED
        await s.say("second task")
        await s.wait(S.AWAITING_USER_INPUT)
        assert s.of(MessageAction)[-1].args.content == "Hello again."
    messages = fake.last_messages
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "assistant", "tool", "user"]
    assert [m["tool_calls"][0]["id"] for m in messages if m.get("tool_calls")] == ids
    assert [m["tool_call_id"] for m in messages if m["role"] == "tool"] == ids
    assert messages[3]["content"].startswith("one\n")
    assert messages[5]["content"] == "The task was marked as finished."
    assert messages[6]["content"] == "second task"
    assert len(s.of(SystemMessageAction)) == 1


async def test_several_tool_calls_in_one_response_become_one_action_per_step(
    tmp_path: Path, db: Database, fake: FakeLLM
) -> None:
    fake.add(
        tools(("execute_bash", {"command": "echo one"}), ("execute_bash", {"command": "echo two"})),
        tools(("finish", {"message": "ok"})),
    )
    async with session(tmp_path, db, fake) as s:
        await s.say("go")
        await s.wait(S.FINISHED)
        runs = s.of(CmdRunAction)
    assert [r.args.command for r in runs] == ["echo one", "echo two"]
    metadata = [r.tool_call_metadata for r in runs]
    assert all(m is not None and m.total_calls_in_response == 2 for m in metadata)
    assert len({m.tool_call_id for m in metadata if m is not None}) == 2
    assert len(fake.requests) == 2
    messages = fake.last_messages
    assert [m["role"] for m in messages[2:]] == ["assistant", "tool", "tool"]
    assert [c["id"] for c in messages[2]["tool_calls"]] == [m.tool_call_id for m in metadata if m is not None]
    assert messages[3]["content"].startswith("one\n") and messages[4]["content"].startswith("two\n")


# ------------------------------------------------------------------------------------------------------- confirmation


async def test_confirm_then_reject(tmp_path: Path, db: Database, fake: FakeLLM) -> None:
    fake.add(
        tools(("execute_bash", {"command": "echo yes > confirmed.txt"})),
        tools(("execute_bash", {"command": "echo no > rejected.txt"})),
        text("What should I do instead?"),
    )
    async with session(tmp_path, db, fake, confirmation_mode=True) as s:
        assert s.controller.confirmation_mode
        await s.say("write two files")
        await s.wait(S.AWAITING_USER_CONFIRMATION)
        pending = s.controller.pending_action
        assert isinstance(pending, CmdRunAction) and pending.args.command == "echo yes > confirmed.txt"
        assert pending.args.confirmation_state is ActionConfirmationStatus.AWAITING_CONFIRMATION
        assert not (s.work / "confirmed.txt").exists()

        await s.decide(S.USER_CONFIRMED)
        await s.controller.wait_until(
            lambda: isinstance(p := s.controller.pending_action, CmdRunAction) and "rejected" in p.args.command,
            timeout=WAIT,
        )
        await s.wait(S.AWAITING_USER_CONFIRMATION)
        await s.decide(S.USER_REJECTED)
        await s.wait(S.AWAITING_USER_INPUT)
        assert (s.work / "confirmed.txt").read_text() == "yes\n"
        assert not (s.work / "rejected.txt").exists()
        tail = s.shapes()[len(START) + len(FIRST) :]
        assert tail == [
            "environment:agent_state_changed=awaiting_user_confirmation",
            "agent:run",
            "user:change_agent_state=user_confirmed",
            "agent:run",
            "environment:agent_state_changed=user_confirmed",
            "agent:run",
            "environment:agent_state_changed=running",
            "environment:agent_state_changed=awaiting_user_confirmation",
            "agent:run",
            "user:change_agent_state=user_rejected",
            "agent:run",
            "environment:agent_state_changed=user_rejected",
            "agent:user_rejected",
            "environment:agent_state_changed=awaiting_user_input",
        ]
        await s.say("never mind")
        await s.wait(S.AWAITING_USER_INPUT)
    messages = fake.last_messages
    tool_results = [m for m in messages if m["role"] == "tool"]
    assert tool_results[0]["content"].startswith("[The command completed with exit code 0.]")
    assert tool_results[1]["content"] == USER_REJECTED
    assert messages[-1] == {"content": "never mind", "role": "user"}


async def test_always_allow_turns_confirmation_off_for_the_session(tmp_path: Path, db: Database, fake: FakeLLM) -> None:
    fake.add(
        tools(("execute_bash", {"command": "echo 1"})),
        tools(("execute_bash", {"command": "echo 2"})),
        tools(("finish", {"message": "ok"})),
    )
    async with session(tmp_path, db, fake, confirmation_mode=True) as s:
        await s.say("go")
        await s.wait(S.AWAITING_USER_CONFIRMATION)
        await s.decide(S.USER_CONFIRMED, ohtui_always_allow=True)
        await s.wait(S.FINISHED)
        assert not s.controller.confirmation_mode
        assert s.states().count("awaiting_user_confirmation") == 1
        decision = next(e for e in s.of(ChangeAgentStateAction) if e.source is EventSource.USER)
        assert event_to_dict(decision)["args"] == {"agent_state": "user_confirmed", "thought": ""}
        assert [e.content for e in s.of(CmdOutputObservation)] == ["1\n", "2\n"]


async def test_allow_all_confirms_the_pending_action(tmp_path: Path, db: Database, fake: FakeLLM) -> None:
    fake.add(tools(("execute_bash", {"command": "echo 1"})), tools(("finish", {"message": "ok"})))
    async with session(tmp_path, db, fake, confirmation_mode=True) as s:
        await s.say("go")
        await s.wait(S.AWAITING_USER_CONFIRMATION)
        confirmed = await s.controller.allow_all()
        assert isinstance(confirmed, ChangeAgentStateAction)
        await s.wait(S.FINISHED)
        assert [e.content for e in s.of(CmdOutputObservation)] == ["1\n"]


async def test_a_message_instead_of_a_decision_drops_the_rest_of_the_response(
    tmp_path: Path, db: Database, fake: FakeLLM
) -> None:
    fake.add(
        tools(("execute_bash", {"command": "echo a"}), ("execute_bash", {"command": "echo b"})),
        text("OK, stopping."),
    )
    async with session(tmp_path, db, fake, confirmation_mode=True) as s:
        await s.say("go")
        await s.wait(S.AWAITING_USER_CONFIRMATION)
        await s.say("no, stop")
        await s.controller.wait_until(lambda: len(fake.requests) == 2 and not s.controller.active, timeout=WAIT)
        await s.wait(S.AWAITING_USER_INPUT)
        assert [r.args.command for r in s.of(CmdRunAction)] == ["echo a", "echo a"]  # pending + rejected copy
        assert s.of(CmdOutputObservation) == []
    messages = fake.last_messages
    assert [m["role"] for m in messages[2:]] == ["assistant", "tool", "tool", "user"]
    assert messages[3]["content"] == USER_REJECTED
    assert messages[4]["content"] == NOT_EXECUTED
    assert messages[5]["content"] == "no, stop"


# ------------------------------------------------------------------------------------------------------- the shell


async def test_stop_interrupts_a_long_command(tmp_path: Path, db: Database, fake: FakeLLM) -> None:
    fifo = tmp_path / "started.fifo"
    os.mkfifo(fifo)
    fake.add(tools(("execute_bash", {"command": f"echo started > {fifo}; sleep 30", "timeout": 60})))
    async with session(tmp_path, db, fake) as s:
        await s.say("sleep")
        # Opening the FIFO for reading returns once the command has written to it: `sleep 30` is starting.
        assert await asyncio.wait_for(asyncio.to_thread(fifo.read_text), WAIT) == "started\n"
        await asyncio.wait_for(s.decide(S.STOPPED), 2.0)
        assert s.controller.state is S.STOPPED
        assert not s.runtime.busy
        errors = s.of(ErrorObservation)
        assert [e.content for e in errors] == [ERROR_ACTION_NOT_EXECUTED_STOPPED]
        assert errors[0].cause == s.of(CmdRunAction)[0].id
        alive = await s.runtime.run_action(CmdRunAction(command="echo alive"))
        assert isinstance(alive, CmdOutputObservation) and alive.content == "alive\n"


async def test_soft_timeout_returns_partial_output_and_the_agent_waits_for_the_rest(
    tmp_path: Path, db: Database, fake: FakeLLM
) -> None:
    fake.add(
        tools(("execute_bash", {"command": "echo first; sleep 1.5; echo second"})),
        tools(("execute_bash", {"command": "", "is_input": "true", "timeout": 30})),
        tools(("finish", {"message": "ok"})),
    )
    async with session(tmp_path, db, fake, runtime_options={"soft_timeout": 0.5}) as s:
        await s.say("go")
        await s.wait(S.FINISHED)
        partial, rest = s.of(CmdOutputObservation)
    assert partial.content == "first\n" and partial.exit_code == -1
    assert "no new output for 0.5 seconds" in partial.extras.metadata.suffix
    assert rest.content == "second\n" and rest.exit_code == 0
    assert rest.extras.metadata.prefix == CONTINUED_PREFIX
    tool_results = [m for m in fake.last_messages if m["role"] == "tool"]
    assert "is still running" in tool_results[0]["content"]
    assert tool_results[1]["content"].startswith(CONTINUED_PREFIX + "second\n")


async def test_long_output_is_cut_in_the_middle(tmp_path: Path, db: Database, fake: FakeLLM) -> None:
    fake.add(
        tools(("execute_bash", {"command": "python3 -c \"print('a' * 40000 + 'b' * 40000)\""})),
        tools(("finish", {"message": "ok"})),
    )
    async with session(tmp_path, db, fake) as s:
        await s.say("go")
        await s.wait(S.FINISHED)
        (observation,) = s.of(CmdOutputObservation)
    content = observation.content
    assert "[... Observation truncated due to length ...]" in content
    assert 30_000 < len(content) < 30_100
    assert content.startswith("a" * 15_000) and content.endswith("b" * 14_999 + "\n")
    assert len(fake.last_messages[3]["content"]) < 30_300


# ------------------------------------------------------------------------------------------------------- failures


async def test_rate_limit_is_retried_with_status_updates(tmp_path: Path, db: Database, fake: FakeLLM) -> None:
    fake.add(error(429, "slow down"), error(429, "slow down"), tools(("finish", {"message": "ok"})))
    async with session(tmp_path, db, fake) as s:
        await s.say("go")
        await s.wait(S.FINISHED)
        retries = [u for u in s.statuses if u.id == "STATUS$LLM_RETRY"]
        assert [(u.type, u.message) for u in retries] == [
            ("info", "Retrying LLM request, 1 / 5"),
            ("info", "Retrying LLM request, 2 / 5"),
        ]
        assert s.states()[-4:] == ["running", "rate_limited", "running", "finished"]
        assert len(fake.requests) == 3


async def test_server_errors_are_retried_then_reported(tmp_path: Path, db: Database, fake: FakeLLM) -> None:
    fake.add(error(503, "overloaded"), error(500, "boom"), error(500, "boom"))
    async with session(tmp_path, db, fake, num_retries=2) as s:
        await s.say("go")
        await s.wait(S.ERROR)
        assert [u.message for u in s.statuses if u.id == "STATUS$LLM_RETRY"] == [
            "Retrying LLM request, 1 / 2",
            "Retrying LLM request, 2 / 2",
        ]
        assert "rate_limited" not in s.states()
        failure = s.statuses[-1]
        assert failure.type == "error" and failure.id == "STATUS$ERROR_LLM_INTERNAL_SERVER_ERROR"
        reason = s.of(AgentStateChangedObservation)[-1].extras.reason
        assert "HTTP 500" in reason and "boom" in reason and "2 retries" in reason
        assert len(fake.requests) == 3


async def test_authentication_failure_is_reported_not_retried(tmp_path: Path, db: Database, fake: FakeLLM) -> None:
    fake.add(error(401, "Incorrect API key provided"))
    async with session(tmp_path, db, fake) as s:
        await s.say("go")
        await s.wait(S.ERROR)
        failure = s.statuses[-1]
        assert failure.type == "error" and failure.id == "STATUS$ERROR_LLM_AUTHENTICATION"
        reason = s.of(AgentStateChangedObservation)[-1].extras.reason
        assert "rejected the API key" in reason and "Incorrect API key provided" in reason
        assert "OHTUI_LLM_API_KEY" in reason
        assert len(fake.requests) == 1
        # The conversation is not stuck: a new message tries again.
        fake.add(text("hi"))
        await s.say("again")
        await s.wait(S.AWAITING_USER_INPUT)


async def test_an_endpoint_without_stream_options_is_asked_again_without_them(fake: FakeLLM) -> None:
    fake.add(error(400, "Unrecognized request argument supplied: stream_options"), text("fine"))
    agent = LLMAgent(settings(fake), confirmation_mode=False)
    action = await agent.step([MessageAction(content="hello", source=EventSource.USER)])
    await agent.aclose()
    assert isinstance(action, MessageAction) and action.args.content == "fine"
    assert [r.get("stream_options") for r in fake.requests] == [{"include_usage": True}, None]
    assert all(r["stream"] for r in fake.requests)


async def test_a_bad_request_is_reported_with_the_endpoints_words(tmp_path: Path, db: Database, fake: FakeLLM) -> None:
    fake.add(error(400, "This model's maximum context length is 8192 tokens"))
    async with session(tmp_path, db, fake) as s:
        await s.say("go")
        await s.wait(S.ERROR)
        reason = s.of(AgentStateChangedObservation)[-1].extras.reason
        expected = "the LLM rejected the request (HTTP 400): This model's maximum context length is 8192 tokens"
        assert reason == f"LLMRequestError: {expected}"
        assert s.statuses[-1].id == "STATUS$ERROR" and len(fake.requests) == 1


async def test_malformed_tool_calls_are_fed_back_to_the_model(tmp_path: Path, db: Database, fake: FakeLLM) -> None:
    fake.add(
        tools(
            ("execute_bash", '{"command": "ls"'),
            ("launch_rockets", {}),
            ("str_replace_editor", {"command": "create"}),
            ("execute_bash", {"command": "ls", "timeout": "soon"}),
        ),
        tools(("finish", {"message": "ok"})),
    )
    async with session(tmp_path, db, fake) as s:
        await s.say("go")
        await s.wait(S.FINISHED)
        errors = s.of(ErrorObservation)
        assert s.of(CmdRunAction) == []
    assert len(errors) == 4
    assert "not valid JSON" in errors[0].content
    assert "no tool named `launch_rockets`" in errors[1].content
    assert "missing the required parameter `path`" in errors[2].content
    assert "`timeout`" in errors[3].content
    assert all(e.source is EventSource.AGENT and e.tool_call_metadata is not None for e in errors)
    messages = fake.last_messages
    assert [m["role"] for m in messages[2:]] == ["assistant", "tool", "tool", "tool", "tool"]
    assert [m["content"] for m in messages[3:]] == [e.content for e in errors]
    assert [m["tool_call_id"] for m in messages[3:]] == [c["id"] for c in messages[2]["tool_calls"]]


# ------------------------------------------------------------------------------------------------------- real server


async def test_through_the_real_server_with_confirmation_on_by_default(tmp_path: Path, fake: FakeLLM) -> None:
    fake.add(
        tools(("execute_bash", {"command": "echo one > one.txt"})),
        tools(("execute_bash", {"command": "echo two > two.txt"})),
        tools(("finish", {"message": "ok"})),
    )
    work = tmp_path / "work"
    options = {"model": "m", "base_url": fake.url, "api_key": "k", "work_dir": str(work)}
    async with running_server(tmp_path, agent="llm", agent_options=options) as server:
        assert not server.config.confirmation_mode  # the agent asks for confirmation on its own
        async with v0_client(server.url, conversation_id="c", session_api_key=server.key) as client:
            await client.frames_until(is_state("awaiting_user_input"))
            await client.action({"action": "message", "args": {"content": "go"}})
            await client.frames_until(is_state("awaiting_user_confirmation"))
            assert not (work / "one.txt").exists()
            allow = {"agent_state": "user_confirmed", "ohtui_always_allow": True}
            await client.action({"action": "change_agent_state", "args": allow})
            frames = await client.frames_until(is_state("finished"))
    assert (work / "one.txt").read_text() == "one\n" and (work / "two.txt").read_text() == "two\n"
    states = [f["extras"]["agent_state"] for f in frames if f.get("observation") == "agent_state_changed"]
    assert states == ["user_confirmed", "running", "finished"]
    echo = next(f for f in frames if f.get("action") == "change_agent_state")
    assert echo["args"] == {"agent_state": "user_confirmed", "thought": ""}


# ------------------------------------------------------------------------------------------------------- settings


def test_settings_from_the_environment() -> None:
    env = {"OHTUI_LLM_MODEL": "m", "OPENAI_API_KEY": "k1", "OPENAI_BASE_URL": "http://x/v1"}
    s = LLMSettings.from_env(env)
    assert (s.model, s.api_key, s.base_url, s.is_configured) == ("m", "k1", "http://x/v1", True)
    env |= {"OHTUI_LLM_API_KEY": "k2", "OHTUI_LLM_BASE_URL": "http://y/v1"}
    s = LLMSettings.from_env(env, model="other", base_url=None)
    assert (s.model, s.api_key, s.base_url) == ("other", "k2", "http://y/v1")
    assert "k2" not in repr(s)
    assert LLMSettings.from_env({}).problem == "no model is set (OHTUI_LLM_MODEL)"
    assert "no API key" in (LLMSettings.from_env({"OHTUI_LLM_MODEL": "m"}).problem or "")
    assert LLMSettings.from_env(
        {"OHTUI_LLM_MODEL": "m", "OHTUI_LLM_BASE_URL": "http://localhost:11434/v1"}
    ).is_configured
    with pytest.raises(TypeError, match="unknown LLM setting"):
        LLMSettings().replace(modle="x")


async def test_without_a_model_the_agent_explains_how_to_configure_one(
    tmp_path: Path, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    agent = create_agent("llm")
    assert isinstance(agent, LLMAgent) and agent.confirmation_mode
    controller = AgentController(db.events("c"), agent)
    assert controller.confirmation_mode  # the LLM agent asks for it even though the argument says no
    await controller.start()
    try:
        await controller.submit(MessageAction(content="hello"))
        await controller.wait_for_state(S.AWAITING_USER_INPUT, timeout=WAIT)
        events = list(db.events("c").search())
    finally:
        await controller.close()
    answer = [e for e in events if isinstance(e, MessageAction) and e.source is EventSource.AGENT]
    assert len(answer) == 1
    assert answer[0].args.content.startswith(NOT_CONFIGURED)
    assert "OHTUI_LLM_MODEL" in answer[0].args.content and "--agent replay" in answer[0].args.content
    assert not any(isinstance(e, SystemMessageAction) for e in events)


async def test_without_a_runtime_from_the_server_the_agent_uses_a_local_shell(
    tmp_path: Path, db: Database, fake: FakeLLM
) -> None:
    fake.add(tools(("execute_bash", {"command": "pwd"})), tools(("finish", {"message": "ok"})))
    agent = LLMAgent(settings(fake), confirmation_mode=False, work_dir=str(tmp_path))
    controller = AgentController(db.events("c"), agent)  # as the server builds it without a runtime_factory
    assert isinstance(controller.runtime, LocalRuntime) and controller.runtime.work_dir == tmp_path
    await controller.start()
    try:
        await controller.submit(MessageAction(content="where are you?"))
        await controller.wait_for_state(S.FINISHED, timeout=WAIT)
    finally:
        await controller.close()
    (output,) = [e for e in db.events("c").search() if isinstance(e, CmdOutputObservation)]
    assert output.content == f"{tmp_path}\n"
    assert str(tmp_path) in fake.requests[0]["messages"][0]["content"]


async def test_create_agent_passes_settings_through(fake: FakeLLM, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OHTUI_LLM_API_KEY", "from-env")
    streamed: list[str] = []
    agent = create_agent(
        "llm", model="m", base_url=fake.url, confirmation_mode=False, num_retries=1, on_text_delta=streamed.append
    )
    assert isinstance(agent, LLMAgent)
    assert (agent.settings.model, agent.settings.api_key, agent.settings.num_retries) == ("m", "from-env", 1)
    assert not agent.confirmation_mode
    fake.add(text("hi there"))
    action = await agent.step([MessageAction(content="hello", source=EventSource.USER)])
    await agent.aclose()
    assert isinstance(action, MessageAction) and action.args.content == "hi there" and action.args.wait_for_response
    assert len(streamed) > 1 and "".join(streamed) == "hi there"  # the text arrived in pieces, as streamed
    assert fake.auth == ["Bearer from-env"]
