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
from pathlib import Path

from bench.common import hwm_mb, ohtui_mirror, rss_mb


async def main(url: str, key: str, conversation_id: str, expect: int, mirror: Path) -> None:
    gc.collect()
    start = rss_mb()
    async with ohtui_mirror(url, key, conversation_id, expect, mirror, 600) as seconds:
        await asyncio.sleep(0.5)  # anything still in flight lands
        gc.collect()
        end = rss_mb()
    print(json.dumps({"rss_start_mb": start, "rss_end_mb": end, "hwm_mb": hwm_mb(), "seconds": seconds}))


if __name__ == "__main__":
    url, key, conversation_id, expect, mirror = sys.argv[1:6]
    asyncio.run(main(url, key, conversation_id, int(expect), Path(mirror)))
