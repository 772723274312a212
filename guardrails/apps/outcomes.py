"""Outcome metrics: what a policy costs and buys, measured on labelled decisions.

Thresholds are chosen from these, not from accuracy: the risk-coverage curve and its
area (AURC), selective accuracy at a coverage, the coverage and size of prediction sets
(overall, per class, per group), and the realized cost of a policy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from guardrails.abstention.policy import _no_candidate
from guardrails.abstention.scores import label_index
from guardrails.core.decisions import Decisions
from guardrails.core.errors import ConfigurationError, InvalidInputError

__all__ = [
    "aurc",
    "coverage",
    "expected_cost",
    "mean_interval_width",
    "mean_set_size",
    "risk_coverage_curve",
    "selective_accuracy",
    "selective_risk",
]


def _pair(confidence: Any, correct: Any) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    c = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct)
    if c.ndim != 1 or ok.shape != c.shape:
        raise InvalidInputError(
            f"confidence and correct must be 1-D of the same length; got shapes {c.shape} "
            f"and {ok.shape}."
        )
    if c.shape[0] == 0:
        raise InvalidInputError("outcome metrics need at least one row.")
    if not np.isfinite(c).all():
        raise InvalidInputError("confidence has NaN or infinite values; drop those rows first.")
    return c, ok.astype(bool)


def risk_coverage_curve(
    confidence: Any, correct: Any
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Selective risk against coverage as the confidence threshold goes down.

    Args:
        confidence: ``(n_samples,)`` score by which rows are answered first (higher first).
        correct: ``(n_samples,)`` bool, whether the model's answer was right.

    Returns:
        ``(coverage, risk, thresholds)``, each ``(n_thresholds,)``: answering the rows with
        confidence >= ``thresholds[i]`` covers a share ``coverage[i]`` of rows with error
        rate ``risk[i]``. One point per distinct confidence value, coverage increasing.

    Examples:
        >>> from guardrails.apps.outcomes import risk_coverage_curve
        >>> cov, risk, t = risk_coverage_curve([0.9, 0.8, 0.6, 0.6], [True, True, False, True])
        >>> cov.tolist(), risk.tolist(), t.tolist()
        ([0.25, 0.5, 1.0], [0.0, 0.0, 0.25], [0.9, 0.8, 0.6])
    """
    c, ok = _pair(confidence, correct)
    order = np.argsort(-c, kind="stable")
    c_desc = c[order]
    errors = np.cumsum(~ok[order])
    last = np.r_[c_desc[1:] != c_desc[:-1], True]  # end of each run of equal confidence
    count = np.flatnonzero(last) + 1
    return count / c.shape[0], errors[last] / count, c_desc[last]


def aurc(confidence: Any, correct: Any) -> float:
    """Area under the risk-coverage curve (lower is better).

    The mean, over ``k = 1..n``, of the error rate of the ``k`` most confident rows; rows
    with equal confidence are taken together (each gets the risk of the whole tie).
    """
    cov, risk, _ = risk_coverage_curve(confidence, correct)
    widths = np.diff(np.r_[0.0, cov])
    return float(np.sum(widths * risk))


def selective_accuracy(confidence: Any, correct: Any, *, coverage: float) -> float:
    """Accuracy on the ``ceil(coverage * n)`` most confident rows.

    Raises:
        ConfigurationError: ``coverage`` is not in (0, 1].
    """
    if not isinstance(coverage, (int, float)) or not 0.0 < coverage <= 1.0:
        raise ConfigurationError(
            f"The 'coverage' parameter of selective_accuracy must be a float in (0, 1]. "
            f"Got {coverage!r} instead."
        )
    c, ok = _pair(confidence, correct)
    k = max(1, int(np.ceil(coverage * c.shape[0] - 1e-9)))
    top = np.argsort(-c, kind="stable")[:k]
    return float(ok[top].mean())


def _labels(d: Decisions, y: Any, owner: str) -> NDArray[Any]:
    arr = np.asarray(y)
    if arr.ndim != 1 or arr.shape[0] != len(d):
        raise InvalidInputError(
            f"{owner} needs one true label per decision: {len(d)} decisions, labels of shape "
            f"{arr.shape}."
        )
    return arr


def selective_risk(d: Decisions, y: Any) -> float:
    """Error rate among the answered rows (NaN when nothing was answered)."""
    y = _labels(d, y, "selective_risk")
    answered = ~d.abstained
    if not answered.any():
        return float("nan")
    return float((d.prediction[answered] != y[answered]).mean())


