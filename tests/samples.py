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
