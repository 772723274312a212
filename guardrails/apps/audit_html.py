"""Audit report: render an audit result as a [`Report`][guardrails.Report] with plots and tables."""

from __future__ import annotations

import importlib.util
from typing import Any

from guardrails.apps.audit_result import AuditResult, _pct
from guardrails.apps.report import Report


def build_report(result: AuditResult, *, subtitle: str | None = None) -> Any:
    """The audit as a [`Report`][guardrails.Report] (plots need matplotlib; tables do not).

    Args:
        result: what [`audit`][] returned.
        subtitle: a line under the title (model file, data file).

    Returns:
        A [`Report`][guardrails.Report] with the recommendation, the calibration table, the
        reliability diagram before and after calibration, the risk-coverage curve with the
        chosen operating points, coverage and set size per class, and the thresholds.
    """

    plots = importlib.util.find_spec("matplotlib") is not None
    report = Report("guardrails audit", subtitle=subtitle)
    report.add_text(_summary(result), title="Recommendation")
    if not plots:
        report.add_text(
            "Plots need matplotlib: pip install 'predict-guardrails[report]'. Tables follow.",
            title="Plots left out",
        )
    ev = result.evidence
    if result.task == "classification":
        rows: list[list[Any]] = [
            [
                m.method + (" (recommended)" if m.method == result.recommended_calibration else ""),
                m.ece,
                m.brier,
                m.nll,
                m.accuracy,
                m.note or "",
            ]
            for m in result.calibration
        ]
        report.add_table(
            "Calibration methods on the evaluation part",
            ["method", "ECE", "Brier", "NLL", "accuracy", "note"],
            rows,
            note=f"Each method is fitted on {result.n_calibration} calibration rows and "
            f"scored on {result.n_evaluation} evaluation rows; the lowest NLL wins.",
        )
        if plots and ev.reliability:
            report.add_reliability(
                ev.reliability, ece=ev.ece, title="Reliability before and after calibration"
            )
        if plots and ev.risk_coverage is not None:
            first = result.operating_points[0] if result.operating_points else None
            compare = {
                p.target: ([p.coverage], [p.selective_risk])
                for p in result.operating_points[1:]
                if p.selective_risk is not None
            }
            risk_targets = [p for p in result.operating_points if p.kind == "risk"]
            report.add_risk_coverage(
                ev.risk_coverage[0],
                ev.risk_coverage[1],
                label=f"{result.recommended_calibration} calibration",
                operating_point=(
                    None
                    if first is None or first.selective_risk is None
                    else (first.coverage, first.selective_risk)
                ),
                compare=compare or None,
                target_risk=risk_targets[0].target_risk if risk_targets else None,
                title="Risk-coverage on the evaluation part",
            )
        if result.operating_points:
            report.add_table(
                "Abstention thresholds",
                ["target", "policy", "threshold", "coverage", "selective risk", "cost per row"],
                [
                    [p.target, p.policy, p.threshold, p.coverage, p.selective_risk, p.expected_cost]
                    for p in result.operating_points
                ],
                note="Fitted on the calibration part with the recommended calibration; "
                "coverage and risk are realized on the evaluation part.",
            )
        if plots and ev.per_class is not None:
            names, cov, size, target = ev.per_class
            report.add_per_class(names, cov, size, target=target)
        if result.conformal:
            report.add_table(
                "Conformal prediction sets",
                ["alpha", "coverage", "mean set size"],
                [[c.alpha, c.coverage, c.mean_size] for c in result.conformal],
            )
    else:
        report.add_table(
            "Conformal prediction intervals",
            ["alpha", "coverage", "mean width"],
            [[c.alpha, c.coverage, c.mean_width] for c in result.conformal],
            note=f"Fitted on {result.n_calibration} rows, measured on {result.n_evaluation}.",
        )
    if result.notes:
        report.add_text("\n\n".join(result.notes), title="Notes")
    return report


def _summary(result: AuditResult) -> str:
    parts = [
        f"{result.model} ({result.task}) on {result.n_rows} labelled rows: "
        f"{result.n_calibration} to calibrate, {result.n_evaluation} to evaluate."
    ]
    if result.task == "classification":
        parts.append(
            f"Recommended calibration: {result.recommended_calibration} (lowest negative "
            "log-likelihood on the evaluation part)."
        )
        for p in result.operating_points:
            parts.append(
                f"{p.target}: {p.policy} answers {_pct(p.coverage)} of rows with selective "
                f"risk {_pct(p.selective_risk)}."
            )
    for c in result.conformal:
        size = (
            f"mean set size {c.mean_size:.3f}"
            if c.mean_size is not None
            else f"mean width {c.mean_width:.4g}"
        )
        parts.append(f"Conformal at alpha {c.alpha:g}: coverage {_pct(c.coverage)}, {size}.")
    if result.guard_code:
        parts.append(f"To deploy it: {result.guard_code}")
    return "\n\n".join(parts)


# --------------------------------------------------------------------------- command line
