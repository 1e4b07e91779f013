"""File viewing and editing for the local runtime, in the manner of upstream's ``str_replace_editor`` (oh_aci).

Synchronous and free of protocol types so it can be tested on its own; :mod:`ohtui.agent.runtime` runs it in a
thread and wraps results in observations. Every refusal is an :class:`EditorError` whose message tells the model
what was wrong and what to do instead; nothing is changed on disk when one is raised.

Files are read and written as UTF-8 bytes with their line endings untouched. Each successful change remembers the
file's previous content (``None`` if it did not exist) so ``undo_edit`` can restore it, newest first, up to
``history_depth`` changes per file.
"""

from __future__ import annotations

import difflib
import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from ohtui.protocol import truncate_middle

__all__ = ["EditResult", "EditorError", "FileEditor"]

_SNIPPET_LINES = 4
_MAX_LISTED = 400
_MAX_FILE_BYTES = 10 * 1024 * 1024
_CAT_N = "Here's the result of running `cat -n` on {path}:\n"


class EditorError(Exception):
    """A request the editor refuses; the message is addressed to the model (or the user)."""


@dataclass(frozen=True)
class EditResult:
    """One change to one file."""

    path: str
    prev_exist: bool
    old_content: str | None
    new_content: str | None
    message: str
    diff: str


