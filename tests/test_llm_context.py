"""Requests that fit the model's window: the window table and its setting, condensation recorded as V0's
``condensation`` action and read back from the store, and what a step reads of a long conversation.

End to end where it matters (the real controller, SQLite store, bash and openai client against the fake endpoint on
loopback); the reads of a long stored conversation with a real store behind a spy that counts the events its
searches yield."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ohtui.agent.history import StoredHistory
from ohtui.agent.llm.agent import LLMAgent
from ohtui.agent.llm.context import SUMMARY_LEAD
from ohtui.agent.llm.tools import TOOLS, system_prompt
from ohtui.agent.llm.window import (
    DEFAULT_WINDOW,
    Budget,
    context_window,
    estimate_tokens,
    schema_tokens,
    text_tokens,
)
from ohtui.config import LLMSettings, Settings
from ohtui.protocol import (
    AgentState,
    AgentStateChangedObservation,
    CmdOutputObservation,
    CondensationAction,
    CondensationArgs,
    Event,
    EventSource,
    MessageAction,
    Observation,
)
from ohtui.store import Database, EventStore
from tests.fake_llm import FakeLLM, error, text, tools
from tests.test_llm_agent import WAIT, db, fake, session, settings  # noqa: F401  (fixtures)
from tests.test_llm_package import CONFIGURED, Scripted

S = AgentState
SMALL = 8192  # tokens: a window that eight command outputs fill


# ------------------------------------------------------------------------------------------------------- the window


@pytest.mark.parametrize(
    ("model", "tokens"),
    [
        ("gpt-4o", 128_000),
        ("gpt-4o-mini-2024-07-18", 128_000),
        ("gpt-4.1-mini", 1_000_000),
        ("gpt-4-1106-preview", 8_192),
        ("o4-mini", 200_000),
        ("openrouter/anthropic/claude-sonnet-4", 200_000),
        ("anthropic.claude-3-5-sonnet-20240620-v1:0", 200_000),
        ("gemini-2.5-pro", 1_000_000),
        ("llama3.1:8b", 128_000),
        ("meta-llama/Meta-Llama-3.1-70B-Instruct", 128_000),
        ("llama3:8b", 8_192),
        ("qwen2.5-coder:14b", 32_768),
        ("foo3", DEFAULT_WINDOW),
        ("my-own-model", DEFAULT_WINDOW),
    ],
)
def test_known_models_have_their_window_and_others_a_conservative_one(model: str, tokens: int) -> None:
    assert context_window(LLMSettings(model=model)) == tokens


def test_the_setting_overrides_the_table_from_every_source(tmp_path: Path) -> None:
    assert context_window(LLMSettings(model="gpt-4o", context_window=50_000)) == 50_000
    environ = {"OHTUI_LLM_CONTEXT_WINDOW": "65536"}
    loaded = Settings.load(tmp_path / "none.toml", environ=environ)
    assert LLMSettings.from_settings(loaded, {}).context_window == 65_536
    assert LLMSettings.from_env(environ).context_window == 65_536
    assert LLMSettings.from_env({}).context_window is None
    with pytest.raises(ValueError, match="context_window"):
        LLMSettings().replace(context_window=100)


def test_tokens_are_estimated_from_characters_and_the_budget_leaves_room_for_the_answer() -> None:
    messages = [
        {"role": "user", "content": "x" * 300},
        {"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "think", "arguments": "y" * 95}}]},
    ]
    assert estimate_tokens(messages) == text_tokens(300 + 5 + 95) + 2 * 4 == 142
    budget = Budget.of(LLMSettings(model="m", context_window=10_000), fixed=1_000)
    assert (budget.limit, budget.events, budget.keep) == (7_500, 6_500, 3_250)
    capped = Budget.of(LLMSettings(model="m", context_window=10_000, max_output_tokens=4_000), fixed=1_000)
    assert capped.limit == 6_000


# ------------------------------------------------------------------------------------------------------- condensing


def _small_budget(work: Path) -> Budget:
    fixed = text_tokens(len(system_prompt(str(work)))) + schema_tokens(TOOLS)
    return Budget.of(LLMSettings(model="m", context_window=SMALL), fixed)


def _request_tokens(request: dict[str, Any]) -> int:
    return estimate_tokens(request["messages"]) + schema_tokens(request.get("tools") or [])


def _printing(n: int) -> tuple[str, dict[str, Any]]:
    return ("execute_bash", {"command": f"python3 -c \"print('OUT-{n} ' + 'x' * 1500)\""})


async def test_a_prompt_past_the_window_is_condensed_once_recorded_and_built_on(
    tmp_path: Path,
    db: Database,  # noqa: F811
    fake: FakeLLM,  # noqa: F811
) -> None:
    fake.add(*(tools(_printing(n)) for n in range(1, 11)), text("All ten printed."))
    fake.summaries.append(text("SUMMARY: OUT-1 and the next ones were printed."))
    async with session(tmp_path, db, fake, context_window=SMALL) as s:
        await s.say("Print ten blocks.")
        await s.wait(S.AWAITING_USER_INPUT)
        events = s.events()
        budget = _small_budget(s.work)
    (condensation,) = [e for e in events if isinstance(e, CondensationAction)]
    assert condensation.source is EventSource.AGENT and condensation.llm_metrics is not None
    assert condensation.args.summary == "SUMMARY: OUT-1 and the next ones were printed."
    assert condensation.message.startswith("Summary: SUMMARY:")
    assert not [e for e in events if isinstance(e, Observation) and e.cause == condensation.id]
    task = next(e for e in events if isinstance(e, MessageAction))
    start, end = condensation.args.forgotten_events_start_id, condensation.args.forgotten_events_end_id
    assert start == task.id + 1 and condensation.args.summary_offset is not None
    assert end is not None and end < condensation.id
    outputs = {e.content.split()[0]: e.id for e in events if isinstance(e, CmdOutputObservation)}
    forgotten = [name for name, number in outputs.items() if start <= number <= end]
    assert "OUT-1" in forgotten and "OUT-8" not in forgotten

    summary_requests = [r for r in fake.requests if "tools" not in r]
    assert len(summary_requests) == 1 and len(fake.requests) == 12
    asked = json.dumps(summary_requests[0]["messages"])
    assert all(f"{name} x" in asked for name in forgotten) and "Print ten blocks." in asked
    after = fake.requests[fake.requests.index(summary_requests[0]) + 1 :]
    for request in after:
        sent = json.dumps(request["messages"])
        assert "SUMMARY: OUT-1" in sent and "Print ten blocks." in sent
        assert not any(f"{name} x" in sent for name in forgotten)
    assert SUMMARY_LEAD in after[0]["messages"][1]["content"]
    assert all(_request_tokens(r) <= budget.limit for r in fake.requests)


async def test_a_failing_summary_request_is_an_llm_error_and_records_nothing(
    tmp_path: Path,
    db: Database,  # noqa: F811
    fake: FakeLLM,  # noqa: F811
) -> None:
    fake.add(*(tools(_printing(n)) for n in range(1, 9)))  # the ninth request would pass the limit
    fake.summaries.append(error(401, "Incorrect API key provided"))
    async with session(tmp_path, db, fake, context_window=SMALL) as s:
        await s.say("Print eight blocks.")
        await s.wait(S.ERROR)
        assert not s.of(CondensationAction)
        assert s.statuses[-1].id == "STATUS$ERROR_LLM_AUTHENTICATION"
        assert "Incorrect API key provided" in s.of(AgentStateChangedObservation)[-1].extras.reason
        assert s.shapes()[-2:] == ["agent:run", "environment:agent_state_changed=error"]  # its output came before

        fake.summaries.append(text("SUMMARY: blocks printed."))
        fake.add(text("Done now."))
        await s.say("Go on.")
        await s.wait(S.AWAITING_USER_INPUT)
        assert [c.args.summary for c in s.of(CondensationAction)] == ["SUMMARY: blocks printed."]


# ------------------------------------------------------------------------------------------------------- long histories


class CountingStore:
    """The real store, counting the events its searches yield to the agent (the spy is around the read API only)."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.yielded = 0

    @property
    def conversation_id(self) -> str:
        return self.store.conversation_id

    def search(self, *args: Any, **kwargs: Any) -> Iterator[Event]:
        for event in self.store.search(*args, **kwargs):
            self.yielded += 1
            yield event


