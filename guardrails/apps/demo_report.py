"""The demo's report: one run's table and plots, each plot saying which rows it draws.

Every number a plot shows here comes from the same objects as the table beside it (the
reliability diagram's ECE is the table's first ECE cell), so a test can read both back from
the [`Report`][guardrails.Report] and compare them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from guardrails.abstention.conformal import ConformalSets
from guardrails.abstention.policies import Abstaining
from guardrails.apps.outcomes import coverage, risk_coverage_curve
from guardrails.apps.report import Report
from guardrails.builder import Guard
from guardrails.calibration.metrics import ReliabilityCurve
from guardrails.core.decisions import Decisions, Reason
from guardrails.monitoring.novelty import NoveltyGated

__all__ = ["Calibration", "DemoRun", "DriftTrace", "build_report", "class_name"]

TABLE = "What happened, phase by phase"
BELOW = "Where the guard scores below the bare model"
MIN_BIN_ROWS = 20  # reliability bins with fewer rows are drawn hollow and not joined
_NO_SET = (Reason.INVALID_INPUT, Reason.MODEL_ERROR, Reason.TIMEOUT, Reason.CIRCUIT_OPEN)


@dataclass(frozen=True)
class Calibration:
    """The rows an ECE is measured on, the two reliability curves drawn from them, and a
    90% bootstrap interval of the change in ECE (after minus before)."""

    rows: int
    before: ReliabilityCurve
    after: ReliabilityCurve
    change_interval: tuple[float, float]


@dataclass
class DriftTrace:
    """The monitor's windows as the demo saw them: one point per window that closed.

    Attributes:
        rows: rows served when each window closed (the x of its point).
        evidence: feature -> ``-log10`` of its adjusted p-value per window (capped).
        tightened: rows served when the monitor declared drift (the guard tightened).
        relaxed: rows served when it declared drift over, after a tightening.
        alpha: the level the adjusted p-values are compared with.
        correction: the multiple-testing correction.
        window_rows: rows in each window.
    """

    rows: list[int] = field(default_factory=list)
    evidence: dict[str, list[float]] = field(default_factory=dict)
    tightened: list[int] = field(default_factory=list)
    relaxed: list[int] = field(default_factory=list)
    alpha: float = float("nan")
    correction: str = ""
    window_rows: list[int] = field(default_factory=list)
    floor: float = 1e-12


@dataclass(frozen=True)
class DemoRun:
    """What one demo run hands to the report."""

    guard: Guard
    data: dict[str, Any]
    header: list[str]
    rows: list[list[str]]
    columns: str
    runs: list[tuple[str, Decisions, NDArray[Any]]]
    calibrations: list[Calibration | None]
    timeline: dict[str, list[Any]]
    drift: DriftTrace
    explanations: list[str]


def class_name(label: int) -> str:
    """Breast-cancer class names: 0 is malignant, 1 benign."""
    return {0: "malignant", 1: "benign"}.get(label, str(label))


def build_report(run: DemoRun) -> Report:
    """The demo's report: the phase table, then one plot per claim the guard makes."""
    n_pool = len(run.data["y_pool"])
    report = Report(
        "guardrails demo: a tumour-triage model meets production",
        subtitle=(
            "scikit-learn's breast-cancer data; five phases of traffic, rows drawn with "
            f"replacement from {n_pool} held-out patients with 2% measurement noise"
        ),
    )
    report.add_table(TABLE, run.header, run.rows, note="Columns. " + run.columns)
    if run.explanations:
        report.add_text("\n\n".join(run.explanations), title=BELOW)
    _reliability(report, run)
    _risk_coverage(report, run)
    _per_class(report, run)
    _rates(report, run)
    _drift(report, run)
    return report


def _reliability(report: Report, run: DemoRun) -> None:
    name = run.runs[0][0]
    cal = run.calibrations[0]
    if cal is None:
        return
    curves = {
        "before calibration": (cal.before.confidence, cal.before.accuracy, cal.before.counts),
        "after calibration": (cal.after.confidence, cal.after.accuracy, cal.after.counts),
    }
    report.add_reliability(
        curves,
        ece={"before calibration": cal.before.ece, "after calibration": cal.after.ece},
        edges=cal.before.edges,
        min_count=MIN_BIN_ROWS,
        data=(
            f"the {name} phase: the {cal.rows} rows the schema accepted, "
            f"{len(cal.before.counts)} equal-width bins of the top-label confidence; the ECE "
            "values are the table's first row"
        ),
    )


def _risk_coverage(report: Report, run: DemoRun) -> None:
    name, d, y = run.runs[0]
    raw_conf = d.confidence if d.confidence is not None else np.zeros(len(d))
    conf = np.where(np.isnan(raw_conf), 0.0, raw_conf)
    correct = d.prediction == y
    cov, risk, _ = risk_coverage_curve(conf, correct)
    answered = d.answered
    op = (float(answered.mean()), float(np.mean(~correct[answered])) if answered.any() else 0.0)
    report.add_risk_coverage(
        cov,
        risk,
        label=f"guard ({name})",
        operating_point=op,
        compare={"unguarded model": ([1.0], [float(np.mean(~correct))])},
        data=(
            f"the {name} phase: all {len(d)} rows, ranked by the guard's calibrated "
            f"confidence; the star is the {int(answered.sum())} rows the guard answered"
        ),
    )


