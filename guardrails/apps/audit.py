"""Audit: recommend a calibration method and abstention thresholds for an existing model.

Behind ``python -m guardrails audit --model MODEL --loader skops|joblib --data CSV --target
COL``. The labelled hold-out set is split (seeded) into a calibration part and an
evaluation part. Every calibration method is fitted on the calibration part and scored on
the evaluation part; the one with the lowest negative log-likelihood is recommended (NLL
is a proper scoring rule: it cannot be gamed by binning, unlike ECE, and it is what
temperature and Platt scaling minimise). With that calibration, thresholds are fitted on
the calibration part for each target risk ([`RiskControlledThreshold`][])
and cost ([`CostRule`][]), and their coverage and realized selective risk
are measured on the evaluation part. Regressors get split conformal interval widths.

Loading a model file is the user's explicit choice, because both formats can run code:
``joblib`` unpickles, which runs whatever code the file carries; ``skops`` loads only the
types it trusts by default plus those the user names with ``--trust``. This module is the
one place in guardrails that calls ``joblib.load`` (`_load_joblib_runs_code`).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from numpy.typing import NDArray

from guardrails.abstention.conformal import ConformalSets, set_sizes
from guardrails.abstention.intervals import ConformalIntervals
from guardrails.abstention.policies import CostRule, RiskControlledThreshold, label_index
from guardrails.apps.outcomes import risk_coverage_curve
from guardrails.apps.report import Report
from guardrails.calibration.calibrators import (
    ISOTONIC_MIN_SAMPLES,
    CalibrationScores,
    logits_from_proba,
    make_calibrator,
    softmax,
)
from guardrails.calibration.metrics import reliability_curve
from guardrails.core.adapter import ModelAdapter
from guardrails.core.decisions import Decisions
from guardrails.core.errors import GuardrailsError

__all__ = [
    "AuditError",
    "AuditResult",
    "add_audit_parser",
    "audit",
    "build_report",
    "load_model",
    "read_labelled_csv",
    "run_audit",
]

EXIT_OK = 0
EXIT_BAD = 2
LOADERS = ("skops", "joblib")
METHODS = ("temperature", "sigmoid", "isotonic", "histogram")
"""Calibration methods the audit tries, besides keeping the model's own probabilities."""
CRITERION = "nll"
"""The recommended calibration is the candidate with the lowest NLL on the evaluation part."""
MIN_PART_ROWS = 20
"""Each of the calibration and evaluation parts needs at least this many scored rows."""
BINS = 15

_SECURITY = (
    "Loading a model file can run code. --loader joblib unpickles the file: that runs "
    "whatever code it carries, so use it only for files you made or trust. --loader skops "
    "loads only the types skops trusts by default and those you name with --trust TYPE; "
    "when a file holds others, the audit lists them and loads nothing."
)


class AuditError(GuardrailsError):
    """A problem with the audit's arguments, files or model; the command exits 2."""


# --------------------------------------------------------------------------- loading


def load_model(path: str | Path, *, loader: str | None, trust: Sequence[str] = ()) -> Any:
    """Load a fitted model from ``path`` with the loader the user chose.

    Args:
        path: the model file.
        loader: ``"skops"`` or ``"joblib"``. There is no default: loading a joblib
            (pickle) file runs whatever code it carries, so the user must ask for it.
        trust: for skops, type names (``"module.Type"``) to trust beyond skops' defaults.

    Returns:
        The loaded object.

    Raises:
        AuditError: no or an unknown loader, a missing file, a file the loader cannot
            read, or (skops) a file holding types that are not trusted; the message then
            lists them.
    """
    if loader is None:
        raise AuditError(
            f"refusing to load {path}: choose a loader with --loader skops or --loader "
            f"joblib. {_SECURITY}"
        )
    if loader not in LOADERS:
        raise AuditError(f"--loader must be one of {list(LOADERS)}; got {loader!r}.")
    file = Path(path)
    if not file.is_file():
        raise AuditError(f"model file {str(path)!r} does not exist (or is not a file).")
    if loader == "joblib":
        if trust:
            raise AuditError("--trust applies to --loader skops only.")
        return _load_joblib_runs_code(file)
    return _load_skops(file, list(trust))


