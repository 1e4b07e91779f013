"""Settings (ohtui/config): every setting from the file, the environment and a flag, in that order of precedence;
a bad value in each source names that source; the file is written back through tomli-w, 0600."""

from __future__ import annotations

import re
import stat
import tomllib
from pathlib import Path
from typing import Any

import pytest

from ohtui.config import Settings, SettingsError, variable_of

# name: (a value in the file, the same kind of value as an OHTUI_* variable holds it and as read, a flag's value)
SAMPLES: dict[str, tuple[Any, tuple[str, Any], Any]] = {
    "theme": ("nord", ("gruvbox", "gruvbox"), "textual-light"),
    "keymap": ({"app.stop": "ctrl+c"}, ('{"app.help": "f1"}', {"app.help": "f1"}), {"app.quit": "ctrl+q"}),
    "agent": ("echo", ("replay", "replay"), "llm"),
    "confirmation_mode": (False, ("true", True), False),
    "llm_model": ("gpt-4o", ("llama3.1", "llama3.1"), "qwen2.5-coder"),
    "llm_base_url": ("http://a/v1", ("http://b/v1", "http://b/v1"), "http://c/v1"),
    "llm_api_key": ("sk-file", ("sk-env", "sk-env"), "sk-flag"),
    "llm_context_window": (8192, ("65536", 65536), 200_000),
    "host": ("0.0.0.0", ("::1", "::1"), "127.0.0.2"),
    "allowed_origins": (
        ["https://a.example"],
        ("https://b.example, https://c.example", ["https://b.example", "https://c.example"]),
        ["*"],
    ),
    "allowed_hosts": (["proxy.example"], ("one.example,two.example", ["one.example", "two.example"]), ["x"]),
    "port": (3000, ("3001", 3001), 3002),
    "backoff_base": (0.25, ("0.75", 0.75), 1.5),
    "backoff_cap": (5.0, ("20", 20.0), 30.0),
    "max_attempts": (3, ("4", 4), 5),
    "give_up_after": (60.0, ("90.5", 90.5), 120.0),
}
# name: (a bad value in the file, a bad variable, a bad flag value)
BAD: dict[str, tuple[Any, str, Any]] = {
    "theme": (3, "", 3),
    "keymap": ({"app.stop": 1}, "{not json", {"app.stop": 1}),
    "agent": (["echo"], "", ["echo"]),
    "confirmation_mode": ("perhaps", "perhaps", "perhaps"),
    "llm_model": (1, "", 1),
    "llm_base_url": (1, "", 1),
    "llm_api_key": (1, "", 1),
    "llm_context_window": (512, "lots", "big"),
    "host": (1, "", 1),
    "allowed_origins": ([1], "", [1]),
    "allowed_hosts": ([1], "", [1]),
    "port": (70000, "http", -1),
    "backoff_base": (0, "-1", 0),
    "backoff_cap": ("soon", "never", -5),
    "max_attempts": (0, "many", 0),
    "give_up_after": (-1, "0", -1),
}


def test_every_setting_is_sampled_and_documented() -> None:
    assert set(SAMPLES) == set(Settings.model_fields) == set(BAD)
    assert all(field.description for field in Settings.model_fields.values())


def _write(path: Path, values: dict[str, Any]) -> Path:
    import tomli_w

    path.write_text(tomli_w.dumps(values), encoding="utf-8")
    return path


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_source_overrides_the_one_below(tmp_path: Path, name: str) -> None:
    in_file, (variable, from_variable), flag = SAMPLES[name]
    default = getattr(Settings(), name)
    path = tmp_path / "config.toml"
    assert getattr(Settings.load(path, environ={}), name) == default  # no file: the default
    _write(path, {name: in_file})
    assert getattr(Settings.load(path, environ={}), name) == in_file
    environ = {variable_of(name): variable, "UNRELATED": "x"}
    loaded = Settings.load(path, environ=environ)
    assert getattr(loaded, name) == from_variable
    assert getattr(loaded.with_overrides(**{name: flag}), name) == flag
    assert getattr(loaded.with_overrides(**{name: None}), name) == from_variable  # None: the flag was not given


def test_variables_are_read_case_insensitively_and_only_with_the_prefix(tmp_path: Path) -> None:
    settings = Settings.load(tmp_path / "none.toml", environ={"ohtui_theme": "nord", "THEME": "x", "PORT": "1"})
    assert (settings.theme, settings.port) == ("nord", 0)


def test_an_empty_variable_unsets_an_optional_setting_of_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "config.toml", {"max_attempts": 3, "llm_model": "gpt-4o"})
    settings = Settings.load(path, environ={"OHTUI_MAX_ATTEMPTS": "", "OHTUI_LLM_MODEL": ""})
    assert settings.max_attempts is None and settings.llm_model is None


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_value_names_its_source(tmp_path: Path, name: str) -> None:
    in_file, variable, flag = BAD[name]
    path = _write(tmp_path / "config.toml", {name: in_file})
    with pytest.raises(SettingsError, match=rf"^{re.escape(str(path))}: {name}\b"):
        Settings.load(path, environ={})
    if variable:
        with pytest.raises(SettingsError, match=rf"^{variable_of(name)}: "):
            Settings.load(path, environ={variable_of(name): variable})  # the variable's value is the one in use
    with pytest.raises(SettingsError, match=rf"^--{name.replace('_', '-')}: "):
        Settings().with_overrides(**{name: flag})


def test_file_problems_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("port = \n", encoding="utf-8")
    with pytest.raises(SettingsError, match=rf"^{re.escape(str(path))}: Invalid value"):
        Settings.load(path, environ={})
    path.write_bytes(b'theme = "\xff"\n')
    with pytest.raises(SettingsError, match=rf"^{re.escape(str(path))}: "):
        Settings.load(path, environ={})
    path.write_text("colour = 'red'\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=rf"^{re.escape(str(path))}: colour: not a setting"):
        Settings.load(path, environ={})
    with pytest.raises(SettingsError, match=rf"^{re.escape(str(tmp_path))}: not a file"):
        Settings.load(tmp_path, environ={})
    with pytest.raises(SettingsError, match="not overwriting it"):
        Settings().save(tmp_path, theme="nord")


def test_save_round_trips_through_toml_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "new" / "config.toml"
    values = {name: sample[0] for name, sample in SAMPLES.items()}
    saved = Settings().save(path, **values)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert tomllib.loads(path.read_text(encoding="utf-8")) == values
    assert Settings.load(path, environ={}) == saved == Settings(**values)
    updated = saved.save(path, theme="textual-light", llm_api_key=None)  # None removes the key from the file
    written = tomllib.loads(path.read_text(encoding="utf-8"))
    assert written["theme"] == "textual-light" and "llm_api_key" not in written and written["port"] == 3000
    assert updated.theme == "textual-light" and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_bad_change_is_refused_before_the_file_is_touched(tmp_path: Path) -> None:
    path = _write(tmp_path / "config.toml", {"theme": "nord"})
    before = path.read_text(encoding="utf-8")
    with pytest.raises(SettingsError, match=r"^--port: "):
        Settings().save(path, port=-1)
    assert path.read_text(encoding="utf-8") == before


def test_the_api_key_stays_out_of_the_repr() -> None:
    assert "sk-secret" not in repr(Settings(llm_api_key="sk-secret"))
