"""Import and export (jsonl, trajectory, upstream's directory layout §3.1) and the ``ohtui import``/``export`` CLI."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ohtui.cli import main
from ohtui.protocol import InvalidEvent, event_to_dict
from ohtui.store import Database, StoreError
from ohtui.store.interchange import CACHE_SIZE, export_conversation, import_conversation, read_events
from tests.samples import load_samples

SAMPLES = [copy.deepcopy(data) for _, data in load_samples()]
ROOT = Path(__file__).resolve().parent.parent


def samples(count: int = 60) -> list[dict[str, Any]]:
    """More events than two cache pages: the samples over and over, numbered 0..count-1."""
    events = []
    for index in range(count):
        data = copy.deepcopy(SAMPLES[index % len(SAMPLES)])
        data["id"] = index
        events.append(data)
    return events


def write_upstream(conversation_dir: Path, events: list[dict[str, Any]], title: str = "From upstream") -> None:
    """What OpenHands leaves in ``sessions/{sid}/``: one file per event, full cache pages, metadata."""
    (conversation_dir / "events").mkdir(parents=True)
    (conversation_dir / "event_cache").mkdir()
    for data in events:
        (conversation_dir / "events" / f"{data['id']}.json").write_text(json.dumps(data))
    for start in range(0, len(events) - len(events) % CACHE_SIZE, CACHE_SIZE):
        page = events[start : start + CACHE_SIZE]
        (conversation_dir / "event_cache" / f"{start}-{start + CACHE_SIZE}.json").write_text(json.dumps(page))
    metadata = {"conversation_id": conversation_dir.name, "title": title, "selected_repository": None}
    (conversation_dir / "metadata.json").write_text(json.dumps(metadata))
    (conversation_dir / "agent_state.pkl").write_bytes(b"\x80\x04N.")  # other upstream files are ignored


def tree(root: Path, *subdirs: str) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes() for sub in subdirs for path in sorted((root / sub).iterdir())
    }


@pytest.fixture
def db(tmp_path: Path) -> Any:
    with Database(tmp_path / "data" / "ohtui.db") as database:
        yield database


def stored_dicts(db: Database, conversation_id: str) -> list[str]:
    return [json.dumps(event_to_dict(event)) for event in db.events(conversation_id).search()]


def test_upstream_layout_imports_and_exports_back_identically(db: Database, tmp_path: Path) -> None:
    source = tmp_path / "openhands" / "sessions" / "abc123"
    events = samples(60)
    write_upstream(source, events)
    result = import_conversation(db, source)
    info = result.conversation
    assert result.format == "openhands" and info.title == "From upstream" and info.event_count == 60
    assert info.conversation_id != "abc123" and len(info.conversation_id) == 32
    assert stored_dicts(db, info.conversation_id) == [json.dumps(data) for data in events]

    out = tmp_path / "exported"
    assert export_conversation(db, info.conversation_id, "openhands", out).events == 60
    assert tree(out, "events", "event_cache") == tree(source, "events", "event_cache")
    assert sorted(p.name for p in (out / "event_cache").iterdir()) == ["0-25.json", "25-50.json"]
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["conversation_id"] == info.conversation_id and metadata["title"] == "From upstream"
    assert import_conversation(db, out).conversation.event_count == 60  # our export reads back too


def test_upstream_layout_is_found_from_its_root_or_its_events_dir(db: Database, tmp_path: Path) -> None:
    write_upstream(tmp_path / "store" / "sessions" / "one", samples(5))
    for path in (tmp_path / "store", tmp_path / "store" / "sessions" / "one" / "events"):
        info = import_conversation(db, path, title="given").conversation
        assert info.event_count == 5 and info.title == "given"
    write_upstream(tmp_path / "store" / "sessions" / "two", samples(3))
    with pytest.raises(StoreError, match="holds 2 conversations"):
        import_conversation(db, tmp_path / "store")


def test_upstream_gaps_and_missing_ids(db: Database, tmp_path: Path) -> None:
    """Upstream skips missing files when reading; ids come from the event (or its file name when absent)."""
    source = tmp_path / "conv"
    events = [data for data in samples(30) if data["id"] not in (3, 26)]
    write_upstream(source, events)
    (source / "events" / "5.json").write_text(json.dumps({k: v for k, v in events[4].items() if k != "id"}))
    (source / "events" / "notes.txt").write_text("ignored")
    info = import_conversation(db, source).conversation
    store = db.events(info.conversation_id)
    assert store.missing_ranges() == [(3, 3), (26, 26)] and store.get(5).id == 5
    out = tmp_path / "out"
    export_conversation(db, info.conversation_id, "openhands", out)
    assert sorted(p.name for p in (out / "event_cache").iterdir()) == []  # neither page is complete


@pytest.mark.parametrize("fmt", ["jsonl", "trajectory"])
def test_file_formats_round_trip_byte_for_byte(db: Database, tmp_path: Path, fmt: str) -> None:
    events = samples(40)
    source = tmp_path / f"in.{'jsonl' if fmt == 'jsonl' else 'json'}"
    if fmt == "jsonl":
        source.write_text("".join(json.dumps(data) + "\n" for data in events))
    else:
        source.write_text(json.dumps(events))
    result = import_conversation(db, source)
    assert result.format == fmt and result.conversation.event_count == 40
    out = tmp_path / "out" / source.name
    export_conversation(db, result.conversation.conversation_id, fmt, out)
    assert out.read_bytes() == source.read_bytes()


def test_trajectory_wrappers_and_missing_ids(db: Database, tmp_path: Path) -> None:
    events = samples(4)
    for data in events:
        del data["id"]
    wrapped = tmp_path / "trajectory.json"
    wrapped.write_text(json.dumps({"trajectory": events}))
    info = import_conversation(db, wrapped).conversation
    assert [event.id for event in db.events(info.conversation_id).search()] == [0, 1, 2, 3]
    mixed = [{**events[0], "id": 7}, events[1], {**events[2], "id": 2}, events[3]]
    (tmp_path / "mixed.jsonl").write_text("\n".join(json.dumps(data) for data in mixed) + "\n")
    parsed, _, _ = read_events(tmp_path / "mixed.jsonl")
    assert [event.id for event in parsed] == [7, 8, 2, 9]  # missing ids continue after the highest so far


def test_export_of_a_stored_conversation_matches_its_events(db: Database, tmp_path: Path) -> None:
    from ohtui.protocol import CmdRunAction, EventSource, MessageAction

    store = db.events("live")
    store.append(MessageAction(content="hi"), EventSource.USER)
    store.append(CmdRunAction(command="ls"), EventSource.AGENT)
    export_conversation(db, "live", "trajectory", tmp_path / "t.json")
    assert json.loads((tmp_path / "t.json").read_text()) == [event_to_dict(event) for event in store.search()]
    with pytest.raises(StoreError, match="no conversation nope"):
        export_conversation(db, "nope", "jsonl", tmp_path / "x.jsonl")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "something").write_text("x")
    with pytest.raises(StoreError, match="not an empty directory"):
        export_conversation(db, "live", "openhands", tmp_path / "busy")


BAD_INPUTS: list[tuple[str, str, str]] = [
    ("bad.jsonl", '{"action": "message", "args": {"content": "ok"}}\n\n{"action": "message", "args": {', "bad.jsonl:3"),
    ("bad2.jsonl", '{"action": "message", "args": {"content": "ok"}}\n{"action": 7, "args": {}}\n', "bad2.jsonl:2"),
    ("bad.json", '[{"action": "message", "args": {"content": "ok"}}, {"observation": 5}]', "entry 1"),
    ("broken.json", '[{"action": "message",\n "args": {}', "line 2"),
    ("scalar.json", "42", "not an export"),
    ("object.json", '{"not": "an event"}', "object.json:1"),
    ("empty.jsonl", "  \n", "is empty"),
    ("dupes.jsonl", '{"id": 1, "observation": "null", "extras": {}}\n{"id": 1, "observation": "null", "extras": {}}\n',
     "id 1 appears twice"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "text", "where"), BAD_INPUTS, ids=[case[0] for case in BAD_INPUTS])
def test_bad_files_name_the_place_and_import_nothing(
    db: Database, tmp_path: Path, name: str, text: str, where: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(StoreError) as caught:
        import_conversation(db, path)
    assert str(path) in str(caught.value) and where in str(caught.value)
    assert db.conversations.list() == []


def test_an_event_that_does_not_validate_is_kept_counted_and_exported_unchanged(
    db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """History is read leniently: one invalid event (a known type, a body that does not validate) is no reason to
    refuse the rest. It is stored as it came, counted, and written back dict-equal."""
    source = tmp_path / "conv"
    events = samples(30)
    events[17] = {"id": 17, "timestamp": "2025-01-01T00:00:00.000000", "action": "run", "args": {"command": 5}}
    events[18] = {"id": 18, "action": "recall", "args": {"recall_type": None, "query": "q"}, "source": "agent"}
    write_upstream(source, events)
    result = import_conversation(db, source)
    assert result.invalid_events == 2 and result.conversation.event_count == 30
    stored = db.events(result.conversation.conversation_id)
    kept = stored.get(17)
    assert isinstance(kept, InvalidEvent) and kept.kind == "run" and "args.command" in kept.problem
    assert [json.loads(text) for text in stored_dicts(db, result.conversation.conversation_id)] == events
    exported = tmp_path / "out"
    export_conversation(db, result.conversation.conversation_id, "openhands", exported)
    assert tree(exported, "events", "event_cache") == tree(source, "events", "event_cache")
    data_dir = str(tmp_path / "data2")
    assert main(["import", str(source), "--data-dir", data_dir]) == 0
    assert "warning: 2 events did not validate and were kept as they are" in capsys.readouterr().err
    (source / "events" / "18.json").write_text(json.dumps(samples(19)[18]))
    assert main(["import", str(source), "--data-dir", data_dir]) == 0
    assert "warning: 1 event did not validate and was kept as it is" in capsys.readouterr().err


def test_a_bad_event_file_in_an_upstream_dir_imports_nothing(db: Database, tmp_path: Path) -> None:
    source = tmp_path / "conv"
    write_upstream(source, samples(30))
    (source / "events" / "17.json").write_text('{"id": 17, "observation": ["run"], "extras": {}}')
    with pytest.raises(StoreError, match=r"17\.json: not a valid event: observation: must be a string"):
        import_conversation(db, source)
    (source / "events" / "17.json").write_text("{nope")
    with pytest.raises(StoreError, match=r"17\.json: invalid JSON at line 1"):
        import_conversation(db, source)
    (source / "events" / "17.json").write_text(json.dumps({**samples(18)[17], "id": 3}))
    with pytest.raises(StoreError, match="the file name says 17"):
        import_conversation(db, source)
    with pytest.raises(StoreError, match="not an OpenHands conversation directory"):
        import_conversation(db, source / "event_cache")
    with pytest.raises(StoreError, match="does not exist"):
        import_conversation(db, tmp_path / "missing")
    assert db.conversations.list() == []


# -- the CLI ------------------------------------------------------------------------------------------------------


def test_cli_import_then_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "sessions" / "s1"
    write_upstream(source, samples(30))
    data_dir = str(tmp_path / "data")
    assert main(["import", str(source), "--data-dir", data_dir, "--title", "Imported"]) == 0
    captured = capsys.readouterr()
    conversation_id = captured.out.strip()
    assert len(conversation_id) == 32 and "imported 30 events" in captured.err
    out = tmp_path / "out.jsonl"
    assert main(["export", conversation_id, "--format", "jsonl", "--output", str(out), "--data-dir", data_dir]) == 0
    assert out.read_text() == "".join(json.dumps(data) + "\n" for data in samples(30))
    with Database.in_data_dir(data_dir) as db:
        info = db.conversations.get(conversation_id)
        assert info is not None and info.title == "Imported"
    exported = tmp_path / "oh"
    assert main(["export", conversation_id, "--format", "openhands", "-o", str(exported), "--data-dir", data_dir]) == 0
    assert tree(exported, "events", "event_cache") == tree(source, "events", "event_cache")


def test_cli_user_errors_are_one_line_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = str(tmp_path / "data")
    assert main(["export", "nope", "--output", str(tmp_path / "x"), "--data-dir", data_dir]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ohtui export: error: no conversation nope") and "Traceback" not in err
    assert main(["import", str(tmp_path / "missing.jsonl"), "--data-dir", data_dir]) == 1
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / "ohtui.db").write_bytes(b"definitely not sqlite" * 10)
    assert main(["import", str(tmp_path / "missing.jsonl"), "--data-dir", str(tmp_path / "garbage")]) == 1
    assert "is not an ohtui database" in capsys.readouterr().err
    assert main(["export", "x", "--format", "pdf", "--output", "y"]) == 2  # usage error, from argparse
    assert "invalid choice" in capsys.readouterr().err


def test_cli_help_documents_both_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "export" in out and "import" in out
    assert main(["export", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--format" in out and "openhands" in out and "--data-dir" in out
    assert main(["import", "--help"]) == 0
    assert "--title" in capsys.readouterr().out


def test_cli_as_a_process(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(data) + "\n" for data in samples(5)))
    data_dir = ["--data-dir", str(tmp_path / "d")]
    command = [sys.executable, "-m", "ohtui", "import", str(source), *data_dir]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    conversation_id = done.stdout.strip()
    assert len(conversation_id) == 32
    command = [sys.executable, "-m", "ohtui", "export", "nope", "-o", str(tmp_path / "o"), *data_dir]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr and "no conversation nope" in done.stderr


# -- what OpenHands itself writes ------------------------------------------------------------------------------------

OPENHANDS_0_62 = ROOT / "tests" / "fixtures" / "openhands_0_62"
"""A conversation written by OpenHands 0.62's own EventStream (see its README.md and make.py)."""


