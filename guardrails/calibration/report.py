"""Calibration reports: measure a guard's calibration, and refit its calibrator on fresh labels."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from guardrails.calibration.base import softmax
from guardrails.calibration.layer import Calibrated, _logits
from guardrails.calibration.metrics import (
    Strategy,
    _check_bins,
    _prepare,
    brier_score,
    classwise_calibration_error,
    label_indices,
    maximum_calibration_error,
    negative_log_likelihood,
    reliability_curve,
)
from guardrails.core.errors import ConfigurationError, InvalidInputError
from guardrails.core.layer import Layer

__all__ = [
    "CalibrationReport",
    "CalibrationScores",
    "calibration_report",
]


@dataclass(frozen=True)
class CalibrationScores:
    """Calibration and accuracy of one set of probabilities on a labelled set.

    Attributes:
        ece: top-label expected calibration error.
        classwise_ece: classwise ECE.
        mce: top-label maximum calibration error.
        brier: Brier score (sum over classes, in [0, 2]).
        nll: mean negative log-likelihood in nats.
        accuracy: share of rows whose top class is the true one.
    """

    ece: float
    classwise_ece: float
    mce: float
    brier: float
    nll: float
    accuracy: float

    @classmethod
    def measure(
        cls, idx: NDArray[np.intp], proba: NDArray[np.float64], bins: int, strategy: Strategy
    ) -> CalibrationScores:
        """Every score of ``proba`` ``(n, k)`` against column indices ``idx`` ``(n,)``."""
        curve = reliability_curve(idx, proba, bins=bins, strategy=strategy)
        return cls(
            ece=curve.ece,
            classwise_ece=classwise_calibration_error(idx, proba, bins=bins, strategy=strategy),
            mce=maximum_calibration_error(idx, proba, bins=bins, strategy=strategy),
            brier=brier_score(idx, proba),
            nll=negative_log_likelihood(idx, proba),
            accuracy=float((np.argmax(proba, axis=1) == idx).mean()),
        )


@dataclass(frozen=True)
class CalibrationReport:
    """How well a guard's probabilities match frequencies on a labelled set.

    Attributes:
        n_rows: rows in the labelled set.
        n_used: rows with finite model output, on which everything is measured.
        bins: number of bins of the ECE and MCE.
        strategy: ``"uniform"`` or ``"quantile"`` bins.
        method: the calibrator's repr, or None when the guard has no calibrate step.
        before: scores of the model's own probabilities (scores through a softmax).
        after: scores of the calibrated probabilities; None without a calibrate step.
    """

    n_rows: int
    n_used: int
    bins: int
    strategy: str
    method: str | None
    before: CalibrationScores
    after: CalibrationScores | None

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data."""
        return {
            "n_rows": self.n_rows,
            "n_used": self.n_used,
            "bins": self.bins,
            "strategy": self.strategy,
            "method": self.method,
            "before": vars(self.before).copy(),
            "after": None if self.after is None else vars(self.after).copy(),
        }

    def __str__(self) -> str:
        head = (
            f"calibration on {self.n_used} of {self.n_rows} rows "
            f"({self.bins} {self.strategy} bins, method={self.method})"
        )
        lines = [head, f"{'metric':<14}{'before':>10}{'after':>10}"]
        for key in ("ece", "classwise_ece", "mce", "brier", "nll", "accuracy"):
            before = getattr(self.before, key)
            after = "-" if self.after is None else f"{getattr(self.after, key):.4f}"
            lines.append(f"{key:<14}{before:>10.4f}{after:>10}")
        return "\n".join(lines)


def calibration_report(
    layer: Layer, X: Any, y: Any, *, bins: int = 15, strategy: Strategy = "uniform"
) -> CalibrationReport:
    """Measure a guard's calibration on a labelled set, before and after its calibrate step.

    Use data that neither the model nor the calibrator has seen. Rows that the model did
    not answer with finite output (invalid input, model errors) are left out and counted.

    Args:
        layer: a guard (or any layer) with or without a [`Calibrated`][] layer.
        X: a batch of inputs.
        y: ``(n_samples,)`` true labels.
        bins: number of bins for ECE and MCE.
        strategy: ``"uniform"`` (equal width) or ``"quantile"`` (equal mass).

    Returns:
        A [`CalibrationReport`][]. Without a calibrate step, ``before`` measures the
        guard's output probabilities and ``after`` is None.

    Raises:
        ConfigurationError: bad ``bins`` or ``strategy``, or a guard without probabilities.
        InvalidInputError: labels that are not the model's classes, or no usable row.
        NotFittedError: the guard is not fitted.
    """
    _check_bins(bins, strategy, "calibration_report")
    y_arr = np.asarray(y)
    calibrated = next((x for x in layer.layers() if isinstance(x, Calibrated)), None)
    source = layer if calibrated is None else calibrated.inner
    d_in = source.decide(X)
    if y_arr.ndim != 1 or y_arr.shape[0] != len(d_in):
        raise InvalidInputError(
            f"calibration_report needs one label per row: {len(d_in)} rows, labels of shape "
            f"{y_arr.shape}."
        )
    Z = _logits(d_in)
    if Z is None:
        raise ConfigurationError(
            "calibration_report needs probabilities or scores; this guard gives "
            f"{sorted(layer.provides)} (or answered no row)."
        )
    ok = np.isfinite(Z).all(axis=1)
    if not ok.any():
        raise InvalidInputError("calibration_report: the model answered no row with output.")
    idx = label_indices(y_arr[ok], d_in.classes, Z.shape[1])
    before_p = np.asarray(d_in.proba)[ok] if d_in.proba is not None else softmax(Z[ok], axis=1)
    _prepare(idx, before_p, None)
    before = CalibrationScores.measure(idx, before_p, bins, strategy)
    after = None
    method = None
    if calibrated is not None:
        after_p = calibrated.calibrator.transform(Z[ok])
        after = CalibrationScores.measure(idx, after_p, bins, strategy)
        method = repr(calibrated.calibrator)
    return CalibrationReport(
        n_rows=len(d_in),
        n_used=int(ok.sum()),
        bins=bins,
        strategy=strategy,
        method=method,
        before=before,
        after=after,
    )


