"""Performance estimation without labels (CBPE), and the rule that makes it act.

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
- [`PerformanceRule`][]: what makes the estimate act inside [`Monitored`][]: a rule such
  as "estimated accuracy of answered rows below 0.9 with 95% confidence" that starts
  the monitor's actions while it holds and recovers when it clears.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator, Mapping
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
    "PerformanceRule",
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


# -- acting: a rule on windows ----------------------------------------------------------------


@persistable
class PerformanceRule:
    """When the estimated performance of a monitor's window is too poor to keep serving as is.

    The rule fires when, with confidence ``confidence`` (one-sided), the metric is on the
    wrong side of its threshold: the upper bound of an accuracy is below ``below``, or
    the lower bound of the expected absolute error is above ``above``. While it holds the
    monitor runs its actions (alert, tighten, route to review) as it does for drift; it
    recovers after ``recovery`` windows in a row where it does not fire.

    Args:
        metric: "accuracy_answered" (default), "accuracy_all" or "mae".
        below: fire when an accuracy is below this (accuracies).
        above: fire when the error is above this ("mae").
        confidence: one-sided confidence of the bound, in (0, 1).
        recovery: clear windows in a row that end an episode.
        positive: the positive class of a binary model (adds precision/recall to events).
        loss_model: a fitted [`LossModel`][] ("mae").

    Examples:
        >>> PerformanceRule(below=0.9)
        PerformanceRule(metric='accuracy_answered', below=0.9, confidence=0.95)
    """

    def __init__(
        self,
        metric: str = "accuracy_answered",
        *,
        below: float | None = None,
        above: float | None = None,
        confidence: float = 0.95,
        recovery: int = 1,
        positive: Any = None,
        loss_model: LossModel | None = None,
    ) -> None:
        owner = "PerformanceRule"
        if metric not in METRICS:
            raise ConfigurationError(
                f"The 'metric' parameter of {owner} must be one of {list(METRICS)}. "
                f"Got {metric!r} instead."
            )
        accuracy = metric != "mae"
        threshold = below if accuracy else above
        other = above if accuracy else below
        side = "below" if accuracy else "above"
        if other is not None or threshold is None:
            raise ConfigurationError(
                f"{owner}({metric!r}) needs '{side}=' (and only that threshold); "
                f"got below={below!r}, above={above!r}."
            )
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise ConfigurationError(
                f"The '{side}' parameter of {owner} must be a float. Got {threshold!r} instead."
            )
        if accuracy and not 0 < threshold <= 1:
            raise ConfigurationError(
                f"The 'below' parameter of {owner} must be a float in (0, 1]. "
                f"Got {threshold!r} instead."
            )
        if not accuracy and (loss_model is None or threshold <= 0):
            raise ConfigurationError(
                f"{owner}('mae') needs a fitted loss_model and above > 0. "
                f"Got loss_model={loss_model!r}, above={threshold!r}."
            )
        if isinstance(recovery, bool) or not isinstance(recovery, int) or recovery < 1:
            raise ConfigurationError(
                f"The 'recovery' parameter of {owner} must be an int >= 1. Got {recovery!r}."
            )
        self.metric = metric
        self.below = below
        self.above = above
        self.confidence = _check_level(owner, "confidence", confidence)
        self.recovery = recovery
        self.positive = positive
        self.loss_model = loss_model

    @property
    def needs_confidence(self) -> bool:
        return self.metric != "mae"

    @property
    def level(self) -> float:
        """Two-sided level whose bound is the rule's one-sided bound."""
        return 2.0 * self.confidence - 1.0

    def fires(self, estimate: PerformanceEstimate) -> bool:
        """True when the window's estimate is on the wrong side of the threshold."""
        value, lo, hi = estimate.value(self.metric)
        if math.isnan(value):
            return False
        if self.below is not None:
            return hi < self.below
        return lo > float(self.above)  # type: ignore[arg-type]

    def state(self) -> PerformanceState:
        return PerformanceState(positive=self.positive, loss_model=self.loss_model)

    def __repr__(self) -> str:
        side = f"below={self.below!r}" if self.below is not None else f"above={self.above!r}"
        extra = "" if self.recovery == 1 else f", recovery={self.recovery!r}"
        return (
            f"PerformanceRule(metric={self.metric!r}, {side}, "
            f"confidence={self.confidence!r}{extra})"
        )

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "below": self.below,
            "above": self.above,
            "confidence": self.confidence,
            "recovery": self.recovery,
            "positive": self.positive if isinstance(self.positive, (int, str, bool)) else None,
            "loss_model": None if self.loss_model is None else enc.component(self.loss_model),
        }

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> PerformanceRule:
        loss = state.get("loss_model")
        return cls(
            state["metric"],
            below=state["below"],
            above=state["above"],
            confidence=state["confidence"],
            recovery=state["recovery"],
            positive=state.get("positive"),
            loss_model=None if loss is None else dec.component(loss),
        )