def test_a_directory_written_by_openhands_imports_whole_and_exports_back_equal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every event OpenHands wrote comes back equal, the ``recall`` actions it writes with a null ``recall_type``
    included: kept whole, counted in the import's warning, shown as invalid."""
    source = OPENHANDS_0_62 / "sessions" / "ohtui-fixture-0-62"
    written = {path.name: json.loads(path.read_text()) for path in (source / "events").iterdir()}
    odd = sorted(data["id"] for data in written.values() if data.get("args", {}).get("recall_type", "") is None)
    assert len(written) == 58 and len(odd) == 2
    data_dir = str(tmp_path / "data")
    assert main(["import", str(OPENHANDS_0_62), "--data-dir", data_dir]) == 0
    captured = capsys.readouterr()
    conversation_id = captured.out.strip()
    assert "imported 58 events" in captured.err
    assert "warning: 2 events did not validate and were kept as they are" in captured.err
    with Database.in_data_dir(data_dir) as db:
        info = db.conversations.get(conversation_id)
        assert info is not None and info.title == "Fix the tests in octo/hello"
        events = db.events(conversation_id)
        assert [event.id for event in events.search() if isinstance(event, InvalidEvent)] == odd
    out = tmp_path / "out"
    assert main(["export", conversation_id, "--format", "openhands", "-o", str(out), "--data-dir", data_dir]) == 0
    exported = {path.name: json.loads(path.read_text()) for path in (out / "events").iterdir()}
    assert exported == written
    assert tree(out, "events", "event_cache") == tree(source, "events", "event_cache")
