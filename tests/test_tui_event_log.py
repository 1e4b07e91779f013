"""EventLog behaviour through run_test + Pilot: rows, grouping, collapse, tail following, filter, search, order."""

from __future__ import annotations

import asyncio
from typing import Any

from rich.style import Style
from textual.app import App, ComposeResult

from ohtui.protocol import (
    AgentState,
    AgentStateChangedObservation,
    CmdOutputObservation,
    CmdRunAction,
    ErrorObservation,
    Event,
    EventSource,
    InvalidEvent,
    MessageAction,
    NullAction,
    OpaqueEvent,
    SystemMessageAction,
    event_from_dict,
    stored_event_from_dict,
)
from ohtui.tui.widgets.event_log import BURST_EVENTS, BURST_REPAINT, EventLog
from tests.test_tui_widgets import sample_events

TS = "2025-11-28T10:00:00.000000"


def run(event_id: int, command: str = "ls") -> CmdRunAction:
    return CmdRunAction(id=event_id, timestamp=TS, source=EventSource.AGENT, command=command)


def out(event_id: int, cause: int, content: str = "ok\n", exit_code: int = 0) -> CmdOutputObservation:
    return CmdOutputObservation(
        id=event_id,
        timestamp=TS,
        source=EventSource.AGENT,
        cause=cause,
        content=content,
        command="ls",
        metadata={"exit_code": exit_code},
    )


def message(event_id: int, text: str, source: EventSource = EventSource.AGENT) -> MessageAction:
    return MessageAction(id=event_id, timestamp=TS, source=source, content=text)


def state(event_id: int, agent_state: AgentState, reason: str = "") -> AgentStateChangedObservation:
    return AgentStateChangedObservation(
        id=event_id, timestamp=TS, source=EventSource.ENVIRONMENT, agent_state=agent_state, reason=reason
    )


class LogApp(App[None]):
    def __init__(self, events: list[Event] | None = None, preview_lines: int | None = None) -> None:
        super().__init__()
        self.initial = events or []
        self.preview_lines = preview_lines

    def compose(self) -> ComposeResult:
        yield EventLog(preview_lines=self.preview_lines)

    def on_mount(self) -> None:
        log = self.query_one(EventLog)
        log.add_events(self.initial)
        log.focus()


def ids(log: EventLog) -> list[int | None]:
    return [event.id for event in log.visible_events()]


def screen_text(log: EventLog) -> list[str]:
    return [log.render_line(y).text for y in range(log.size.height)]


async def test_sample_rows_hide_noise_and_group_observations() -> None:
    app = LogApp(sample_events())
    async with app.run_test(size=(110, 40)):
        log = app.query_one(EventLog)
        shown = ids(log)
        # recall action 2, null observation 5, system 26 and null action 27 are noise; observations with a
        # visible cause render inside their action's cell.
        assert not {2, 5, 26, 27} & set(shown)
        assert not {7, 9, 11, 13, 16, 18, 24, 31} & set(shown)
        assert shown == sorted(shown)  # type: ignore[type-var]
        assert [e.id for e in log.grouped_events(6)] == [6, 7, 24]
        assert [e.id for e in log.grouped_events(14)] == [14, 31]
        # The ipython observation 29 is caused by the hidden null action 27: it stands alone.
        assert 29 in shown
        assert log.event_count == len(sample_events())


async def test_row_text_time_badge_kind_mark_summary() -> None:
    app = LogApp([run(1, "ls -la"), out(2, 1), run(3, "false"), out(4, 3, "boom\n", exit_code=1), run(5, "sleep 9")])
    async with app.run_test(size=(100, 20)):
        log = app.query_one(EventLog)
        first = log.row_lines(1)
        assert first[0].split() == ["10:00:00", "agent", "run", "✓", "$", "ls", "-la"]
        assert first[1].strip() == "│ ok"
        failed = log.row_lines(3)
        assert "✗" in failed[0] and "exit code 1" in failed[-1]
        assert "…" in log.row_lines(5)[0]  # pending: no observation yet


