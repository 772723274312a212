"""The demo a newcomer runs with ``make demo``."""

from __future__ import annotations

import io
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from guardrails.__main__ import main
from guardrails.apps.demo import BATCH, HEADER, DemoResult, FlakyModel, run_demo
from guardrails.apps.demo_report import TABLE


@pytest.fixture(scope="module")
def demo(demo_run: tuple[DemoResult, str]) -> tuple[DemoResult, str]:
    return demo_run


def test_every_request_gets_a_decision_and_nothing_queued_is_lost(
    demo: tuple[DemoResult, str],
) -> None:
    result, text = demo
    assert "What happened" in text
    for s in result.summaries:
        assert s.answered + sum(s.abstained_by_reason.values()) == s.rows
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


def _tables(text: str) -> str:
    """The printed tables and sentences of a run, without paths and progress bars."""
    start = text.index("[5/5]")
    return text[start : text.index("\n", text.index("Repeatable:"))]


def test_the_same_seed_prints_the_same_tables(demo: tuple[DemoResult, str], tmp_path: Path) -> None:
    _, first = demo
    again = io.StringIO()
    run_demo(again, out_dir=tmp_path, report=False)
    assert _tables(again.getvalue()) == _tables(first)


def test_faults_go_by_row_and_seed_not_by_call_order() -> None:
    class Model:
        classes_ = np.array([0, 1])
        n_features_in_ = 3

        def predict_proba(self, X: object) -> np.ndarray:
            return np.tile([0.3, 0.7], (len(X), 1))  # type: ignore[arg-type]

    rows = np.random.default_rng(0).normal(size=(50, 3))
    flaky = FlakyModel(Model(), seed=4)
    assert (flaky.draws(rows[::-1]) == flaky.draws(rows)[::-1]).all()
    assert (flaky.draws(rows) == FlakyModel(Model(), seed=4).draws(rows)).all()
    assert (flaky.draws(rows) != FlakyModel(Model(), seed=5).draws(rows)).any()
    flaky.failure_rate = float(np.sort(flaky.draws(rows))[10])  # rows 0..9 of the sort fail
    failing = flaky.draws(rows) < flaky.failure_rate
    assert failing.sum() == 10
    with pytest.raises(ConnectionError):
        flaky.predict_proba(rows[failing][:1])
    assert flaky.predict_proba(rows[~failing]).shape == (40, 2)


def test_the_text_names_rows_and_calls_and_wraps_the_layer_list(
    demo: tuple[DemoResult, str],
) -> None:
    result, text = demo
    rows = sum(s.rows for s in result.summaries)
    assert f"Serving {rows:,} rows in {rows // BATCH} calls of {BATCH} rows" in text
    layers = text[text.index("[3/5]") : text.index("[4/5]")].splitlines()[1:]
    assert layers and all(len(line) <= 100 for line in layers)
    joined = " ".join(line.strip() for line in layers)
    for name in ("ModelAdapter(", "Validated(", "Monitored(", "WithFallback(", "Logged("):
        assert name in joined
    assert "alerts=off)" in joined  # the last layer's repr is whole, not cut at a width
    assert "Columns." in text and "bare scored" in text


def test_each_place_the_guard_scores_below_the_bare_model_is_explained(
    demo: tuple[DemoResult, str],
) -> None:
    result, text = demo
    expected = 0
    for s in result.summaries:
        if s.guarded_accuracy < s.unguarded_accuracy:
            expected += 1
            assert any(e.startswith(f"{s.phase}: guard acc.") for e in result.explanations), s.phase
        if s.ece_after > s.ece_before:
            expected += 1
            assert any(e.startswith(f"{s.phase}: ECE rises") for e in result.explanations)
    assert len(result.explanations) == expected
    flaky = next(s for s in result.summaries if s.phase == "flaky primary")
    assert flaky.guarded_accuracy < flaky.unguarded_accuracy  # the weaker backup answered
    assert "Where the guard scores below the bare model:" in text
    assert result.report is not None
    assert "Where the guard scores below the bare model" in result.report.titles()


def _table(result: DemoResult) -> dict[str, dict[str, str]]:
    assert result.report is not None
    header, rows = result.report.table(TABLE)
    assert list(header) == HEADER
    return {row[0]: dict(zip(header, row)) for row in rows}


def test_the_reliability_diagram_is_the_tables_first_row(demo: tuple[DemoResult, str]) -> None:
    result, _ = demo
    assert result.report is not None
    plot = result.report.plot_data("Reliability diagram")
    first = result.summaries[0]
    row = _table(result)[first.phase]
    assert f"{plot['ece']['before calibration']:.3f}" == row["ECE raw"]
    assert f"{plot['ece']['after calibration']:.3f}" == row["ECE cal."]
    for curve in plot["curves"].values():
        assert sum(curve["count"]) == first.ece_rows
    assert f"the {first.ece_rows} rows" in plot["data"] and first.phase in plot["data"]


