"""The LLM package's seams, without a network: another provider behind ChatClient, a stored summary in the prompt,
the settings built from Settings, and the SDK left unimported until the first request."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from ohtui.agent.llm.agent import LLMAgent
from ohtui.agent.llm.client import ChatClient, Completion, TextDeltas
from ohtui.agent.llm.context import SUMMARY_LEAD
from ohtui.agent.llm.prompt import build_messages
from ohtui.config import LLMSettings, Settings
from ohtui.protocol import AgentFinishAction, CondensationAction, CondensationArgs, EventSource, MessageAction

CONFIGURED = LLMSettings(model="scripted", base_url="http://127.0.0.1:9/v1")


class Scripted:
    """A second provider: answers every request with the next text, and keeps what it was asked."""

    made: list[Scripted] = []

    def __init__(self, settings: LLMSettings, on_text_delta: TextDeltas | None) -> None:
        self.settings = settings
        self.on_text_delta = on_text_delta
        self.requests: list[list[dict[str, Any]]] = []
        self.closed = False
        Scripted.made.append(self)

    async def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> Completion:
        self.requests.append(messages)
        text = f"answer {len(self.requests)}"
        if self.on_text_delta is not None:
            self.on_text_delta(text)
        message = {"role": "assistant", "content": text}
        response = {"id": "r", "choices": [{"index": 0, "message": message}], "usage": {"prompt_tokens": 3}}
        return Completion(response=response, latency=0.01)

    async def aclose(self) -> None:
        self.closed = True


def _user(text: str) -> MessageAction:
    return MessageAction(content=text, source=EventSource.USER)


async def test_another_provider_is_one_class_and_is_made_at_the_first_request() -> None:
    Scripted.made.clear()
    streamed: list[str] = []
    agent = LLMAgent(CONFIGURED, client_factory=Scripted, on_text_delta=streamed.append)
    assert Scripted.made == []
    action = await agent.step([_user("hello")])
    assert isinstance(action, MessageAction) and action.args.content == "answer 1"
    assert action.llm_metrics is not None and action.llm_metrics.accumulated_token_usage.prompt_tokens == 3
    (client,) = Scripted.made
    client_as_protocol: ChatClient = client
    assert client_as_protocol is agent.client and streamed == ["answer 1"]
    assert client.requests[0][-1] == {"role": "user", "content": "hello"}
    await agent.step([_user("hello"), action, _user("again")])
    assert len(Scripted.made) == 1 and len(client.requests) == 2
    await agent.aclose()
    assert client.closed


async def test_an_agent_without_a_model_makes_no_client() -> None:
    Scripted.made.clear()
    agent = LLMAgent(LLMSettings(), client_factory=Scripted)
    await agent.step([_user("hello")])
    await agent.aclose()
    assert Scripted.made == []


async def test_a_stored_condensation_stands_after_the_task_in_place_of_the_events_it_replaces() -> None:
    Scripted.made.clear()
    condensation = CondensationAction(
        args=CondensationArgs(
            forgotten_events_start_id=1, forgotten_events_end_id=2, summary="The first task is done.", summary_offset=1
        )
    )
    events = [_user("first task"), MessageAction(content="done"), AgentFinishAction(), condensation, _user("more")]
    history = [event.model_copy(update={"id": number}) for number, event in enumerate(events)]
    agent = LLMAgent(CONFIGURED, client_factory=Scripted)
    await agent.step(history)
    (request,) = Scripted.made[0].requests
    merged = f"first task\n{SUMMARY_LEAD}\nThe first task is done.\nmore"
    assert request[1:] == [{"role": "user", "content": merged}]


def test_messages_are_built_from_any_iterable_of_events() -> None:
    events = [_user("one"), MessageAction(content="two", source=EventSource.AGENT)]
    from_list = build_messages("system", events)
    assert build_messages("system", iter(events)) == from_list
    assert [m.role for m in from_list] == ["system", "user", "assistant"]
    with_summary = build_messages("system", iter(events[1:]), summary="before")
    assert [(m.role, m.content[0].text) for m in with_summary[1:]] == [("user", "before"), ("assistant", "two")]


def test_llm_settings_come_from_settings_with_the_openai_variables_as_fallbacks() -> None:
    env = {"OPENAI_API_KEY": " sk-openai ", "OPENAI_BASE_URL": "http://fallback/v1", "OHTUI_LLM_MODEL": "ignored"}
    built = LLMSettings.from_settings(Settings(llm_model=" gpt-4o ", llm_base_url="http://mine/v1"), env)
    assert (built.model, built.base_url, built.api_key) == ("gpt-4o", "http://mine/v1", "sk-openai")
    assert LLMSettings.from_settings(Settings(llm_api_key="sk-mine"), env, num_retries=1).api_key == "sk-mine"
    assert LLMSettings.from_settings(Settings(), {}).problem == "no model is set (OHTUI_LLM_MODEL)"
    assert "sk-mine" not in repr(LLMSettings(api_key="sk-mine"))


def test_the_ui_and_an_llm_agent_load_without_the_openai_sdk() -> None:
    script = (
        "import sys; import ohtui.tui.app; from ohtui.agent.registry import create_agent;"
        "loaded = 'ohtui.agent.llm.agent' in sys.modules;"
        "agent = create_agent('llm', model='m', api_key='k');"
        "print(loaded, 'openai' in sys.modules, 'ohtui.agent.llm.openai_client' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False", "False"]