@dataclass(frozen=True)
class RecalibrationReport:
    """What refitting a guard's calibrator on fresh labelled data did.

    ``before`` and ``after`` are measured on the same held-out share of the fresh rows:
    the old calibrator against one fitted on the other rows. The layer then keeps a
    calibrator refitted on all usable rows.

    Attributes:
        n_cases: labelled rows offered.
        n_used: rows the model answered with finite output (redacted or invalid inputs
            cannot be replayed and are left out).
        n_evaluated: held-out rows ``before`` and ``after`` are measured on.
        before: scores of the calibrator in use before the refit.
        after: scores of the refitted calibrator.
    """

    n_cases: int
    n_used: int
    n_evaluated: int
    before: CalibrationScores
    after: CalibrationScores

    def __str__(self) -> str:
        lines = [
            f"recalibration on {self.n_used} of {self.n_cases} labelled rows "
            f"(measured on {self.n_evaluated} held out)",
            f"{'metric':<14}{'before':>10}{'after':>10}",
        ]
        for key in ("ece", "brier", "nll", "accuracy"):
            before, after = getattr(self.before, key), getattr(self.after, key)
            lines.append(f"{key:<14}{before:>10.4f}{after:>10.4f}")
        return "\n".join(lines)


def recalibrate(
    layer: Layer,
    X: Any,
    y: Any,
    *,
    holdout: float = 0.3,
    bins: int = 15,
    seed: int = 0,
) -> RecalibrationReport:
    """Refit the calibrator of ``layer`` on fresh labelled data; report ECE before/after.

    The model is replayed on ``X`` (the layers below the calibrator), a new calibrator of
    the same kind is fitted on ``1 - holdout`` of the usable rows and compared with the
    current one on the rest, then refitted on every usable row and swapped in atomically
    (decisions in flight keep the calibrator they started with).

    Args:
        layer: a guard (or layer) with a [`Calibrated`][] layer, already fitted.
        X: ``(n_samples, n_features)`` inputs with known labels.
        y: ``(n_samples,)`` true labels.
        holdout: share of rows kept aside to measure before and after, in (0, 1).
        bins: bins for ECE.
        seed: seed of the held-out split.

    Raises:
        ConfigurationError: no calibrate step, or a bad ``holdout``.
        InvalidInputError: fewer than 20 usable rows, or labels outside the classes.
    """
    if not isinstance(holdout, float) or not 0.0 < holdout < 1.0:
        raise ConfigurationError(
            f"The 'holdout' parameter of recalibrate must be a float in (0, 1). Got {holdout!r}."
        )
    calibrated = next((x for x in layer.layers() if isinstance(x, Calibrated)), None)
    if calibrated is None:
        raise ConfigurationError(
            "recalibrate needs a guard with a calibrate step (.calibrate(...))."
        )
    calibrated.check_fitted()
    y_arr = np.asarray(y)
    d_in = calibrated.inner.decide(X)
    if y_arr.ndim != 1 or y_arr.shape[0] != len(d_in):
        raise InvalidInputError(
            f"recalibrate needs one label per row: {len(d_in)} rows, labels of shape {y_arr.shape}."
        )
    Z = _logits(d_in)
    ok = np.zeros(len(d_in), dtype=bool) if Z is None else np.isfinite(Z).all(axis=1)
    if Z is None or ok.sum() < 20:
        raise InvalidInputError(
            f"recalibrate needs at least 20 rows the model can answer; got {int(ok.sum())} "
            f"of {len(d_in)} ({d_in.reason_counts()})."
        )
    idx = label_indices(y_arr[ok], d_in.classes, Z.shape[1])
    Z = Z[ok]
    rng = np.random.default_rng(seed)
    order = rng.permutation(Z.shape[0])
    n_eval = max(1, round(holdout * Z.shape[0]))
    evaluate, train = order[:n_eval], order[n_eval:]
    candidate = copy.deepcopy(calibrated.calibrator)
    candidate.fit(Z[train], idx[train])
    before = CalibrationScores.measure(
        idx[evaluate], calibrated.calibrator.transform(Z[evaluate]), bins, "uniform"
    )
    after = CalibrationScores.measure(
        idx[evaluate], candidate.transform(Z[evaluate]), bins, "uniform"
    )
    final = copy.deepcopy(calibrated.calibrator)
    final.fit(Z, idx)
    calibrated.calibrator = final  # one reference swap: readers see old or new, never half
    return RecalibrationReport(
        n_cases=len(d_in),
        n_used=int(Z.shape[0]),
        n_evaluated=int(n_eval),
        before=before,
        after=after,
    )