def test_the_rates_plot_averages_to_the_tables_counts(demo: tuple[DemoResult, str]) -> None:
    result, _ = demo
    assert result.report is not None
    plot = result.report.plot_data("Abstention and fallback rates over time")
    table = _table(result)
    labels = plot["t"]
    for s in result.summaries:
        mine = [i for i, t in enumerate(labels) if t.startswith(s.phase.split()[0] + " ")]
        withheld = sum(s.abstained_by_reason.values())
        abstention = np.mean([plot["series"]["abstention rate"][i] for i in mine])
        assert abstention == pytest.approx(withheld / int(table[s.phase]["rows"]))
        fallback = np.mean([plot["series"]["fallback rate"][i] for i in mine])
        assert fallback == pytest.approx(
            (s.answered - s.answered_by_stage.get("primary", 0)) / s.rows
        )
    assert f"all {sum(s.rows for s in result.summaries):,} rows" in plot["data"]


def test_the_novel_phase_is_withheld_as_novel_where_the_bare_model_is_confidently_wrong(
    demo: tuple[DemoResult, str],
) -> None:
    """Rows far outside the training data: the bare model is wrong on most of them, the
    gate withholds nearly all as novel, and elsewhere it withholds about its alpha (0.01)."""
    result, _ = demo
    by_phase = {s.phase: s for s in result.summaries}
    novel = by_phase["novel scanner"]
    assert novel.unguarded_accuracy < 0.5
    assert novel.abstained_by_reason.get("novel", 0) >= 0.9 * novel.rows
    normal = by_phase["normal traffic"]
    assert normal.abstained_by_reason.get("novel", 0) <= 0.03 * normal.rows
    assert result.report is not None
    plot = result.report.plot_data("Novelty rate over time")
    labels = plot["t"]
    for s in result.summaries:
        mine = [i for i, t in enumerate(labels) if t.startswith(s.phase.split()[0] + " ")]
        rate = np.mean([plot["series"]["novelty rate"][i] for i in mine])
        assert rate == pytest.approx(s.abstained_by_reason.get("novel", 0) / s.rows)
    assert set(plot["series"]["gate alpha"]) == {0.01}


def test_the_coverage_plot_counts_its_rows_and_flags_only_what_its_interval_says(
    demo: tuple[DemoResult, str],
) -> None:
    result, _ = demo
    assert result.report is not None
    plot = result.report.plot_data("Coverage and set size per class")
    assert sum(plot["counts"]) == result.summaries[0].rows  # normal traffic: every row has a set
    low, high = plot["interval"]
    for c, lo, hi, flagged in zip(plot["coverage"], low, high, plot["below_target"]):
        assert lo <= c <= hi
        assert flagged == (hi < plot["target"])
    assert plot["target"] == pytest.approx(0.98)
    assert "set sizes:" in plot["data"] and "Clopper-Pearson" in plot["data"]


def test_the_drift_plot_draws_its_threshold_and_only_events_that_happened(
    demo: tuple[DemoResult, str],
) -> None:
    result, _ = demo
    assert result.report is not None
    plot = result.report.plot_data("Drift scores over time")
    assert plot["threshold"] == pytest.approx(-math.log10(0.01))  # the monitor's alpha
    assert plot["tightened_at"], "the drift phase tightens the guard"
    for relaxed in plot["relaxed_at"]:
        assert any(t < relaxed for t in plot["tightened_at"])
    scores = plot["scores"]
    inputs = [k for k in scores if not k.endswith("(model output)")]
    assert len(inputs) == 30
    assert len(scores) == 31 and "confidence (model output)" in scores
    assert "30 input features and the model's confidence" in plot["data"]
    assert min(v for values in scores.values() for v in values if not math.isnan(v)) >= 0
    (fig,) = result.report.only("Drift scores over time").figures()
    assert fig.axes[0].get_ylim()[0] == 0
    assert any(t.get_text().startswith("alpha 0.01") for t in fig.axes[0].get_legend().texts)


def test_every_plot_of_the_demo_states_its_data(demo: tuple[DemoResult, str]) -> None:
    result, _ = demo
    assert result.report is not None
    page = result.report.html()
    plots = [t for t in result.report.titles() if t and "phase" not in t and "below" not in t]
    assert len(plots) == 6
    for title in plots:
        data = result.report.plot_data(title)["data"]
        assert data and re.search(r"\d", data), title  # which rows, and how many
        assert data.split(";")[0].replace("'", "&#x27;") in page
