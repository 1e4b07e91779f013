"""Filling what the socket did not deliver, over REST: holes below the highest stored id (never skipped), and the
event a connection keeps ending before."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ohtui.client.intake import Intake
from ohtui.client.reporter import StatusReporter
from ohtui.client.rest import RestClient, RestError
from ohtui.client.status import ConnectionState
from ohtui.protocol import ErrorFrame
from ohtui.protocol.record import EventRecord

log = logging.getLogger(__name__)

_RETRY = 1.0


class Repair:
    def __init__(
        self,
        rest: RestClient,
        intake: Intake,
        reporter: StatusReporter,
        *,
        source: str,
        on_error: Callable[[ErrorFrame], object] | None = None,
    ) -> None:
        self._rest = rest
        self._intake = intake
        self._store = intake.store
        self._reporter = reporter
        self._source = source
        self._on_error = on_error

    async def run(self) -> None:
        """Fill holes below the highest stored id from REST whenever intake asks, retrying while any remain."""
        wanted = self._intake.repair_wanted
        while True:
            await wanted.wait()
            wanted.clear()
            if self._reporter.state is not ConnectionState.CONNECTED:
                continue
            holes = self._store.missing_ranges(0, self._store.latest_id())
            if not holes:
                continue
            conversation = self._store.conversation_id
            try:
                for start, end in holes:
                    fetched = [
                        EventRecord.from_event(event) for event in await self._rest.events(conversation, start, end)
                    ]
                    results = self._store.insert_records(fetched)
                    self._intake.count_invalid(r for r, result in zip(fetched, results, strict=True) if result.inserted)
                    if not self._store.missing_ranges(start, end):
                        self._reporter.bump(gaps_repaired=self._reporter.counters.gaps_repaired + 1)
            except RestError as error:
                log.info("gap repair failed, will retry: %s", error)
            if self._store.missing_ranges(0, self._store.latest_id()):
                await asyncio.sleep(_RETRY)
                wanted.set()

    async def fetch_past_stall(self) -> None:
        """The connection ended twice in a row without delivering anything new: a server may be sending an event
        this client cannot receive (over the 4 MiB a websocket message may hold, say), and would send it again on
        every reconnect. Ask for the next event over REST instead; say which event it was, either way."""
        next_id = self._store.latest_id() + 1
        try:
            fetched = await self._rest.events(self._store.conversation_id, next_id, next_id)
        except RestError as error:
            self._report(f"the connection keeps ending before event {next_id}, which REST cannot fetch either: {error}")
            return
        if not fetched:
            return  # nothing was waiting: the connection just dropped while idle
        self._intake.store_records([EventRecord.from_event(event) for event in fetched])
        self._report(
            f"event {next_id} did not arrive over the socket (the connection ended twice before it): fetched over REST"
        )

    def _report(self, problem: str) -> None:
        """A problem of this client's (not a refusal from the server): logged, in the status, and to ``on_error``."""
        log.warning("%s (%s)", problem, self._source)
        self._reporter.note(last_error=problem)
        if self._on_error is not None:
            self._on_error(ErrorFrame(message=problem))
