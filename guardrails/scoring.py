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

The numbers come from [`guardrails.outcomes`][] (risk-coverage curve, AURC, selective
accuracy, expected cost); this module only turns them into scorers. Classification only:
a regression answer is not simply right or wrong.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from guardrails import outcomes
from guardrails.decisions import Decisions, Reason
from guardrails.errors import ConfigurationError

__all__ = ["AURC", "AccuracyAtCoverage", "ExpectedCost", "SelectiveAccuracy", "decisions_of"]

_NO_CANDIDATE = (Reason.INVALID_INPUT, Reason.MODEL_ERROR, Reason.TIMEOUT, Reason.CIRCUIT_OPEN)


def _check_unit(owner: str, name: str, value: Any, *, low_open: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok:
        ok = (0.0 < value <= 1.0) if low_open else (0.0 <= value <= 1.0)
    if not ok:
        interval = "(0, 1]" if low_open else "[0, 1]"
        raise ConfigurationError(
            f"The {name!r} parameter of {owner} must be a float in {interval}. "
            f"Got {value!r} instead."
        )
    return float(value)


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


class _Scorer:
    """Base: ``scorer(estimator, X, y)`` computes decisions, then a number."""

    def __call__(self, estimator: Any, X: Any, y: Any) -> float:
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
        >>> from guardrails.scoring import SelectiveAccuracy
        >>> d = Decisions(prediction=np.array([1, 0, 1, 1]),
        ...               abstained=np.array([False, False, False, True]))
        >>> round(SelectiveAccuracy(min_coverage=0.5).score(d, np.array([1, 1, 1, 0])), 4)
        0.6667
    """

    def __init__(self, *, min_coverage: float = 0.0) -> None:
        self.min_coverage = _check_unit("SelectiveAccuracy", "min_coverage", min_coverage)

    def score(self, d: Decisions, y: NDArray[Any]) -> float:
        answered = d.answered
        cover = float(answered.mean()) if len(d) else 0.0
        if cover < self.min_coverage:
            return cover - self.min_coverage
        if not answered.any():  # min_coverage 0 and nothing answered: nothing right
            return 0.0
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
        self.coverage = _check_unit("AccuracyAtCoverage", "coverage", coverage, low_open=True)

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
