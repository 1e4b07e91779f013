"""The shared protocol samples: read from ../shared when present, else from the copy in tests/fixtures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
_CANDIDATES = (
    _HERE.parent.parent / "shared" / "protocol" / "samples" / "events.jsonl",
    _HERE / "fixtures" / "events.jsonl",
)


def samples_path() -> Path:
    return next(path for path in _CANDIDATES if path.exists())


def load_samples() -> list[tuple[str, dict[str, Any]]]:
    lines = samples_path().read_text(encoding="utf-8").splitlines()
    return [(record["name"], record["event"]) for record in map(json.loads, filter(None, lines))]


def history_with_invalid_events() -> list[str]:
    """What a server may hold, as compact JSON text: events ohtui's models refuse (a recall action as OpenHands 0.62
    itself writes it, a message as something older might) at ids 1 and 2, between valid ones at 0 and 3."""
    recall = {"id": 1, "timestamp": "2025-11-28T10:00:01.000000", "source": "user", "message": "Retrieving: hi",
              "action": "recall", "args": {"recall_type": None, "query": "hi", "thought": ""}}  # fmt: skip
    message = {"id": 2, "timestamp": "2025-11-28T10:00:02.000000", "source": "agent", "message": "5",
               "action": "message", "args": {"content": 5, "image_urls": None}}  # fmt: skip
    first = '{"id":0,"timestamp":"2025-11-28T10:00:00.000000","source":"user","message":"hi","action":"message",'
    first += '"args":{"content":"hi","file_urls":[],"image_urls":[],"wait_for_response":false,"security_risk":-1}}'
    last = '{"id":3,"timestamp":"2025-11-28T10:00:03.000000","source":"agent","message":"I am thinking...: hmm",'
    last += '"action":"think","args":{"thought":"hmm"}}'
    return [first, *(json.dumps(data, separators=(",", ":")) for data in (recall, message)), last]
