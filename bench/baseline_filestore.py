"""A file-per-event store written the way upstream's ``EventStream`` writes and ``EventStore`` reads (§3.1-§3.3).

The comparison point for ``bench.store_bench``: each event is ``events/{id}.json`` written with ``json.dumps``
(atomically, temp file then rename, as upstream's ``LocalFileStore.write`` does, and without fsync, so it survives a
process kill but not a power loss, like ohtui's ``synchronous=NORMAL``), then a 25-event ``event_cache`` page when
one fills up. A reader finds the end of the stream by listing ``events/`` (``LocalFileStore.list``: ``listdir`` plus
an ``isdir`` per entry) and reads cache pages where it can, single files elsewhere.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ohtui.protocol import Event, EventSource, event_from_dict, event_to_dict, wire_timestamp

CACHE_SIZE = 25


def _write(path: Path, contents: str) -> None:
    os.makedirs(path.parent, exist_ok=True)
    temporary = f"{path}.tmp.{os.getpid()}.{threading.get_ident()}"
    with open(temporary, "w") as handle:
        handle.write(contents)
    os.replace(temporary, path)


class FileEventStore:
    def __init__(self, root: Path, sid: str) -> None:
        self.dir = root / "sessions" / sid
        self._lock = threading.Lock()
        self._cur_id: int | None = None
        self._page: list[dict[str, Any]] = []

    @property
    def cur_id(self) -> int:
        if self._cur_id is None:
            self._cur_id = self._calculate_cur_id()
        return self._cur_id

    def _calculate_cur_id(self) -> int:
        events_dir = self.dir / "events"
        try:
            names = [name + "/" if (events_dir / name).is_dir() else name for name in os.listdir(events_dir)]
        except FileNotFoundError:
            return 0
        highest = -1
        for name in names:
            try:
                highest = max(highest, int(name.split(".")[0]))
            except ValueError:
                continue
        return highest + 1

    def add_event(self, event: Event, source: EventSource) -> Event:
        with self._lock:
            event_id = self.cur_id
            self._cur_id = event_id + 1
            event = event.model_copy(update={"id": event_id, "timestamp": wire_timestamp(), "source": source})
            data = event_to_dict(event)  # upstream: to dict, mask secrets, back to an event
            event = event_from_dict(data)
            self._page.append(data)
            page = None
            if len(self._page) == CACHE_SIZE:
                page, self._page = self._page, []
        _write(self.dir / "events" / f"{event_id}.json", json.dumps(data))
        if page is not None:
            start = page[0]["id"]
            _write(self.dir / "event_cache" / f"{start}-{start + CACHE_SIZE}.json", json.dumps(page))
        return event

    def get_event(self, event_id: int) -> Event:
        return event_from_dict(json.loads((self.dir / "events" / f"{event_id}.json").read_text()))

    def _page_for(self, index: int) -> tuple[int, list[dict[str, Any]] | None]:
        start = index - index % CACHE_SIZE
        try:
            return start, json.loads((self.dir / "event_cache" / f"{start}-{start + CACHE_SIZE}.json").read_text())
        except FileNotFoundError:
            return start, None

    def search_events(
        self, start_id: int = 0, end_id: int | None = None, reverse: bool = False, limit: int | None = None
    ) -> Iterator[Event]:
        end = self.cur_id if end_id is None else end_id + 1
        step = 1
        if reverse:
            step, start_id, end = -1, end - 1, start_id - 1
        page_start, page = -1, None
        found = 0
        for index in range(start_id, end, step):
            if not page_start <= index < page_start + CACHE_SIZE:
                page_start, page = self._page_for(index)
            if page is not None:
                event = event_from_dict(page[index - page_start])
            else:
                try:
                    event = self.get_event(index)
                except FileNotFoundError:
                    continue
            yield event
            found += 1
            if limit and found >= limit:
                return


def populate(root: Path, sid: str, events: list[dict[str, Any]]) -> None:
    """Write a finished conversation in the same layout, fast (for read benchmarks)."""
    store_dir = root / "sessions" / sid
    (store_dir / "events").mkdir(parents=True, exist_ok=True)
    (store_dir / "event_cache").mkdir(exist_ok=True)
    for data in events:
        (store_dir / "events" / f"{data['id']}.json").write_text(json.dumps(data))
    for start in range(0, len(events) - len(events) % CACHE_SIZE, CACHE_SIZE):
        page = json.dumps(events[start : start + CACHE_SIZE])
        (store_dir / "event_cache" / f"{start}-{start + CACHE_SIZE}.json").write_text(page)
