"""Every runnable example in examples/ runs as a user would run it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# the FastAPI service starts a server: its own test drives it with the test client
SCRIPTS = sorted(
    p
    for p in EXAMPLES.glob("*.py")
    if not p.name.startswith("test_") and p.name != "fastapi_service.py"
)


def test_there_are_examples() -> None:
    assert {p.name for p in SCRIPTS} >= {
        "quickstart.py",
        "review_workflow.py",
        "spark_batch.py",
        "wrap_sklearn.py",
    }


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_example_runs(script: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip(), "an example should show what it did"