async def test_observation_arriving_before_its_action_is_adopted() -> None:
    app = LogApp([out(2, 1, "late\n")])
    async with app.run_test(size=(100, 20)):
        log = app.query_one(EventLog)
        assert ids(log) == [2]
        log.add_event(run(1))
        assert ids(log) == [1]
        assert [e.id for e in log.grouped_events(1)] == [1, 2]
        assert "✓" in log.row_lines(1)[0]


async def test_out_of_order_inserts_keep_id_order() -> None:
    app = LogApp([message(5, "five"), message(1, "one"), message(9, "nine")])
    async with app.run_test(size=(100, 20)) as pilot:
        log = app.query_one(EventLog)
        assert ids(log) == [1, 5, 9]
        log.add_events([message(3, "three"), message(7, "seven")])
        log.add_event(state(4, AgentState.RUNNING))  # a replayed state change arrives last
        log.add_event(message(5, "duplicate"))
        await pilot.pause()
        assert ids(log) == [1, 3, 4, 5, 7, 9]
        text = screen_text(log)
        assert [line.split()[-1] for line in text[:6] if "running" not in line] == [
            "one",
            "three",
            "five",
            "seven",
            "nine",
        ]
        assert "running" in text[2]


async def test_expand_and_collapse_with_enter_and_click() -> None:
    output = "\n".join(f"line {n}" for n in range(12))
    app = LogApp([run(1), out(2, 1, output), message(3, "after")], preview_lines=3)
    async with app.run_test(size=(100, 30)) as pilot:
        log = app.query_one(EventLog)
        collapsed = log.row_lines(1)
        assert len(collapsed) == 1 + 3 + 1
        assert "9 more lines" in collapsed[-1]
        await pilot.press("home", "enter")
        assert log.cursor_event is not None and log.cursor_event.id == 1
        assert log.is_expanded(1)
        assert len(log.row_lines(1)) == 1 + 12
        await pilot.pause()
        assert "line 11" in screen_text(log)[12]
        await pilot.click(EventLog, offset=(30, 0))
        assert not log.is_expanded(1)
        await pilot.pause()
        assert "after" in screen_text(log)[5]


async def test_cursor_keys_move_between_rows() -> None:
    app = LogApp([message(n, f"m{n}") for n in range(1, 101)])
    async with app.run_test(size=(80, 12)) as pilot:
        log = app.query_one(EventLog)
        await pilot.press("home")
        assert log.cursor_event is not None and log.cursor_event.id == 1
        await pilot.press("down", "down")
        assert log.cursor_event.id == 3
        await pilot.press("pagedown")
        assert log.cursor_event.id == 14
        await pilot.press("pageup")
        assert log.cursor_event.id == 3
        await pilot.press("end")
        assert log.cursor_event.id == 100
        assert log.following


async def test_follows_tail_only_at_bottom() -> None:
    app = LogApp([message(n, f"m{n}") for n in range(1, 201)])
    async with app.run_test(size=(80, 12)) as pilot:
        log = app.query_one(EventLog)
        await pilot.pause()
        assert log.following and log.scroll_offset.y == log.max_scroll_y > 0
        log.scroll_to(y=0, animate=False)
        await pilot.pause()
        assert not log.following
        log.add_events([message(n, f"m{n}") for n in range(201, 211)])
        await pilot.pause()
        assert log.scroll_offset.y == 0
        assert log.new_count == 10
        assert "↓ 10 new" in screen_text(log)[-1]
        await pilot.press("end")
        await pilot.pause()
        assert log.following and log.new_count == 0
        assert log.scroll_offset.y == log.max_scroll_y
        log.add_events([message(211, "m211")])
        await pilot.pause()
        assert log.scroll_offset.y == log.max_scroll_y
        assert screen_text(log)[-1].split()[-1] == "m211"


async def test_scrolling_back_to_bottom_resumes_following() -> None:
    app = LogApp([message(n, f"m{n}") for n in range(1, 101)])
    async with app.run_test(size=(80, 12)) as pilot:
        log = app.query_one(EventLog)
        await pilot.pause()
        log.scroll_to(y=10, animate=False)
        await pilot.pause()
        assert not log.following
        log.scroll_to(y=log.max_scroll_y, animate=False)
        await pilot.pause()
        assert log.following


