"""The layout keeps its promises: no hidden imports, and the import contracts hold."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _function_level_guardrails_imports() -> list[str]:
    found = []
    for path in sorted((ROOT / "guardrails").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                names = (
                    [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else []
                )
                if any(n == "guardrails" or n.startswith("guardrails.") for n in names):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} in {fn.name}()")
    return found


def test_no_function_imports_a_guardrails_module() -> None:
    # a function-level import hides a loop from the import contracts
    found = _function_level_guardrails_imports()
    assert not found, f"import these at module level (or cut the loop): {found}"


def test_the_import_contracts_hold() -> None:
    lint = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    if not Path(lint).exists():
        pytest.skip("import-linter is not installed (pip install 'predict-guardrails[dev]')")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # the tree under test, not an install
    done = subprocess.run([lint], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]
