"""A benchmark's client process: ``python -m bench._client URL KEY CONVERSATION EXPECT MIRROR``.

Runs ohtui's client (:class:`~ohtui.client.connection.Connection` into a local store at ``MIRROR``) until the
mirror holds ``EXPECT`` events, then prints one JSON line: RSS after the imports (``rss_start_mb``), once the
mirror is complete and garbage is collected (``rss_end_mb``), the peak (``hwm_mb``) and ``seconds``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from pathlib import Path

from bench.common import hwm_mb, rss_mb
from ohtui.client.connection import Connection
from ohtui.store import Database


async def main(url: str, key: str, conversation_id: str, expect: int, mirror: Path) -> None:
    gc.collect()
    start = rss_mb()
    with Database(mirror) as db:
        store = db.events(conversation_id)
        stored = 0
        done = asyncio.Event()

        def arrived(event: object) -> None:
            nonlocal stored
            stored += 1
            if stored >= expect:
                done.set()

        store.subscribe("bench", arrived)
        connection = Connection(url, conversation_id, store, key=key, ping_every=0)
        began = time.perf_counter()
        await connection.start()
        try:
            await asyncio.wait_for(done.wait(), 600)
            seconds = time.perf_counter() - began
            await asyncio.sleep(0.5)  # anything still in flight lands
            gc.collect()
            end = rss_mb()
        finally:
            await connection.close()
    print(json.dumps({"rss_start_mb": start, "rss_end_mb": end, "hwm_mb": hwm_mb(), "seconds": seconds}))


if __name__ == "__main__":
    url, key, conversation_id, expect, mirror = sys.argv[1:6]
    asyncio.run(main(url, key, conversation_id, int(expect), Path(mirror)))
