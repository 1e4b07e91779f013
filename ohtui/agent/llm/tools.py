"""The LLM agent's tools and system prompt, and the translation of a tool call into a protocol action.

The tools mirror upstream's CodeAct agent (names, parameters and their meaning), so models tuned on OpenHands
trajectories feel at home and a trajectory recorded here reads like one recorded there: ``execute_bash`` →
``run``, ``str_replace_editor`` → ``read`` (view) or ``edit`` (``impl_source`` ``oh_aci``), ``think`` → ``think``,
``finish`` → ``finish``. The descriptions are ohtui's own words.

A call that cannot become an action (arguments that are not JSON, a missing or mistyped argument, an unknown tool)
raises :class:`ToolCallError` with a message written for the model: the agent hands it back as that call's result
and the model gets to try again.
"""

from __future__ import annotations

import json
from typing import Any

from ohtui.protocol import (
    Action,
    AgentFinishAction,
    AgentFinishArgs,
    AgentThinkAction,
    CmdRunAction,
    CmdRunArgs,
    FileEditAction,
    FileEditArgs,
    FileEditSource,
    FileReadAction,
    FileReadArgs,
    FileReadSource,
    ThoughtArgs,
)

__all__ = [
    "EDITOR_COMMANDS",
    "TOOLS",
    "TOOL_NAMES",
    "ToolCallError",
    "action_from_tool_call",
    "system_prompt",
]

EDITOR_COMMANDS = ("view", "create", "str_replace", "insert", "undo_edit")

_BASH_DESCRIPTION = """Run a bash command in a persistent shell on the user's machine.
* The shell keeps its state between calls: the working directory, environment variables and functions persist.
* One command at a time. Chain commands with `&&` or `;`; use a heredoc for multi-line input.
* Long-running commands: if a command prints nothing new for a while, you get the output so far and the command
  keeps running. Then call this tool with `is_input` set to "true" and an empty `command` to wait for more output,
  with text to type it into the running program, or with `C-c` to interrupt it. Start servers and other endless
  programs in the background (`cmd > log.txt 2>&1 &`).
* Set `timeout` (seconds) for commands you expect to take long, such as installs or test suites: the command then
  runs until it finishes or the timeout expires.
* Very long output is cut in the middle: redirect it to a file and search it with grep, head or tail."""

_EDITOR_DESCRIPTION = """View, create and edit files.
* `view` shows a file with line numbers (like `cat -n`), or for a directory the files up to two levels deep.
  Use `view_range` to see part of a long file.
* `create` writes a new file with `file_text`; it fails if the file exists.
* `str_replace` replaces `old_str` with `new_str`. `old_str` must match exactly one place in the file, whitespace
  included: add surrounding lines to make it unique.
* `insert` inserts `new_str` after line `insert_line` (0 inserts at the top).
* `undo_edit` reverts the last edit made to the file with this tool.
Paths may be absolute or relative to the working directory."""

_THINK_DESCRIPTION = """Think something through: plan, weigh options, reason about an error. Nothing is executed and
nothing changes; the thought is recorded for the user to read."""

