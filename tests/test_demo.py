"""The demo a newcomer runs with ``make demo``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from guardrails.__main__ import main
from guardrails.demo import run_demo


def test_demo_runs_and_the_guard_beats_the_bare_model(tmp_path: Path) -> None:
    import io

    out = io.StringIO()
    summaries = run_demo(out)
    text = out.getvalue()
    assert "Summary" in text
    for s in summaries:
        assert s.answered + sum(s.abstained_by_reason.values()) == s.requests
        assert s.guarded_accuracy >= s.unguarded_accuracy
    malformed = next(s for s in summaries if s.phase == "malformed inputs")
    assert malformed.abstained_by_reason.get("invalid_input", 0) > 0


def test_python_dash_m_guardrails_demo_runs_in_a_fresh_directory(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "guardrails", "demo"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "every withheld one says why" in result.stdout


def test_cli_requires_a_command() -> None:
    import pytest

    with pytest.raises(SystemExit):
        main([])
