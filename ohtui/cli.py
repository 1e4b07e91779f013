"""Command-line entry point: argument parsing and wiring, nothing else.

Each subcommand is a :class:`Command` in :data:`COMMANDS`: its arguments and the function that runs it. A user error
(:class:`ohtui.store.StoreError`, :class:`OSError`) is printed to stderr as one line and exits with status 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ohtui import __version__

if TYPE_CHECKING:
    from ohtui.config import Settings
    from ohtui.tui.app import OhtuiApp


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    description: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


class UserError(Exception):
    """A problem the user can fix; printed without a traceback."""


def _port(value: str) -> int:
    """argparse type: a TCP port. The socket layer takes a port modulo 65536, so 99999 would listen on 34463."""
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port: use 0 to 65535 (0 picks a free one)")
    return port


def _positive(value: str) -> int:
    """argparse type: a count or size that means nothing at zero or below."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def _server_url(value: str) -> str:
    """argparse type: an http(s) address with a host, without a trailing slash. Anything else reached the client,
    which retried ``ws:///socket.io/…`` forever (``notaurl`` is a bare path to a URL parser)."""
    from urllib.parse import urlsplit

    url = value.strip().rstrip("/")
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 (parsing it raises for a port that is not one)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{value!r}: {error}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a server address: give http://HOST:PORT or https://HOST (e.g. http://127.0.0.1:3000)"
        )
    return url


def _conversation_id(value: str) -> str:
    """argparse type: a conversation id, not empty (an empty one meant "a new conversation" further down)."""
    if not value.strip():
        raise argparse.ArgumentTypeError("a conversation id cannot be empty")
    return value.strip()


def _data_dir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="data directory holding ohtui.db (default: $OHTUI_DATA_DIR, else the platform's user data directory)",
    )


def _export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("conversation", metavar="CONVERSATION", help="id of the conversation to export")
    parser.add_argument(
        "--format",
        choices=["jsonl", "trajectory", "openhands"],
        default="jsonl",
        help="jsonl: one event per line; trajectory: a JSON list of events; openhands: upstream's directory layout "
        "(events/{id}.json, event_cache/, metadata.json) (default: jsonl)",
    )
    parser.add_argument(
        "--output",
        "-o",
        metavar="PATH",
        required=True,
        help="file to write (jsonl, trajectory), or a new or empty directory (openhands)",
    )
    _data_dir_argument(parser)


def _run_export(args: argparse.Namespace) -> int:
    from ohtui.store import Database
    from ohtui.store.interchange import export_conversation

    with Database.in_data_dir(args.data_dir) as db:
        result = export_conversation(db, args.conversation, args.format, args.output)
    print(f"exported {result.events} events of {args.conversation} to {result.path} ({result.format})", file=sys.stderr)
    return 0


def _import_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path",
        metavar="PATH",
        help="a .jsonl file, a trajectory (.json list), or an OpenHands conversation directory (one with events/, "
        "e.g. ~/.openhands/sessions/ID)",
    )
    parser.add_argument("--title", metavar="T", help="title of the new conversation (default: from metadata.json)")
    _data_dir_argument(parser)


def _run_import(args: argparse.Namespace) -> int:
    from ohtui.store import Database
    from ohtui.store.interchange import import_conversation

    with Database.in_data_dir(args.data_dir) as db:
        result = import_conversation(db, args.path, title=args.title)
    info = result.conversation
    print(f"imported {info.event_count} events from {result.source} ({result.format})", file=sys.stderr)
    if result.invalid_events:
        print(f"warning: {_invalid_events(result.invalid_events)}", file=sys.stderr)
    print(info.conversation_id)
    return 0


def _invalid_events(count: int) -> str:
    if count == 1:
        return "1 event did not validate and was kept as it is"
    return f"{count} events did not validate and were kept as they are"


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument(
        "--port", type=_port, default=3000, help="port to listen on; 0 picks a free one (default: 3000)"
    )
    _key_arguments(
        parser,
        "file whose first line is the session key clients must present, at least 16 characters (default: "
        "$OHTUI_SESSION_API_KEY, else the data dir's key file, made with a random key at the first start)",
    )
    parser.add_argument(
        "--agent", help="agent for new conversations: auto (llm), llm, echo, replay (default: the agent setting)"
    )
    parser.add_argument(
        "--max-payload",
        type=_positive,
        default=1024 * 1024,
        metavar="BYTES",
        help="largest client action accepted, as stored (default: 1 MiB; at most 2 MiB)",
    )
    _data_dir_argument(parser)


