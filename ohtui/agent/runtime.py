"""The local runtime: the agent's actions carried out in a working directory on the user's machine.

``LocalRuntime(work_dir)`` implements :class:`~ohtui.agent.base.Runtime`; the server's ``runtime_factory`` can
return one per conversation (``lambda conversation_id: LocalRuntime(work_dir)``). Nothing starts until the first
command: bash is launched lazily, so creating one is cheap.

* ``run`` → a persistent :class:`~ohtui.agent.bash.BashSession` (cwd, variables and functions persist). The result
  is a ``CmdOutputObservation`` with ``CmdOutputMetadata`` (exit_code, pid, username, hostname, working_dir) and
  upstream-style notes in ``metadata.suffix`` (the content stays the command's output, as the UI shows it):
  "[The command completed with exit code N.]", or for a soft timeout (``soft_timeout`` seconds without new output,
  default 10; off for ``blocking`` actions) that the command is still running and how to wait, type into it or
  interrupt it (exit_code -1), or for the hard timeout (``action.timeout``, else ``hard_timeout`` = 120 s) that it
  was stopped. Output is cut in the middle above ``max_output_chars`` (30,000, upstream's limit).
* ``run`` with ``is_input=True`` talks to the command still running: ``""`` waits for more output, ``C-c``
  interrupts it, other text is typed into it (with a newline). Commands read that input as their stdin when
  ``interactive_stdin`` (the default, as upstream's tmux shell); otherwise stdin is ``/dev/null``, so a command
  that reads it sees end-of-file at once.
* ``read``/``write``/``edit`` → :class:`~ohtui.agent.file_editor.FileEditor` (``view`` with line numbers,
  ``create``, ``str_replace``, ``insert``, ``undo_edit``), with unified diffs, old and new content and
  ``prev_exist`` in ``FileEditObservation``. Relative paths start at ``work_dir``.
* Refusals and failures (a missing file, an ambiguous ``old_str``, bash failing to start) become an
  ``ErrorObservation`` with a readable message: :meth:`LocalRuntime.run_action` never raises.
* :meth:`LocalRuntime.interrupt` sends SIGINT to the running command's process group (SIGKILL after
  ``kill_grace`` seconds if it ignores it); bash survives with its state.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ohtui.agent.bash import (
    MAX_OUTPUT_CHARS,
    BashSession,
    CommandResult,
    CommandStillRunningError,
    NoCommandRunningError,
)
from ohtui.agent.file_editor import EditorError, EditResult, FileEditor
from ohtui.protocol import (
    Action,
    CmdOutputExtras,
    CmdOutputMetadata,
    CmdOutputObservation,
    CmdRunAction,
    ErrorObservation,
    FileEditAction,
    FileEditExtras,
    FileEditObservation,
    FileEditSource,
    FileReadAction,
    FileReadExtras,
    FileReadObservation,
    FileReadSource,
    FileWriteAction,
    FileWriteExtras,
    FileWriteObservation,
    Observation,
)

__all__ = ["CONTINUED_PREFIX", "LocalRuntime"]

log = logging.getLogger(__name__)

CONTINUED_PREFIX = "[Below is the output of the previous command.]\n"
_INTERRUPT_KEYS = frozenset({"C-c", "c-c", "^C", "\x03"})
_T = TypeVar("_T")


class LocalRuntime:
    """Runs one conversation's actions in ``work_dir`` (see the module docstring for the options)."""

    def __init__(
        self,
        work_dir: str | os.PathLike[str],
        *,
        soft_timeout: float | None = 10.0,
        hard_timeout: float | None = 120.0,
        max_output_chars: int = MAX_OUTPUT_CHARS,
        env: dict[str, str] | None = None,
        interactive_stdin: bool = True,
        kill_grace: float = 2.0,
    ) -> None:
        self.work_dir = Path(work_dir).expanduser().absolute()
        self.soft_timeout = soft_timeout
        self.hard_timeout = hard_timeout
        self.max_output_chars = max_output_chars
        self.interactive_stdin = interactive_stdin
        self.editor = FileEditor(self.work_dir, max_output_chars=max_output_chars)
        self._env = env
        self._kill_grace = kill_grace
        self._bash: BashSession | None = None
        self._start_lock = asyncio.Lock()
        self._closed = False
        self._interrupts = 0  # counts interrupt() calls, so one that lands while bash starts is not lost

    @property
    def busy(self) -> bool:
        """A command is still running (being waited on, or left running after a soft timeout)."""
        return self._bash is not None and self._bash.running

    async def run_action(self, action: Action) -> Observation:
        """Carry out ``action``; any failure is returned as an ``ErrorObservation``, never raised."""
        try:
            if self._closed:
                return ErrorObservation(content="The runtime is closed; the action was not executed.")
            if isinstance(action, CmdRunAction):
                return await self._run(action)
            if isinstance(action, FileReadAction):
                return await self._read(action)
            if isinstance(action, FileWriteAction):
                args = action.args
                result = await self._editor(lambda: self.editor.write(args.path, args.content, args.start, args.end))
                return FileWriteObservation(content="", extras=FileWriteExtras(path=result.path))
            if isinstance(action, FileEditAction):
                return await self._edit(action)
            return ErrorObservation(
                content=f"This runtime cannot carry out {action.kind!r} actions (it runs bash commands and file"
                " edits on this machine); the action was not executed."
            )
        except EditorError as error:
            return ErrorObservation(content=str(error))
        except Exception as error:
            log.exception("local runtime failed on a %s action", action.kind)
            return ErrorObservation(content=f"The runtime failed: {type(error).__name__}: {error}")

    async def interrupt(self) -> None:
        """Ctrl-C for the running command, if there is one; bash itself survives."""
        self._interrupts += 1
        bash = self._bash
        if bash is not None and bash.running:
            await bash.interrupt()

    async def close(self) -> None:
        self._closed = True
        bash, self._bash = self._bash, None
        if bash is not None:
            await bash.close()

    # ----------------------------------------------------------------------------------------------- commands

    async def _session(self) -> BashSession:
        async with self._start_lock:
            if self._bash is None:
                self.work_dir.mkdir(parents=True, exist_ok=True)
                bash = BashSession(
                    str(self.work_dir), self._env, max_output_chars=self.max_output_chars, kill_grace=self._kill_grace
                )
                await bash.start()
                self._bash = bash
            return self._bash

    async def _run(self, action: CmdRunAction) -> Observation:
        args = action.args
        interrupts = self._interrupts
        bash = await self._session()
        if self._interrupts != interrupts:
            return ErrorObservation(content="Interrupted before the command started; it was not executed.")
        soft = None if args.blocking else self.soft_timeout
        hard = action.timeout if action.timeout is not None else self.hard_timeout
        command = args.command
        if args.is_input:
            return await self._input(bash, command, soft, hard)
        if not command.strip():
            return ErrorObservation(
                content="The command is empty. To see more output of a command that is still running, send the"
                " empty command with is_input set to true."
            )
        try:
            result = await bash.run(command, soft, hard, interactive=self.interactive_stdin)
        except CommandStillRunningError:
            return ErrorObservation(
                content=f"The command `{command}` was NOT executed: the previous command is still running. Send an"
                " empty command with is_input=true to wait for its output, text with is_input=true to type into it,"
                " or C-c with is_input=true to interrupt it."
            )
        return self._observation(command, result, soft, hard)

    async def _input(self, bash: BashSession, text: str, soft: float | None, hard: float | None) -> Observation:
        if not bash.running:
            return ErrorObservation(content="No command is running, so there is nothing to send input to.")
        if text.strip() in _INTERRUPT_KEYS:
            result = await bash.interrupt()
            if result is None:  # it finished meanwhile; its output went to whoever was waiting
                return ErrorObservation(content="The command had already finished; nothing was interrupted.")
            return self._observation(text, result, soft, hard, prefix=CONTINUED_PREFIX, interrupted=True)
        if text.strip() == "C-d":
            return ErrorObservation(
                content="Sending end-of-file (C-d) is not supported; use C-c to interrupt the command."
            )
        try:
            if text:
                await bash.send_input(text + "\n")
            result = await bash.wait(soft, hard)
        except NoCommandRunningError as error:
            return ErrorObservation(content=f"Could not send input: {error}.")
        return self._observation(text, result, soft, hard, prefix=CONTINUED_PREFIX)

    def _observation(
        self,
        command: str,
        result: CommandResult,
        soft: float | None,
        hard: float | None,
        *,
        prefix: str = "",
        interrupted: bool = False,
    ) -> CmdOutputObservation:
        if not result.finished:
            suffix = (
                f"\n[The command has printed no new output for {_duration(soft)} and is still running. Send an"
                " empty command with is_input=true to wait for more output, send text with is_input=true to type it"
                " into the program, or send C-c with is_input=true to interrupt it.]"
            )
        elif result.timed_out == "hard":
            suffix = (
                f"\n[The command timed out after {_duration(hard)} and was stopped (exit code"
                f" {result.exit_code}). Give it a longer timeout, or run it in the background.]"
            )
        elif interrupted:
            suffix = f"\n[The command was interrupted (exit code {result.exit_code}).]"
        else:
            suffix = f"\n[The command completed with exit code {result.exit_code}.]"
        metadata = CmdOutputMetadata(
            exit_code=result.exit_code if result.finished else -1,
            pid=result.pid,
            username=result.username,
            hostname=result.hostname,
            working_dir=result.working_dir,
            prefix=prefix,
            suffix=suffix,
        )
        return CmdOutputObservation(content=result.output, extras=CmdOutputExtras(command=command, metadata=metadata))

    # ----------------------------------------------------------------------------------------------- files

    async def _editor(self, work: Callable[[], _T]) -> _T:
        return await asyncio.to_thread(work)

    async def _read(self, action: FileReadAction) -> Observation:
        args = action.args
        if args.impl_source is FileReadSource.OH_ACI:
            text = await self._editor(lambda: self.editor.view(args.path, args.view_range))
        else:
            text = await self._editor(lambda: self.editor.read(args.path, args.start, args.end))
        path = str(self.editor.resolve(args.path))
        return FileReadObservation(content=text, extras=FileReadExtras(path=path, impl_source=args.impl_source))

    async def _edit(self, action: FileEditAction) -> Observation:
        args = action.args
        editor = self.editor
        command = args.command
        work: Callable[[], EditResult]
        if command == "view":
            view_range = None if args.start == 1 and args.end == -1 else [args.start, args.end]
            text = await self._editor(lambda: editor.view(args.path, view_range))
            path = str(editor.resolve(args.path))
            return FileReadObservation(
                content=text, extras=FileReadExtras(path=path, impl_source=FileReadSource.OH_ACI)
            )
        if command == "create":
            if args.file_text is None:
                raise EditorError("create needs file_text: the content of the new file.")
            file_text = args.file_text
            work = lambda: editor.create(args.path, file_text)  # noqa: E731
        elif command == "str_replace":
            if args.old_str is None:
                raise EditorError("str_replace needs old_str: the exact text to replace.")
            old_str = args.old_str
            work = lambda: editor.str_replace(args.path, old_str, args.new_str)  # noqa: E731
        elif command == "insert":
            if args.insert_line is None or args.new_str is None:
                raise EditorError("insert needs insert_line and new_str.")
            line, new_str = args.insert_line, args.new_str
            work = lambda: editor.insert(args.path, line, new_str)  # noqa: E731
        elif command == "undo_edit":
            work = lambda: editor.undo(args.path)  # noqa: E731
        elif command == "":
            work = lambda: editor.replace_lines(args.path, args.content, args.start, args.end)  # noqa: E731
        else:
            raise EditorError(f"Unknown edit command {command!r}: use view, create, str_replace, insert or undo_edit.")
        result = await self._editor(work)
        impl = FileEditSource.LLM_BASED_EDIT if command == "" else FileEditSource.OH_ACI
        extras = FileEditExtras(
            path=result.path,
            prev_exist=result.prev_exist,
            old_content=result.old_content,
            new_content=result.new_content,
            impl_source=impl,
            diff=result.diff,
        )
        return FileEditObservation(content=result.message, extras=extras)


def _duration(seconds: float | None) -> str:
    value = seconds or 0.0
    return f"{value:g} second" if value == 1 else f"{value:g} seconds"
