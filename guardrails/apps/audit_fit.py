"""The audit itself: fit the calibration candidates and thresholds, score them on held-out rows.

The labelled hold-out set is split (seeded) into a calibration part and an evaluation part.
Every calibration method is fitted on the calibration part and scored on the evaluation
part; the one with the lowest negative log-likelihood is recommended. With that
calibration, thresholds are fitted on the calibration part for each target risk and cost,
and their coverage and realized selective risk are measured on the evaluation part.
Regressors get split conformal interval widths.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from guardrails.abstention.conformal import ConformalSets, set_sizes
from guardrails.abstention.intervals import ConformalIntervals
from guardrails.abstention.policies import CostRule, RiskControlledThreshold, label_index
from guardrails.apps.audit_loading import AuditError, _listing
from guardrails.apps.audit_result import (
    CRITERION,
    AuditResult,
    ConformalSummary,
    MethodScore,
    OperatingPoint,
    _Evidence,
)
from guardrails.apps.outcomes import risk_coverage_curve
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

METHODS = ("temperature", "sigmoid", "isotonic", "histogram")
"""Calibration methods the audit tries, besides keeping the model's own probabilities."""

MIN_PART_ROWS = 20
"""Each of the calibration and evaluation parts needs at least this many scored rows."""
BINS = 15


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
