"""Label-free performance estimation (CBPE): the estimate, its window state, the loss model.

How well the model does *now*, before labels arrive:

- [`estimate_performance`][] (and [`PerformanceState`][], its mergeable window form):
  the label-free, confidence-based estimate (CBPE). With calibrated probabilities the
  predicted class is right with probability ``p`` (the confidence), so the expected
  accuracy of a batch is the mean of ``p`` and its realized accuracy varies around it
  with variance ``sum(p * (1 - p)) / n**2`` (a sum of independent Bernoulli draws). For
  a binary model the expected confusion matrix gives precision, recall and F1. For a
  regressor a [`LossModel`][] fitted on reference data maps each prediction to its
  expected absolute error (weaker: it assumes the error given the prediction does not
  change).
- [`ppi_accuracy`][] (module ``ppi``): the same accuracy corrected by an audit sample's
  labels (PPI++), valid where this estimate is biased (concept drift).

The rule that makes the estimate act inside a monitor is in module ``performance``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from guardrails.core.decisions import Decisions
from guardrails.core.errors import ConfigurationError, InvalidInputError
from guardrails.core.persistence import persistable

if TYPE_CHECKING:
    from guardrails.core.persistence import Decoder, Encoder

__all__ = [
    "METRICS",
    "LossModel",
    "PerformanceEstimate",
    "PerformanceState",
    "estimate_performance",
    "estimate_performance_chunks",
]

METRICS = ("accuracy_answered", "accuracy_all", "mae")
# Columns of the per-row sums a state keeps (all additive, so states merge by addition).
_ROWS, _ANS, _P_ALL, _V_ALL, _P_ANS, _V_ANS, _TP, _FP, _FN, _LOSS, _LOSS_V, _HAS_P = range(12)
_K = 12
_NORMAL = NormalDist()


def _z(level: float) -> float:
    """Two-sided normal quantile for ``level`` (e.g. 1.96 for 0.95)."""
    return _NORMAL.inv_cdf(0.5 + level / 2.0)


def _check_level(owner: str, name: str, level: Any) -> float:
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ConfigurationError(
            f"The '{name}' parameter of {owner} must be a float in (0, 1). Got {level!r} instead."
        )
    return float(level)


# -- regression: a loss model -------------------------------------------------------------


@persistable
class LossModel:
    """Expected absolute error of a regressor given its prediction, fitted on reference data.

    The predictions of labelled reference rows are cut into ``bins`` quantile bins; each
    bin keeps the mean and variance of ``|prediction - label|``. A new row's expected
    error is its bin's mean. This is weaker than the classifier estimate: it assumes the
    error given the prediction is what it was on the reference data, which covariate
    shift into a region of different noise, or any concept drift, breaks.

    Args:
        bins: number of quantile bins of the prediction (>= 1).

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> pred = rng.normal(size=2000); label = pred + rng.normal(size=2000)
        >>> model = LossModel(bins=5).fit(pred, label)
        >>> round(float(model.expected_error(pred).mean()), 1)
        0.8
    """

    def __init__(self, *, bins: int = 10) -> None:
        if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
            raise ConfigurationError(
                f"The 'bins' parameter of LossModel must be an int >= 1. Got {bins!r} instead."
            )
        self.bins = bins

    def fit(self, predictions: Any, labels: Any) -> LossModel:
        """Fit on reference ``(n,)`` predictions and their ``(n,)`` true values."""
        pred = np.asarray(predictions, dtype=np.float64)
        true = np.asarray(labels, dtype=np.float64)
        if pred.ndim != 1 or pred.shape != true.shape or pred.size < 2 * self.bins:
            raise InvalidInputError(
                "LossModel.fit() needs 1-D predictions and labels of the same length, at "
                f"least {2 * self.bins} rows. Got shapes {pred.shape} and {true.shape}."
            )
        ok = np.isfinite(pred) & np.isfinite(true)
        pred, err = pred[ok], np.abs(pred[ok] - true[ok])
        edges = np.unique(np.quantile(pred, np.linspace(0, 1, self.bins + 1)[1:-1]))
        slot = np.searchsorted(edges, pred, side="right")
        count = np.bincount(slot, minlength=edges.size + 1).astype(np.float64)
        total = np.bincount(slot, err, minlength=edges.size + 1)
        square = np.bincount(slot, err * err, minlength=edges.size + 1)
        mean = total / np.maximum(count, 1.0)
        self.edges_ = edges
        self.mean_ = mean
        self.var_ = np.maximum(square / np.maximum(count, 1.0) - mean * mean, 0.0)
        return self

    def _slots(self, predictions: Any) -> NDArray[np.intp]:
        if not hasattr(self, "edges_"):
            raise ConfigurationError("This LossModel is not fitted yet; call fit() first.")
        pred = np.asarray(predictions, dtype=np.float64)
        return np.searchsorted(self.edges_, pred, side="right")

    def expected_error(self, predictions: Any) -> NDArray[np.float64]:
        """``(n,)`` expected absolute error of each prediction."""
        slots = self._slots(predictions)
        out: NDArray[np.float64] = self.mean_[slots]
        return out

    def error_variance(self, predictions: Any) -> NDArray[np.float64]:
        """``(n,)`` variance of the absolute error of each prediction."""
        slots = self._slots(predictions)
        out: NDArray[np.float64] = self.var_[slots]
        return out

    def __repr__(self) -> str:
        return f"LossModel(bins={self.bins!r})"

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        state: dict[str, Any] = {"bins": self.bins}
        if hasattr(self, "edges_"):
            state["edges"] = self.edges_.tolist()
            state["mean"] = self.mean_.tolist()
            state["var"] = self.var_.tolist()
        return state

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> LossModel:
        model = cls(bins=state["bins"])
        if "edges" in state:
            model.edges_ = np.asarray(state["edges"], dtype=np.float64)
            model.mean_ = np.asarray(state["mean"], dtype=np.float64)
            model.var_ = np.asarray(state["var"], dtype=np.float64)
        return model


# -- the label-free estimate ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PerformanceEstimate:
    """The label-free estimate of one batch or window.

    Intervals are two-sided at ``level``, from the per-row variance (normal
    approximation), clipped to [0, 1] for accuracies. A metric that does not apply
    (precision without a positive class, accuracy of a regressor, anything on zero rows)
    is NaN.

    Attributes:
        rows: rows in the batch (with an output).
        answered: rows answered (not withheld).
        accuracy_answered, accuracy_answered_interval: expected accuracy of answered rows.
        accuracy_all, accuracy_all_interval: expected accuracy of all rows with an output
            (what the model's accuracy would be if nothing were withheld).
        precision, recall, f1: of the answered rows, from the expected confusion matrix
            (binary models with a ``positive`` class).
        mae, mae_interval: expected absolute error of answered rows (regressors with a
            [`LossModel`][]).
        level: the intervals' coverage.
    """

    rows: int
    answered: int
    accuracy_answered: float
    accuracy_answered_interval: tuple[float, float]
    accuracy_all: float
    accuracy_all_interval: tuple[float, float]
    precision: float
    recall: float
    f1: float
    mae: float
    mae_interval: tuple[float, float]
    level: float

    def value(self, metric: str) -> tuple[float, float, float]:
        """``(estimate, lower, upper)`` of ``metric`` (one of [`METRICS`][])."""
        if metric == "accuracy_answered":
            return (self.accuracy_answered, *self.accuracy_answered_interval)
        if metric == "accuracy_all":
            return (self.accuracy_all, *self.accuracy_all_interval)
        if metric == "mae":
            return (self.mae, *self.mae_interval)
        raise ConfigurationError(f"Unknown metric {metric!r}; expected one of {list(METRICS)}.")

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (for events and reports)."""
        return {
            "rows": self.rows,
            "answered": self.answered,
            "accuracy_answered": self.accuracy_answered,
            "accuracy_answered_interval": list(self.accuracy_answered_interval),
            "accuracy_all": self.accuracy_all,
            "accuracy_all_interval": list(self.accuracy_all_interval),
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "mae": self.mae,
            "mae_interval": list(self.mae_interval),
            "level": self.level,
        }


def _row_sums(
    confidence: NDArray[np.float64] | None,
    abstained: NDArray[np.bool_],
    predictions: Any,
    positive: Any,
    loss_model: LossModel | None,
) -> NDArray[np.float64]:
    """``(n, 12)`` per-row additive quantities; a window's state is their column sum.

    Built as a ``(12, n)`` C-ordered array (each quantity written contiguously) and
    returned transposed, so sums over rows run along contiguous memory.
    """
    n = abstained.size
    q = np.zeros((_K, n), dtype=np.float64)
    q[_ROWS] = 1.0
    ans = ~abstained
    q[_ANS] = ans
    if confidence is not None:
        p = np.asarray(confidence, dtype=np.float64)
        has = np.isfinite(p)
        p = np.where(has, p, 0.0)
        np.clip(p, 0.0, 1.0, out=p)
        v = p * (1.0 - p)
        q[_HAS_P] = has
        q[_P_ALL] = p
        q[_V_ALL] = v
        np.multiply(p, ans, out=q[_P_ANS])
        np.multiply(v, ans, out=q[_V_ANS])
        if positive is not None and predictions is not None:
            is_pos = np.asarray(predictions) == positive
            p1 = np.where(is_pos, p, 1.0 - p) * (ans & has)  # P(true class is positive)
            q[_TP] = p1 * is_pos
            q[_FP] = (1.0 - p1) * is_pos * (ans & has)
            q[_FN] = p1 * ~is_pos
    if loss_model is not None and predictions is not None:
        pred = np.asarray(predictions, dtype=np.float64)
        ok = np.isfinite(pred) & ans
        safe = np.where(ok, pred, 0.0)
        q[_LOSS] = np.where(ok, loss_model.expected_error(safe), 0.0)
        q[_LOSS_V] = np.where(ok, loss_model.error_variance(safe), 0.0)
        q[_HAS_P] = np.maximum(q[_HAS_P], ok)
    out: NDArray[np.float64] = q.T
    return out


def _interval(mean: float, var_sum: float, n: float, z: float, clip: bool) -> tuple[float, float]:
    if n <= 0:
        return (math.nan, math.nan)
    half = z * math.sqrt(max(var_sum, 0.0)) / n
    lo, hi = mean - half, mean + half
    return (max(lo, 0.0), min(hi, 1.0)) if clip else (max(lo, 0.0), hi)


def _estimate(
    s: NDArray[np.float64], level: float, kinds: tuple[bool, bool, bool]
) -> PerformanceEstimate:
    z = _z(level)
    classify, binary, regress = kinds
    nan2 = (math.nan, math.nan)
    rows, ans = float(s[_ROWS]), float(s[_ANS])
    acc_all = float(s[_P_ALL] / rows) if classify and rows else math.nan
    acc_ans = float(s[_P_ANS] / ans) if classify and ans else math.nan
    prec = rec = f1 = math.nan
    if binary:
        tp, fp, fn = float(s[_TP]), float(s[_FP]), float(s[_FN])
        prec = tp / (tp + fp) if tp + fp > 0 else math.nan
        rec = tp / (tp + fn) if tp + fn > 0 else math.nan
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn > 0 else math.nan
    mae = float(s[_LOSS] / ans) if regress and ans else math.nan
    return PerformanceEstimate(
        rows=int(rows),
        answered=int(ans),
        accuracy_answered=acc_ans,
        accuracy_answered_interval=_interval(acc_ans, float(s[_V_ANS]), ans, z, True)
        if classify
        else nan2,
        accuracy_all=acc_all,
        accuracy_all_interval=_interval(acc_all, float(s[_V_ALL]), rows, z, True)
        if classify
        else nan2,
        precision=prec,
        recall=rec,
        f1=f1,
        mae=mae,
        mae_interval=_interval(mae, float(s[_LOSS_V]), ans, z, False) if regress else nan2,
        level=level,
    )


class PerformanceState:
    """Additive sums of one window (bounded memory: twelve floats), mergeable across workers.

    Args:
        positive: the positive class of a binary model (enables precision, recall, F1).
        loss_model: a fitted [`LossModel`][] for a regressor.

    Examples:
        >>> import numpy as np
        >>> a, b = PerformanceState(), PerformanceState()
        >>> a.update(np.array([0.9, 0.8])); b.update(np.array([0.7]))
        >>> round(a.merge(b).estimate().accuracy_all, 2)
        0.8
    """

    __slots__ = ("loss_model", "positive", "sums")

    def __init__(self, *, positive: Any = None, loss_model: LossModel | None = None) -> None:
        self.positive = positive
        self.loss_model = loss_model
        self.sums = np.zeros(_K, dtype=np.float64)

    @property
    def rows(self) -> int:
        return int(self.sums[_ROWS])

    @property
    def nbytes(self) -> int:
        return int(self.sums.nbytes)

    def per_row(
        self, confidence: Any = None, abstained: Any = None, predictions: Any = None
    ) -> NDArray[np.float64]:
        """``(n, 12)`` what each row adds to the sums (the monitor cuts windows from it)."""
        conf = None if confidence is None else np.asarray(confidence, dtype=np.float64)
        n = conf.size if conf is not None else len(np.asarray(predictions))
        abst = np.zeros(n, dtype=bool) if abstained is None else np.asarray(abstained, bool)
        if conf is not None and (conf.ndim != 1 or abst.shape != conf.shape):
            raise InvalidInputError(
                "The performance estimate needs 1-D confidence and abstained arrays of the "
                f"same length. Got shapes {conf.shape} and {abst.shape}."
            )
        return _row_sums(conf, abst, predictions, self.positive, self.loss_model)

    def update(
        self, confidence: Any = None, abstained: Any = None, predictions: Any = None
    ) -> None:
        """Add a batch: ``(n,)`` confidence (calibrated), abstained flags, predictions."""
        self.sums += self.per_row(confidence, abstained, predictions).sum(axis=0)

    def merge(self, other: PerformanceState) -> PerformanceState:
        """A new state holding both windows' rows."""
        out = PerformanceState(positive=self.positive, loss_model=self.loss_model)
        out.sums = self.sums + other.sums
        return out

    def clear(self) -> None:
        self.sums[:] = 0.0

    def estimate(self, level: float = 0.95) -> PerformanceEstimate:
        """The window's [`PerformanceEstimate`][] with intervals at ``level``."""
        level = _check_level("PerformanceState.estimate", "level", level)
        classify = self.loss_model is None
        return _estimate(
            self.sums, level, (classify, classify and self.positive is not None, not classify)
        )


def _prepare(
    owner: str, confidence: Any, abstained: Any, predictions: Any, loss_model: LossModel | None
) -> tuple[Any, Any, Any]:
    """Unpack a [`Decisions`][guardrails.Decisions] batch and check the arguments once."""
    if isinstance(confidence, Decisions):
        d = confidence
        keep = np.isfinite(d.confidence) if d.confidence is not None else np.ones(len(d), bool)
        confidence = None if d.confidence is None else d.confidence[keep]
        abstained = d.abstained[keep]
        predictions = d.prediction[keep]
    if confidence is None and loss_model is None:
        raise ConfigurationError(
            f"{owner} needs calibrated confidence (classifiers) or a fitted "
            "loss_model with predictions (regressors)."
        )
    if loss_model is not None and predictions is None:
        raise ConfigurationError(f"{owner} with a loss_model needs predictions.")
    return confidence, abstained, predictions


def estimate_performance(
    confidence: Any,
    *,
    abstained: Any = None,
    predictions: Any = None,
    positive: Any = None,
    loss_model: LossModel | None = None,
    level: float = 0.95,
) -> PerformanceEstimate:
    """Label-free performance estimate of a batch (offline, vectorised).

    Args:
        confidence: ``(n,)`` calibrated probability of each predicted class, or a
            [`Decisions`][guardrails.Decisions] batch (its confidence, abstentions and
            predictions are used; rows without an output are left out).
        abstained: ``(n,)`` bool, True where the row was withheld (default: none).
        predictions: ``(n,)`` the predictions (for precision/recall or a loss model).
        positive: the positive class of a binary model.
        loss_model: a fitted [`LossModel`][] for a regressor (``confidence`` may be None).
        level: coverage of the intervals.

    Returns:
        A [`PerformanceEstimate`][].

    Examples:
        >>> import numpy as np
        >>> est = estimate_performance(np.array([0.95, 0.9, 0.6, 0.55]),
        ...                            abstained=np.array([False, False, True, True]))
        >>> round(est.accuracy_answered, 3), round(est.accuracy_all, 3)
        (0.925, 0.75)
    """
    level = _check_level("estimate_performance", "level", level)
    args = _prepare("estimate_performance", confidence, abstained, predictions, loss_model)
    state = PerformanceState(positive=positive, loss_model=loss_model)
    state.update(*args)
    return state.estimate(level)


def estimate_performance_chunks(
    confidence: Any,
    *,
    chunk_size: int,
    abstained: Any = None,
    predictions: Any = None,
    positive: Any = None,
    loss_model: LossModel | None = None,
    level: float = 0.95,
) -> list[PerformanceEstimate]:
    """[`estimate_performance`][] of each consecutive ``chunk_size`` rows, in one pass.

    The same estimates as calling [`estimate_performance`][] on each chunk (up to
    floating-point summation order), with the per-row quantities computed once and
    summed over the chunk boundaries by one ``np.add.reduceat``. The last chunk holds the
    remaining rows when ``len(confidence)`` is not a multiple of ``chunk_size``.

    Examples:
        >>> import numpy as np
        >>> [round(e.accuracy_all, 2) for e in
        ...  estimate_performance_chunks(np.array([0.9, 0.7, 0.6, 0.8, 1.0]), chunk_size=2)]
        [0.8, 0.7, 1.0]
    """
    owner = "estimate_performance_chunks"
    level = _check_level(owner, "level", level)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ConfigurationError(
            f"The 'chunk_size' parameter of {owner} must be an int >= 1. Got {chunk_size!r}."
        )
    args = _prepare(owner, confidence, abstained, predictions, loss_model)
    state = PerformanceState(positive=positive, loss_model=loss_model)
    q = state.per_row(*args)
    if q.shape[0] == 0:
        return []
    sums = np.add.reduceat(q, np.arange(0, q.shape[0], chunk_size), axis=0)
    classify = loss_model is None
    kinds = (classify, classify and positive is not None, not classify)
    return [_estimate(row, level, kinds) for row in sums]
