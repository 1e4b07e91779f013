"""Regenerate the README's screenshots: the main screen in each state, through the real server and client.

Run from the repository root: ``python screenshots/make.py``. The scenarios are the snapshot tests' own
(``tests/ui_scenarios.py``), so the pictures show exactly what the tests check.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.ui_scenarios import SCENARIOS, Scenario  # noqa: E402


async def shoot(scenario: Scenario, folder: Path) -> Path:
    with ExitStack() as stack, tempfile.TemporaryDirectory() as scratch:
        app, setup = scenario.build(Path(scratch), stack)
        async with app.run_test(size=scenario.size) as pilot:
            await setup(pilot)
            svg = app.export_screenshot(simplify=True, title=f"ohtui — {scenario.name.replace('_', ' ')}")
    target = folder / f"{scenario.name}.svg"
    target.write_text(svg, encoding="utf-8")
    return target


def main() -> int:
    folder = Path(__file__).resolve().parent
    for scenario in SCENARIOS:
        print(asyncio.run(shoot(scenario, folder)).relative_to(ROOT))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
