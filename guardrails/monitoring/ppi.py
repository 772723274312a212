"""Prediction-powered accuracy: confidence on every row, corrected by an audit sample's labels.

[`ppi_accuracy`][] estimates the realized accuracy of a set of rows from the calibrated
confidence of all of them and the correctness of the few drawn for review with known
inclusion probabilities (PPI, Angelopoulos et al. 2023; power tuning as in PPI++,
arXiv 2311.01453). See ``guardrails.monitoring.performance`` for the label-free estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from guardrails.core.errors import InvalidInputError
from guardrails.monitoring.estimation import _check_level, _z

__all__ = ["PPIEstimate", "ppi_accuracy"]


@dataclass(frozen=True, slots=True)
class PPIEstimate:
    """Prediction-powered estimate of realized accuracy, beside the labelled-only one.

    Attributes:
        estimate, interval: PPI++ (power-tuned) estimate and its two-sided interval.
        labelled_only, labelled_only_interval: the same design-weighted estimate from the
            labels alone (``lam = 0``).
        label_free: the mean confidence of all rows (the uncorrected estimate).
        lam: the power-tuning weight on the predictions, in [0, 1].
        rows: rows the accuracy is of.
        labelled: labelled rows used.
        level: the intervals' coverage.
    """

    estimate: float
    interval: tuple[float, float]
    labelled_only: float
    labelled_only_interval: tuple[float, float]
    label_free: float
    lam: float
    rows: int
    labelled: int
    level: float


def ppi_accuracy(
    confidence: Any,
    correct: Any,
    labelled_confidence: Any,
    inclusion_probability: Any,
    *,
    level: float = 0.95,
    tune: bool = True,
) -> PPIEstimate:
    """Realized accuracy of a set of rows from confidence on all of them and a few labels.

    The labelled rows are a sample of the ``N`` rows drawn independently per row with
    known inclusion probabilities ``pi`` (the audit draw the review step records). With
    ``f`` the confidence and ``y`` the correctness of a labelled row, the estimate is
    ``lam * mean(f over all rows) + sum((y - lam f) / pi) / sum(1 / pi)``: the
    predictions' mean corrected by the design-weighted mean of the residuals (PPI,
    Angelopoulos et al. 2023). Its variance is the design variance of that weighted mean,
    ``sum((1 - pi) / pi**2 * (r - rbar)**2) / sum(1 / pi)**2``, and ``lam`` minimises it
    (power tuning, PPI++): a weighted regression slope of ``y`` on ``f``, clipped to
    [0, 1]. ``lam = 0`` is the labelled-only estimate, so the tuned interval is never
    wider by its own measure; it stays valid however biased the confidence is (concept
    drift), because the residuals carry the bias.

    Args:
        confidence: ``(N,)`` confidence of every row (the labelled ones included).
        correct: ``(n,)`` bool, whether each labelled row's answer was right.
        labelled_confidence: ``(n,)`` confidence of the labelled rows.
        inclusion_probability: ``(n,)`` each labelled row's probability of being drawn.
        level: coverage of the intervals.
        tune: False fixes ``lam = 1`` (plain PPI).

    Returns:
        A [`PPIEstimate`][]. With no labelled rows the estimates are NaN.

    Raises:
        InvalidInputError: the arrays' shapes disagree or a probability is not in (0, 1].

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> f = rng.uniform(0.6, 1.0, 5000); y = rng.random(5000) < f
        >>> pi = np.full(5000, 0.05); drawn = rng.random(5000) < pi
        >>> est = ppi_accuracy(f, y[drawn], f[drawn], pi[drawn])
        >>> lo, hi = est.interval
        >>> bool(lo < y.mean() < hi), bool(hi - lo < np.subtract(*est.labelled_only_interval[::-1]))
        (True, True)
    """
    level = _check_level("ppi_accuracy", "level", level)
    f_all = np.asarray(confidence, dtype=np.float64)
    y = np.asarray(correct).astype(np.float64)
    f = np.asarray(labelled_confidence, dtype=np.float64)
    pi = np.asarray(inclusion_probability, dtype=np.float64)
    if f_all.ndim != 1 or y.ndim != 1 or y.shape != f.shape or f.shape != pi.shape:
        raise InvalidInputError(
            "ppi_accuracy() needs 1-D confidence, and correct, labelled_confidence and "
            f"inclusion_probability of one length. Got shapes {f_all.shape}, {y.shape}, "
            f"{f.shape}, {pi.shape}."
        )
    if not (np.isfinite(pi).all() and (pi > 0).all() and (pi <= 1).all()):
        raise InvalidInputError(
            "ppi_accuracy() needs every inclusion probability in (0, 1]; rows drawn with an "
            "unknown chance (e.g. withheld rows a budget chose by value) cannot be used."
        )
    if not (np.isfinite(f_all).all() and np.isfinite(f).all()):
        raise InvalidInputError("ppi_accuracy() needs finite confidence on every row.")
    z = _z(level)
    nan2 = (math.nan, math.nan)
    label_free = float(f_all.mean()) if f_all.size else math.nan
    if y.size == 0 or f_all.size == 0:
        return PPIEstimate(math.nan, nan2, math.nan, nan2, label_free, 0.0, f_all.size, 0, level)
    w = 1.0 / pi
    big_w = float(w.sum())
    a = (1.0 - pi) * w * w
    dy = y - float(w @ y) / big_w
    df = f - float(w @ f) / big_w
    if tune:
        denom = float(a @ (df * df))
        lam = float(np.clip(float(a @ (dy * df)) / denom, 0.0, 1.0)) if denom > 0 else 0.0
    else:
        lam = 1.0

    def fit(lam_: float) -> tuple[float, tuple[float, float]]:
        r = y - lam_ * f
        theta = lam_ * float(f_all.mean()) + float(w @ r) / big_w
        dev = dy - lam_ * df
        half = z * math.sqrt(float(a @ (dev * dev))) / big_w
        return theta, (max(theta - half, 0.0), min(theta + half, 1.0))

    theta, ci = fit(lam)
    base, base_ci = fit(0.0)
    return PPIEstimate(theta, ci, base, base_ci, label_free, lam, f_all.size, y.size, level)
