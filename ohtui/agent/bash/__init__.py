"""One persistent bash process that runs an agent's shell commands one at a time (:class:`BashSession`).

The parts, each with its own reasons in its docstring: ``session`` (the commands: run, wait, input, interrupt, the
timeouts and results), ``process`` (the bash child: spawn, signals, kill, the stdin pipe), ``markers`` (the command
line, the setup script and the markers that say where a command's output ends), ``output`` (decoding, the bounded
buffer, truncation).
"""

from ohtui.agent.bash.output import MAX_OUTPUT_CHARS, TRUNCATION_NOTICE, truncate_middle
from ohtui.agent.bash.session import BashSession, CommandResult, CommandStillRunningError, NoCommandRunningError

__all__ = [
    "MAX_OUTPUT_CHARS",
    "TRUNCATION_NOTICE",
    "BashSession",
    "CommandResult",
    "CommandStillRunningError",
    "NoCommandRunningError",
    "truncate_middle",
]