def _per_class(report: Report, run: DemoRun) -> None:
    name, d, y = run.runs[0]
    if d.pred_set is None:
        return
    policy = run.guard.layer(Abstaining).policy
    alpha = policy.alpha if isinstance(policy, ConformalSets) else None
    classes = [int(c) for c in run.data["model"].classes_]
    has_set = ~np.isin(d.reason, _NO_SET)
    per_class = coverage(d, y, groups=y)
    assert isinstance(per_class, dict)
    sizes = d.pred_set.sum(axis=1)
    cov, low, high, counts, mean_size = [], [], [], [], []
    for c in classes:
        rows = has_set & (y == c)
        n = int(rows.sum())
        value = float(per_class.get(c, math.nan))
        k = round(value * n) if n else 0
        cov.append(value)
        counts.append(n)
        low.append(float(stats.beta.ppf(0.025, k, n - k + 1)) if k > 0 else 0.0)
        high.append(float(stats.beta.ppf(0.975, k + 1, n - k)) if k < n else 1.0)
        mean_size.append(float(sizes[rows].mean()) if n else math.nan)
    held = sizes[has_set]
    spread = ""
    if alpha is not None:
        n_cal = len(run.data["y_cal"])
        rank = math.floor((n_cal + 1) * alpha)
        if rank >= 1:
            q05 = float(stats.beta.ppf(0.05, n_cal + 1 - rank, rank))
            spread = (
                f" The guarantee is marginal (over both classes) and holds on average over "
                f"calibration draws: with {n_cal} calibration rows, one fitted guard's "
                f"coverage falls below {q05:.3f} one time in twenty."
            )
    report.add_per_class(
        [class_name(c) for c in classes],
        cov,
        mean_size,
        target=None if alpha is None else 1 - alpha,
        interval=(low, high),
        counts=counts,
        data=(
            f"the {name} phase: {int(has_set.sum())} rows with a prediction set "
            f"(set sizes: {_sizes(held)}); 95% Clopper-Pearson interval per bar, which counts "
            "repeated patients as independent rows." + spread
        ),
    )


def _sizes(sizes: NDArray[Any]) -> str:
    values, counts = np.unique(sizes.astype(int), return_counts=True)
    return ", ".join(f"{v} in {n} rows" for v, n in zip(values, counts))


def _rates(report: Report, run: DemoRun) -> None:
    total = sum(len(d) for _, d, _ in run.runs)
    report.add_rates_over_time(
        run.timeline["t"],
        {"abstention rate": run.timeline["abstention"], "fallback rate": run.timeline["fallback"]},
        xlabel="Phase, per 100 rows",
        data=f"all {total:,} rows of the five phases, in windows of 100 rows in serving order",
    )
    if "novel" in run.timeline:
        alpha = run.guard.layer(NoveltyGated).gate.alpha
        report.add_rates_over_time(
            run.timeline["t"],
            {
                "novelty rate": run.timeline["novel"],
                "gate alpha": [alpha] * len(run.timeline["t"]),
            },
            xlabel="Phase, per 100 rows",
            data=f"all {total:,} rows of the five phases, in windows of 100 rows in serving order",
            title="Novelty rate over time",
            how_to_read=(
                "The share of rows withheld as novel (unlike the training data) per 100 rows. "
                f"On in-distribution traffic the gate withholds at most alpha = {alpha:g} of "
                "them; the novel-scanner phase, whose rows lie far outside the training data, "
                "is withheld almost entirely, and the drift monitor declares the rate."
            ),
        )


def _drift(report: Report, run: DemoRun) -> None:
    trace = run.drift
    scores = {k: v for k, v in trace.evidence.items() if np.isfinite(v).any()}
    if not trace.rows or not scores:
        return
    suffix = " (model output)"
    outputs = [k.removesuffix(suffix) for k in scores if k.endswith(suffix)]
    inputs = len(scores) - len(outputs)
    tightened = set(trace.tightened)
    relaxed = [r for r in trace.relaxed if any(t < r for t in tightened)]
    window = int(np.median(trace.window_rows)) if trace.window_rows else 0
    report.add_drift_over_time(
        trace.rows,
        scores,
        threshold=-math.log10(trace.alpha),
        tightened_at=[t for t in trace.tightened if t in trace.rows],
        relaxed_at=[t for t in relaxed if t in trace.rows],
        xlabel="Rows served when the window closed",
        ylabel=f"-log10 adjusted p-value (KS, {trace.correction})",
        data=(
            f"{len(trace.rows)} tumbling windows of {window} valid rows; {len(scores)} tests per "
            f"window: {inputs} input features and the model's {' and '.join(outputs)}; "
            f"adjusted p-values below {trace.floor:g} are drawn at {-math.log10(trace.floor):g}"
        ),
        threshold_label=f"alpha {trace.alpha:g}: above it, drift",
        how_to_read=_drift_text(trace, relaxed),
    )


def _drift_text(trace: DriftTrace, relaxed: list[int]) -> str:
    level = -math.log10(trace.alpha)
    text = (
        "Each line is one test's evidence of drift per window: -log10 of its KS p-value "
        f"after the {trace.correction} correction, so {level:g} means p = {trace.alpha:g} and "
        "higher is stronger evidence. A window is declared drifted when any line is above "
        "the dashed line. The eight tests with the highest peak are in colour, the rest in "
        "grey."
    )
    if trace.tightened:
        text += " The solid vertical line marks when the guard tightened (it withheld less "
        text += "confident answers with reason drift from then on)"
        text += (
            "; the dotted one when it relaxed." if relaxed else "; it had not relaxed by the end."
        )
    else:
        text += " The guard never tightened in this run."
    return text
