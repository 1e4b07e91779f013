"""``EventFilter`` follows OPENHANDS_V0.md §3.3 exactly, on a fixed corpus built from the shared protocol samples.

Each case is checked twice: against ids worked out by hand, and against a literal transcription of upstream's
``EventFilter.include`` applied to the corpus in memory, so SQL push-down can never change a result.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ohtui.protocol import (
    Action,
    AgentStateChangedObservation,
    CmdOutputObservation,
    CmdRunAction,
    Event,
    InvalidEvent,
    MessageAction,
    Observation,
    OpaqueEvent,
    event_from_dict,
    event_to_dict,
    stored_event_from_dict,
)
from ohtui.store import Database, EventFilter, EventStore
from tests.samples import load_samples


def corpus() -> list[dict[str, Any]]:
    """The samples with distinct timestamps, two hidden events, two unknown types and one event without a source."""
    events = [copy.deepcopy(data) for _, data in load_samples()]
    for index, data in enumerate(events):
        data["id"] = index
        data["timestamp"] = f"2025-11-28T10:{index // 60:02d}:{index % 60:02d}.000000"
    events[6]["args"]["hidden"] = True  # CmdRunAction
    events[7]["extras"]["hidden"] = True  # CmdOutputObservation
    events[1]["args"]["content"] = "Héllo, World"  # non-ASCII: json.dumps escapes it, the query sees the escape
    events[1]["message"] = "Héllo, World"
    base = len(events)
    events.append(
        {"id": base, "timestamp": "2025-11-28T11:00:00.000000", "source": "agent", "message": "future",
         "action": "teleport", "args": {"where": "mars", "hidden": True}}
    )  # fmt: skip
    events.append(
        {"id": base + 1, "timestamp": "2025-11-28T11:00:01.000000", "source": "environment", "message": "",
         "observation": "teleported", "content": "arrived", "extras": {}}
    )  # fmt: skip
    no_source = {k: v for k, v in events[2].items() if k != "source"}
    events.append({**no_source, "id": base + 2, "timestamp": "2025-11-28T11:00:02.000000"})
    return events


CORPUS = corpus()
EVENTS = [event_from_dict(copy.deepcopy(data)) for data in CORPUS]
N = len(EVENTS)


def upstream_include(flt: EventFilter, event: Event) -> bool:
    """Upstream's ``EventFilter.include``, transcribed from §3.3 on purpose without sharing code with the store."""
    if flt.include_types and not isinstance(event, flt.include_types):
        return False
    if flt.exclude_types is not None and isinstance(event, flt.exclude_types):
        return False
    if flt.source and (event.source is None or event.source.value != flt.source):
        return False
    if flt.start_date and event.timestamp is not None and event.timestamp < flt.start_date:
        return False
    if flt.end_date and event.timestamp is not None and event.timestamp > flt.end_date:
        return False
    if flt.exclude_hidden and getattr(event, "hidden", False):
        return False
    return not (flt.query and flt.query.lower() not in json.dumps(event_to_dict(event)).lower())


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EventStore]:
    with Database(Path(tmp_path_factory.mktemp("filters")) / "ohtui.db") as db:
        events = db.events("corpus")
        events.insert_many(EVENTS)
        yield events


def test_corpus_is_stored_unchanged(store: EventStore) -> None:
    assert [json.dumps(event_to_dict(event)) for event in store.search()] == [json.dumps(data) for data in CORPUS]
    assert isinstance(store.get(N - 3), OpaqueEvent) and store.get(N - 3).hidden is False
    assert store.get(6).hidden and store.get(7).hidden and store.get(N - 1).source is None


def by_kind(*kinds: str) -> list[int]:
    return [i for i, event in enumerate(EVENTS) if event.kind in kinds]