_FINISH_DESCRIPTION = """Signal that the task is complete, with a short summary for the user of what was done (and
anything left open). Do not call it while you still need an answer from the user: ask in a plain message instead."""

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "execute_bash",
            "description": _BASH_DESCRIPTION,
            "parameters": {
                "type": "object",
                "properties": {
                    "command": {
                        "type": "string",
                        "description": "The bash command to run. With is_input true: the text to send to the running"
                        " program, an empty string to wait for more output, or C-c to interrupt it.",
                    },
                    "is_input": {
                        "type": "string",
                        "enum": ["true", "false"],
                        "description": '"true" sends `command` to the program that is still running instead of'
                        ' starting a new command. Default "false".',
                    },
                    "timeout": {
                        "type": "number",
                        "description": "Optional. Seconds the command may run before it is stopped. Without it, the"
                        " call returns when the command has printed nothing new for a while.",
                    },
                },
                "required": ["command"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "str_replace_editor",
            "description": _EDITOR_DESCRIPTION,
            "parameters": {
                "type": "object",
                "properties": {
                    "command": {"type": "string", "enum": list(EDITOR_COMMANDS), "description": "What to do."},
                    "path": {"type": "string", "description": "The file or directory, e.g. `src/app.py`."},
                    "file_text": {"type": "string", "description": "`create`: the content of the new file."},
                    "old_str": {"type": "string", "description": "`str_replace`: the exact text to replace."},
                    "new_str": {
                        "type": "string",
                        "description": "`str_replace`: the replacement (omit to delete old_str);"
                        " `insert`: the text to insert.",
                    },
                    "insert_line": {
                        "type": "integer",
                        "description": "`insert`: the line after which new_str goes (0 = the top of the file).",
                    },
                    "view_range": {
                        "type": "array",
                        "items": {"type": "integer"},
                        "description": "`view` of a file: [first, last] line numbers, 1-based; last -1 = the end.",
                    },
                },
                "required": ["command", "path"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "think",
            "description": _THINK_DESCRIPTION,
            "parameters": {
                "type": "object",
                "properties": {"thought": {"type": "string", "description": "The thought."}},
                "required": ["thought"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "finish",
            "description": _FINISH_DESCRIPTION,
            "parameters": {
                "type": "object",
                "properties": {"message": {"type": "string", "description": "The summary for the user."}},
                "required": ["message"],
            },
        },
    },
]

TOOL_NAMES: tuple[str, ...] = tuple(tool["function"]["name"] for tool in TOOLS)

_PROMPT = """You are ohtui's coding agent, working on the user's own machine through a bash shell and a file editor.

Work in small, verifiable steps: look before you change (list files, read the code), make focused edits, and check
the result (run the program, the tests). When something fails, read the error and fix the cause.

Be careful: this is the user's real machine, not a sandbox. Stay inside the working directory unless the user asks
otherwise, do not delete or overwrite work you did not create, never expose secrets, and ask before anything
destructive or irreversible. The user may be asked to confirm each command and edit you make, and may reject one:
then stop and ask what they want instead.

Use the tools for actions. Use a plain message (no tool call) to ask the user a question or to answer one; the user
will reply. When the task is done, call `finish` with a short summary."""


def system_prompt(work_dir: str | None = None) -> str:
    """The agent's system prompt, naming the working directory when the agent knows it."""
    if not work_dir:
        return _PROMPT
    return f"{_PROMPT}\n\nThe working directory is {work_dir}."


class ToolCallError(ValueError):
    """A tool call that cannot be carried out; the message is addressed to the model."""


def action_from_tool_call(name: str, arguments: str, *, thought: str = "") -> Action:
    """The action for one tool call (``arguments`` is the JSON text the model sent); ``thought`` is its prose.

    Raises :class:`ToolCallError` for anything malformed.
    """
    args = _parse_arguments(name, arguments)
    if name == "execute_bash":
        return _bash_action(args, thought)
    if name == "str_replace_editor":
        return _editor_action(args, thought)
    if name == "think":
        text = _string(name, args, "thought", required=True) or ""
        return AgentThinkAction(args=ThoughtArgs(thought=f"{thought}\n{text}" if thought else text))
    if name == "finish":
        message = _string(name, args, "message") or ""
        return AgentFinishAction(args=AgentFinishArgs(final_thought=message, thought=thought))
    known = ", ".join(TOOL_NAMES)
    raise ToolCallError(f"There is no tool named `{name}`. The tools are: {known}.")


def _parse_arguments(name: str, arguments: str) -> dict[str, Any]:
    if not arguments.strip():
        return {}
    try:
        parsed = json.loads(arguments)
    except json.JSONDecodeError as error:
        raise ToolCallError(
            f"The arguments of your `{name}` call are not valid JSON ({error.msg} at line {error.lineno}, column"
            f" {error.colno}); nothing was executed. Call the tool again with a JSON object as its arguments."
        ) from None
    if not isinstance(parsed, dict):
        raise ToolCallError(
            f"The arguments of your `{name}` call must be a JSON object, not a JSON {type(parsed).__name__};"
            " nothing was executed."
        )
    return parsed


def _given(tool: str, args: dict[str, Any], key: str, required: bool) -> Any:
    """The argument ``key`` (None if absent), refused if it is required and absent."""
    value = args.get(key)
    if value is None and required:
        raise ToolCallError(f"Your `{tool}` call is missing the required parameter `{key}`; nothing was executed.")
    return value


def _wrong_type(tool: str, key: str, expected: str, value: Any) -> ToolCallError:
    return ToolCallError(
        f"The parameter `{key}` of your `{tool}` call must be {expected}, not {json.dumps(value)[:80]};"
        " nothing was executed."
    )


def _string(tool: str, args: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = _given(tool, args, key, required)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _wrong_type(tool, key, "a string", value)
    return value


def _integer(tool: str, args: dict[str, Any], key: str, *, required: bool = False) -> int | None:
    value = _given(tool, args, key, required)
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _wrong_type(tool, key, "an integer", value)
    return value


def _boolean(tool: str, args: dict[str, Any], key: str) -> bool:
    value = args.get(key)
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise _wrong_type(tool, key, '"true" or "false"', value)


def _bash_action(args: dict[str, Any], thought: str) -> CmdRunAction:
    tool = "execute_bash"
    command = _string(tool, args, "command", required=True) or ""
    is_input = _boolean(tool, args, "is_input")
    raw_timeout = args.get("timeout")
    timeout: float | None = None
    if raw_timeout is not None:
        if isinstance(raw_timeout, str):
            try:
                raw_timeout = float(raw_timeout)
            except ValueError:
                raise _wrong_type(tool, "timeout", "a number of seconds", raw_timeout) from None
        if not isinstance(raw_timeout, int | float) or isinstance(raw_timeout, bool) or raw_timeout <= 0:
            raise _wrong_type(tool, "timeout", "a positive number of seconds", raw_timeout)
        timeout = float(raw_timeout)
    # As upstream: an explicit timeout makes the command blocking (no "no new output" return).
    run_args = CmdRunArgs(command=command, is_input=is_input, thought=thought, blocking=timeout is not None)
    return CmdRunAction(args=run_args, timeout=timeout)


def _editor_action(args: dict[str, Any], thought: str) -> FileReadAction | FileEditAction:
    tool = "str_replace_editor"
    command = _string(tool, args, "command", required=True) or ""
    if command not in EDITOR_COMMANDS:
        raise ToolCallError(
            f"`{command}` is not a `{tool}` command; use one of {', '.join(EDITOR_COMMANDS)}. Nothing was executed."
        )
    path = _string(tool, args, "path", required=True) or ""
    if not path.strip():
        raise ToolCallError(f"The `path` of your `{tool}` call is empty; nothing was executed.")
    if command == "view":
        view_range = args.get("view_range")
        if view_range is not None and not (
            isinstance(view_range, list)
            and len(view_range) == 2
            and all(isinstance(n, int) and not isinstance(n, bool) for n in view_range)
        ):
            raise _wrong_type(tool, "view_range", "a list of two integers, like [10, 40]", view_range)
        read_args = FileReadArgs(path=path, thought=thought, impl_source=FileReadSource.OH_ACI, view_range=view_range)
        return FileReadAction(args=read_args)
    file_text = _string(tool, args, "file_text", required=command == "create")
    old_str = _string(tool, args, "old_str", required=command == "str_replace")
    new_str = _string(tool, args, "new_str", required=command == "insert")
    insert_line = _integer(tool, args, "insert_line", required=command == "insert")
    edit_args = FileEditArgs(
        path=path,
        command=command,
        file_text=file_text,
        old_str=old_str,
        new_str=new_str,
        insert_line=insert_line,
        thought=thought,
        impl_source=FileEditSource.OH_ACI,
    )
    return FileEditAction(args=edit_args)