def _key_arguments(parser: argparse.ArgumentParser, key_file_help: str) -> None:
    parser.add_argument("--key-file", metavar="PATH", help=key_file_help)
    parser.add_argument(
        "--key", metavar="KEY", help="the key itself: other users of this machine can read it in the process list"
    )


def _given_key(args: argparse.Namespace) -> str | None:
    """The key the user gave: ``--key-file``, ``--key`` (with a warning) or ``$OHTUI_SESSION_API_KEY``."""
    from ohtui.config import SettingsError, read_key_file, session_key_from_environment

    if args.key_file is not None and args.key is not None:
        raise UserError("give the key once: --key-file or --key, not both")
    if args.key_file is not None:
        try:
            return read_key_file(args.key_file)
        except SettingsError as error:
            raise UserError(str(error)) from None
    if args.key is not None:
        print(
            "ohtui: warning: a key given with --key can be read by every user of this machine (it is in the process "
            "list); pass it with --key-file PATH or OHTUI_SESSION_API_KEY instead",
            file=sys.stderr,
        )
        return str(args.key)
    return session_key_from_environment()


def _client_key(args: argparse.Namespace) -> str | None:
    """The key to present to ``args.url``: as given, else the key file of a local ``ohtui serve`` listening there."""
    from ohtui.config import local_server_key

    given = _given_key(args)
    return given if given is not None else local_server_key(args.url, _data_dir(args.data_dir))


def _run_serve(args: argparse.Namespace) -> int:
    from ohtui.server import ServerConfig, ServerError
    from ohtui.server import loop as server_loop
    from ohtui.server.run import serve_until_signalled

    settings = _settings(args, agent=args.agent)
    data_directory = _private_data_dir(args.data_dir)
    agents = _agent_setup(settings)
    if agents.notice:
        print(agents.notice.split(" Meanwhile")[0], file=sys.stderr)
    config = ServerConfig(
        host=args.host,
        port=args.port,
        data_dir=data_directory,
        agent=agents.name,
        agent_options=agents.options.get(agents.name, {}),
        other_agent_options=agents.options,
        key=_given_key(args),
        max_payload=args.max_payload,
        confirmation_mode=settings.confirmation_mode,
        allowed_origins=tuple(settings.allowed_origins),
        allowed_hosts=tuple(settings.allowed_hosts),
    )
    try:
        return server_loop.run(serve_until_signalled(config))
    except ServerError as error:
        raise UserError(str(error)) from None


def _client_key_arguments(parser: argparse.ArgumentParser) -> None:
    _key_arguments(
        parser,
        "file whose first line is the session key (default: $OHTUI_SESSION_API_KEY, else the key file of the data "
        "dir whose `ohtui serve` listens at URL)",
    )
    parser.add_argument(
        "--data-dir", metavar="DIR", help="data directory of a local `ohtui serve`, whose key file is used for it"
    )


def _tail_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", metavar="URL", type=_server_url, help="server address, e.g. http://127.0.0.1:3000")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--conversation", "-c", type=_conversation_id, metavar="ID", help="conversation to follow (it must exist)"
    )
    which.add_argument(
        "--new", type=_conversation_id, metavar="ID", help="create a conversation with this id, follow it"
    )
    _client_key_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print each event as its upstream JSON dict")


def _run_tail(args: argparse.Namespace) -> int:
    import asyncio

    from ohtui.client.tail import tail

    key = _client_key(args)
    conversation_id = _remote_conversation(args.url, key, args.conversation, args.new)
    assert conversation_id is not None  # one of the two is required
    return asyncio.run(tail(args.url, conversation_id, key=key, as_json=args.json))


