"""Snapshots of the main screen in each state, through the real embedded/remote server and client (issue 6).

The screen is exported with ``simplify=True`` (contiguous runs of one style merged): the plugin's ``snap_compare``
exports unsimplified segments, whose boundaries (and so which blank cells an SVG keeps) vary between runs of a
whole app even when every cell is the same. The SVGs are stored with pytest-textual-snapshot's own extension.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from pytest_textual_snapshot import SVGImageExtension

from tests.ui_scenarios import SCENARIOS, Scenario


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
async def test_main_screen(snapshot: Any, tmp_path: Path, scenario: Scenario) -> None:
    with ExitStack() as stack:
        app, setup = scenario.build(tmp_path, stack)
        async with app.run_test(size=scenario.size) as pilot:
            await setup(pilot)
            svg = app.export_screenshot(simplify=True)
    assert snapshot.use_extension(SVGImageExtension) == svg
