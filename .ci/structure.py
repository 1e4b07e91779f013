"""The structure ohtui holds itself to, checked from the source alone (no import is executed).

* Sizes: no class over 400 lines, no function over 60 (``SIZE_EXCEPTIONS`` could name one still waiting for its split).
* Layers (ARCHITECTURE.md): a module imports only from its own layer or lower ones; ``config`` may be imported from
  anywhere and imports no layer; only ``tui`` imports Textual.
* No import circle between modules, imports made only for type checking included.
* The modules in ``NO_UI`` import neither Textual nor Rich, directly or through what they import.

Run: ``python .ci/structure.py`` (exit status 1 with one line per problem). The test suite runs it too.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "ohtui"
MAX_CLASS_LINES = 400
MAX_FUNCTION_LINES = 60
SIZE_EXCEPTIONS: set[str] = set()
"""``path:Name`` of a class or function allowed past the limits while it waits for its split (none left)."""

RANKS = {"protocol": 0, "store": 1, "agent": 2, "client": 2, "server": 3, "tui": 4, "cli": 5, "__main__": 6}
"""Lower ranks are imported by higher ones, never the other way; equal ranks (agent, client) not by each other."""
ANYWHERE = {"config", "__init__"}
NO_UI = {
    f"ohtui.tui.widgets.event_log.{name}" for name in ("event_rows", "heights", "loading", "model", "rows", "search")
}
"""The event log's model, kept apart from its widget as Textual keeps ``TextArea``'s ``document/``: tested without an
App, so nothing it needs may draw."""
UI_LIBRARIES = ("textual", "rich")


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(path: Path, known: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """The project modules ``path`` imports (type-only imports included), with their line numbers."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "ohtui":
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            if base.split(".")[0] != "ohtui":
                continue
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield (submodule if submodule in known else base), node.lineno


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def size_problems(known: dict[str, Path]) -> Iterator[str]:
    for path in known.values():
        where = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            limit = MAX_CLASS_LINES if isinstance(node, ast.ClassDef) else MAX_FUNCTION_LINES
            if lines > limit and f"{where}:{node.name}" not in SIZE_EXCEPTIONS:
                kind = "class" if isinstance(node, ast.ClassDef) else "function"
                yield f"{where}:{node.lineno}: {kind} {node.name} has {lines} lines (at most {limit})"


def layer_problems(known: dict[str, Path], graph: dict[str, list[tuple[str, int]]]) -> Iterator[str]:
    for module, targets in graph.items():
        source = layer(module)
        where = known[module].relative_to(ROOT).as_posix()
        for target, line in targets:
            if target == "textual" and source != "tui":
                yield f"{where}:{line}: only ohtui.tui imports Textual"
            if target not in known:
                continue
            wanted = layer(target)
            if source == wanted or wanted in ANYWHERE:
                continue
            if source == "config" or source not in RANKS or wanted not in RANKS:
                yield f"{where}:{line}: {module} may not import {target}"
            elif RANKS[wanted] >= RANKS[source]:
                yield f"{where}:{line}: {module} ({source}) imports {target} ({wanted}), a layer not below it"


def cycles(graph: dict[str, list[tuple[str, int]]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan's algorithm), as sorted lists."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target, _ in graph.get(node, []):
            if target not in graph or target == node:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(10_000)
    for node in graph:
        if node not in index:
            visit(node)
    return found


def textual_imports(path: Path) -> Iterator[tuple[str, int]]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for name in names:
            if name.split(".")[0] == "textual":
                yield "textual", node.lineno


def ui_imports(path: Path) -> Iterator[tuple[str, int]]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module]
        for name in names:
            if name.split(".")[0] in UI_LIBRARIES:
                yield name.split(".")[0], node.lineno


def no_ui_problems(known: dict[str, Path], graph: dict[str, list[tuple[str, int]]]) -> Iterator[str]:
    """A module of ``NO_UI`` that depends on Textual or Rich, named with the import that brings it in."""
    for module in sorted(NO_UI):
        seen: set[str] = set()
        stack = [module]
        while stack:
            name = stack.pop()
            if name in seen or name not in known:
                continue
            seen.add(name)
            for library, line in ui_imports(known[name]):
                where = known[name].relative_to(ROOT).as_posix()
                yield f"{where}:{line}: imports {library}, which {module} may not depend on"
            stack.extend(target for target, _ in graph.get(name, []))


def problems() -> list[str]:
    known = modules()
    graph = {name: [*imports(path, known), *textual_imports(path)] for name, path in known.items()}
    found = [*size_problems(known), *layer_problems(known, graph), *no_ui_problems(known, graph)]
    # A package's __init__ re-exporting its own modules is not a circle of the code: leave those edges out.
    own = {name: [(t, n) for t, n in targets if not t.startswith(name + ".")] for name, targets in graph.items()}
    found += [f"import circle: {' -> '.join(group)}" for group in cycles(own)]
    return found


def main() -> int:
    found = problems()
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
