"""Every Python code block in the README and the docs runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _blocks() -> list[tuple[str, int, str]]:
    found = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for i, match in enumerate(BLOCK.finditer(text)):
            found.append((str(path.relative_to(ROOT)), i, match.group(1)))
    return found


def test_the_readme_has_a_runnable_quickstart() -> None:
    assert any(name == "README.md" for name, _, _ in _blocks())


@pytest.mark.parametrize(("name", "index", "code"), _blocks(), ids=lambda v: str(v)[:40])
def test_code_block_runs(
    name: str, index: int, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    # dont_inherit: blocks run as a user runs them, without this file's __future__ imports
    # (which would turn annotations into strings pydantic cannot resolve in exec)
    exec(
        compile(code, f"{name}[block {index}]", "exec", dont_inherit=True),
        {"__name__": "__docs__"},
    )