class FileEditor:
    """Views and edits files under ``work_dir`` (relative paths) or anywhere (absolute paths)."""

    def __init__(
        self, work_dir: str | os.PathLike[str], *, max_output_chars: int = 30_000, history_depth: int = 20
    ) -> None:
        self.work_dir = Path(work_dir).expanduser().absolute()
        self.max_output_chars = max_output_chars
        self.history_depth = history_depth
        self._history: dict[Path, deque[str | None]] = {}

    def resolve(self, path: str) -> Path:
        """``path`` as an absolute path: ``~`` expanded, relative ones taken from the working directory."""
        if not path.strip():
            raise EditorError("The path is empty.")
        candidate = Path(path).expanduser()
        if not candidate.is_absolute():
            candidate = self.work_dir / candidate
        return Path(os.path.normpath(candidate))

    # ----------------------------------------------------------------------------------------------- reading

    def view(self, path: str, view_range: list[int] | None = None) -> str:
        """A file with line numbers (``cat -n``), or a directory's entries two levels deep."""
        target = self.resolve(path)
        if target.is_dir():
            if view_range is not None:
                raise EditorError(f"view_range only applies to files, and {target} is a directory.")
            return self._list_directory(target)
        text = self._read(target)
        lines = text.splitlines()
        first, last = 1, len(lines)
        if view_range is not None:
            first, last = self._check_range(target, view_range, len(lines))
        if not lines:
            return _CAT_N.format(path=target) + "(the file is empty)\n"
        body = _numbered(lines[first - 1 : last], first)
        return truncate_middle(_CAT_N.format(path=target) + body, self.max_output_chars)

    def read(self, path: str, start: int = 0, end: int = -1) -> str:
        """The plain text of lines ``start`` (0-based) up to ``end`` (exclusive; -1: the end), for ``read``."""
        target = self.resolve(path)
        if target.is_dir():
            raise EditorError(f"{target} is a directory, not a file.")
        lines = self._read(target).splitlines(keepends=True)
        stop = len(lines) if end == -1 else end
        return truncate_middle("".join(lines[max(0, start) : stop]), self.max_output_chars)

    def _check_range(self, target: Path, view_range: list[int], count: int) -> tuple[int, int]:
        if len(view_range) != 2:
            raise EditorError("view_range must be two line numbers: [first, last] (last -1 means the end).")
        first, last = view_range
        if count == 0:
            raise EditorError(f"{target} is empty: there are no lines to show; view it without view_range.")
        if not 1 <= first <= count:
            raise EditorError(f"view_range starts at line {first}, but {target} has lines 1 to {count}.")
        if last == -1:
            return first, count
        if last < first:
            raise EditorError(f"view_range [{first}, {last}] ends before it starts.")
        if last > count:
            raise EditorError(
                f"view_range ends at line {last}, but {target} has only {count} lines; use -1 to read to the end."
            )
        return first, last

    def _list_directory(self, root: Path) -> str:
        entries: list[str] = []
        for dirpath, dirnames, filenames in os.walk(root):
            current = Path(dirpath)
            depth = len(current.relative_to(root).parts)
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            if depth >= 2:
                dirnames.clear()
            if current != root:
                entries.append(f"{current}/")
            if depth < 2:
                entries.extend(str(current / name) for name in sorted(filenames) if not name.startswith("."))
        entries.sort()
        shown = entries[:_MAX_LISTED]
        more = f"\n[... {len(entries) - _MAX_LISTED} more entries not shown ...]" if len(entries) > _MAX_LISTED else ""
        header = f"Here are the files and directories up to 2 levels deep in {root}, excluding hidden items:\n"
        return header + f"{root}/\n" + "\n".join(shown) + more + "\n"

    def _read(self, target: Path) -> str:
        if not target.exists():
            raise EditorError(f"{target} does not exist. Check the path (relative paths start at {self.work_dir}).")
        if target.is_dir():
            raise EditorError(f"{target} is a directory, not a file; view it to list what it holds.")
        if not target.is_file():
            raise EditorError(f"{target} is not a regular file.")
        size = target.stat().st_size
        if size > _MAX_FILE_BYTES:
            raise EditorError(
                f"{target} is {size // (1024 * 1024)} MiB, too large to open here; use grep, head or sed in bash."
            )
        data = target.read_bytes()
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise EditorError(
                f"{target} is not a UTF-8 text file (binary data?); inspect it with bash tools such as file or xxd."
            ) from None

    # ----------------------------------------------------------------------------------------------- editing

    def create(self, path: str, file_text: str) -> EditResult:
        target = self.resolve(path)
        if target.exists():
            raise EditorError(
                f"Cannot create {target}: it already exists. Edit it with str_replace or insert, or view it first."
            )
        self._write(target, file_text)
        self._remember(target, None)
        return self._result(target, None, file_text, f"File created successfully at: {target}")

    def write(self, path: str, content: str, start: int = 0, end: int = -1) -> EditResult:
        """Upstream's ``write``: the whole file, or lines ``start`` up to ``end`` (0-based, exclusive) replaced."""
        target = self.resolve(path)
        old = self._read(target) if target.exists() else None
        if old is None or (start == 0 and end == -1):
            new = content
        else:
            lines = old.splitlines(keepends=True)
            stop = len(lines) if end == -1 else end
            new = "".join(lines[:start]) + content + "".join(lines[stop:])
        self._write(target, new)
        self._remember(target, old)
        return self._result(target, old, new, f"The file {target} has been written.")

    def replace_lines(self, path: str, content: str, start: int = 1, end: int = -1) -> EditResult:
        """An edit without a command (upstream's LLM-based edit): lines ``start``..``end`` (1-based) replaced."""
        target = self.resolve(path)
        if not target.exists():
            return self.create(path, content)
        old = self._read(target)
        lines = old.splitlines(keepends=True)
        stop = len(lines) if end == -1 else end
        if not 1 <= start <= max(1, len(lines) + 1) or stop < start - 1:
            raise EditorError(f"Lines {start} to {end} are not a valid range of {target} ({len(lines)} lines).")
        replacement = content if content.endswith("\n") or not content else content + "\n"
        new = "".join(lines[: start - 1]) + replacement + "".join(lines[stop:])
        return self._change(target, old, new, f"The file {target} has been edited.")

    def str_replace(self, path: str, old_str: str, new_str: str | None) -> EditResult:
        target = self.resolve(path)
        old = self._read(target)
        if old_str == "":
            raise EditorError("old_str is empty: give the exact text to replace (to add text, use insert).")
        new_str = new_str or ""
        if old_str == new_str:
            raise EditorError("old_str and new_str are the same: nothing would change.")
        count = old.count(old_str)
        if count == 0:
            raise EditorError(
                f"No replacement was performed: old_str `{old_str}` does not appear verbatim in {target}. View the"
                " file and copy the text exactly, whitespace and indentation included."
            )
        if count > 1:
            lines = _occurrence_lines(old, old_str)
            raise EditorError(
                f"No replacement was performed: old_str `{old_str}` appears {count} times in {target} (lines"
                f" {', '.join(map(str, lines))}). Include more surrounding lines so it matches only one place."
            )
        index = old.index(old_str)
        new = old[:index] + new_str + old[index + len(old_str) :]
        first = old[:index].count("\n") + 1
        return self._change(target, old, new, self._edited(target, new, first, first + new_str.count("\n")))

    def insert(self, path: str, insert_line: int, new_str: str) -> EditResult:
        target = self.resolve(path)
        old = self._read(target)
        lines = old.splitlines(keepends=True)
        if not 0 <= insert_line <= len(lines):
            raise EditorError(
                f"insert_line {insert_line} is outside the file: {target} has {len(lines)} lines, so use 0 (the top)"
                f" to {len(lines)} (the end)."
            )
        if lines and not lines[-1].endswith(("\n", "\r")) and insert_line == len(lines):
            lines[-1] += "\n"
        text = new_str if new_str.endswith("\n") else new_str + "\n"
        new = "".join(lines[:insert_line]) + text + "".join(lines[insert_line:])
        first = insert_line + 1
        return self._change(target, old, new, self._edited(target, new, first, first + text.count("\n") - 1))

    def undo(self, path: str) -> EditResult:
        target = self.resolve(path)
        history = self._history.get(target)
        if not history:
            raise EditorError(f"No edit history found for {target}.")
        previous = history.pop()
        current = self._read(target) if target.exists() else None
        if previous is None:
            if target.exists():
                target.unlink()
            message = f"Last edit to {target} undone successfully: the file it created was removed."
        else:
            self._write(target, previous)
            message = f"Last edit to {target} undone successfully. " + self._snippet_text(target, previous)
        return self._result(target, current, previous, message)

    def _change(self, target: Path, old: str, new: str, message: str) -> EditResult:
        self._write(target, new)
        self._remember(target, old)
        return self._result(target, old, new, message)

    def _edited(self, target: Path, new: str, first: int, last: int) -> str:
        lines = new.splitlines()
        start = max(1, first - _SNIPPET_LINES)
        stop = min(len(lines), max(first, last) + _SNIPPET_LINES)
        snippet = _numbered(lines[start - 1 : stop], start)
        return (
            f"The file {target} has been edited. Here's the result of running `cat -n` on a snippet of {target}:\n"
            f"{snippet}Review the changes and make sure they are as expected. Edit the file again if necessary."
        )

    def _snippet_text(self, target: Path, text: str) -> str:
        return truncate_middle(_CAT_N.format(path=target) + _numbered(text.splitlines(), 1), self.max_output_chars)

    def _write(self, target: Path, text: str) -> None:
        if target.is_dir():
            raise EditorError(f"{target} is a directory, not a file.")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(text.encode("utf-8", "surrogateescape"))
        except OSError as error:
            raise EditorError(f"Cannot write {target}: {error.strerror or error}.") from None

    def _remember(self, target: Path, previous: str | None) -> None:
        history = self._history.setdefault(target, deque(maxlen=self.history_depth))
        history.append(previous)

    def _result(self, target: Path, old: str | None, new: str | None, message: str) -> EditResult:
        return EditResult(
            path=str(target),
            prev_exist=old is not None,
            old_content=old,
            new_content=new,
            message=message,
            diff=unified_diff(old or "", new or "", str(target)),
        )


def unified_diff(old: str, new: str, name: str) -> str:
    """A ``diff -u`` of two texts; a last line without a newline is marked as diff does."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), fromfile=f"a/{name}", tofile=f"b/{name}"
    )
    out: list[str] = []
    for line in lines:
        out.append(line)
        if not line.endswith("\n"):
            out.append("\n\\ No newline at end of file\n")
    return "".join(out)


def _numbered(lines: list[str], first: int) -> str:
    return "".join(f"{number:6}\t{line}\n" for number, line in enumerate(lines, first))


def _occurrence_lines(text: str, needle: str) -> list[int]:
    lines: list[int] = []
    start = text.find(needle)
    while start != -1:
        lines.append(text.count("\n", 0, start) + 1)
        start = text.find(needle, start + 1)
    return lines