async def test_filter_by_kind_and_source_and_hidden() -> None:
    app = LogApp(sample_events())
    async with app.run_test(size=(100, 40)):
        log = app.query_one(EventLog)
        log.set_filter(kinds={"run"})
        assert ids(log) == [6, 36, 37]
        log.set_filter(kinds={"error"})
        assert ids(log) == [23]
        log.set_filter(sources={"user"})
        assert ids(log) == [1, 22]
        log.set_filter(sources={"env"})
        assert ids(log) == [0, 3, 4, 25]
        log.set_filter(hide_hidden=False)
        assert {2, 5, 26, 27} <= set(ids(log))
        log.set_filter()
        assert 26 not in ids(log)


async def test_search_highlights_and_jumps() -> None:
    events: list[Event] = [message(n, f"alpha {n}" if n % 4 == 1 else f"beta {n}") for n in range(1, 41)]
    app = LogApp(events)
    async with app.run_test(size=(80, 10)) as pilot:
        log = app.query_one(EventLog)
        await pilot.press("home")
        assert log.search("ALPHA") == 10
        assert log.cursor_event is not None and log.cursor_event.id == 1
        assert log.search_next() == 1 and log.cursor_event.id == 5
        await pilot.press("n")
        assert log.cursor_event.id == 9
        await pilot.press("N", "N", "N")
        assert log.cursor_event.id == 37  # wrapped backwards
        await pilot.pause()
        match_style = log._style("match")
        highlighted = [
            segment.text
            for y in range(log.size.height)
            for segment in log.render_line(y)
            if segment.style is not None and segment.style.bgcolor == match_style.bgcolor
        ]
        assert "alpha" in highlighted
        assert log.search("") == 0 and log.match_index == -1


async def test_search_matches_follow_events_that_arrive_while_it_is_active() -> None:
    """Stepping through matches checks only the rows touched since the last step (a new row, a new child, an orphan
    moved under its action); the result is what searching everything again finds."""
    app = LogApp([message(n, f"alpha {n}" if n % 2 else f"beta {n}") for n in range(1, 11)])
    async with app.run_test(size=(80, 10)):
        log = app.query_one(EventLog)

        def matched() -> list[int | None]:
            return log.match_ids()

        assert log.search("alpha") == 5
        log.add_events([message(11, "alpha 11"), run(12, "echo quiet"), run(14, "echo quiet")])
        log.search_next()
        assert matched() == [1, 3, 5, 7, 9, 11]
        log.add_events([out(13, 12, "ALPHA in the output\n")])  # a child makes its action's cell match
        log.add_events([out(16, 15, "alpha before its action\n")])  # an orphan matches on its own row
        log.search_next()
        assert matched() == [1, 3, 5, 7, 9, 11, 12, 16]
        log.add_events([run(15, "echo late")])  # the orphan moves under its action: one row, which matches
        log.add_events([message(2, "gone")])  # a duplicate id: ignored
        log.search_next()
        incremental = matched()
        assert incremental == [1, 3, 5, 7, 9, 11, 12, 15]
        assert log.search("alpha") == len(incremental) and matched() == incremental
        log.set_filter(kinds={"run"})  # a filter change: everything is searched again
        log.search_next()
        assert matched() == [12, 15]


async def test_agent_message_renders_markdown() -> None:
    text = "# Plan\n\nI will **fix** it:\n\n- first `step`\n- second step\n\n```python\nprint('x')\n```"
    app = LogApp([message(1, text), message(2, "**not** markdown", EventSource.USER)])
    async with app.run_test(size=(100, 30)):
        log = app.query_one(EventLog)
        lines = [line.rstrip() for line in log.row_lines(1)]
        joined = "\n".join(lines)
        assert "Plan" in lines[0] and "#" not in lines[0]
        assert "I will fix it:" in joined and "**" not in joined
        assert "• first step" in joined and "`" not in joined
        assert "print('x')" in joined
        assert "**not** markdown" in log.row_lines(2)[0]  # user text is shown as typed
        strips = log.render_row(1)
        assert any(segment.style is not None and segment.style.bold for s in strips for segment in s)


