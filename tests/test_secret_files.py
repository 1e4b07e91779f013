"""Secrets on disk are this user's only: the settings file with the LLM key, key files, the data dir, the database;
and local clients find the key of a local ``ohtui serve`` by themselves, never sending it to another server."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ohtui import cli
from ohtui.config import (
    Settings,
    SettingsError,
    local_server_key,
    private_directory,
    read_key_file,
    record_server,
    write_private_text,
)
from ohtui.store import Database


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_settings_file_is_written_for_this_user_only(tmp_path: Path) -> None:
    path = tmp_path / "config" / "config.toml"
    Settings().save(path, llm_api_key="sk-secret", llm_model="gpt-4o")
    assert _mode(path) == 0o600
    assert 'llm_api_key = "sk-secret"' in path.read_text()
    Settings().save(path, theme="textual-light")
    assert _mode(path) == 0o600 and "sk-secret" in path.read_text()


def test_a_readable_settings_file_holding_the_llm_key_is_tightened_with_a_notice(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('llm_api_key = "sk-secret"\n')
    path.chmod(0o644)
    notices: list[str] = []
    settings = Settings.load(path, environ={}, notices=notices)
    assert settings.llm_api_key == "sk-secret"
    assert _mode(path) == 0o600
    assert len(notices) == 1 and "now 0600" in notices[0] and str(path) in notices[0]
    notices.clear()
    Settings.load(path, environ={}, notices=notices)
    assert notices == []


def test_a_settings_file_without_a_key_is_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('theme = "nord"\n')
    path.chmod(0o644)
    notices: list[str] = []
    Settings.load(path, environ={}, notices=notices)
    assert _mode(path) == 0o644 and notices == []


def test_origins_and_hosts_come_from_the_file_or_a_comma_separated_variable(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('allowed_hosts = ["proxy.example"]\n')
    settings = Settings.load(path, environ={"OHTUI_ALLOWED_ORIGINS": "https://a.example, https://b.example"})
    assert settings.allowed_origins == ["https://a.example", "https://b.example"]
    assert settings.allowed_hosts == ["proxy.example"]


def test_the_database_and_its_directory_are_private(tmp_path: Path) -> None:
    data = tmp_path / "new" / "data"
    with Database(data / "ohtui.db") as db:
        db.conversations.create("c")
    assert _mode(data) == 0o700
    for name in ("ohtui.db", "ohtui.db-wal", "ohtui.db-shm"):
        if (data / name).exists():
            assert _mode(data / name) == 0o600, name


def test_an_existing_data_dir_is_tightened_with_a_notice_but_never_the_home(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    notice = private_directory(data, tighten=True)
    assert notice is not None and "0700" in notice and _mode(data) == 0o700
    assert private_directory(data, tighten=True) is None
    assert private_directory(Path.home(), tighten=True) is None


def test_private_text_replaces_atomically_with_mode_0600(tmp_path: Path) -> None:
    target = tmp_path / "key"
    target.write_text("old")
    target.chmod(0o644)
    write_private_text(target, "new\n")
    assert target.read_text() == "new\n" and _mode(target) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["key"]


@pytest.mark.parametrize(
    ("content", "problem"),
    [(b"", "empty"), (b"   \n", "empty"), (b"\xff\xfe", "not UTF-8"), (b"k" * 5000, "over 4096 bytes")],
)
def test_a_bad_key_file_is_a_clear_error(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "key"
    path.write_bytes(content)
    with pytest.raises(SettingsError, match=problem):
        read_key_file(path)
    with pytest.raises(SettingsError, match="cannot read"):
        read_key_file(tmp_path / "missing")


def test_a_key_file_is_read_to_its_first_line_end(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text("the-key-0123456789\r\nsomething else\n")
    assert read_key_file(path) == "the-key-0123456789"


def test_the_local_key_goes_only_to_the_server_recorded_in_the_data_dir(tmp_path: Path) -> None:
    write_private_text(tmp_path / "session_key", "local-key-0123456789\n")
    assert local_server_key("http://127.0.0.1:3000", tmp_path) is None  # no server recorded
    record_server(tmp_path, "http://127.0.0.1:3000")
    assert local_server_key("http://127.0.0.1:3000", tmp_path) == "local-key-0123456789"
    assert local_server_key("http://localhost:3000/", tmp_path) == "local-key-0123456789"
    assert local_server_key("http://[::1]:3000", tmp_path) == "local-key-0123456789"
    assert local_server_key("http://127.0.0.1:3001", tmp_path) is None  # e.g. an ssh tunnel to another machine
    assert local_server_key("http://devbox:3000", tmp_path) is None


def test_given_keys_come_from_a_file_the_environment_or_argv_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = cli.build_parser()
    key_file = tmp_path / "key"
    key_file.write_text("file-key-0123456789\n")
    monkeypatch.setenv("OHTUI_SESSION_API_KEY", "env-key-0123456789")
    args = parser.parse_args(["tail", "http://127.0.0.1:1", "-c", "c", "--key-file", str(key_file)])
    assert cli._given_key(args) == "file-key-0123456789"
    args = parser.parse_args(["tail", "http://127.0.0.1:1", "-c", "c"])
    assert cli._given_key(args) == "env-key-0123456789"
    assert "warning" not in capsys.readouterr().err
    args = parser.parse_args(["connect", "http://127.0.0.1:1", "--key", "argv-key-0123456789"])
    assert cli._given_key(args) == "argv-key-0123456789"
    assert "can be read by every user of this machine" in capsys.readouterr().err
    monkeypatch.delenv("OHTUI_SESSION_API_KEY")
    os.environ.pop("OHTUI_SESSION_API_KEY", None)
    args = parser.parse_args(["serve", "--key", "a-key-0123456789", "--key-file", str(key_file)])
    with pytest.raises(cli.UserError, match="not both"):
        cli._given_key(args)
