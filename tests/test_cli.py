"""The command line's refusals: ports, server addresses, themes and conversation ids that are not there.

Each refusal is one line on stderr with a non-zero status, before the UI would take the screen, and stores nothing.
The UI itself never runs here: :class:`OhtuiApp.run` is replaced by a recorder of the app it was given.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from ohtui.cli import build_parser, main
from ohtui.client.rest import RestClient
from ohtui.config import Settings, SettingsError
from ohtui.store import Database
from ohtui.tui.app import OhtuiApp, Target
from tests.socket_helpers import running_server


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[OhtuiApp]]:
    """The apps whose UI would have started; settings from an empty file, no OHTUI_* variables that matter here."""
    monkeypatch.setenv("OHTUI_CONFIG", str(tmp_path / "config.toml"))
    for name in ("OHTUI_THEME", "OHTUI_SESSION_API_KEY", "OHTUI_DATA_DIR", "OHTUI_PORT", "OHTUI_AGENT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("ohtui.tui.heap.start_up", contextlib.nullcontext)
    apps: list[OhtuiApp] = []

    def run(app: OhtuiApp) -> int:
        apps.append(app)
        return 0

    monkeypatch.setattr(OhtuiApp, "run", run)
    yield apps


def _one_error_line(err: str, *words: str) -> None:
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert all(word in lines[0] for word in words), lines[0]


def _usage_error(argv: list[str], capsys: pytest.CaptureFixture[str], *words: str) -> None:
    """Parsing alone refuses ``argv`` (status 2), so nothing (a server, a tail retrying forever) ever runs."""
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv)
    assert exit_.value.code == 2
    _one_error_line(capsys.readouterr().err, *words)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--port", "99999"], ["--port", "99999 is not a port"]),
        (["serve", "--port", "65536"], ["--port", "65536 is not a port"]),
        (["serve", "--port", "-1"], ["--port", "-1 is not a port"]),
        (["serve", "--port", "80x"], ["--port", "not a port number"]),
        (["serve", "--max-payload", "0"], ["--max-payload", "at least 1"]),
        (["serve", "--max-payload", "-5"], ["--max-payload", "at least 1"]),
    ],
)
def test_numbers_out_of_range_are_usage_errors(
    argv: list[str], words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    _usage_error(argv, capsys, *words)


@pytest.mark.parametrize(("argv", "port"), [(["--port", "0"], 0), (["serve", "--port", "65535"], 65535)])
def test_ports_in_range_are_taken(argv: list[str], port: int) -> None:
    assert build_parser().parse_args(argv).port == port


@pytest.mark.parametrize("command", ["tail", "connect"])
@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("notaurl", ["'notaurl' is not a server address", "http://HOST:PORT"]),
        ("localhost:3000", ["is not a server address"]),
        ("ftp://host", ["is not a server address"]),
        ("http://:3000", ["is not a server address"]),
        ("http://host:99999", ["Port out of range"]),
    ],
)
def test_a_url_that_is_not_a_server_address_is_a_usage_error(
    command: str, url: str, words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    _usage_error([command, url, "-c", "x"], capsys, "argument URL", *words)


def test_a_server_address_loses_its_trailing_slash() -> None:
    args = build_parser().parse_args(["tail", " https://example.org:8443/ ", "-c", "x"])
    assert args.url == "https://example.org:8443"


def test_an_unknown_theme_flag_names_the_known_themes(
    tmp_path: Path, started: list[OhtuiApp], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--theme", "nosuch", "--agent", "echo", "--data-dir", str(tmp_path)]) == 1
    _one_error_line(capsys.readouterr().err, "--theme", "unknown theme 'nosuch'", "textual-dark", "nord")
    assert started == []


@pytest.mark.parametrize("source", ["file", "environment"])
def test_an_unknown_theme_setting_names_where_it_is_set(
    source: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    started: list[OhtuiApp],
    capsys: pytest.CaptureFixture[str],
) -> None:
    if source == "file":
        (tmp_path / "config.toml").write_text('theme = "nosuch"\n')
    else:
        monkeypatch.setenv("OHTUI_THEME", "nosuch")
    assert main(["connect", "http://127.0.0.1:9", "--key", "k"]) == 1
    _one_error_line(capsys.readouterr().err, str(tmp_path / "config.toml"), "OHTUI_THEME", "textual-light")
    assert started == []


def test_the_app_refuses_an_unknown_theme_by_name() -> None:
    with pytest.raises(SettingsError, match=r"unknown theme 'nosuch'; known themes: .*textual-dark"):
        OhtuiApp(Target(), Settings(theme="nosuch"))


def test_an_unknown_conversation_of_the_embedded_server_is_refused_and_not_created(
    tmp_path: Path, started: list[OhtuiApp], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-c", "nosuchid", "--agent", "echo", "--data-dir", str(tmp_path)]) == 1
    _one_error_line(capsys.readouterr().err, "no conversation nosuchid", "--new nosuchid creates one")
    assert started == []
    with Database.in_data_dir(tmp_path) as db:
        assert db.conversations.get("nosuchid") is None


def test_new_creates_a_conversation_of_the_embedded_server_once(
    tmp_path: Path, started: list[OhtuiApp], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--new", "mine", "--agent", "echo", "--data-dir", str(tmp_path)]) == 0
    assert main(["-c", "mine", "--agent", "echo", "--data-dir", str(tmp_path)]) == 0
    assert [app.target.conversation_id for app in started] == ["mine", "mine"]
    assert main(["--new", "mine", "--agent", "echo", "--data-dir", str(tmp_path)]) == 1
    _one_error_line(capsys.readouterr().err, "conversation mine already exists", "-c mine opens it")
    assert len(started) == 2
    with Database.in_data_dir(tmp_path) as db:
        info = db.conversations.get("mine")
        assert info is not None and info.agent_name == "echo"


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["connect", "http://127.0.0.1:9", "-c", "a", "--new", "b"], ["--new: not allowed with"]),
        (["-c", "a", "--continue"], ["--continue: not allowed with"]),
        (["tail", "http://127.0.0.1:9"], ["one of the arguments --conversation/-c --new is required"]),
        (["tail", "http://127.0.0.1:9", "-c", " "], ["a conversation id cannot be empty"]),
    ],
)
def test_conversation_new_and_continue_exclude_each_other(
    argv: list[str], words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    _usage_error(argv, capsys, *words)


async def test_connect_asks_the_server_before_opening_or_creating(
    tmp_path: Path, started: list[OhtuiApp], capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_server(tmp_path) as server:
        key = server.key or ""

        async def connect(*options: str) -> int:
            return await asyncio.to_thread(main, ["connect", server.url, "--key", key, *options])

        assert await connect("-c", "nosuchid") == 1
        _one_error_line(capsys.readouterr().err, f"no conversation nosuchid on {server.url}", "--new nosuchid")
        assert await connect("--new", "fresh") == 0
        assert await connect("-c", "fresh") == 0
        assert await connect("--new", "fresh") == 1
        _one_error_line(capsys.readouterr().err, f"conversation fresh already exists on {server.url}")
        assert [app.target.conversation_id for app in started] == ["fresh", "fresh"]
        assert server.db.conversations.get("nosuchid") is None
        assert server.db.conversations.get("fresh") is not None


async def test_a_server_that_cannot_be_asked_is_left_to_the_connection(tmp_path: Path, started: list[OhtuiApp]) -> None:
    """A wrong key (or no server yet): the UI starts, and its connection reports the refusal as it always has."""
    async with running_server(tmp_path) as server:
        assert await asyncio.to_thread(main, ["connect", server.url, "--key", "wrong", "-c", "c"]) == 0
    assert [app.target.conversation_id for app in started] == ["c"]


async def test_rest_client_reads_a_missing_conversation_as_none(tmp_path: Path) -> None:
    """ohtui answers 404; an OpenHands V0 server answers 200 with ``null``."""

    async def v0_style(request: web.Request) -> web.Response:
        return web.json_response(None)

    app = web.Application()
    app.router.add_get("/api/conversations/{conversation_id}", v0_style)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with running_server(tmp_path) as server:
            ohtui, v0 = RestClient(server.url, server.key), RestClient(f"http://127.0.0.1:{port}")
            try:
                await ohtui.create_conversation(conversation_id="a/b")
                found = await ohtui.conversation("a/b")
                assert found is not None and found["conversation_id"] == "a/b"
                assert await ohtui.conversation("nosuchid") is None
                assert await v0.conversation("nosuchid") is None
            finally:
                await ohtui.close()
                await v0.close()
    finally:
        await runner.cleanup()
