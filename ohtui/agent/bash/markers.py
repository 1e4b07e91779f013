"""What ohtui says to bash and how it knows a command ended: the command line, the setup script, the markers.

Each command is sent as one line that sets a fresh random token, prints a begin marker and runs
``eval $'<command>'`` (the text is escaped byte by byte, so heredocs, quotes and multi-line commands arrive intact).
Bash's ``PROMPT_COMMAND`` prints the end marker with the token, the exit code and ``$PWD``; it runs after every
command line, including one abandoned by SIGINT, and background jobs that keep stdout open do not delay it. Both
markers are stripped from the output.

``exit`` is a shell function in the top-level shell: it records the status and aborts the command line the same way
SIGINT does, so ``exit 3`` reports 3 and bash (with its variables) survives. In subshells it is the builtin. The
helpers are visible to commands as ``exit``, ``__ohtui_*`` and ``PROMPT_COMMAND``; a command that replaces them or
redirects the shell's own stdout (``exec >f``) leaves no marker, runs into its hard timeout and gets a fresh bash.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from ohtui.agent.bash.output import OutputBuffer

__all__ = ["CommandEnd", "CommandMarkers", "MarkerReader", "command_line", "quote", "setup_script"]

# Characters that need no escaping inside $'...'.
_SAFE_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 ,._+:@%/=-")

_BEGIN = b"__OHTUI_B_%s__"
_END_PREFIX = b"__OHTUI_E_%s_"
_END_RE = rb"__OHTUI_E_%s_(\d+)_([xd-])_(.*?)__OHTUI_END__"
_STALE_END = re.compile(_END_RE % rb"[0-9a-f]{32}", re.DOTALL)

# Sent once after bash starts; each line is one command line, so each produces one prompt.
_SETUP = r"""PS1=''; PS2=''; PS0=''; unset PROMPT_COMMAND HISTFILE MAILCHECK MAILPATH; set +H +o history
__ohtui_prompt() {
  local s=$? f=${1:--}
  if [[ $f == - && -n ${__ohtui_ec-} ]]; then f=x; fi
  if [[ -n ${__ohtui_tok-} ]]; then
    builtin printf '__OHTUI_E_%s_%d_%s_%s__OHTUI_END__' "$__ohtui_tok" "${__ohtui_ec:-$s}" "$f" "$PWD"
  fi
  __ohtui_last=${__ohtui_ec:-$s}; __ohtui_tok=''; __ohtui_ec=''; PS1=''; PS2=''
}
__ohtui_status() { return "$1"; }
exit() {
  local s=$?
  if [[ $BASHPID != "$$" ]]; then builtin exit "${1-$s}"; fi
  __ohtui_ec=$(( ${1-$s} & 255 )); builtin kill -INT "$$"; builtin exit "$__ohtui_ec"
}
trap '__ohtui_prompt d' EXIT
PROMPT_COMMAND=__ohtui_prompt; __ohtui_tok=@TOKEN@
"""


def quote(command: str) -> str:
    """Return ``command`` as a bash ``$'...'`` word that survives any quoting, newline or heredoc."""
    data = command.encode("utf-8", "surrogateescape")
    if b"\0" in data:
        raise ValueError("a shell command cannot contain a NUL character")
    return "$'" + "".join(chr(b) if b in _SAFE_BYTES else f"\\{b:03o}" for b in data) + "'"


def setup_script(token: str) -> bytes:
    """The lines that make a fresh bash quiet and marker-printing; its end marker carries ``token``."""
    return _SETUP.replace("@TOKEN@", token).encode()


def command_line(token: str, quoted: str, redirect: str) -> bytes:
    """The one line that runs ``quoted`` (see :func:`quote`) with ``redirect`` applied, between its markers."""
    # `__ohtui_status ... && :` gives the command the previous `$?` without tripping `set -e`.
    return (
        f"__ohtui_tok={token}; builtin printf '__OHTUI_B_%s__' {token}; "
        f'{{ __ohtui_status "${{__ohtui_last:-0}}" && :; builtin eval {quoted}; }} {redirect}\n'
    ).encode()


@dataclass(frozen=True, slots=True)
class CommandEnd:
    """What an end marker says."""

    exit_code: int
    cwd: str
    by_exit: bool = False
    """``exit`` aborted the line, and bash printed a newline for it."""
    dying: bool = False
    """Bash printed it from its EXIT trap: the next command needs a new bash."""


class CommandMarkers:
    """The markers of one command line, found by its token, and whether its begin marker went by."""

    def __init__(self, token: str, *, began: bool = False) -> None:
        tok = token.encode()
        self.token = token
        self.begin = _BEGIN % tok
        self.end_prefix = _END_PREFIX % tok
        self.end_re = re.compile(_END_RE % tok, re.DOTALL)
        self.began = began
        """Bash has read the whole command line (or the command is over): a SIGINT can no longer cut it."""


class MarkerReader:
    """Splits bash's output into what commands printed (into an :class:`OutputBuffer`) and their markers.

    A marker may arrive in pieces: the bytes that could be the start of one are held back until the next chunk.
    """

    def __init__(self) -> None:
        self._pending = bytearray()

    def clear(self) -> None:
        self._pending.clear()

    def flush(self, sink: OutputBuffer) -> None:
        """Bash is gone: what was held back is output after all."""
        sink.add(self._pending)
        self._pending.clear()

    def feed(self, data: bytes, markers: CommandMarkers | None, sink: OutputBuffer) -> list[CommandEnd]:
        """Route ``data``; return the end markers of ``markers`` it completed (a finished command stays current, so
        that a marker bash prints again, see :meth:`BashSession.interrupt`, is stripped too)."""
        pending = self._pending
        pending += data
        ends: list[CommandEnd] = []
        while pending:
            if markers is None:
                sink.add(pending)
                pending.clear()
                break
            if not markers.began:
                i = pending.find(markers.begin)
                if i >= 0:
                    sink.add(_STALE_END.sub(b"", pending[:i]))
                    del pending[: i + len(markers.begin)]
                    markers.began = True
                    continue
            i = pending.find(markers.end_prefix)
            if i >= 0:
                sink.add(pending[:i])
                del pending[:i]
                match = markers.end_re.match(pending)
                if match is None:
                    break  # the rest of the marker is still on its way
                status, how, cwd = match.groups()  # copies: the match reads from `pending`
                del pending[: match.end()]
                markers.began = True
                ends.append(CommandEnd(int(status), os.fsdecode(cwd), by_exit=how == b"x", dying=how == b"d"))
                continue
            hold = _partial_suffix(pending, markers.end_prefix)
            if not markers.began:
                hold = max(hold, _partial_suffix(pending, markers.begin))
            sink.add(pending[: len(pending) - hold])
            del pending[: len(pending) - hold]
            break
        return ends


def _partial_suffix(data: bytearray, marker: bytes) -> int:
    """Length of the longest tail of ``data`` that could be the start of ``marker`` (to hold back)."""
    for n in range(min(len(marker) - 1, len(data)), 0, -1):
        if data.endswith(marker[:n]):
            return n
    return 0
