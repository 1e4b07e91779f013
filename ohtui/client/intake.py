"""What arrives from the server, in arrival order, into the local store: frames are queued by plain handlers and
applied by one consumer task, so they are applied in the order they came.

Events are stored with their ids: an id already stored is dropped and counted, an id past the next expected one
leaves a hole that gap repair (:mod:`ohtui.client.repair`) fills. A batch of history (``oh_events``) is acknowledged
once stored, and an ohtui server sends the next one only then. What cannot be stored is counted and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ohtui.client.reporter import StatusReporter
from ohtui.protocol import (
    ErrorFrame,
    Event,
    InvalidEvent,
    ProtocolError,
    StatusUpdate,
    parse_frame,
)
from ohtui.protocol.record import EventRecord
from ohtui.store import EventStore, StoreError

log = logging.getLogger(__name__)

REPLAY_DONE = object()
"""Queued when the connection's CONNECT arrives: what came before it is the replay."""
_MAX_BATCH = 2000


class Intake:
    """The frame queue and its consumer for one connection; ``generation`` tells frames of a dropped client apart."""

    def __init__(
        self,
        store: EventStore,
        reporter: StatusReporter,
        *,
        source: str,
        stores: bool = True,
        on_status: Callable[[StatusUpdate], object] | None = None,
        on_error: Callable[[ErrorFrame], object] | None = None,
        on_unstored: Callable[[Event], object] | None = None,
    ) -> None:
        self.store = store
        self.generation = 0
        self.repair_wanted = asyncio.Event()
        self.malformed_frames = 0
        self._reporter = reporter
        self._source = source
        self._stores = stores
        self._on_status = on_status
        self._on_error = on_error
        self._on_unstored = on_unstored
        self._frames: asyncio.Queue[tuple[int, Any]] = asyncio.Queue()
        self._unstored_batches: set[asyncio.Future[None]] = set()

    # -- what the socket handlers call ------------------------------------------------------------------------
    def put(self, generation: int, item: Any) -> None:
        self._frames.put_nowait((generation, item))

    async def on_batch(self, generation: int, data: Any) -> bool:
        """An ``oh_events`` frame: queued for the consumer, acknowledged once it is stored. An ohtui server sends the
        next history batch only while few are unacknowledged, so a client that parses slower than the server reads
        holds a few batches in memory, not the whole history."""
        stored = asyncio.get_running_loop().create_future()
        self._unstored_batches.add(stored)
        self._frames.put_nowait((generation, ("batch", data, stored)))
        try:
            await stored
        finally:
            self._unstored_batches.discard(stored)
        return True

    def release_batches(self) -> None:
        """Answer every batch still waiting for the store (the connection is being dropped)."""
        for stored in list(self._unstored_batches):
            if not stored.done():
                stored.set_result(None)

    # -- the consumer -----------------------------------------------------------------------------------------
    async def consume(self) -> None:
        """Apply frames in arrival order; whatever has queued up meanwhile goes into the store in one transaction."""
        while True:
            batch = [await self._frames.get()]
            # Whatever else has arrived, up to about _MAX_BATCH events (an oh_events frame holds hundreds): one
            # transaction for all of it, and the loop (the UI's, in the app) gets a turn between batches.
            size = _frame_size(batch[0][1])
            # An oh_events frame ends the group: it is acknowledged once stored, and the server sends the next
            # history batch only then, so it is stored without waiting for the frames queued behind it.
            while not self._frames.empty() and size < _MAX_BATCH and not _is_batch(batch[-1][1]):
                frame = self._frames.get_nowait()
                batch.append(frame)
                size += _frame_size(frame[1])
            try:
                with _collections_paused():
                    self._apply(batch)
            finally:
                for _, item in batch:  # acknowledged now: stored (or dropped, from a client gone)
                    if _is_batch(item) and not item[2].done():
                        item[2].set_result(None)

    def _apply(self, frames: list[tuple[int, Any]]) -> None:
        """Store the events of these frames in one transaction (two when the replay's end is among them)."""
        records: list[EventRecord] = []
        for generation, item in frames:
            if generation != self.generation:
                continue  # from a client already dropped; its events come again with the next replay
            if item is REPLAY_DONE:
                self.store_records(records)
                records = []
                self.repair_wanted.set()
            elif _is_batch(item):
                if isinstance(item[1], (bytes, str)):
                    for line in self._lines(item[1]):
                        self._classify_line(line, records)
                    continue
                for payload in item[1] if isinstance(item[1], list) else [item[1]]:
                    self._classify(payload, records)
            else:
                self._classify(item, records)
        self.store_records(records)

    def _lines(self, batch: bytes | str) -> list[str]:
        """The events of a batch sent as lines of JSON (a binary attachment; older ohtui servers sent a string)."""
        if isinstance(batch, str):
            return batch.split("\n")
        try:
            return batch.decode().split("\n")
        except UnicodeDecodeError:
            # Keep every line that decodes; the others are counted, and gap repair fetches those events again.
            lines: list[str] = []
            for raw in batch.split(b"\n"):
                try:
                    lines.append(raw.decode())
                except UnicodeDecodeError as error:
                    self._ignore("an event that is not UTF-8 in a batch", error)
            return lines

    def _ignore(self, what: str, problem: Exception | None = None) -> None:
        """Count and log something from the server that cannot be stored (gap repair fetches events it leaves out)."""
        self.malformed_frames += 1
        log.warning("ignored %s from %s%s", what, self._source, f": {problem}" if problem is not None else "")

    def _classify_line(self, line: str, records: list[EventRecord]) -> None:
        """One event of an ``oh_events`` batch sent as lines of JSON: its envelope read (the body is parsed when it
        is used), stored as that text."""
        try:
            record = EventRecord.from_json(line)
        except ProtocolError as error:
            self._ignore("a malformed event in a batch", error)
            return
        if record.id is None or record.id < 0:
            self._ignore(f"a batched event without a valid id ({record.id!r})")
            return
        records.append(record)

    def _classify(self, payload: Any, records: list[EventRecord]) -> None:
        """Events with an id are collected for the store; everything else is handed to its listener now."""
        try:
            frame = parse_frame(payload)
        except ProtocolError as error:
            self._ignore("a malformed frame", error)
            return
        if isinstance(frame, StatusUpdate):
            if self._on_status is not None:
                self._on_status(frame)
        elif isinstance(frame, ErrorFrame):
            if self._on_error is not None:
                self._on_error(frame)
        elif frame.id is None:
            if self._on_unstored is not None:
                self._on_unstored(frame)  # e.g. the id-less "stopped" a closing upstream session sends
        elif frame.id < 0:
            self._ignore(f"an event with the invalid id {frame.id}")
        else:
            records.append(EventRecord.from_event(frame))

    def store_records(self, records: list[EventRecord]) -> None:
        """Store in one transaction, count what was new and what was a duplicate; a hole asks for repair. When the
        store is the server's own (``stores=False``), the events are there already: counted only."""
        if not records:
            return
        if not self._stores:
            self._reporter.bump(events_received=self._reporter.counters.events_received + len(records))
            return
        try:
            results = self.store.insert_records(records)
        except (StoreError, ValueError) as error:
            # Nothing of the batch is stored; the holes it leaves are fetched again by gap repair.
            log.error("could not store %d events from %s: %s", len(records), self._source, error)
            self._reporter.note(last_error=f"local store: {error}")
            self.repair_wanted.set()
            return
        duplicates = sum(1 for result in results if result.duplicate)
        counters = self._reporter.counters
        self._reporter.bump(
            events_received=counters.events_received + len(results) - duplicates,
            duplicates_dropped=counters.duplicates_dropped + duplicates,
        )
        self.count_invalid(record for record, result in zip(records, results, strict=True) if result.inserted)
        if any(result.gap_from is not None for result in results):
            self.repair_wanted.set()

    def count_invalid(self, stored: Iterable[EventRecord]) -> None:
        """Count the stored events found not to validate here (the parsed ones: stock frames, REST pages, odd
        envelopes; a batch line's body is read when used, not here); the first is logged with why."""
        invalid = [record.parsed for record in stored if isinstance(record.parsed, InvalidEvent)]
        if not invalid:
            return
        if not self._reporter.counters.invalid_kept:
            first = invalid[0]
            log.warning(
                "event %s of conversation %s from %s does not validate and was kept as received (%s: %s); "
                "the connection counts any others",
                first.id,
                self.store.conversation_id,
                self._source,
                first.kind,
                first.problem,
            )
        self._reporter.bump(invalid_kept=self._reporter.counters.invalid_kept + len(invalid))


def _is_batch(item: Any) -> bool:
    """An ``oh_events`` frame as queued: ``("batch", data, stored)``."""
    return isinstance(item, tuple) and item[0] == "batch"


@contextlib.contextmanager
def _collections_paused() -> Iterator[None]:
    """No garbage collection while a batch is parsed and stored (synchronous, milliseconds).

    A batch's parsed events are acyclic and live only until they are stored and handed to subscribers, but collections
    triggered meanwhile would move them to older generations, and what accumulates there triggers full passes over
    everything the process holds: about 0.2 s of a 100,000-event replay (3.1 -> 2.9 s, medians of 4 interleaved runs).
    The collector's state is restored after, so a caller that paused it keeps it paused."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _frame_size(item: Any) -> int:
    """How many events a queued frame holds (an ``oh_events`` batch holds many)."""
    if _is_batch(item):
        if isinstance(item[1], list):
            return len(item[1])
        if isinstance(item[1], str):
            return item[1].count("\n") + 1
        if isinstance(item[1], bytes):
            return item[1].count(b"\n") + 1
    return 1
