"""The demo a newcomer runs with ``make demo``."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from guardrails.__main__ import main
from guardrails.apps.demo import DemoResult, run_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoResult, str]:
    out = io.StringIO()
    result = run_demo(out, out_dir=tmp_path_factory.mktemp("demo"))
    return result, out.getvalue()


def test_every_request_gets_a_decision_and_nothing_queued_is_lost(
    demo: tuple[DemoResult, str],
) -> None:
    result, text = demo
    assert "What happened" in text
    for s in result.summaries:
        assert s.answered + sum(s.abstained_by_reason.values()) == s.requests
    assert result.queued_ids > 0
    assert result.cases_in_queue == result.queued_ids
    assert "data-quality cases (invalid inputs, in their own lane)" in text


def test_the_guard_beats_the_bare_model_where_it_answers(demo: tuple[DemoResult, str]) -> None:
    result, _ = demo
    by_phase = {s.phase: s for s in result.summaries}
    for phase in ("normal traffic", "malformed inputs", "gradual drift"):
        s = by_phase[phase]
        assert s.guarded_accuracy > s.unguarded_accuracy, s
    malformed = by_phase["malformed inputs"]
    assert malformed.abstained_by_reason.get("invalid_input", 0) > 0
    assert malformed.unguarded_failures > 0  # the bare model crashed on batches it could not read
    flaky = by_phase["flaky primary"]
    assert flaky.answered_by_stage.get("backup", 0) > 0
    assert flaky.unguarded_failures > 0
    drift = by_phase["gradual drift"]
    assert drift.abstained_by_reason.get("drift", 0) > 0


def test_the_normal_phase_withholds_no_clean_row_as_invalid_or_drifted(
    demo: tuple[DemoResult, str],
) -> None:
    result, _ = demo
    normal = result.summaries[0]
    assert normal.phase == "normal traffic"
    assert normal.abstained_by_reason.get("invalid_input", 0) == 0
    assert normal.abstained_by_reason.get("drift", 0) == 0


def test_the_demo_writes_a_report_and_a_json_log(demo: tuple[DemoResult, str]) -> None:
    result, text = demo
    report = result.report_path
    html = report.read_text(encoding="utf-8")
    for section in ("Reliability diagram", "Risk-coverage curve", "Drift scores over time"):
        assert section in html
    assert str(report) in text
    lines = result.log_path.read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines]
    kinds = {e["event"] for e in events}
    assert {"guardrails.batch", "guardrails.decision", "drift_detected"} <= kinds
    assert all("request_id" in e for e in events if e["event"].startswith("guardrails."))


def test_python_dash_m_guardrails_demo_runs_in_a_fresh_directory(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "guardrails", "demo", "--no-report"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "every withheld one says why" in result.stdout
    assert (tmp_path / "guardrails-demo" / "guardrails-decisions.jsonl").is_file()


def test_cli_requires_a_command() -> None:
    with pytest.raises(SystemExit):
        main([])
