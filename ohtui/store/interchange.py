"""Moving conversations in and out: JSON lines, a trajectory (a JSON list), and upstream's directory layout (§3.1).

Every format carries the upstream event dicts (``event_to_dict``), so an import followed by an export gives back the
same dicts, byte for byte in the files (``json.dumps`` with its default separators, as upstream writes them).
An import is all or nothing: the whole input is read first and stored in one transaction, and an error names the file
and the line or entry at fault. What was written by another program is read leniently: an event that does not
validate (OpenHands 0.62 writes ``recall`` actions with a null ``recall_type``) is kept whole and counted, never a
reason to refuse the rest; only input that is not JSON, or JSON that is not an event at all, fails the import.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

from ohtui.protocol import Event, InvalidEvent, ProtocolError, event_to_dict, stored_event_from_dict
from ohtui.store.conversations import ConversationInfo
from ohtui.store.errors import StoreError
from ohtui.store.sqlite import Database

CACHE_SIZE = 25  # upstream's event_cache page size
_EVENT_FILE = re.compile(r"^(0|[1-9][0-9]*)\.json$")


class Format(StrEnum):
    JSONL = "jsonl"
    TRAJECTORY = "trajectory"
    OPENHANDS = "openhands"


@dataclass(frozen=True)
class ExportResult:
    path: Path
    format: Format
    events: int


def _dumps(event: Event) -> str:
    return json.dumps(event_to_dict(event))


def _conversation(db: Database, conversation_id: str) -> ConversationInfo:
    info = db.conversations.get(conversation_id)
    if info is None:
        raise StoreError(f"no conversation {conversation_id} in {db.path}")
    return info


def export_conversation(
    db: Database, conversation_id: str, fmt: Format | str, output: str | os.PathLike[str]
) -> ExportResult:
    """Write a conversation's events to ``output``: a file for jsonl and trajectory (replaced atomically), a new or
    empty directory for openhands (upstream's ``sessions/{id}/`` content: ``events/``, ``event_cache/``,
    ``metadata.json``)."""
    fmt = Format(fmt)
    info = _conversation(db, conversation_id)
    events = db.events(conversation_id).search()
    path = Path(output)
    if fmt is Format.OPENHANDS:
        count = _export_openhands(info, events, path)
    else:
        count = _write_atomically(path, lambda out: _write_lines(events, out, fmt))
    return ExportResult(path, fmt, count)


def _write_lines(events: Iterator[Event], out: TextIO, fmt: Format) -> int:
    count = 0
    if fmt is Format.JSONL:
        for event in events:
            out.write(_dumps(event) + "\n")
            count += 1
        return count
    # Streamed, but the same text as json.dumps(list_of_dicts).
    out.write("[")
    for event in events:
        out.write(", " + _dumps(event) if count else _dumps(event))
        count += 1
    out.write("]")
    return count


def _write_atomically(path: Path, write: Callable[[TextIO], int]) -> int:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
                count = write(out)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as error:
        raise StoreError(f"cannot write {path}: {error.strerror or error}") from None
    return count


def _export_openhands(info: ConversationInfo, events: Iterator[Event], root: Path) -> int:
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise StoreError(f"{root} already exists and is not an empty directory; choose a new output directory")
    count = 0
    try:
        (root / "events").mkdir(parents=True, exist_ok=True)
        (root / "event_cache").mkdir(exist_ok=True)
        page: list[str] = []
        page_start = 0
        for event in events:
            text = _dumps(event)
            (root / "events" / f"{event.id}.json").write_text(text, encoding="utf-8")
            count += 1
            # A cache page holds 25 events with consecutive ids starting at a multiple of 25, as upstream reads them.
            assert event.id is not None
            if page and event.id != page_start + len(page):
                page = []
            if not page:
                if event.id % CACHE_SIZE:
                    continue
                page_start = event.id
            page.append(text)
            if len(page) == CACHE_SIZE:
                name = f"{page_start}-{page_start + CACHE_SIZE}.json"
                (root / "event_cache" / name).write_text("[" + ", ".join(page) + "]", encoding="utf-8")
                page = []
        metadata = {
            "conversation_id": info.conversation_id,
            "title": info.title,
            "created_at": info.created_at.isoformat(),
            "last_updated_at": info.updated_at.isoformat(),
            "selected_repository": None,
            "user_id": None,
        }
        (root / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    except OSError as error:
        raise StoreError(f"cannot write {error.filename or root}: {error.strerror or error}") from None
    return count


# -- import -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    """``invalid_events``: how many events did not validate and were kept as they are (:class:`InvalidEvent`)."""

    conversation: ConversationInfo
    format: Format
    source: Path
    invalid_events: int = 0


def _parse(data: Any, where: str) -> Event:
    try:
        return stored_event_from_dict(data)
    except ProtocolError as error:
        raise StoreError(f"{where}: not a valid event: {error}") from None


def _load_json(path: Path, where: str | None = None) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise StoreError(f"{where or path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except OSError as error:
        raise StoreError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise StoreError(
            f"{where or path}: invalid JSON at line {error.lineno} column {error.colno}: {error.msg}"
        ) from None
    except RecursionError:
        raise StoreError(f"{where or path}: JSON nested too deeply") from None


def _conversation_dir(path: Path) -> Path | None:
    """The upstream conversation directory ``path`` points at: itself, its parent (``…/events``), or the one
    session under ``path/sessions/``."""
    if (path / "events").is_dir():
        return path
    if path.name == "events" and path.parent.is_dir():
        return path.parent
    sessions = path / "sessions"
    if sessions.is_dir():
        candidates = sorted(child for child in sessions.iterdir() if (child / "events").is_dir())
        if len(candidates) == 1:
            return candidates[0]
        if candidates:
            names = ", ".join(child.name for child in candidates[:5])
            raise StoreError(f"{sessions} holds {len(candidates)} conversations ({names}…); import one of them")
    return None


def read_openhands(directory: Path) -> tuple[list[Event], str | None]:
    """The events of an upstream conversation directory (``events/{id}.json``; ``event_cache`` is derived data and
    not needed), and the title from its ``metadata.json`` if any."""
    events_dir = directory / "events"
    numbered: list[tuple[int, Path]] = []
    try:
        for entry in events_dir.iterdir():
            match = _EVENT_FILE.match(entry.name)
            if match:
                numbered.append((int(match.group(1)), entry))
    except OSError as error:
        raise StoreError(f"cannot read {events_dir}: {error.strerror or error}") from None
    events: list[Event] = []
    for file_id, entry in sorted(numbered):
        data = _load_json(entry)
        event = _parse(data, str(entry))
        if event.id is None:
            event = event.model_copy(update={"id": file_id})
        elif event.id != file_id:
            raise StoreError(f"{entry}: the event's id is {event.id}, but the file name says {file_id}")
        events.append(event)
    title = None
    metadata = directory / "metadata.json"
    if metadata.is_file():
        data = _load_json(metadata)
        if isinstance(data, dict) and isinstance(data.get("title"), str):
            title = data["title"]
    return events, title


def read_jsonl(path: Path, text: str) -> list[Event]:
    events: list[Event] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            raise StoreError(f"{path}:{number}: invalid JSON at column {error.colno}: {error.msg}") from None
        except RecursionError:
            raise StoreError(f"{path}:{number}: JSON nested too deeply") from None
        events.append(_parse(data, f"{path}:{number}"))
    return events


def read_trajectory(path: Path, data: Any) -> list[Event]:
    """A JSON list of event dicts; also upstream's API answers ``{"trajectory": [...]}`` and ``{"events": [...]}``."""
    if isinstance(data, dict):
        for key in ("trajectory", "events"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
    if not isinstance(data, list):
        raise StoreError(f"{path}: expected a JSON list of events (a trajectory), got a JSON {type(data).__name__}")
    return [_parse(item, f"{path}: entry {index}") for index, item in enumerate(data)]


def _with_ids(events: list[Event], source: Path) -> list[Event]:
    """Keep the ids the events have; number those without one after the highest so far. Duplicates are refused."""
    result: list[Event] = []
    seen: set[int] = set()
    next_id = 0
    for index, event in enumerate(events):
        if event.id is None:
            event = event.model_copy(update={"id": next_id})
        assert event.id is not None
        if event.id < 0:
            raise StoreError(f"{source}: entry {index}: negative id {event.id}")
        if event.id in seen:
            raise StoreError(f"{source}: entry {index}: id {event.id} appears twice")
        seen.add(event.id)
        next_id = max(next_id, event.id + 1)
        result.append(event)
    return result


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise StoreError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except OSError as error:
        raise StoreError(f"cannot read {path}: {error.strerror or error}") from None


def read_events(path: str | os.PathLike[str]) -> tuple[list[Event], Format, str | None]:
    """Read and validate an import source, telling its format by what it is: a directory in upstream's layout,
    a JSON list (trajectory), or JSON lines."""
    source = Path(path)
    if not source.exists():
        raise StoreError(f"{source} does not exist")
    if source.is_dir():
        directory = _conversation_dir(source)
        if directory is None:
            raise StoreError(
                f"{source} is not an OpenHands conversation directory (it has no events/ directory, and no single "
                "sessions/*/events/)"
            )
        events, title = read_openhands(directory)
        return _with_ids(events, directory), Format.OPENHANDS, title
    text = _read_text(source)
    start = text.lstrip()[:1]
    if start == "[" or (start == "{" and source.suffix.lower() != ".jsonl"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            if start == "[":
                raise StoreError(
                    f"{source}: invalid JSON at line {error.lineno} column {error.colno}: {error.msg}"
                ) from None
            data = None  # several objects: JSON lines
        except RecursionError:
            raise StoreError(f"{source}: JSON nested too deeply") from None
        if isinstance(data, list) or (isinstance(data, dict) and _wrapped_list(data)):
            return _with_ids(read_trajectory(source, data), source), Format.TRAJECTORY, None
    elif start == "":
        raise StoreError(f"{source} is empty")
    elif start != "{":
        raise StoreError(f"{source}: not an export (expected JSON lines, a JSON list, or a directory)")
    return _with_ids(read_jsonl(source, text), source), Format.JSONL, None


def _wrapped_list(data: dict[str, Any]) -> bool:
    return any(isinstance(data.get(key), list) for key in ("trajectory", "events"))


def import_conversation(db: Database, path: str | os.PathLike[str], title: str | None = None) -> ImportResult:
    """Create a new conversation from ``path`` (see :func:`read_events`) with the events' own ids."""
    events, fmt, found_title = read_events(path)
    info = db.conversations.create_with_events(events, title=title if title is not None else found_title)
    invalid = sum(1 for event in events if isinstance(event, InvalidEvent))
    return ImportResult(info, fmt, Path(path), invalid)
