"""scikit-learn scorers that rate a guard by its outcomes: selective accuracy, AURC, cost.

Each scorer is a callable ``scorer(estimator, X, y) -> float`` (greater is better), so it
goes straight into ``GridSearchCV(scoring=...)`` or ``cross_val_score(scoring=...)``. The
estimator is anything with ``decide`` (a [`GuardedClassifier`][guardrails.GuardedClassifier], a
guard) or a plain classifier with ``predict_proba`` (which then never abstains).

Two kinds of question:

- *how good is the policy?* depends on which rows the guard withholds:
  [`SelectiveAccuracy`][] (accuracy on answered rows, with a floor on coverage) and
  [`ExpectedCost`][] (errors and reviews priced). Search abstention thresholds with these.
- *how good is the confidence ranking?* does not depend on a threshold:
  [`AccuracyAtCoverage`][] and [`AURC`][] (area under the risk-coverage curve).
  Compare models or calibrators with these.

The numbers come from [`guardrails.apps.outcomes`][] (risk-coverage curve, AURC, selective
accuracy, expected cost); this module only turns them into scorers.

A regression answer is not simply right or wrong, so a regressor (a
[`GuardedRegressor`][guardrails.GuardedRegressor] with conformal intervals) has scorers
of its own, on the ``interval`` column: [`CoverageAtWidth`][] and [`IntervalScore`][]
rate the intervals as they are (search ``alpha`` or ``max_width`` with these);
[`WidthAtCoverage`][] and [`MAEAtCoverage`][] rate how well the interval widths rank
the rows, whatever the threshold (compare models, scale or quantile models with these).
A classification scorer refuses a regressor and a regression scorer a classifier,
with an error that names the scorers to use instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from guardrails.apps import outcomes
from guardrails.core.checks import check_unit
from guardrails.core.decisions import Decisions, Reason
from guardrails.core.errors import ConfigurationError

__all__ = [
    "AURC",
    "AccuracyAtCoverage",
    "CoverageAtWidth",
    "ExpectedCost",
    "IntervalScore",
    "MAEAtCoverage",
    "SelectiveAccuracy",
    "WidthAtCoverage",
    "decisions_of",
]

_REGRESSION_SCORERS = "CoverageAtWidth, WidthAtCoverage, IntervalScore or MAEAtCoverage"
_CLASSIFICATION_SCORERS = "SelectiveAccuracy, ExpectedCost, AccuracyAtCoverage or AURC"

_NO_CANDIDATE = (Reason.INVALID_INPUT, Reason.MODEL_ERROR, Reason.TIMEOUT, Reason.CIRCUIT_OPEN)


def _check_cost(owner: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ConfigurationError(
            f"The {name!r} parameter of {owner} must be a number >= 0. Got {value!r} instead."
        )
    return float(value)


def decisions_of(estimator: Any, X: Any) -> Decisions:
    """The decisions of ``estimator`` on ``X``: its own ``decide``, or its probabilities.

    A plain classifier becomes decisions that answer every row, with the top-class
    probability as confidence (or none, for a classifier without ``predict_proba``).
    """
    decide = getattr(estimator, "decide", None)
    if callable(decide):
        d = decide(X)
        if not isinstance(d, Decisions):
            raise ConfigurationError(f"decide() returned {type(d).__name__}, not Decisions.")
        return d
    proba_fn = getattr(estimator, "predict_proba", None)
    if callable(proba_fn):
        proba = np.asarray(proba_fn(X), dtype=np.float64)
        classes = np.asarray(estimator.classes_)
        top = proba.argmax(axis=1)
        return Decisions(
            prediction=classes[top],
            proba=proba,
            confidence=proba[np.arange(len(top)), top],
            classes=classes,
        )
    return Decisions(prediction=np.asarray(estimator.predict(X)))


def _truth(d: Decisions, y: Any) -> NDArray[Any]:
    y_arr = np.asarray(y)
    if y_arr.ndim != 1 or y_arr.shape[0] != len(d):
        raise ConfigurationError(
            f"scoring needs one label per decision: {len(d)} decisions, y has shape {y_arr.shape}."
        )
    return y_arr


def _candidate_correct(d: Decisions, y: NDArray[Any]) -> NDArray[np.bool_]:
    """Whether the model's candidate answer is right, answered or not.

    Rows the model never scored (invalid input, model error, timeout) count as wrong.
    """
    scored = ~np.isin(d.reason, [int(r) for r in _NO_CANDIDATE])
    out: NDArray[np.bool_] = scored & (d.prediction == y)
    return out


def _ranking_confidence(d: Decisions) -> NDArray[np.float64]:
    """Confidence for ranking; rows never scored (or without one) rank last, at -1."""
    if d.confidence is None:
        raise ConfigurationError(
            "this score ranks rows by confidence, but the decisions carry none: use a model "
            "with predict_proba, or calibrate its scores."
        )
    scored = ~np.isin(d.reason, [int(r) for r in _NO_CANDIDATE]) & np.isfinite(d.confidence)
    return np.where(scored, d.confidence, -1.0)


def _is_regressor(estimator: Any) -> bool:
    task = getattr(estimator, "task", None)
    if isinstance(task, str):
        return task == "regression"
    return getattr(estimator, "_estimator_type", None) == "regressor" or (
        hasattr(estimator, "__sklearn_tags__")
        and getattr(estimator.__sklearn_tags__(), "estimator_type", None) == "regressor"
    )


class _Scorer:
    """Base: ``scorer(estimator, X, y)`` computes decisions, then a number."""

    regression: bool = False

    def __call__(self, estimator: Any, X: Any, y: Any) -> float:
        if _is_regressor(estimator) != self.regression:
            name = type(self).__name__
            kind, other, use = (
                ("regressors", "a classifier", _CLASSIFICATION_SCORERS)
                if self.regression
                else ("classifiers", "a regressor", _REGRESSION_SCORERS)
            )
            raise ConfigurationError(
                f"{name} scores {kind}, and {type(estimator).__name__} is {other}: use "
                f"{use} from guardrails.apps.scoring."
            )
        d = decisions_of(estimator, X)
        return self.score(d, _truth(d, y))

    def score(self, d: Decisions, y: NDArray[Any]) -> float:
        """The score of decisions ``d`` against labels ``y`` (greater is better)."""
        raise TypeError(f"{type(self).__name__} must define score()")  # pragma: no cover


class SelectiveAccuracy(_Scorer):
    """Accuracy on the rows the guard answers, provided it answers enough of them.

    Args:
        min_coverage: the least share of rows the guard must answer. Below it the score
            is the (negative) shortfall ``coverage - min_coverage``, so an infeasible
            setting ranks below every feasible one, and nearer misses rank higher.

    Examples:
        >>> import numpy as np
        >>> from guardrails import Decisions
        >>> from guardrails.apps.scoring import SelectiveAccuracy
        >>> d = Decisions(prediction=np.array([1, 0, 1, 1]),
        ...               abstained=np.array([False, False, False, True]))
        >>> round(SelectiveAccuracy(min_coverage=0.5).score(d, np.array([1, 1, 1, 0])), 4)
        0.6667
    """

    def __init__(self, *, min_coverage: float = 0.0) -> None:
        self.min_coverage = check_unit("SelectiveAccuracy", "min_coverage", min_coverage)

    def score(self, d: Decisions, y: NDArray[Any]) -> float:
        answered = d.answered
        cover = float(answered.mean()) if len(d) else 0.0
        if cover < self.min_coverage:
            return cover - self.min_coverage
        if not answered.any():  # answering nothing ranks below every guard that answers
            return -1.0
        return 1.0 - outcomes.selective_risk(d, y)

    def __repr__(self) -> str:
        return f"SelectiveAccuracy(min_coverage={self.min_coverage!r})"


class AccuracyAtCoverage(_Scorer):
    """Accuracy on the ``coverage`` share of rows the model is most confident about.

    Independent of any threshold: it rates the confidence ranking (the model and its
    calibration), answering exactly ``coverage`` of the rows.

    Args:
        coverage: share of rows answered, in (0, 1].
    """

    def __init__(self, *, coverage: float = 0.8) -> None:
        self.coverage = check_unit("AccuracyAtCoverage", "coverage", coverage, interval="(0, 1]")

    def score(self, d: Decisions, y: NDArray[Any]) -> float:
        return outcomes.selective_accuracy(
            _ranking_confidence(d), _candidate_correct(d, y), coverage=self.coverage
        )

    def __repr__(self) -> str:
        return f"AccuracyAtCoverage(coverage={self.coverage!r})"


class AURC(_Scorer):
    """Minus the area under the risk-coverage curve (so greater is better).

    Rows the model never scored count as errors answered last.
    """

    def score(self, d: Decisions, y: NDArray[Any]) -> float:
        return -outcomes.aurc(_ranking_confidence(d), _candidate_correct(d, y))

    def __repr__(self) -> str:
        return "AURC()"


class ExpectedCost(_Scorer):
    """Minus the mean cost per row of the guard's decisions (so greater is better).

    A wrong answer costs ``error_cost``, a withheld row ``review_cost`` (a person looks
    at it), a right answer nothing.

    Args:
        error_cost: cost of one wrong answer, >= 0.
        review_cost: cost of one withheld row, >= 0.
    """

    def __init__(self, *, error_cost: float = 1.0, review_cost: float) -> None:
        self.error_cost = _check_cost("ExpectedCost", "error_cost", error_cost)
        self.review_cost = _check_cost("ExpectedCost", "review_cost", review_cost)

    def score(self, d: Decisions, y: NDArray[Any]) -> float:
        return -outcomes.expected_cost(
            d, y, cost_error=self.error_cost, cost_review=self.review_cost
        )

    def __repr__(self) -> str:
        return f"ExpectedCost(error_cost={self.error_cost!r}, review_cost={self.review_cost!r})"


# -- regression: scorers of the interval column ------------------------------------------


def _intervals(d: Decisions, y: NDArray[Any]) -> tuple[NDArray[np.float64], NDArray[Any]]:
    """``(n, 2)`` intervals (NaN rows where none) and numeric truth."""
    if d.interval is None:
        raise ConfigurationError(
            "this score reads prediction intervals, but the decisions carry none: give the "
            "regressor an interval policy such as ConformalIntervals(0.1)."
        )
    return np.asarray(d.interval, dtype=np.float64), np.asarray(y, dtype=np.float64)


def _check_positive(owner: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigurationError(
            f"The {name!r} parameter of {owner} must be a number > 0. Got {value!r} instead."
        )
    return float(value)


def _width_ranking(d: Decisions, iv: NDArray[np.float64]) -> NDArray[np.float64]:
    """Minus the interval width as confidence: narrow first; rows without one last."""
    width = iv[:, 1] - iv[:, 0]
    scored = ~np.isin(d.reason, [int(r) for r in _NO_CANDIDATE]) & np.isfinite(width)
    return np.where(scored, -width, -np.inf)


class CoverageAtWidth(_Scorer):
    """Share of rows answered with an interval at most ``max_width`` wide that holds the truth.

    Rows withheld, or whose interval is wider (or missing), count as not covered, so a
    guard scores high only when its intervals are both narrow and right.

    Args:
        max_width: the widest interval that is still useful, > 0.

    Examples:
        >>> import numpy as np
        >>> from guardrails import Decisions
        >>> from guardrails.apps.scoring import CoverageAtWidth
        >>> d = Decisions(prediction=np.zeros(3),
        ...               interval=np.array([[-1.0, 1.0], [-5.0, 5.0], [-1.0, 1.0]]))
        >>> round(CoverageAtWidth(max_width=2.0).score(d, np.array([0.5, 0.0, 3.0])), 4)
        0.3333
    """

    regression = True

    def __init__(self, *, max_width: float) -> None:
        self.max_width = _check_positive("CoverageAtWidth", "max_width", max_width)

    def score(self, d: Decisions, y: NDArray[Any]) -> float:
        iv, truth = _intervals(d, y)
        with np.errstate(invalid="ignore"):
            held = (iv[:, 0] <= truth) & (truth <= iv[:, 1])
            narrow = (iv[:, 1] - iv[:, 0]) <= self.max_width
        return float(np.mean(held & narrow & d.answered)) if len(d) else 0.0

    def __repr__(self) -> str:
        return f"CoverageAtWidth(max_width={self.max_width!r})"


class WidthAtCoverage(_Scorer):
    """Minus the mean width of the intervals stretched to hold exactly ``coverage`` of rows.

    Each interval is scaled about its centre by one common factor, the smallest that
    makes ``coverage`` of the rows' intervals hold their truth; the score is minus the
    mean scaled width. It does not depend on ``alpha``: it rates the *shape* of the
    intervals (which rows get wide ones), i.e. the scale or quantile models. Rows
    without an interval count as needing an infinite one, so they are covered last.

    Args:
        coverage: the share of rows the scaled intervals must hold, in (0, 1].
    """

    regression = True

    def __init__(self, *, coverage: float = 0.9) -> None:
        self.coverage = check_unit("WidthAtCoverage", "coverage", coverage, interval="(0, 1]")

    def score(self, d: Decisions, y: NDArray[Any]) -> float:
        iv, truth = _intervals(d, y)
        centre, half = iv.mean(axis=1), (iv[:, 1] - iv[:, 0]) / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            need = np.abs(truth - centre) / half  # the factor each row needs
        need = np.where(np.isfinite(need) & (half > 0), need, np.inf)
        need = np.where((half == 0) & (truth == centre), 0.0, need)
        k = max(1, int(np.ceil(self.coverage * len(need) - 1e-9)))
        factor = float(np.sort(need)[k - 1])
        if not np.isfinite(factor):
            return float("-inf")
        width = 2 * half[np.isfinite(half)] * factor
        return -float(width.mean())

    def __repr__(self) -> str:
        return f"WidthAtCoverage(coverage={self.coverage!r})"


class IntervalScore(_Scorer):
    """Minus the mean interval score (Gneiting and Raftery 2007), so greater is better.

    For an interval ``[l, u]`` meant to hold the truth with probability ``1 - alpha``,
    the score is ``(u - l) + 2/alpha * (l - y) if y < l, + 2/alpha * (y - u) if y > u``:
    width, plus a penalty for every miss that grows with its distance. It is a proper
    score: in expectation it is best for the true ``alpha/2`` and ``1 - alpha/2``
    quantiles. Rows without an interval (never scored) are left out; when no row has
    one the score is ``-inf``.

    Args:
        alpha: the miscoverage the intervals are meant for, in (0, 1).
    """

    regression = True

    def __init__(self, *, alpha: float = 0.1) -> None:
        a = check_unit("IntervalScore", "alpha", alpha, interval="(0, 1]")
        if a >= 1.0:
            raise ConfigurationError(
                f"The 'alpha' parameter of IntervalScore must be a float in (0, 1). "
                f"Got {alpha!r} instead."
            )
        self.alpha = a

    def score(self, d: Decisions, y: NDArray[Any]) -> float:
        iv, truth = _intervals(d, y)
        ok = np.isfinite(iv).all(axis=1) & np.isfinite(truth)
        if not ok.any():
            return float("-inf")
        lo, hi, t = iv[ok, 0], iv[ok, 1], truth[ok]
        penalty = 2.0 / self.alpha * (np.maximum(lo - t, 0.0) + np.maximum(t - hi, 0.0))
        return -float(np.mean(hi - lo + penalty))

    def __repr__(self) -> str:
        return f"IntervalScore(alpha={self.alpha!r})"


class MAEAtCoverage(_Scorer):
    """Minus the mean absolute error on the ``coverage`` share of rows with the narrowest
    intervals: selective MAE, the regression twin of ``AccuracyAtCoverage``.

    Independent of any width threshold: it rates whether narrow intervals go with small
    errors. Rows the model never scored rank last and count with an infinite error, so a
    share that reaches them scores ``-inf``.

    Args:
        coverage: share of rows answered, in (0, 1].
    """

    regression = True

    def __init__(self, *, coverage: float = 0.8) -> None:
        self.coverage = check_unit("MAEAtCoverage", "coverage", coverage, interval="(0, 1]")

    def score(self, d: Decisions, y: NDArray[Any]) -> float:
        iv, truth = _intervals(d, y)
        rank = _width_ranking(d, iv)
        pred = np.asarray(d.prediction, dtype=np.float64)
        error = np.where(np.isfinite(rank), np.abs(truth - pred), np.inf)
        k = max(1, int(np.ceil(self.coverage * len(error) - 1e-9)))
        chosen = np.argsort(-rank, kind="stable")[:k]
        return -float(np.mean(error[chosen]))

    def __repr__(self) -> str:
        return f"MAEAtCoverage(coverage={self.coverage!r})"