async def test_long_message_height_follows_width() -> None:
    long = " ".join(f"word{n}" for n in range(200))
    app = LogApp([message(1, long), message(2, "end")])
    async with app.run_test(size=(100, 40)) as pilot:
        log = app.query_one(EventLog)
        await pilot.pause()
        wide = len(log.row_lines(1))
        await pilot.resize_terminal(60, 40)
        await pilot.pause()
        narrow = len(log.row_lines(1))
        assert narrow > wide > 1
        text = screen_text(log)
        assert text[narrow].split()[-1] == "end"


async def test_errors_are_highlighted() -> None:
    error = ErrorObservation(id=2, timestamp=TS, source=EventSource.AGENT, content="Something failed")
    app = LogApp([run(1, "ok"), error, run(3), out(4, 3, "bad", exit_code=2), state(5, AgentState.ERROR, "boom")])
    async with app.run_test(size=(100, 20)):
        log = app.query_one(EventLog)
        error_color = log._style("error").color
        error_row = log._style("error-row").bgcolor

        def colours(event_id: int) -> tuple[set[Any], set[Any]]:
            segments = [segment for segment in log.render_row(event_id)[0] if segment.style is not None]
            styles: list[Style] = [style for _, style, _ in segments if style is not None]
            return {style.color for style in styles}, {style.bgcolor for style in styles}

        assert error_color in colours(2)[0] and error_row in colours(2)[1]
        assert error_color in colours(3)[0] and error_row in colours(3)[1]
        assert error_color in colours(5)[0] and "error: boom" in log.row_lines(5)[0]
        assert error_color not in colours(1)[0]


async def test_unknown_and_hidden_events() -> None:
    unknown = event_from_dict({"id": 1, "timestamp": TS, "source": "agent", "action": "teleport", "args": {}})
    assert isinstance(unknown, OpaqueEvent)
    system = SystemMessageAction(id=2, timestamp=TS, source=EventSource.AGENT, content="You are...")
    null = NullAction(id=3, timestamp=TS, source=EventSource.AGENT)
    app = LogApp([unknown, system, null])
    async with app.run_test(size=(100, 20)):
        log = app.query_one(EventLog)
        assert ids(log) == [1]
        assert "unknown event teleport" in log.row_lines(1)[0]


async def test_history_that_does_not_validate_shows_as_a_row_saying_so() -> None:
    """A kept-whole event from history says it could not be read, what it was and why, with its raw JSON below;
    an invalid observation of a shown action says so inside the action's cell."""
    recall = stored_event_from_dict(
        {"id": 2, "timestamp": TS, "source": "user", "action": "recall", "args": {"recall_type": None, "query": "hi"}}
    )
    output = stored_event_from_dict(
        {"id": 3, "timestamp": TS, "source": "agent", "cause": 1, "observation": "run", "content": 7, "extras": {}}
    )
    assert isinstance(recall, InvalidEvent) and isinstance(output, InvalidEvent)
    app = LogApp([run(1), recall, output, message(4, "after")])
    async with app.run_test(size=(120, 20)):
        log = app.query_one(EventLog)
        assert ids(log) == [1, 2, 4]
        head, *body = log.row_lines(2, width=200)
        assert "invalid" in head and "could not read recall: args.recall_type:" in head and "got None" in head
        assert any('"recall_type":null' in line for line in body)
        assert any("could not read run: content:" in line for line in log.row_lines(1, width=200))


async def test_separator_row_for_state_changes() -> None:
    app = LogApp([state(1, AgentState.RUNNING)])
    async with app.run_test(size=(60, 10)):
        log = app.query_one(EventLog)
        line = log.row_lines(1)[0]
        assert "── running ──" in line


async def test_clear_resets_everything() -> None:
    app = LogApp(sample_events())
    async with app.run_test(size=(100, 20)):
        log = app.query_one(EventLog)
        log.clear()
        assert log.row_count == 0 and log.event_count == 0 and log.virtual_size.height == 0
        log.add_events(sample_events())
        assert log.row_count > 0