def _load_joblib_runs_code(path: Path) -> Any:
    """Unpickle ``path`` with joblib. This RUNS any code the file carries: the user asked."""
    try:
        import joblib
    except ImportError:  # pragma: no cover - joblib ships with scikit-learn
        raise AuditError("--loader joblib needs joblib (it comes with scikit-learn).") from None
    try:
        return joblib.load(path)
    except Exception as exc:
        raise AuditError(
            f"cannot load {str(path)!r} with joblib: {type(exc).__name__}: {exc}"
        ) from None


def _load_skops(path: Path, trust: list[str]) -> Any:
    """Load ``path`` with skops, trusting skops' default types and ``trust`` only."""
    try:
        import skops.io as sio
    except ImportError:
        raise AuditError(
            "--loader skops needs skops, an optional extra: "
            "pip install 'predict-guardrails[audit]' (or pip install 'skops>=0.10')."
        ) from None
    try:
        return sio.load(path, trusted=trust or None)
    except Exception as exc:
        try:
            untrusted = list(sio.get_untrusted_types(file=path))
        except Exception:
            untrusted = None
        if untrusted is None:
            raise AuditError(
                f"cannot read {str(path)!r} as a skops file: {type(exc).__name__}: {exc}"
            ) from None
        missing = [t for t in untrusted if t not in trust]
        if missing:
            listed = "\n".join(f"  {t}" for t in missing)
            flags = " ".join(f"--trust {t}" for t in missing)
            raise AuditError(
                f"skops refused to load {str(path)!r}: it holds types that are not trusted:\n"
                f"{listed}\nLoading them can run code. If you know where each comes from and "
                f"trust it, pass: {flags}"
            ) from None
        raise AuditError(
            f"cannot load {str(path)!r} with skops: {type(exc).__name__}: {exc}"
        ) from None


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class LabelledCSV:
    """Features and labels read from a CSV, with the count of rows left out."""

    X: Any
    y: NDArray[Any]
    features: tuple[str, ...]
    n_read: int
    n_missing_target: int


def read_labelled_csv(
    path: str | Path,
    *,
    target: str,
    features: Sequence[str] | None = None,
    model: Any = None,
) -> LabelledCSV:
    """Read a labelled hold-out set from a CSV file with pandas.

    Rows whose target is missing are dropped and counted. Without ``features``, the
    model's ``feature_names_in_`` are used when it has them, else every other column.

    Args:
        path: the CSV file (header row first).
        target: the label column.
        features: the feature columns, in the order the model expects.
        model: the loaded model, to read its feature names and whether it wants a frame.

    Returns:
        The features (a data frame when the model was fitted on one, else an array
        ``(n_samples, n_features)``), the labels ``(n_samples,)`` and counts.

    Raises:
        AuditError: pandas missing, a missing or unreadable file, a column not in it.
    """
    try:
        import pandas as pd
    except ImportError:
        raise AuditError(
            "reading --data needs pandas, an optional extra: "
            "pip install 'predict-guardrails[audit]'."
        ) from None
    file = Path(path)
    if not file.is_file():
        raise AuditError(f"data file {str(path)!r} does not exist (or is not a file).")
    try:
        frame = pd.read_csv(file)
    except Exception as exc:
        raise AuditError(f"cannot read {str(path)!r} as CSV: {type(exc).__name__}: {exc}") from None
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    if target not in columns:
        raise AuditError(
            f"target column {target!r} is not in {str(path)!r}; its columns are: "
            f"{_listing(columns)}."
        )
    model_names = getattr(model, "feature_names_in_", None)
    if features is not None:
        chosen = list(features)
    elif model_names is not None:
        chosen = [str(c) for c in model_names]
    else:
        chosen = [c for c in columns if c != target]
    if not chosen:
        raise AuditError(f"{str(path)!r} has no feature column besides the target {target!r}.")
    absent = [c for c in chosen if c not in columns]
    if absent:
        raise AuditError(
            f"feature column(s) {_listing(absent)} not in {str(path)!r}; its columns are: "
            f"{_listing(columns)}."
        )
    if target in chosen:
        raise AuditError(f"the target column {target!r} cannot also be a feature.")
    if len(set(chosen)) != len(chosen):
        raise AuditError(f"--features names a column twice: {_listing(chosen)}.")
    keep = frame[target].notna().to_numpy()
    part = frame.loc[keep, chosen].reset_index(drop=True)
    X: Any = part if model_names is not None else part.to_numpy()
    return LabelledCSV(
        X=X,
        y=frame.loc[keep, target].to_numpy(),
        features=tuple(chosen),
        n_read=len(frame),
        n_missing_target=int((~keep).sum()),
    )