USER_IDS = [i for i, data in enumerate(CORPUS) if data.get("source") == "user"]
CASES: list[tuple[str, EventFilter, list[int] | None]] = [
    ("no filter", EventFilter(), list(range(N))),
    ("exclude_hidden", EventFilter(exclude_hidden=True), [i for i in range(N) if i not in (6, 7)]),
    ("source user", EventFilter(source="user"), USER_IDS),
    ("source none matches nothing sourceless", EventFilter(source="environment"), None),
    ("empty source does not filter", EventFilter(source=""), list(range(N))),
    ("include one class", EventFilter(include_types=(MessageAction,)), by_kind("message")[:2]),
    ("include two classes", EventFilter(include_types=(CmdRunAction, CmdOutputObservation)), [6, 7, 36, 37]),
    ("include base class", EventFilter(include_types=(Observation,)), None),
    ("include Event keeps opaque", EventFilter(include_types=(Event,)), list(range(N))),
    ("include opaque only", EventFilter(include_types=(OpaqueEvent,)), [N - 3, N - 2]),
    ("empty include does not filter", EventFilter(include_types=()), list(range(N))),
    ("exclude actions", EventFilter(exclude_types=(Action,)), None),
    ("exclude observation of a kind an action shares", EventFilter(exclude_types=(CmdOutputObservation,)), None),
    ("exclude opaque", EventFilter(exclude_types=(OpaqueEvent,)), [*range(N - 3), N - 1]),
    ("start_date", EventFilter(start_date="2025-11-28T10:00:30.000000"), list(range(30, N))),
    ("end_date inclusive", EventFilter(end_date="2025-11-28T10:00:03.000000"), [0, 1, 2, 3]),
    ("date window", EventFilter(start_date="2025-11-28T10:00:10", end_date="2025-11-28T10:00:12.5"), [10, 11, 12]),
    ("query is case-insensitive", EventFilter(query="LS -LA"), None),
    ("query sees json.dumps separators", EventFilter(query='"command": "ls -la"'), None),
    ("query compact form does not match", EventFilter(query='"command":"ls -la"'), []),
    ("query sees ascii escapes", EventFilter(query="h\\u00e9llo"), [1]),
    ("query raw non-ascii does not match", EventFilter(query="héllo"), []),
    ("query in opaque", EventFilter(query="mars"), [N - 3]),
    (
        "everything at once",
        EventFilter(
            exclude_hidden=True,
            query="e",
            include_types=(Action,),
            exclude_types=(MessageAction,),
            source="agent",
            start_date="2025-11-28T10:00:05",
            end_date="2025-11-28T10:00:30",
        ),
        None,
    ),
]


@pytest.mark.parametrize(("name", "flt", "expected"), CASES, ids=[case[0] for case in CASES])
def test_filter_matches_upstream_semantics(
    store: EventStore, name: str, flt: EventFilter, expected: list[int] | None
) -> None:
    reference = [i for i, event in enumerate(EVENTS) if upstream_include(flt, event)]
    if expected is not None:
        assert reference == expected, "the hand-worked ids disagree with upstream's rule"
    assert [event.id for event in store.search(filter=flt)] == reference
    assert [event.id for event in store.search(filter=flt, reverse=True)] == reference[::-1]
    assert [event.id for event in store.search(filter=flt, limit=2)] == reference[:2]  # limit counts matches
    assert [event.id for event in store.search(filter=flt, reverse=True, limit=3)] == reference[::-1][:3]
    assert [event.id for event in store.search(10, 20, filter=flt)] == [i for i in reference if 10 <= i <= 20]
    assert all(flt.include(event) for event in store.search(filter=flt))


def test_hand_worked_sets_are_not_trivial() -> None:
    """Guards the corpus: each type of case really splits it."""
    assert 0 < len(USER_IDS) < N
    assert by_kind("agent_state_changed") == [0, 3, 25]
    assert [i for i in range(N) if isinstance(EVENTS[i], AgentStateChangedObservation)] == [0, 3, 25]


def test_filter_accepts_lists_and_single_classes() -> None:
    assert EventFilter(include_types=[MessageAction]).include_types == (MessageAction,)  # type: ignore[arg-type]
    assert EventFilter(exclude_types=MessageAction).exclude_types == (MessageAction,)  # type: ignore[arg-type]
    assert EventFilter().exclude(EVENTS[0]) is False


def test_limit_counts_matches_across_chunks(tmp_path: Path) -> None:
    """A selective Python-only filter (query) over more rows than one read chunk."""
    with Database(tmp_path / "big.db") as db:
        store = db.events("big")
        store.append_many([MessageAction(content="needle" if n % 97 == 0 else "hay") for n in range(3000)])
        found = [event.id for event in store.search(filter=EventFilter(query="NEEDLE"), limit=20)]
        assert found == [n for n in range(3000) if n % 97 == 0][:20]
        found = [event.id for event in store.search(filter=EventFilter(query="needle"), reverse=True, limit=5)]
        assert found == [n for n in range(2999, -1, -1) if n % 97 == 0][:5]


def test_events_kept_whole_pass_filters_as_sql_and_python_agree(tmp_path: Path) -> None:
    """An event that did not validate is stored under its type's name (the ``kind`` column), but is no instance of
    the type: including the type leaves it out (callers get the class they asked for), excluding the type leaves it
    out too (as the SQL condition on that column does), and including kept-whole events keeps it."""
    invalid = stored_event_from_dict({"id": N, "source": "agent", "action": "message", "args": {"content": 5}})
    assert isinstance(invalid, InvalidEvent)
    events = [*EVENTS, invalid]
    with Database(tmp_path / "ohtui.db") as db:
        store = db.events("corpus")
        store.insert_many(events)
        cases = {
            (MessageAction,): False,
            (Action,): False,
            (OpaqueEvent,): True,
            (InvalidEvent,): True,
            (Event,): True,
        }
        for classes, kept in cases.items():
            included = [event.id for event in store.search(filter=EventFilter(include_types=classes))]
            assert included == [e.id for e in events if EventFilter(include_types=classes).include(e)]
            assert (N in included) is kept, classes
            excluded = [event.id for event in store.search(filter=EventFilter(exclude_types=classes))]
            assert excluded == [e.id for e in events if EventFilter(exclude_types=classes).include(e)]
            assert N not in excluded, classes
