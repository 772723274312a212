"""Audit results: the dataclasses an audit returns, with their text summary and JSON form."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

CRITERION = "nll"
"""The recommended calibration is the candidate with the lowest NLL on the evaluation part."""


@dataclass(frozen=True)
class MethodScore:
    """One calibration candidate scored on the evaluation part (None when skipped)."""

    method: str
    ece: float | None
    brier: float | None
    nll: float | None
    accuracy: float | None
    note: str | None = None


@dataclass(frozen=True)
class OperatingPoint:
    """A fitted abstention threshold and what it did on the evaluation part.

    Attributes:
        kind: ``"risk"`` or ``"cost"``.
        target: what was asked, in words.
        policy: the policy's repr, to paste into a guard.
        threshold: answer rows whose calibrated confidence is at least this (None: the
            rule is not a single threshold; inf: withhold everything).
        coverage: share of evaluation rows answered.
        selective_risk: error rate among them (None when none answered).
        n_answered: rows answered.
        expected_cost: realized cost per evaluation row (cost rules only).
        target_risk: the risk asked for (risk thresholds only).
        note: a warning raised while fitting, if any.
    """

    kind: str
    target: str
    policy: str
    threshold: float | None
    coverage: float
    selective_risk: float | None
    n_answered: int
    expected_cost: float | None = None
    target_risk: float | None = None
    note: str | None = None


@dataclass(frozen=True)
class ConformalSummary:
    """Split conformal sets (classifiers) or intervals (regressors) at one ``alpha``."""

    alpha: float
    coverage: float
    mean_size: float | None = None
    mean_width: float | None = None


@dataclass(frozen=True)
class _Evidence:
    """Aggregates for the report's plots (no input rows)."""

    reliability: dict[str, tuple[list[float], list[float], list[int]]] = field(default_factory=dict)
    ece: dict[str, float] = field(default_factory=dict)
    risk_coverage: tuple[list[float], list[float]] | None = None
    per_class: tuple[list[str], list[float], list[float], float] | None = None


@dataclass(frozen=True)
class AuditResult:
    """What the audit found and recommends; ``to_dict`` gives it as plain data.

    Attributes:
        task: ``"classification"`` or ``"regression"``.
        model: the model's type name.
        n_rows: labelled rows used (read minus missing target).
        n_unscored: rows the model gave no usable output for (left out and counted).
        n_calibration, n_evaluation: sizes of the two parts.
        seed: the split's seed.
        criterion: how the calibration was chosen (``"nll"``).
        recommended_calibration: the method, or ``"none"`` to keep the model's own
            probabilities; None for a regressor.
        calibration: every candidate's scores on the evaluation part.
        operating_points: the recommended thresholds.
        conformal: conformal sets or intervals per ``alpha``.
        baseline: the model on the evaluation part without abstention (accuracy or MAE).
        notes: what was skipped or warned about.
        guard_code: the builder chain that reproduces the first recommendation.
    """

    task: str
    model: str
    n_rows: int
    n_unscored: int
    n_calibration: int
    n_evaluation: int
    seed: int
    criterion: str | None
    recommended_calibration: str | None
    calibration: tuple[MethodScore, ...]
    operating_points: tuple[OperatingPoint, ...]
    conformal: tuple[ConformalSummary, ...]
    baseline: dict[str, float]
    notes: tuple[str, ...]
    guard_code: str | None
    evidence: _Evidence = field(default_factory=_Evidence, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data (NaN and inf become None)."""
        out: dict[str, Any] = {
            "task": self.task,
            "model": self.model,
            "rows": {
                "used": self.n_rows,
                "unscored": self.n_unscored,
                "calibration": self.n_calibration,
                "evaluation": self.n_evaluation,
            },
            "seed": self.seed,
            "criterion": self.criterion,
            "recommended_calibration": self.recommended_calibration,
            "calibration": [vars(m).copy() for m in self.calibration],
            "operating_points": [vars(p).copy() for p in self.operating_points],
            "conformal": [vars(c).copy() for c in self.conformal],
            "baseline": dict(self.baseline),
            "notes": list(self.notes),
            "guard_code": self.guard_code,
        }
        safe: dict[str, Any] = _json_safe(out)
        return safe

    def table(self) -> str:
        """A compact plain-text summary for the terminal."""
        lines = [
            f"guardrails audit: {self.model} ({self.task}), {self.n_rows} labelled rows "
            f"({self.n_unscored} unscored): {self.n_calibration} to calibrate, "
            f"{self.n_evaluation} to evaluate (seed {self.seed})"
        ]
        if self.task == "classification":
            lines += ["", f"calibration, scored on the evaluation part (lowest {CRITERION} wins)"]
            lines.append(f"  {'method':<14}{'ECE':>8}{'Brier':>8}{'NLL':>8}{'accuracy':>10}")
            for m in self.calibration:
                mark = "*" if m.method == self.recommended_calibration else " "
                if m.nll is None:
                    lines.append(f"{mark} {m.method:<14}skipped: {m.note}")
                    continue
                lines.append(
                    f"{mark} {m.method:<14}{m.ece:>8.4f}{m.brier:>8.4f}{m.nll:>8.4f}"
                    f"{_pct(m.accuracy):>10}"
                )
            if self.operating_points:
                lines += [
                    "",
                    f"abstention with {self.recommended_calibration} calibration, "
                    "realized on the evaluation part",
                    f"  {'target':<30}{'threshold':>10}{'coverage':>10}{'risk':>8}  cost/row",
                ]
                for p in self.operating_points:
                    t = "-" if p.threshold is None else f"{p.threshold:.4g}"
                    cost = "-" if p.expected_cost is None else f"{p.expected_cost:.4g}"
                    lines.append(
                        f"  {p.target:<30}{t:>10}{_pct(p.coverage):>10}"
                        f"{_pct(p.selective_risk):>8}  {cost}"
                    )
                    if p.note:
                        lines.append(f"    {p.note}")
            if self.conformal:
                lines += ["", "conformal prediction sets on the evaluation part"]
                lines.append(f"  {'alpha':<8}{'coverage':>10}{'mean size':>11}")
                for c in self.conformal:
                    lines.append(f"  {c.alpha:<8g}{_pct(c.coverage):>10}{c.mean_size:>11.3f}")
        else:
            lines += ["", "split conformal intervals on the evaluation part"]
            lines.append(f"  {'alpha':<8}{'coverage':>10}{'width':>12}")
            for c in self.conformal:
                lines.append(f"  {c.alpha:<8g}{_pct(c.coverage):>10}{c.mean_width:>12.4g}")
        base = ", ".join(
            f"{k} {_pct(v) if k == 'accuracy' else f'{v:.4g}'}" for k, v in self.baseline.items()
        )
        lines += ["", f"model alone on the evaluation part: {base}"]
        if self.guard_code:
            lines += ["", "to deploy it:", f"  {self.guard_code}"]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _pct(x: float | None) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{100 * x:.1f}%"


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


# --------------------------------------------------------------------------- the audit
