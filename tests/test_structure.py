"""The structure check of .ci/structure.py: the repository passes it, and it finds what it is meant to find."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def _structure() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ci_structure", ROOT / ".ci" / "structure.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["ci_structure"] = module
    spec.loader.exec_module(module)
    return module


def test_the_code_keeps_its_sizes_layers_and_has_no_import_circle() -> None:
    assert _structure().problems() == []


def test_circles_are_found_type_only_imports_included() -> None:
    structure = _structure()
    graph = {"a": [("b", 1)], "b": [("c", 1)], "c": [("a", 3)], "d": [("a", 1)]}
    assert structure.cycles(graph) == [["a", "b", "c"]]
    assert structure.cycles({"a": [("b", 1)], "b": []}) == []


def test_an_upward_import_and_textual_below_the_tui_are_reported(tmp_path: Path) -> None:
    structure = _structure()
    known = {
        "ohtui.store.x": tmp_path / "ohtui" / "store" / "x.py",
        "ohtui.tui.y": tmp_path / "ohtui" / "tui" / "y.py",
        "ohtui.config.z": tmp_path / "ohtui" / "config" / "z.py",
    }
    structure.ROOT = tmp_path
    graph = {
        "ohtui.store.x": [("ohtui.tui.y", 3), ("ohtui.config.z", 4), ("textual", 5)],
        "ohtui.tui.y": [("ohtui.store.x", 1), ("textual", 2)],
        "ohtui.config.z": [("ohtui.store.x", 7)],
    }
    found = list(structure.layer_problems(known, graph))
    assert found == [
        "ohtui/store/x.py:3: ohtui.store.x (store) imports ohtui.tui.y (tui), a layer not below it",
        "ohtui/store/x.py:5: only ohtui.tui imports Textual",
        "ohtui/config/z.py:7: ohtui.config.z may not import ohtui.store.x",
    ]


def test_a_model_module_that_reaches_a_ui_library_is_reported(tmp_path: Path) -> None:
    structure = _structure()
    structure.ROOT = tmp_path
    (tmp_path / "ohtui").mkdir()
    model, helper = tmp_path / "ohtui" / "model.py", tmp_path / "ohtui" / "helper.py"
    model.write_text("from ohtui import helper\n")
    helper.write_text("import os\nfrom rich.text import Text\n")
    structure.NO_UI = {"ohtui.model"}
    known = {"ohtui.model": model, "ohtui.helper": helper}
    graph = {"ohtui.model": [("ohtui.helper", 1)], "ohtui.helper": []}
    assert list(structure.no_ui_problems(known, graph)) == [
        "ohtui/helper.py:2: imports rich, which ohtui.model may not depend on"
    ]