class PerformanceWatch:
    """A rule's windows inside a monitor: the monitor's window grid, sums per bucket.

    Rows are observed in the monitor's order, so windows close at the same rows as the
    drift windows. Memory is one [`PerformanceState`][] per bucket. A call of many rows
    is cut into windows with one cumulative sum, not row by row.
    """

    def __init__(self, rule: PerformanceRule, window: int, step: int, mode: str) -> None:
        self.rule = rule
        self.capacity = window if mode == "tumbling" else step
        self.n_buckets = 1 if mode == "tumbling" else window // step
        self.done: deque[NDArray[np.float64]] = deque()
        self.current = np.zeros(_K, dtype=np.float64)
        self.firing = False
        self.latest: PerformanceEstimate | None = None
        self._clear = 0
        self._kinds = (
            rule.loss_model is None,
            rule.loss_model is None and rule.positive is not None,
            rule.loss_model is not None,
        )

    @property
    def nbytes(self) -> int:
        return (len(self.done) + 1) * self.current.nbytes

    def reset(self) -> None:
        self.done.clear()
        self.current = np.zeros(_K, dtype=np.float64)
        self.firing, self.latest, self._clear = False, None, 0

    def scores(self) -> dict[str, Mapping[str, float]]:
        """``{"performance": {"estimate", "lower", "upper", "firing"}}`` for the gauges."""
        if self.latest is None:
            return {}
        value, lo, hi = self.latest.value(self.rule.metric)
        firing = float(self.firing)
        return {"performance": {"estimate": value, "lower": lo, "upper": hi, "firing": firing}}

    def observe(self, confidence: Any, abstained: Any, predictions: Any) -> list[dict[str, Any]]:
        """Add the rows of one call; the events of the windows they close."""
        q = self.rule.state().per_row(confidence, abstained, predictions)
        n = q.shape[0]
        room = self.capacity - int(self.current[_ROWS])
        if n < room:
            self.current += q.sum(axis=0)
            return []
        # bucket ends inside this call: room, room + capacity, ...; one reduceat sums them
        ends = np.arange(room, n + 1, self.capacity)
        cuts = np.concatenate(([0], ends)).astype(np.intp)  # room >= 1: strictly increasing
        last = int(ends[-1])
        sums = np.add.reduceat(q, cuts[:-1] if last == n else cuts, axis=0)
        buckets = sums[: ends.size]
        buckets[0] += self.current
        events: list[dict[str, Any]] = []
        for b in buckets:
            self.done.append(b)
            if len(self.done) > self.n_buckets:
                self.done.popleft()
            if len(self.done) == self.n_buckets:
                events += self._close(np.sum(self.done, axis=0))
        self.current = sums[ends.size].copy() if last < n else np.zeros(_K, dtype=np.float64)
        return events

    def _close(self, sums: NDArray[np.float64]) -> list[dict[str, Any]]:
        rule = self.rule
        est = _estimate(sums, rule.level, self._kinds)
        self.latest = est
        value, lo, hi = est.value(rule.metric)
        fires = rule.fires(est)
        events: list[dict[str, Any]] = [
            {
                "event": "performance_window",
                "level": "info",
                "metric": rule.metric,
                "estimate": value,
                "lower": lo,
                "upper": hi,
                "rows": est.rows,
                "fires": fires,
            }
        ]
        fields = {"metric": rule.metric, "estimate": value, "lower": lo, "upper": hi}
        if fires:
            self._clear = 0
            if not self.firing:
                self.firing = True
                threshold = rule.below if rule.below is not None else rule.above
                events.append(
                    {
                        "event": "performance_degraded",
                        "level": "warning",
                        **fields,
                        "threshold": threshold,
                        "confidence": rule.confidence,
                    }
                )
        elif self.firing:
            self._clear += 1
            if self._clear >= rule.recovery:
                self.firing = False
                events.append({"event": "performance_recovered", "level": "info", **fields})
        return events


class JoinedScores(Mapping[str, Mapping[str, float]]):
    """Two score mappings read as one (the first wins), without reading either early."""

    def __init__(
        self, first: Mapping[str, Mapping[str, float]], rest: Mapping[str, Mapping[str, float]]
    ) -> None:
        self.first, self.rest = first, rest

    def __getitem__(self, key: str) -> Mapping[str, float]:
        if key in self.first:
            return self.first[key]
        return self.rest[key]

    def __iter__(self) -> Iterator[str]:
        yield from self.first
        yield from (k for k in self.rest if k not in self.first)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return repr(dict(self))