def _long_conversation(store: EventStore, count: int) -> None:
    """A task, then ``count`` agent messages of about 300 characters, then the user asking again."""
    store.append(MessageAction(content="The task: keep the notes."), EventSource.USER)
    for first in range(0, count, 1000):
        batch = [MessageAction(content=f"NOTE-{n} " + "n" * 290) for n in range(first, min(first + 1000, count))]
        store.append_many(batch, EventSource.AGENT)
    store.append(MessageAction(content="What is the last note?"), EventSource.USER)


def _history(store: EventStore) -> tuple[StoredHistory, CountingStore]:
    spy = CountingStore(store)
    return StoredHistory(spy, store.latest_id()), spy  # type: ignore[arg-type]


async def test_a_resumed_conversation_builds_from_its_condensation_without_reading_older_rows(db: Database) -> None:  # noqa: F811
    store = db.events("long")
    _long_conversation(store, 5_000)
    summary = CondensationArgs(
        forgotten_events_start_id=1,
        forgotten_events_end_id=4_990,
        summary="Notes 0 to 4989 were kept.",
        summary_offset=1,
    )
    store.append(CondensationAction(args=summary), EventSource.AGENT)
    store.append(MessageAction(content="And now?"), EventSource.USER)
    Scripted.made.clear()
    agent = LLMAgent(CONFIGURED, client_factory=Scripted)
    history, spy = _history(store)
    answer = await agent.step(history)
    assert isinstance(answer, MessageAction)
    (request,) = Scripted.made[0].requests
    sent = json.dumps(request)
    assert "The task: keep the notes." in sent and "Notes 0 to 4989 were kept." in sent
    assert "NOTE-4990 " in sent and "NOTE-4989 " not in sent and "NOTE-4999 " in sent
    assert spy.yielded < 40  # the task, the condensation, the ten notes after it, the two messages

    store.append(answer, EventSource.AGENT)
    store.append(MessageAction(content="Thanks."), EventSource.USER)
    history, spy = _history(store)
    await agent.step(history)
    assert spy.yielded < 40  # the condensation is remembered: only rows stored since are searched for another