def _ui_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the UI, shared by plain ``ohtui`` (embedded server) and ``ohtui connect``."""
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--conversation", "-c", type=_conversation_id, metavar="ID", help="open this conversation")
    which.add_argument("--new", type=_conversation_id, metavar="ID", help="create a conversation with this id, open it")
    which.add_argument(
        "--continue", dest="resume", action="store_true", help="open the most recently updated conversation"
    )
    parser.add_argument("--theme", help="Textual theme, e.g. textual-dark, textual-light (setting: theme)")


def _embedded_arguments(parser: argparse.ArgumentParser) -> None:
    _ui_arguments(parser)
    parser.add_argument("--agent", help="agent for new conversations: auto, llm, echo, replay (setting: agent)")
    parser.add_argument(
        "--no-confirm",
        dest="confirmation_mode",
        action="store_false",
        default=None,
        help="let the agent run commands and edit files without asking (setting: confirmation_mode)",
    )
    parser.add_argument("--port", type=_port, help="port of the embedded server (default: a free one)")
    _data_dir_argument(parser)


def _settings(args: argparse.Namespace, **overrides: object) -> Settings:
    from ohtui.config import Settings, SettingsError

    notices: list[str] = []
    try:
        settings = Settings.load(notices=notices).with_overrides(theme=getattr(args, "theme", None), **overrides)
    except SettingsError as error:
        raise UserError(str(error)) from None
    for notice in notices:
        print(f"ohtui: {notice}", file=sys.stderr)
    return settings


def _run_ui(args: argparse.Namespace) -> int:
    """Plain ``ohtui``: the UI on an embedded server (127.0.0.1, a free port, a random key)."""
    from ohtui.tui.heap import start_up

    with start_up():
        app = _embedded_app(args)
    return app.run() or 0


def _embedded_app(args: argparse.Namespace) -> OhtuiApp:
    from ohtui.server import ServerConfig
    from ohtui.tui.app import OhtuiApp, Target

    settings = _settings(
        args, agent=args.agent, confirmation_mode=args.confirmation_mode, port=getattr(args, "port", None)
    )
    _check_theme(settings, args)
    agents = _agent_setup(settings)
    conversation_id = _stored_conversation(args, agents.name)
    server_config = ServerConfig(
        host=settings.host,
        port=settings.port,
        data_dir=_private_data_dir(args.data_dir),
        agent=agents.name,
        agent_options=agents.options.get(agents.name, {}),
        other_agent_options=agents.options,
        confirmation_mode=settings.confirmation_mode,
        allowed_origins=tuple(settings.allowed_origins),
        allowed_hosts=tuple(settings.allowed_hosts),
    )
    target = Target(conversation_id=conversation_id, resume_latest=args.resume)
    return OhtuiApp(target, settings, server_config=server_config, notice=agents.notice)


def _check_theme(settings: Settings, args: argparse.Namespace) -> None:
    """An unknown theme stops here, in one line naming where it came from, not in a traceback from the app."""
    from ohtui.config import SettingsError, config_path
    from ohtui.tui.app import check_theme

    try:
        check_theme(settings.theme)
    except SettingsError as error:
        where = "--theme" if args.theme else f"{config_path()} or OHTUI_THEME: theme"
        raise UserError(f"{where}: {error}") from None


def _stored_conversation(args: argparse.Namespace, agent: str) -> str | None:
    """The embedded server's conversation to open: ``-c ID`` only if it is stored, ``--new ID`` only if it is not
    (created here, run by ``agent`` as the server would). Checked before the UI takes the screen, since the server
    creates whatever id a client connects to."""
    from ohtui.store import Database

    if args.new is None and args.conversation is None:
        return None
    new, existing = args.new, args.conversation
    with Database.in_data_dir(args.data_dir) as db:
        if new is not None:
            try:
                db.conversations.create(new, agent_name=agent)
            except ValueError:
                raise UserError(f"conversation {new} already exists in {db.path}; -c {new} opens it") from None
            return str(new)
        if db.conversations.get(existing, count_events=False) is None:
            raise UserError(f"no conversation {existing} in {db.path}; --new {existing} creates one")
    return str(existing)


def _remote_conversation(url: str, key: str | None, existing: str | None, new: str | None) -> str | None:
    """The id to open on ``url``: ``--new ID`` created there, ``-c ID`` only if the server has it, since a connect to
    an unknown id creates it (§1.2 step 7). Only the server's answer refuses: a server that cannot be asked now is
    left to the connection, which says why and retries as it always does."""
    import asyncio

    if existing is None and new is None:
        return None
    return asyncio.run(_ask_server(url, key, existing, new))


async def _ask_server(url: str, key: str | None, existing: str | None, new: str | None) -> str:
    """``--new``: create it (409: it exists already). ``-c``: look it up; an error that is not the server's answer
    about it (no server yet, a wrong key) lets the id through to the connection."""
    from ohtui.client.rest import RestClient, RestError

    rest = RestClient(url, key, timeout=10.0)
    try:
        if new is not None:
            try:
                created = await rest.create_conversation(conversation_id=new)
            except RestError as error:
                if error.status == 409:
                    raise UserError(f"conversation {new} already exists on {url}; -c {new} opens it") from None
                raise UserError(f"could not create conversation {new}: {error}") from None
            if created != new:
                print(f"ohtui: {url} named the new conversation {created}", file=sys.stderr)
            return created
        assert existing is not None
        try:
            found = await rest.conversation(existing)
        except RestError:
            return existing
        if found is None:
            raise UserError(f"no conversation {existing} on {url}; --new {existing} creates one")
        return existing
    finally:
        await rest.close()


@dataclass(frozen=True)
class AgentSetup:
    name: str
    options: dict[str, dict[str, object]]
    notice: str | None


def _agent_setup(settings: Settings) -> AgentSetup:
    """Which agent runs new conversations, with what options; ``auto`` is the LLM agent, which (unconfigured)
    explains how to configure a model, while the UI offers the offline demo."""
    import os

    from ohtui.agent.llm import LLMSettings
    from ohtui.agent.registry import AGENTS

    name = "llm" if settings.agent == "auto" else settings.agent
    if name not in AGENTS:
        raise UserError(f"unknown agent {name!r}; known agents: auto, {', '.join(sorted(AGENTS))}")
    llm = LLMSettings.from_env(model=settings.llm_model, base_url=settings.llm_base_url, api_key=settings.llm_api_key)
    options: dict[str, dict[str, object]] = {
        "llm": {"settings": llm, "confirmation_mode": settings.confirmation_mode, "work_dir": os.getcwd()},
        "replay": {"confirmation_mode": False},
    }
    notice = None
    if name == "llm" and llm.problem:
        notice = (
            f"No LLM configured ({llm.problem}). Set OHTUI_LLM_MODEL and OHTUI_LLM_API_KEY (or OPENAI_API_KEY), "
            "or ctrl+p → Settings. Meanwhile: ctrl+p → Play the offline demo."
        )
    return AgentSetup(name, options, notice)


def _connect_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "url", metavar="URL", type=_server_url, help="server address, e.g. http://127.0.0.1:3000 (an ssh tunnel's end)"
    )
    _client_key_arguments(parser)
    _ui_arguments(parser)


def _run_connect(args: argparse.Namespace) -> int:
    from ohtui.tui.heap import start_up

    with start_up():
        app = _remote_app(args)
    return app.run() or 0


def _remote_app(args: argparse.Namespace) -> OhtuiApp:
    from ohtui.tui.app import OhtuiApp, Target

    settings = _settings(args)
    _check_theme(settings, args)
    key = _client_key(args)
    conversation_id = _remote_conversation(args.url, key, args.conversation, args.new)
    target = Target(url=args.url, key=key, conversation_id=conversation_id, resume_latest=args.resume)
    return OhtuiApp(target, settings)


def _config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--path", action="store_true", help="print only the settings file's path")


def _run_config(args: argparse.Namespace) -> int:
    from ohtui.config import Settings, config_path

    path = config_path()
    if args.path:
        print(path)
        return 0
    settings = _settings(args)
    print(f"# {path}{'' if path.exists() else ' (not created yet: defaults in use)'}")
    for name, field in Settings.model_fields.items():
        value = getattr(settings, name)
        shown = (
            json.dumps(value)
            if not isinstance(value, dict)
            else "{" + ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in value.items()) + "}"
        )
        env = "" if name == "keymap" else f"  (env OHTUI_{name.upper()})"
        print(f"# {field.description}{env}")
        print(f"{name} = {shown}" if value is not None else f"# {name} = (unset)")
    return 0


def _data_dir(value: str | None) -> Path:
    from ohtui.config import data_dir

    return data_dir(value)


def _private_data_dir(value: str | None) -> Path:
    """The data directory, created or tightened to this user only (0700), with a notice when it was tightened."""
    from ohtui.config import private_directory

    path = _data_dir(value)
    notice = private_directory(path, tighten=True)
    if notice:
        print(f"ohtui: {notice}", file=sys.stderr)
    return path


COMMANDS: list[Command] = [
    Command(
        "connect",
        "open the UI on a remote server (ohtui serve, or OpenHands V0)",
        "Connect the UI to a running server: `ohtui serve` on another machine (through an ssh tunnel: "
        "ssh -L 3000:127.0.0.1:3000 host), or an OpenHands V0 server. Without --conversation it lists the "
        "server's conversations to pick or create one; --conversation ID opens one the server has, --new ID creates "
        "one.",
        _connect_arguments,
        _run_connect,
    ),
    Command(
        "config",
        "show the settings, where they come from and what each does",
        "Print every setting with its current value (file, then OHTUI_* variables) and what it does, in the TOML "
        "form the settings file takes.",
        _config_arguments,
        _run_config,
    ),
    Command(
        "serve",
        "run the server headless (for ssh and remote use)",
        "Serve the OpenHands V0 protocol (Socket.IO at /socket.io, REST under /api) without a UI, until SIGINT or "
        "SIGTERM, then stop cleanly with everything stored. A stock V0 client, `ohtui connect` and `ohtui tail` can "
        "connect. Clients must present the session key: the given one, else the data dir's session_key (0600), made at "
        "the first start.",
        _serve_arguments,
        _run_serve,
    ),
    Command(
        "tail",
        "print a conversation's events as they arrive",
        "Follow one conversation of a V0 server (ohtui's or OpenHands'), one event per line on stdout, the "
        "connection's state on stderr; it reconnects and resumes by itself. The conversation must exist (--new ID "
        "creates it). Exit status: 0 on Ctrl-C, 1 when it cannot start (the server has no conversation ID, or "
        "--new could not create it), 3 when the server refuses (e.g. a wrong key), 4 when it gave up.",
        _tail_arguments,
        _run_tail,
    ),
    Command(
        "export",
        "write a conversation's events to a file or directory",
        "Export a stored conversation as JSON lines, a trajectory (a JSON list of event dicts), or in the OpenHands "
        "directory layout, which OpenHands itself can read.",
        _export_arguments,
        _run_export,
    ),
    Command(
        "import",
        "create a conversation from an export or an OpenHands conversation directory",
        "Import events (keeping their ids) into a new conversation, and print its id. The format is detected: an "
        "OpenHands directory (events/{id}.json), a JSON list, or JSON lines. Nothing is stored unless all of it is "
        "valid.",
        _import_arguments,
        _run_import,
    ),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ohtui",
        description="Terminal UI and embedded server for OpenHands V0 agent sessions. Without a command, ohtui "
        "starts a local server on 127.0.0.1 and opens a new conversation on it.",
        epilog="Settings: a TOML file (`ohtui config` shows it and every setting; or $OHTUI_CONFIG), then OHTUI_* "
        "variables, then flags. Keys: F1 in the app lists every key binding and its id.",
    )
    parser.add_argument("--version", action="version", version=f"ohtui {__version__}")
    _embedded_arguments(parser)
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        sub = subcommands.add_parser(command.name, help=command.help, description=command.description)
        command.arguments(sub)
        sub.set_defaults(run=command.run)
    return parser


def _user_errors() -> tuple[type[BaseException], ...]:
    from ohtui.store import StoreError

    return (UserError, StoreError, OSError)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version, usage errors: argparse has printed what to say
        return exit_.code if isinstance(exit_.code, int) else 1
    run: Callable[[argparse.Namespace], int] = getattr(args, "run", _run_ui)
    try:
        return run(args)
    except _user_errors() as error:
        print(f"ohtui{' ' + args.command if args.command else ''}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
