"""Replay a recorded trajectory as a live agent: the offline demo, and a way to re-watch any exported session.

A trajectory is a JSON list of upstream event dicts, as OpenHands exports it or ``ohtui export --format trajectory``
writes it (JSON lines and upstream's ``events/`` directory work too: see :func:`ohtui.store.interchange.read_events`).
``ReplayAgent()`` with no path plays the bundled demo (``ohtui/agent/trajectories/demo.json``): a user asks for a
small Python script; the agent looks around, writes it and its tests, runs them, fixes a bug, asks a question,
and finishes (``trajectories/README.md`` says how it was recorded).

How it plays:

* The recording's agent actions are returned by :meth:`ReplayAgent.step` one per step, with their recorded
  ``thought``, ``tool_call_metadata`` and ``llm_metrics``; the controller stores them as it would a live agent's,
  and produces the environment's events (state changes, recall) itself. A recorded ``system`` message becomes the
  agent's system message.
* Nothing runs on this machine: the agent brings a :class:`ReplayRuntime` (``provided_runtime``, which the
  controller prefers over the server's runtime) that answers each recorded runnable action with its recorded
  observation. The user's own terminal commands get an error saying so.
* Pacing: each action comes after the gap the recording shows before it, and each observation after the gap
  between the recorded action and its observation, divided by ``speed`` (2.0: twice as fast; 0: no waiting) and
  capped at ``max_delay`` seconds (recorded LLM think times are long).
* Where the recording had a user message the replay waits for the user (any message continues; its text does not
  steer the replay). If the agent had not already stopped to wait there, it returns a ``change_agent_state
  awaiting_user_input`` to do so. After the last recorded action it answers every message with :data:`REPLAY_OVER`.
* Confirmation copies (an action recorded ``awaiting_confirmation`` and then again ``confirmed``) replay once;
  rejected actions are left out. Progress is recomputed from the conversation's history on every step, so a restarted
  server resumes where the replay was.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any, ClassVar

from ohtui.agent.base import Agent, is_runnable
from ohtui.protocol import (
    Action,
    ActionConfirmationStatus,
    AgentState,
    ChangeAgentStateAction,
    ChangeAgentStateArgs,
    ErrorObservation,
    Event,
    EventSource,
    MessageAction,
    MessageArgs,
    NullAction,
    NullObservation,
    Observation,
    RecallAction,
    SystemMessageAction,
    UserRejectObservation,
    event_from_dict,
    event_to_dict,
)

__all__ = [
    "DEMO_RESOURCE",
    "NOT_RECORDED",
    "REPLAY_OVER",
    "ReplayAgent",
    "ReplayRuntime",
    "ReplayStep",
    "build_script",
    "demo_events",
    "load_events",
]

DEMO_RESOURCE = "trajectories/demo.json"
REPLAY_OVER = (
    "This was a replay of a recorded session, and it has ended: nothing more will happen in this conversation."
    " Start a new conversation to watch it again, or configure an LLM (OHTUI_LLM_MODEL, OHTUI_LLM_API_KEY) to work"
    " with a live agent."
)
NOT_RECORDED = (
    "This conversation replays a recorded session: nothing runs on this machine, and this action is not part of the"
    " recording, so it was not executed."
)
_IGNORED_ARGS = frozenset({"thought", "confirmation_state", "security_risk"})
_NOT_REPLAYED = (ChangeAgentStateAction, NullAction, RecallAction, SystemMessageAction)


@dataclass(frozen=True)
class ReplayStep:
    """One recorded agent action, what answered it, and when."""

    action: Action
    observation: Observation | None
    """The recorded result of a runnable action (None: none was recorded, or the action is not runnable)."""
    users_before: int
    """How many user messages the recording had before this action."""
    delay: float
    """Recorded seconds between the previous event and this action."""
    duration: float
    """Recorded seconds between this action and its observation."""


def demo_events() -> list[Event]:
    """The bundled demo trajectory."""
    text = resources.files("ohtui.agent").joinpath(DEMO_RESOURCE).read_text(encoding="utf-8")
    return [event_from_dict(item) for item in json.loads(text)]


def load_events(path: str | os.PathLike[str]) -> list[Event]:
    """A recorded conversation in any format ``ohtui import`` reads; raises ``StoreError`` with the reason."""
    from ohtui.store.interchange import read_events

    events, _, _ = read_events(path)
    return events


def fingerprint(action: Action) -> str:
    """What identifies a recorded action across copies: kind, tool call id and args except thought/confirmation."""
    args = {k: v for k, v in event_to_dict(action).get("args", {}).items() if k not in _IGNORED_ARGS}
    call_id = action.tool_call_metadata.tool_call_id if action.tool_call_metadata is not None else ""
    return json.dumps([action.kind, call_id, args], sort_keys=True, default=str)


def build_script(events: Sequence[Event]) -> tuple[SystemMessageAction | None, list[ReplayStep]]:
    """The recorded system message and the agent actions to replay, in order (see the module docstring)."""
    answers: dict[int, Observation] = {}
    for event in events:
        if isinstance(event, Observation) and event.cause is not None and event.source is not EventSource.USER:
            answers.setdefault(event.cause, event)
    agent_actions = [e for e in events if isinstance(e, Action) and _is_agent_action(e)]
    prints = {id(action): fingerprint(action) for action in agent_actions}
    order = {id(action): position for position, action in enumerate(agent_actions)}
    system: SystemMessageAction | None = None
    steps: list[ReplayStep] = []
    users = 0
    previous: datetime | None = None
    copy_of: dict[str, Action] = {}  # an awaiting-confirmation copy, waiting for the decision that follows it
    for event in events:
        moment = _when(event)
        gap = _seconds(previous, moment)
        previous = moment or previous
        if isinstance(event, MessageAction) and event.source is EventSource.USER:
            users += 1
            continue
        if isinstance(event, SystemMessageAction) and event.source is EventSource.AGENT:
            system = system or _clean(event)
            continue
        if not _is_agent_action(event):
            continue
        assert isinstance(event, Action)
        key = prints[id(event)]
        answer = answers.get(event.id) if event.id is not None else None
        later = agent_actions[order[id(event)] + 1 :]
        if is_runnable(event) and answer is None and any(prints[id(other)] == key for other in later):
            copy_of[key] = event  # awaiting confirmation: the decision re-adds it
            continue
        original = copy_of.pop(key, event)
        if isinstance(answer, UserRejectObservation) or _confirmation(event) is ActionConfirmationStatus.REJECTED:
            continue
        action = _clean(original)
        if "confirmation_state" in event_to_dict(action)["args"]:
            action = _with_args(action, confirmation_state=ActionConfirmationStatus.CONFIRMED.value)
        observation = _clean(answer) if answer is not None and is_runnable(event) else None
        duration = _seconds(moment, _when(answer)) if observation is not None and answer is not None else 0.0
        steps.append(ReplayStep(action, observation, users, gap, duration))
    return system, steps


class ReplayRuntime:
    """Answers recorded actions with their recorded observations; runs nothing."""

    def __init__(self, steps: Sequence[ReplayStep], *, speed: float = 1.0, max_delay: float = 5.0) -> None:
        self.steps = list(steps)
        self.speed = speed
        self.max_delay = max_delay
        self._used: set[int] = set()
        self._interrupted = asyncio.Event()

    async def run_action(self, action: Action) -> Observation:
        key = fingerprint(action)
        for index, step in enumerate(self.steps):
            if index not in self._used and fingerprint(step.action) == key:
                self._used.add(index)
                self._interrupted.clear()
                await _pause(step.duration, self.speed, self.max_delay, self._interrupted)
                return step.observation if step.observation is not None else NullObservation(content="")
        return ErrorObservation(content=NOT_RECORDED)

    async def interrupt(self) -> None:
        self._interrupted.set()

    async def close(self) -> None:
        self._interrupted.set()


class ReplayAgent(Agent):
    """Plays a recorded trajectory (see the module docstring).

    Options (``create_agent("replay", **options)``): ``path`` (a trajectory file or conversation directory; default
    the bundled demo), ``events`` (event dicts or events instead of a path), ``speed`` (default 1.0; 0 = no
    waiting), ``max_delay`` (longest wait between two events, seconds; default 5), ``confirmation_mode`` (default
    False: whether the user confirms each replayed command, as with a live agent).
    """

    name: ClassVar[str] = "replay"

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        events: Sequence[Event | dict[str, Any]] | None = None,
        speed: float = 1.0,
        max_delay: float = 5.0,
        confirmation_mode: bool = False,
    ) -> None:
        if speed < 0 or max_delay < 0:
            raise ValueError("speed and max_delay must not be negative")
        if events is not None:
            recorded = [e if isinstance(e, Event) else event_from_dict(e) for e in events]
        elif path is not None:
            recorded = load_events(path)
        else:
            recorded = demo_events()
        self.speed = speed
        self.max_delay = max_delay
        self.confirmation_mode = confirmation_mode
        self.system, self.steps = build_script(recorded)
        self.provided_runtime = ReplayRuntime(self.steps, speed=speed, max_delay=max_delay)
        self._prints = [fingerprint(step.action) for step in self.steps]
        self._waiting = asyncio.Event()

    def system_message(self) -> SystemMessageAction | None:
        return self.system

    async def step(self, history: Sequence[Event]) -> Action:
        position = self._position(history)
        if position >= len(self.steps):
            return MessageAction(args=MessageArgs(content=REPLAY_OVER, wait_for_response=True))
        step = self.steps[position]
        users = sum(1 for e in history if isinstance(e, MessageAction) and e.source is EventSource.USER)
        if users < step.users_before:
            return ChangeAgentStateAction(args=ChangeAgentStateArgs(agent_state=AgentState.AWAITING_USER_INPUT))
        await _pause(step.delay, self.speed, self.max_delay, self._waiting)
        return step.action

    def _position(self, history: Sequence[Event]) -> int:
        """How many script actions the conversation already holds (matched in order; copies are skipped)."""
        position = 0
        for event in history:
            if position < len(self._prints) and _is_agent_action(event):
                assert isinstance(event, Action)
                if fingerprint(event) == self._prints[position]:
                    position += 1
        return position


def _is_agent_action(event: Event) -> bool:
    return isinstance(event, Action) and event.source is EventSource.AGENT and not isinstance(event, _NOT_REPLAYED)


def _confirmation(action: Action) -> ActionConfirmationStatus | None:
    value = getattr(action.args, "confirmation_state", None)
    return value if isinstance(value, ActionConfirmationStatus) else None


def _clean(event: Any) -> Any:
    """A recorded event without its place in the recording (id, timestamp, source, cause)."""
    return event.model_copy(update={"id": None, "timestamp": None, "source": None, "cause": None})


def _with_args(action: Action, **changes: Any) -> Action:
    data = event_to_dict(action)
    data["args"] = {**data["args"], **changes}
    rebuilt = event_from_dict(data)
    assert isinstance(rebuilt, Action)
    return rebuilt


def _when(event: Event | None) -> datetime | None:
    if event is None or not event.timestamp:
        return None
    try:
        moment = datetime.fromisoformat(event.timestamp)
    except ValueError:
        return None
    return moment.replace(tzinfo=None)


def _seconds(start: datetime | None, end: datetime | None) -> float:
    if start is None or end is None:
        return 0.0
    return max(0.0, (end - start).total_seconds())


async def _pause(recorded: float, speed: float, max_delay: float, interrupted: asyncio.Event) -> None:
    if speed <= 0 or recorded <= 0:
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(interrupted.wait(), min(recorded / speed, max_delay))
