"""Readers for legacy shapes that old trajectories still carry (§1.3, §2.2)."""

from __future__ import annotations

import ast
from typing import Any


def file_editor_args(code: object) -> dict[str, Any]:
    """Args of ``print(file_editor(**{...}))``, the old IPython form of an edit; ``{}`` if it is not that form."""
    if not isinstance(code, str):
        return {}
    try:
        tree = ast.parse(code.strip(), mode="eval")
    except SyntaxError:
        return {}
    call = tree.body
    if isinstance(call, ast.Call) and call.args and isinstance(call.args[0], ast.Call):
        call = call.args[0]
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "file_editor"):
        return {}
    result: dict[str, Any] = {}
    try:
        for keyword in call.keywords:
            value = ast.literal_eval(keyword.value)
            if keyword.arg is None and isinstance(value, dict):
                result.update({str(k): v for k, v in value.items()})
            elif keyword.arg is not None:
                result[keyword.arg] = value
    except ValueError:
        return {}
    return result
