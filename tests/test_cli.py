"""The command line's refusals: ports, server addresses and themes that are not ones.

Each refusal is one line on stderr with a non-zero status, before the UI would take the screen.
The UI itself never runs here: :class:`OhtuiApp.run` is replaced by a recorder of the app it was given.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from ohtui.cli import build_parser, main
from ohtui.config import Settings, SettingsError
from ohtui.tui.app import OhtuiApp, Target


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