def _listing(names: Sequence[Any], limit: int = 12) -> str:
    shown = ", ".join(repr(n) for n in list(names)[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


# --------------------------------------------------------------------------- results


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


def audit(
    model: Any,
    X: Any,
    y: Any,
    *,
    risks: Sequence[float] = (),
    delta: float = 0.1,
    cost_error: float | None = None,
    cost_review: float | None = None,
    alphas: Sequence[float] = (0.1,),
    cal_size: float = 0.5,
    seed: int = 0,
) -> AuditResult:
    """Audit a fitted model on a labelled hold-out set and recommend how to guard it.

    Args:
        model: a fitted classifier (``predict_proba`` or ``decision_function``) or
            regressor, or anything [`ModelAdapter`][guardrails.ModelAdapter] accepts.
        X: ``(n_samples, n_features)`` hold-out inputs (array or data frame).
        y: ``(n_samples,)`` their true labels or values.
        risks: target selective risks in (0, 1), one threshold each (classifiers).
        delta: allowed probability that the calibration draw misleads each risk threshold.
        cost_error: cost of a wrong answer (default 1 when ``cost_review`` is given).
        cost_review: cost of sending a row to review; with it, a [`CostRule`][].
        alphas: miscoverage levels of the conformal sets or intervals, each in (0, 1).
        cal_size: share of the scored rows used to calibrate, in (0, 1).
        seed: seed of the split.

    Returns:
        An [`AuditResult`][].

    Raises:
        AuditError: bad settings, a model that cannot score ``X``, labels that are not its
            classes, or too few rows for the two parts.
    """
    _check_settings(risks, delta, cost_error, cost_review, alphas, cal_size)
    if cost_error is not None and cost_review is None:
        raise AuditError("--cost-error needs --cost-review (the cost of a human review).")
    try:
        adapter = ModelAdapter(model)
    except GuardrailsError as exc:
        raise AuditError(f"cannot use the loaded object as a model: {exc}") from None
    y_arr = np.asarray(y)
    n = len(y_arr)
    try:
        d = adapter.decide(X)
    except Exception as exc:
        raise AuditError(
            f"the model could not score the features: {type(exc).__name__}: {exc}"
        ) from None
    if len(d) != n:
        raise AuditError(f"got {len(d)} model outputs for {n} labelled rows.")
    name = type(model).__name__
    if adapter.task == "regression":
        if risks or cost_review is not None:
            raise AuditError(
                f"--risk and --cost-* choose abstention thresholds for classifiers; {name} "
                "is a regressor (its audit gives conformal interval widths at each --alpha)."
            )
        return _audit_regressor(name, d, y_arr, alphas, cal_size, seed)
    return _audit_classifier(
        name, adapter, d, y_arr, risks, delta, cost_error, cost_review, alphas, cal_size, seed
    )


def _check_settings(
    risks: Sequence[float],
    delta: float,
    cost_error: float | None,
    cost_review: float | None,
    alphas: Sequence[float],
    cal_size: float,
) -> None:
    def unit(flag: str, value: float) -> None:
        if not (isinstance(value, (int, float)) and 0.0 < value < 1.0):
            raise AuditError(f"{flag} must be a number in (0, 1); got {value!r}.")

    for r in risks:
        unit("--risk", r)
    for a in alphas:
        unit("--alpha", a)
    unit("--delta", delta)
    unit("--cal-size", cal_size)
    for flag, value in (("--cost-error", cost_error), ("--cost-review", cost_review)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise AuditError(f"{flag} must be a positive number; got {value!r}.")


def _unscored(d: Decisions) -> str:
    details = [str(x) for x in (d.detail if d.detail is not None else []) if x]
    return details[0] if details else "no detail"


def _split(
    n: int, cal_size: float, seed: int, strata: NDArray[Any] | None
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    from sklearn.model_selection import train_test_split

    n_cal = round(cal_size * n)
    if min(n_cal, n - n_cal) < MIN_PART_ROWS:
        raise AuditError(
            f"too few scored rows: {n} split at --cal-size {cal_size:g} gives {n_cal} to "
            f"calibrate and {n - n_cal} to evaluate; each part needs at least {MIN_PART_ROWS}."
        )
    rows = np.arange(n)
    try:
        cal, ev = train_test_split(rows, train_size=n_cal, random_state=seed, stratify=strata)
    except ValueError:  # a class too rare to stratify: a plain random split
        cal, ev = train_test_split(rows, train_size=n_cal, random_state=seed)
    return np.sort(cal), np.sort(ev)


def _audit_regressor(
    name: str,
    d: Decisions,
    y: NDArray[Any],
    alphas: Sequence[float],
    cal_size: float,
    seed: int,
) -> AuditResult:
    try:
        yf = y.astype(np.float64)
    except (TypeError, ValueError):
        raise AuditError(
            f"{name} is a regressor but the target column is not numeric (dtype {y.dtype})."
        ) from None
    pred = np.asarray(d.prediction, dtype=np.float64)
    ok = ~d.abstained & np.isfinite(pred)
    if not ok.any():
        raise AuditError(f"the model could not score the features: {_unscored(d)}")
    rows = np.flatnonzero(ok)
    cal, ev = _split(rows.shape[0], cal_size, seed, None)
    d_ok = d.take(rows)
    y_ok = yf[rows]
    d_cal, d_ev = d_ok.take(cal), d_ok.take(ev)
    summaries = []
    notes = []
    for alpha in alphas:
        try:
            policy = ConformalIntervals(alpha).fit(d_cal, y_ok[cal])
        except GuardrailsError as exc:
            notes.append(f"alpha={alpha:g}: {exc}")
            continue
        interval = policy.intervals(d_ev)
        inside = (interval[:, 0] <= y_ok[ev]) & (y_ok[ev] <= interval[:, 1])
        width = float(np.mean(interval[:, 1] - interval[:, 0]))
        summaries.append(
            ConformalSummary(alpha=alpha, coverage=float(inside.mean()), mean_width=width)
        )
    err = pred[rows][ev] - y_ok[ev]
    first = summaries[0].alpha if summaries else None
    code = None if first is None else f"guard(model).abstain(ConformalIntervals({first!r}))"
    return AuditResult(
        task="regression",
        model=name,
        n_rows=len(y),
        n_unscored=int((~ok).sum()),
        n_calibration=len(cal),
        n_evaluation=len(ev),
        seed=seed,
        criterion=None,
        recommended_calibration=None,
        calibration=(),
        operating_points=(),
        conformal=tuple(summaries),
        baseline={"MAE": float(np.mean(np.abs(err))), "RMSE": float(np.sqrt(np.mean(err**2)))},
        notes=tuple(notes),
        guard_code=code,
    )


def _label_columns(y: NDArray[Any], classes: NDArray[Any]) -> NDArray[np.intp]:
    """Column of each label in ``classes``; labels that match only as text count too."""
    idx = label_index(y, classes)
    if (idx < 0).any():  # e.g. classes "0"/"1" in the model, integers in the CSV
        lookup = {str(c): i for i, c in enumerate(classes.tolist())}
        text = np.array([lookup.get(str(v), -1) for v in y.tolist()], dtype=np.intp)
        idx = np.where(idx >= 0, idx, text)
    if (idx < 0).any():
        unknown = sorted({str(v) for v in y[idx < 0].tolist()})
        raise AuditError(
            f"the target column holds labels that are not among the model's classes "
            f"{_listing(classes.tolist())}: {_listing(unknown, 5)}."
        )
    return idx


def _calibrated(p: NDArray[np.float64], classes: NDArray[Any]) -> Decisions:
    top = np.argmax(p, axis=1)
    return Decisions(
        prediction=classes[top],
        proba=p,
        confidence=p[np.arange(p.shape[0]), top],
        classes=classes,
    )


def _audit_classifier(
    name: str,
    adapter: ModelAdapter,
    d: Decisions,
    y: NDArray[Any],
    risks: Sequence[float],
    delta: float,
    cost_error: float | None,
    cost_review: float | None,
    alphas: Sequence[float],
    cal_size: float,
    seed: int,
) -> AuditResult:
    classes = adapter.classes_
    if len(d) and d.abstained.all():
        raise AuditError(f"the model could not score the features: {_unscored(d)}")
    if classes is None or (d.proba is None and d.scores is None):
        raise AuditError(
            f"{name} gives labels only; an audit needs probabilities (predict_proba) or "
            "scores (decision_function) to calibrate and to rank by confidence."
        )
    if d.proba is not None:
        Z = logits_from_proba(np.nan_to_num(d.proba, nan=0.0))
        raw = np.asarray(d.proba, dtype=np.float64)
        finite: NDArray[np.bool_] = np.asarray(np.isfinite(raw).all(axis=1))
    else:
        Z = np.asarray(d.scores, dtype=np.float64)
        finite = np.asarray(np.isfinite(Z).all(axis=1))
        raw = np.asarray(softmax(np.where(finite[:, None], Z, 0.0), axis=1))
    ok = ~d.abstained & finite
    if not ok.any():
        raise AuditError(f"the model could not score the features: {_unscored(d)}")
    rows = np.flatnonzero(ok)
    yi = _label_columns(y[rows], classes)
    Z, raw = Z[rows], raw[rows]
    counts = np.bincount(yi, minlength=len(classes))
    strata = yi if counts[counts > 0].min() >= 2 else None
    cal, ev = _split(rows.shape[0], cal_size, seed, strata)
    notes: list[str] = []
    if ok.sum() < len(y):
        notes.append(
            f"{len(y) - int(ok.sum())} rows got no usable output from the model and were "
            f"left out (first reason: {_unscored(d.take(np.flatnonzero(~ok)))})."
        )

    # 1. calibration: every method on the calibration part, scored on the evaluation part
    before = CalibrationScores.measure(yi[ev], raw[ev], BINS, "uniform")
    scores = [MethodScore("none", before.ece, before.brier, before.nll, before.accuracy)]
    probas: dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]] = {
        "none": (raw[cal], raw[ev])
    }
    for method in METHODS:
        if method == "isotonic" and len(cal) < ISOTONIC_MIN_SAMPLES:
            note = (
                f"only {len(cal)} calibration rows; isotonic regression overfits under "
                f"{ISOTONIC_MIN_SAMPLES}"
            )
            scores.append(MethodScore(method, None, None, None, None, note))
            continue
        calibrator = make_calibrator(method)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                calibrator.fit(Z[cal], yi[cal])
                p_cal, p_ev = calibrator.transform(Z[cal]), calibrator.transform(Z[ev])
            except GuardrailsError as exc:
                scores.append(MethodScore(method, None, None, None, None, f"failed: {exc}"))
                continue
        notes.extend(f"{method}: {w.message}" for w in caught)
        s = CalibrationScores.measure(yi[ev], p_ev, BINS, "uniform")
        scores.append(MethodScore(method, s.ece, s.brier, s.nll, s.accuracy))
        probas[method] = (p_cal, p_ev)
    fitted = [m for m in scores if m.nll is not None]
    best = min(fitted, key=lambda m: m.nll if m.nll is not None else math.inf).method
    p_cal, p_ev = probas[best]
    d_cal, d_ev = _calibrated(p_cal, classes), _calibrated(p_ev, classes)
    y_cal, y_ev = classes[yi[cal]], classes[yi[ev]]
    wrong_ev = d_ev.prediction != y_ev

    # 2. abstention thresholds, fitted on the calibration part, realized on the evaluation
    points: list[OperatingPoint] = []
    for r in risks:
        policy = RiskControlledThreshold(r, delta=delta)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            policy.fit(d_cal, y_cal)
        answered = ~policy.evaluate(d_ev).abstain
        points.append(
            _point(
                "risk",
                f"risk <= {r:g} (delta {delta:g})",
                repr(policy),
                float(policy.threshold_),
                answered,
                wrong_ev,
                target_risk=r,
                note="; ".join(str(w.message) for w in caught) or None,
            )
        )
    if cost_review is not None:
        c_err = 1.0 if cost_error is None else cost_error
        rule = CostRule(cost_review=cost_review, cost_error=c_err)
        answered = ~rule.evaluate(d_ev).abstain
        cost = c_err * float((answered & wrong_ev).sum()) + cost_review * float((~answered).sum())
        threshold = max(1.0 - cost_review / c_err, 0.0)
        points.append(
            _point(
                "cost",
                f"cost error {c_err:g}, review {cost_review:g}",
                repr(rule),
                threshold,
                answered,
                wrong_ev,
                expected_cost=cost / len(ev),
            )
        )
        notes.append(
            f"cost per row on the evaluation part: answer all {c_err * wrong_ev.mean():.4g}, "
            f"review all {cost_review:.4g}, the cost rule {cost / len(ev):.4g}."
        )

    # 3. conformal prediction sets
    sets_summary: list[ConformalSummary] = []
    per_class = None
    for alpha in alphas:
        try:
            sets = ConformalSets(alpha, max_set_size=None).fit(d_cal, y_cal).prediction_sets(d_ev)
        except GuardrailsError as exc:
            notes.append(f"conformal sets at alpha={alpha:g}: {exc}")
            continue
        hit: NDArray[np.bool_] = np.asarray(sets[np.arange(len(ev)), yi[ev]], dtype=bool)
        size = set_sizes(sets).astype(np.float64)
        sets_summary.append(
            ConformalSummary(alpha=alpha, coverage=float(hit.mean()), mean_size=float(size.mean()))
        )
        if per_class is None:
            cov_k, size_k = [], []
            for k in range(len(classes)):
                mine = yi[ev] == k
                cov_k.append(float(hit[mine].mean()) if mine.any() else math.nan)
                size_k.append(float(size[mine].mean()) if mine.any() else math.nan)
            per_class = ([str(c) for c in classes.tolist()], cov_k, size_k, 1.0 - alpha)

    evidence = _classifier_evidence(yi[ev], raw[ev], p_ev, best, d_ev, wrong_ev, per_class)
    calibrate = "" if best == "none" else f'.calibrate("{best}")'
    first = next((p for p in points if p.n_answered), None)
    code = f"guard(model){calibrate}" + (f".abstain({first.policy})" if first else "")
    code += ".fit(X_cal, y_cal)"
    return AuditResult(
        task="classification",
        model=name,
        n_rows=len(y),
        n_unscored=int((~ok).sum()),
        n_calibration=len(cal),
        n_evaluation=len(ev),
        seed=seed,
        criterion=CRITERION,
        recommended_calibration=best,
        calibration=tuple(scores),
        operating_points=tuple(points),
        conformal=tuple(sets_summary),
        baseline={"accuracy": float(1.0 - wrong_ev.mean())},
        notes=tuple(notes),
        guard_code=code,
        evidence=evidence,
    )


def _point(
    kind: str,
    target: str,
    policy: str,
    threshold: float | None,
    answered: NDArray[np.bool_],
    wrong: NDArray[np.bool_],
    *,
    expected_cost: float | None = None,
    target_risk: float | None = None,
    note: str | None = None,
) -> OperatingPoint:
    m = int(answered.sum())
    return OperatingPoint(
        kind=kind,
        target=target,
        policy=policy,
        threshold=threshold,
        coverage=m / answered.shape[0],
        selective_risk=float((answered & wrong).sum()) / m if m else None,
        n_answered=m,
        expected_cost=expected_cost,
        target_risk=target_risk,
        note=note,
    )


def _classifier_evidence(
    yi: NDArray[np.intp],
    raw: NDArray[np.float64],
    calibrated: NDArray[np.float64],
    method: str,
    d_ev: Decisions,
    wrong: NDArray[np.bool_],
    per_class: tuple[list[str], list[float], list[float], float] | None,
) -> _Evidence:
    reliability: dict[str, tuple[list[float], list[float], list[int]]] = {}
    ece: dict[str, float] = {}
    curves = {"model as is": raw}
    if method != "none":
        curves[f"after {method}"] = calibrated
    for label, p in curves.items():
        curve = reliability_curve(yi, p, bins=BINS)
        reliability[label] = (
            curve.confidence.tolist(),
            curve.accuracy.tolist(),
            curve.counts.tolist(),
        )
        ece[label] = curve.ece
    assert d_ev.confidence is not None
    cov, risk, _ = risk_coverage_curve(d_ev.confidence, ~wrong)
    return _Evidence(
        reliability=reliability,
        ece=ece,
        risk_coverage=(cov.tolist(), risk.tolist()),
        per_class=per_class,
    )


# --------------------------------------------------------------------------- report


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


def add_audit_parser(sub: Any) -> None:
    """Add the ``audit`` command to ``sub`` (argparse subparsers)."""
    text = "recommend calibration and abstention thresholds for a model on labelled data"
    p: argparse.ArgumentParser = sub.add_parser(
        "audit",
        help=text,
        description=f"{text[0].upper()}{text[1:]}. {_SECURITY}",
    )
    p.add_argument("--model", required=True, metavar="PATH", help="the fitted model file")
    p.add_argument(
        "--loader",
        choices=LOADERS,
        help="how to load --model (required, no default): 'skops' loads only trusted "
        "types; 'joblib' unpickles and CAN RUN ARBITRARY CODE from the file",
    )
    p.add_argument(
        "--trust",
        action="append",
        default=[],
        metavar="TYPE",
        help="with --loader skops, a type to trust beyond skops' defaults (repeatable)",
    )
    p.add_argument(
        "--data", required=True, metavar="CSV", help="labelled hold-out set, a CSV with a header"
    )
    p.add_argument("--target", required=True, metavar="COL", help="the label column of --data")
    p.add_argument(
        "--features",
        metavar="A,B,...",
        help="feature columns in the model's order (default: the model's feature names, "
        "else every column but the target)",
    )
    p.add_argument(
        "--cal-size", type=float, default=0.5, metavar="F", help="share of rows to calibrate on"
    )
    p.add_argument("--seed", type=int, default=0, metavar="N", help="seed of the split")
    p.add_argument(
        "--risk",
        type=float,
        action="append",
        default=[],
        metavar="R",
        help="a target selective risk in (0, 1), one threshold each (repeatable)",
    )
    p.add_argument(
        "--delta",
        type=float,
        default=0.1,
        metavar="D",
        help="allowed chance that a risk threshold misses its target (0.1)",
    )
    p.add_argument("--cost-error", type=float, metavar="X", help="cost of a wrong answer (1)")
    p.add_argument("--cost-review", type=float, metavar="Y", help="cost of a human review")
    p.add_argument(
        "--alpha",
        type=float,
        action="append",
        metavar="A",
        help="conformal miscoverage level (repeatable; default 0.1)",
    )
    p.add_argument(
        "--out",
        default="guardrails-audit.html",
        metavar="HTML",
        help="the report to write (guardrails-audit.html)",
    )
    p.add_argument("--json", action="store_true", help="print the recommendation as JSON")


def run_audit(
    args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run a parsed ``audit`` command; returns the exit code (0, or 2 with a message)."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    try:
        report_path = Path(args.out)
        if not report_path.parent.is_dir():
            raise AuditError(f"--out: folder {str(report_path.parent)!r} does not exist.")
        for flag, path in (("--data", args.data),):
            if not Path(path).is_file():
                raise AuditError(f"{flag}: file {path!r} does not exist (or is not a file).")
        if args.loader == "joblib":
            print(
                f"loading {args.model} with joblib at your request: this runs any code the "
                "file carries.",
                file=err,
            )
        model = load_model(args.model, loader=args.loader, trust=args.trust)
        features = None
        if args.features is not None:
            features = [f.strip() for f in args.features.split(",") if f.strip()]
            if not features:
                raise AuditError("--features is empty; name columns separated by commas.")
        data = read_labelled_csv(args.data, target=args.target, features=features, model=model)
        result = audit(
            model,
            data.X,
            data.y,
            risks=args.risk,
            delta=args.delta,
            cost_error=args.cost_error,
            cost_review=args.cost_review,
            alphas=args.alpha or [0.1],
            cal_size=args.cal_size,
            seed=args.seed,
        )
        notes = list(result.notes)
        if data.n_missing_target:
            notes.insert(
                0, f"{data.n_missing_target} of {data.n_read} rows had no target and were dropped."
            )
        result = _with_notes(result, notes)
        subtitle = f"{Path(args.model).name} on {Path(args.data).name}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            written = build_report(result, subtitle=subtitle).to_html(report_path)
    except (AuditError, GuardrailsError) as exc:
        print(f"guardrails audit: error: {exc}", file=err)
        return EXIT_BAD
    except Exception as exc:  # the user's model or data did something unforeseen
        print(f"guardrails audit: error: {type(exc).__name__}: {exc}", file=err)
        return EXIT_BAD
    where = str(written.resolve())
    if args.json:
        payload = result.to_dict()
        payload["report"] = where
        print(json.dumps(payload, indent=2), file=out)
    else:
        print(result.table(), file=out)
        print(f"\nreport: {where}", file=out)
    return EXIT_OK


def _with_notes(result: AuditResult, notes: list[str]) -> AuditResult:
    from dataclasses import replace

    return replace(result, notes=tuple(notes))
