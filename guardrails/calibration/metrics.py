"""Calibration metrics: ECE (top-label and classwise), MCE, Brier, NLL and reliability curves.

Every function takes the true labels ``y_true`` ``(n_samples,)`` and class probabilities
``proba`` ``(n_samples, n_classes)`` (or ``(n_samples,)`` for the positive class of a binary
problem). Labels are column indices ``0 .. n_classes - 1`` unless ``classes`` names the
label of each column.

Binning: ``strategy="uniform"`` splits [0, 1] into ``bins`` equal-width intervals;
``strategy="quantile"`` puts the edges at quantiles of the scores so that bins hold about
the same number of rows (tied scores are never split across bins). Bins are closed on the
right, ``(lo, hi]``, and the first one also holds its lower edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from guardrails.core.errors import ConfigurationError, InvalidInputError

__all__ = [
    "ReliabilityCurve",
    "brier_score",
    "classwise_calibration_error",
    "expected_calibration_error",
    "label_indices",
    "maximum_calibration_error",
    "negative_log_likelihood",
    "reliability_curve",
]

Strategy = Literal["uniform", "quantile"]
_STRATEGIES = ("uniform", "quantile")
_NLL_EPS = 1e-15


@dataclass(frozen=True)
class ReliabilityCurve:
    """The data of a reliability diagram: per bin, mean confidence against frequency.

    Attributes:
        edges: ``(n_bins + 1,)`` bin edges.
        confidence: ``(n_bins,)`` mean predicted probability in each bin (NaN if empty).
        accuracy: ``(n_bins,)`` observed frequency of the event in each bin (NaN if empty).
        counts: ``(n_bins,)`` number of rows in each bin.
    """

    edges: NDArray[np.float64]
    confidence: NDArray[np.float64]
    accuracy: NDArray[np.float64]
    counts: NDArray[np.int64]

    @property
    def gaps(self) -> NDArray[np.float64]:
        """``(n_bins,)`` absolute gap between accuracy and confidence (NaN where empty)."""
        return np.asarray(np.abs(self.accuracy - self.confidence))

    @property
    def ece(self) -> float:
        """Expected calibration error: count-weighted mean gap over non-empty bins."""
        total = int(self.counts.sum())
        if total == 0:
            return float("nan")
        filled = self.counts > 0
        return float((self.counts[filled] * self.gaps[filled]).sum() / total)

    @property
    def mce(self) -> float:
        """Maximum calibration error: the largest gap over non-empty bins."""
        filled = self.counts > 0
        return float(self.gaps[filled].max()) if filled.any() else float("nan")


def label_indices(
    y_true: Any, classes: Sequence[Any] | NDArray[Any] | None, k: int
) -> NDArray[np.intp]:
    """Column index of each label.

    Args:
        y_true: ``(n_samples,)`` labels.
        classes: ``(n_classes,)`` label of each column, or None when the labels already are
            column indices ``0 .. k - 1``.
        k: number of columns.

    Returns:
        ``(n_samples,)`` integer column indices.

    Raises:
        InvalidInputError: a label is not one of the classes (or not a valid index).
    """
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise InvalidInputError(f"labels must be 1-D (n_samples,). Got shape {y.shape}.")
    if classes is None:
        if y.size and y.dtype.kind == "f" and np.all(np.mod(y, 1) == 0):
            y = y.astype(np.int64)
        if y.size and y.dtype.kind not in "iub":
            raise InvalidInputError(
                f"labels of dtype {y.dtype} need classes=[...] naming the label of each "
                "probability column."
            )
        idx = y.astype(np.intp)
        bad = (idx < 0) | (idx >= k)
        if bad.any():
            raise InvalidInputError(
                f"label {y[np.argmax(bad)]!r} is not a column index in [0, {k}); pass "
                "classes=[...] to name the label of each column."
            )
        return idx
    cls = np.asarray(classes)
    if cls.ndim != 1 or cls.shape[0] != k:
        raise InvalidInputError(f"classes must list {k} labels, one per column. Got {cls!r}.")
    try:
        order = np.argsort(cls, kind="stable")
        ordered = cls[order]
        pos = np.clip(np.searchsorted(ordered, y), 0, k - 1)
        found = ordered[pos] == y
        idx = order[pos]
    except (TypeError, ValueError, np.exceptions.DTypePromotionError):
        lookup = {_plain(c): j for j, c in enumerate(cls)}
        got = [lookup.get(_plain(v), -1) for v in y]
        idx = np.asarray(got, dtype=np.intp)
        found = idx >= 0
    found = np.asarray(found, dtype=bool)
    if not found.all():
        unknown = sorted({str(_plain(v)) for v in y[~found]})[:5]
        raise InvalidInputError(
            f"labels {unknown} are not among the classes {[_plain(c) for c in cls]}."
        )
    return np.asarray(idx, dtype=np.intp)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _check_proba(proba: Any) -> NDArray[np.float64]:
    p = np.asarray(proba)
    if p.dtype.kind not in "biuf":
        raise InvalidInputError(f"probabilities must be numbers. Got dtype {p.dtype}.")
    p = p.astype(np.float64, copy=False)
    if p.ndim == 1:
        p = np.column_stack([1.0 - p, p])
    if p.ndim != 2 or p.shape[1] < 2:
        raise InvalidInputError(
            "probabilities must be (n_samples, n_classes) with at least two columns, or "
            f"(n_samples,) for a binary problem. Got shape {np.shape(proba)}."
        )
    if not np.isfinite(p).all():
        raise InvalidInputError("probabilities contain NaN or infinite values.")
    if p.size and (p.min() < -1e-9 or p.max() > 1 + 1e-9):
        raise InvalidInputError(
            f"probabilities must lie in [0, 1]; got values in [{p.min():.4g}, {p.max():.4g}]. "
            "Logits or scores must go through a calibrator first."
        )
    return p


def _prepare(
    y_true: Any, proba: Any, classes: Sequence[Any] | NDArray[Any] | None
) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    p = _check_proba(proba)
    idx = label_indices(y_true, classes, p.shape[1])
    if idx.shape[0] != p.shape[0]:
        raise InvalidInputError(
            f"y_true has {idx.shape[0]} labels but proba has {p.shape[0]} rows."
        )
    if idx.shape[0] == 0:
        raise InvalidInputError("calibration metrics need at least one row.")
    return idx, p


def _check_bins(bins: Any, strategy: Any, owner: str) -> None:
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ConfigurationError(
            f"The 'bins' parameter of {owner} must be a positive int. Got {bins!r} instead."
        )
    if strategy not in _STRATEGIES:
        raise ConfigurationError(
            f"The 'strategy' parameter of {owner} must be one of {list(_STRATEGIES)}. "
            f"Got {strategy!r} instead."
        )


def bin_edges(scores: NDArray[np.float64], bins: int, strategy: Strategy) -> NDArray[np.float64]:
    """``(m + 1,)`` edges for ``scores``: ``bins`` equal-width or equal-mass intervals.

    Equal-mass edges are quantiles of ``scores``. Duplicate quantiles (tied scores) are
    merged, and a value that holds at least a bin's share of the rows gets a bin of its own,
    so the number of bins may differ a little from ``bins``.
    """
    if strategy == "uniform":
        return np.linspace(0.0, 1.0, bins + 1)
    if scores.size == 0:
        return np.array([0.0, 1.0])
    values, repeats = np.unique(
        np.quantile(scores, np.linspace(0.0, 1.0, bins + 1)), return_counts=True
    )
    # a value repeated among the quantiles holds at least a bin's share of the rows (a point
    # mass, such as the 0s and 1s of a deep tree): give it a bin of its own, (just below, v]
    heavy = values[repeats > 1]
    edges = np.union1d(values, np.nextafter(heavy, -np.inf))
    if edges.size == 1:
        edges = np.array([np.nextafter(edges[0], -np.inf), edges[0]])
    return np.asarray(edges, dtype=np.float64)


def _bin_of(scores: NDArray[np.float64], edges: NDArray[np.float64]) -> NDArray[np.intp]:
    """Bin index of each score for right-closed bins ``(lo, hi]`` (the first also holds lo)."""
    return np.asarray(np.searchsorted(edges[1:-1], scores, side="left"), dtype=np.intp)


def _curve(
    scores: NDArray[np.float64], hits: NDArray[np.float64], bins: int, strategy: Strategy
) -> ReliabilityCurve:
    edges = bin_edges(scores, bins, strategy)
    m = edges.size - 1
    which = _bin_of(scores, edges)
    counts = np.bincount(which, minlength=m).astype(np.int64)
    sum_conf = np.bincount(which, weights=scores, minlength=m)
    sum_hit = np.bincount(which, weights=hits, minlength=m)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.where(counts > 0, sum_conf / counts, np.nan)
        acc = np.where(counts > 0, sum_hit / counts, np.nan)
    return ReliabilityCurve(edges=edges, confidence=conf, accuracy=acc, counts=counts)


def reliability_curve(
    y_true: Any,
    proba: Any,
    *,
    classes: Sequence[Any] | NDArray[Any] | None = None,
    bins: int = 15,
    strategy: Strategy = "uniform",
    label: Any = None,
) -> ReliabilityCurve:
    """Reliability diagram data for the top label, or for one class.

    Args:
        y_true: ``(n_samples,)`` true labels.
        proba: ``(n_samples, n_classes)`` probabilities (``(n_samples,)`` for binary).
        classes: ``(n_classes,)`` label of each column; None if labels are column indices.
        bins: number of bins.
        strategy: ``"uniform"`` (equal width) or ``"quantile"`` (equal mass).
        label: None for the top-label curve (confidence of the predicted class against
            accuracy); a class label for that class's curve (its probability against how
            often it is the true class).

    Returns:
        The curve: edges, mean confidence, accuracy and count per bin.

    Raises:
        InvalidInputError: malformed probabilities, or labels that are not classes.
        ConfigurationError: bad ``bins`` or ``strategy``.
    """
    _check_bins(bins, strategy, "reliability_curve")
    idx, p = _prepare(y_true, proba, classes)
    if label is None:
        top = np.argmax(p, axis=1)
        conf = p[np.arange(p.shape[0]), top]
        return _curve(conf, (top == idx).astype(np.float64), bins, strategy)
    j = int(label_indices(np.asarray([label]), classes, p.shape[1])[0])
    return _curve(p[:, j], (idx == j).astype(np.float64), bins, strategy)


def expected_calibration_error(
    y_true: Any,
    proba: Any,
    *,
    classes: Sequence[Any] | NDArray[Any] | None = None,
    bins: int = 15,
    strategy: Strategy = "uniform",
) -> float:
    """Top-label expected calibration error (ECE).

    The confidence of the predicted class is binned; ECE is the mean over bins, weighted
    by bin size, of ``|accuracy - mean confidence|``. 0 is perfect; it is a biased
    estimate (positive on finite samples even for a calibrated model), so compare models
    on the same data and bins.

    Args:
        y_true: ``(n_samples,)`` true labels.
        proba: ``(n_samples, n_classes)`` probabilities (``(n_samples,)`` for binary).
        classes: ``(n_classes,)`` label of each column; None if labels are column indices.
        bins: number of bins.
        strategy: ``"uniform"`` (equal width) or ``"quantile"`` (equal mass).

    Returns:
        ECE in [0, 1].

    Raises:
        InvalidInputError: malformed probabilities, or labels that are not classes.
        ConfigurationError: bad ``bins`` or ``strategy``.

    Examples:
        >>> import numpy as np
        >>> from guardrails import expected_calibration_error
        >>> ece = expected_calibration_error([1, 1, 0, 1], np.array([0.9, 0.9, 0.9, 0.9]), bins=10)
        >>> round(ece, 4)  # said 0.9, was right 0.75 of the time
        0.15
    """
    return reliability_curve(y_true, proba, classes=classes, bins=bins, strategy=strategy).ece


def maximum_calibration_error(
    y_true: Any,
    proba: Any,
    *,
    classes: Sequence[Any] | NDArray[Any] | None = None,
    bins: int = 15,
    strategy: Strategy = "uniform",
) -> float:
    """Top-label maximum calibration error: the largest ``|accuracy - confidence|`` of a bin.

    Arguments, returns and errors as in [`expected_calibration_error`][]. Sensitive to
    sparsely filled bins; read it with the bin counts of [`reliability_curve`][].
    """
    return reliability_curve(y_true, proba, classes=classes, bins=bins, strategy=strategy).mce


def classwise_calibration_error(
    y_true: Any,
    proba: Any,
    *,
    classes: Sequence[Any] | NDArray[Any] | None = None,
    bins: int = 15,
    strategy: Strategy = "uniform",
) -> float:
    """Classwise ECE: the ECE of each class's probability against its frequency, averaged.

    Unlike the top-label ECE it also checks the probabilities of the classes that were
    not predicted. Arguments, returns and errors as in [`expected_calibration_error`][].
    """
    _check_bins(bins, strategy, "classwise_calibration_error")
    idx, p = _prepare(y_true, proba, classes)
    k = p.shape[1]
    per_class = [
        _curve(p[:, j], (idx == j).astype(np.float64), bins, strategy).ece for j in range(k)
    ]
    return float(np.mean(per_class))


def brier_score(
    y_true: Any, proba: Any, *, classes: Sequence[Any] | NDArray[Any] | None = None
) -> float:
    """Brier score: mean over rows of the squared distance between probabilities and one-hot.

    This is Brier's original multiclass definition (sum over all classes), in [0, 2]. For
    a binary problem it is twice scikit-learn's ``brier_score_loss``, which scores only
    the positive class.

    Raises:
        InvalidInputError: malformed probabilities, or labels that are not classes.
    """
    idx, p = _prepare(y_true, proba, classes)
    sq = np.einsum("ij,ij->i", p, p)
    sq -= 2.0 * p[np.arange(p.shape[0]), idx]
    return float(np.mean(sq) + 1.0)


def negative_log_likelihood(
    y_true: Any, proba: Any, *, classes: Sequence[Any] | NDArray[Any] | None = None
) -> float:
    """Mean negative log-likelihood (log loss) of the true class, in nats.

    Probabilities are clipped below at 1e-15 so that one certain wrong answer costs
    about 34.5 nats rather than infinity.

    Raises:
        InvalidInputError: malformed probabilities, or labels that are not classes.
    """
    idx, p = _prepare(y_true, proba, classes)
    true = p[np.arange(p.shape[0]), idx]
    return float(-np.mean(np.log(np.maximum(true, _NLL_EPS))))