def _covered(d: Decisions, y: NDArray[Any]) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Per row: whether the set or interval holds the truth, and whether the row has one."""
    if d.pred_set is not None and d.classes is not None:
        j = label_index(y, d.classes)
        has = ~_no_candidate(d)
        covered = (j >= 0) & d.pred_set[np.arange(len(d)), np.maximum(j, 0)]
        return covered, has
    if d.interval is not None:
        yv = y.astype(np.float64)
        lo, hi = d.interval[:, 0], d.interval[:, 1]
        has = ~np.isnan(lo) & ~np.isnan(hi)
        return (lo <= yv) & (yv <= hi), has
    raise ConfigurationError(
        "coverage needs decisions with prediction sets (pred_set) or intervals (interval)."
    )


def _by_group(
    values: NDArray[np.float64], has: NDArray[np.bool_], groups: Any, n: int
) -> float | dict[Any, float]:
    if groups is None:
        return float(values[has].mean()) if has.any() else float("nan")
    g = np.asarray(groups)
    if g.shape != (n,):
        raise InvalidInputError(f"groups must give one group per row, shape ({n},); got {g.shape}.")
    out: dict[Any, float] = {}
    for key in np.unique(g[has]):
        mask = has & (g == key)
        out[key.item() if isinstance(key, np.generic) else key] = float(values[mask].mean())
    return out


def coverage(d: Decisions, y: Any, *, groups: Any = None) -> float | dict[Any, float]:
    """Share of rows whose prediction set (or interval) holds the true answer.

    Rows where the model never ran (invalid input, model error) are left out.

    Args:
        d: decisions with ``pred_set`` or ``interval``.
        y: ``(n_samples,)`` true labels or values.
        groups: ``(n_samples,)`` group of each row; pass ``y`` for per-class coverage.

    Returns:
        The overall coverage, or ``{group: coverage}`` when ``groups`` is given.
    """
    y = _labels(d, y, "coverage")
    covered, has = _covered(d, y)
    return _by_group(covered.astype(np.float64), has, groups, len(d))


def mean_set_size(d: Decisions, *, groups: Any = None) -> float | dict[Any, float]:
    """Mean number of labels in the prediction sets (overall or ``{group: size}``)."""
    if d.pred_set is None:
        raise ConfigurationError("mean_set_size needs decisions with prediction sets (pred_set).")
    size = d.pred_set.sum(axis=1).astype(np.float64)
    return _by_group(size, ~_no_candidate(d), groups, len(d))


def mean_interval_width(d: Decisions, *, groups: Any = None) -> float | dict[Any, float]:
    """Mean width of the prediction intervals (overall or ``{group: width}``)."""
    if d.interval is None:
        raise ConfigurationError("mean_interval_width needs decisions with intervals.")
    width = d.interval[:, 1] - d.interval[:, 0]
    return _by_group(width, ~np.isnan(width), groups, len(d))


def expected_cost(
    d: Decisions,
    y: Any,
    *,
    cost_review: float,
    cost_error: float = 1.0,
    cost_matrix: Any = None,
) -> float:
    """Mean realized cost per row: each withheld row costs ``cost_review``; each answered
    row costs ``cost_error`` when wrong (or ``cost_matrix[true, answer]``), else 0.

    Args:
        d: the decisions of a policy.
        y: ``(n_samples,)`` true labels.
        cost_review: the cost of a withheld row (sent to review).
        cost_error: the cost of a wrong answer, without a cost matrix.
        cost_matrix: ``(n_classes, n_classes)`` cost by true label (row) and answer
            (column), in the order of ``d.classes``.
    """
    y = _labels(d, y, "expected_cost")
    n = len(d)
    if n == 0:
        raise InvalidInputError("expected_cost needs at least one decision.")
    cost = np.full(n, float(cost_review))
    answered = ~d.abstained
    if cost_matrix is None:
        cost[answered] = np.where(d.prediction[answered] != y[answered], cost_error, 0.0)
    else:
        matrix = np.asarray(cost_matrix, dtype=np.float64)
        if d.classes is None or matrix.shape != (len(d.classes), len(d.classes)):
            raise ConfigurationError(
                "The 'cost_matrix' parameter of expected_cost must be (n_classes, n_classes) "
                "in the order of the decisions' classes."
            )
        ti = label_index(y[answered], d.classes)
        pi = label_index(d.prediction[answered], d.classes)
        if (ti < 0).any() or (pi < 0).any():
            raise InvalidInputError("expected_cost got labels that are not among the classes.")
        cost[answered] = matrix[ti, pi]
    return float(cost.mean())