@pytest.mark.parametrize("count", [2_000, 20_000])
async def test_the_request_stays_bounded_however_long_the_conversation(db: Database, count: int) -> None:  # noqa: F811
    store = db.events("long")
    _long_conversation(store, count)
    Scripted.made.clear()
    small = CONFIGURED.replace(context_window=8_192)
    agent = LLMAgent(small, client_factory=Scripted)
    budget = Budget.of(small, text_tokens(len(agent.prompt)) + schema_tokens(TOOLS))
    history, spy = _history(store)
    condensation = await agent.step(history)
    assert isinstance(condensation, CondensationAction)
    assert condensation.args.forgotten_events_start_id == 1
    assert spy.yielded < 400  # the task, and what fills two requests, of about 90 tokens each
    store.append(condensation, EventSource.AGENT)
    history, spy = _history(store)
    answer = await agent.step(history)
    assert isinstance(answer, MessageAction) and spy.yielded < 200
    summary_request, prompt = Scripted.made[0].requests
    assert estimate_tokens(summary_request) <= budget.limit
    assert estimate_tokens(prompt) + schema_tokens(TOOLS) <= budget.limit
    assert "What is the last note?" in json.dumps(prompt) and f"NOTE-{count - 1} " in json.dumps(prompt)
    assert "NOTE-0 " not in json.dumps(prompt)
