"""The command line's refusals: ports and server addresses that are not ones.

Each refusal is one line on stderr with a non-zero status, before anything runs.
"""

from __future__ import annotations

import pytest

from ohtui.cli import build_parser


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