async def test_hundred_thousand_events() -> None:
    """Ingest 100k events in one batch (replay). No timing assertion: bench/tui_bench.py measures speed."""
    templates: list[Event] = [
        message(0, "please do x", EventSource.USER),
        run(0, "echo x"),
        out(0, 0),
        message(0, "done"),
    ]
    events: list[Event] = []
    for n in range(0, 100_000, 4):
        events.append(templates[0].model_copy(update={"id": n}))
        events.append(templates[1].model_copy(update={"id": n + 1}))
        events.append(templates[2].model_copy(update={"id": n + 2, "cause": n + 1}))
        events.append(templates[3].model_copy(update={"id": n + 3}))
    app = LogApp()
    async with app.run_test(size=(100, 30)) as pilot:
        log = app.query_one(EventLog)
        log.add_events(events)
        await pilot.pause()
        assert log.event_count == 100_000
        assert log.row_count == 75_000
        assert log.scroll_offset.y == log.max_scroll_y
        assert screen_text(log)[-1].split()[-1] == "done"
        await pilot.press("home")
        assert log.cursor_event is not None and log.cursor_event.id == 0
        log.add_events([message(100_001, "one more")])
        assert log.row_count == 75_001


def test_snapshot_event_log_samples(snap_compare: Any) -> None:
    assert snap_compare(LogApp(sample_events()), terminal_size=(110, 50))


def test_snapshot_event_log_expanded_with_cursor(snap_compare: Any) -> None:
    output = "\n".join(f"collected item {n}" for n in range(8))
    events: list[Event] = [run(1, "pytest -q"), out(2, 1, output, exit_code=1), message(3, "Tests **fail**; fixing.")]

    async def expand(pilot: Any) -> None:
        await pilot.press("home", "enter")
        pilot.app.query_one(EventLog).search("item 3")

    assert snap_compare(LogApp(events), terminal_size=(80, 18), run_before=expand)


class PacedLog(EventLog):
    """An EventLog that reports when a burst's deferred repaint has happened."""

    def __init__(self) -> None:
        super().__init__()
        self.repainted = asyncio.Event()

    def _repaint_due(self) -> None:
        super()._repaint_due()
        self.repainted.set()


class PacedApp(App[None]):
    def compose(self) -> ComposeResult:
        yield PacedLog()


def burst(start: int, count: int) -> list[Event]:
    return [message(n, f"replayed {n}") for n in range(start, start + count)]


async def test_a_burst_repaints_at_most_every_burst_repaint_and_small_batches_at_once() -> None:
    app = PacedApp()
    async with app.run_test(size=(100, 20)) as pilot:
        log = app.query_one(PacedLog)
        log.add_events(burst(0, 1))  # a few events (a live session) are shown at once
        height = log.virtual_size.height
        assert height > 0
        log.add_events(burst(1, BURST_EVENTS))  # a burst right after a repaint waits for the next one
        assert log.event_count == BURST_EVENTS + 1  # held, and searchable, at once
        assert log.virtual_size.height == height
        await asyncio.wait_for(log.repainted.wait(), 5 + BURST_REPAINT)
        assert log.virtual_size.height > height
        await pilot.pause()
        assert screen_text(log)[-1].rstrip().endswith(f"replayed {BURST_EVENTS}")
        height = log.virtual_size.height
        log.add_events(burst(BURST_EVENTS + 1, 1))  # right after the burst's repaint, one event: at once
        assert log.virtual_size.height > height
        await pilot.pause()
        assert screen_text(log)[-1].rstrip().endswith(f"replayed {BURST_EVENTS + 1}")


async def test_redraw_shows_a_pending_burst_at_once() -> None:
    app = PacedApp()
    async with app.run_test(size=(100, 20)) as pilot:
        log = app.query_one(PacedLog)
        log.add_events(burst(0, 1))
        log.add_events(burst(1, BURST_EVENTS))
        pending = log.virtual_size.height
        log.redraw()
        assert log.virtual_size.height > pending
        await pilot.pause()
        assert screen_text(log)[-1].rstrip().endswith(f"replayed {BURST_EVENTS}")
