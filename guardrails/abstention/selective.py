"""Selective prediction: thresholds chosen from data (coverage, risk) and Chow's cost rule."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from guardrails.abstention.policy import (
    Policy,
    Verdict,
    _below_threshold,
    _check_choice,
    _check_labels,
    _check_number,
    _no_candidate,
)
from guardrails.abstention.scores import _SCORES, confidence_score, label_index
from guardrails.core.checks import check_unit
from guardrails.core.decisions import Decisions, Reason
from guardrails.core.errors import (
    ConfigurationError,
    GuardrailsWarning,
    InvalidInputError,
)
from guardrails.core.persistence import persistable

if TYPE_CHECKING:
    from typing_extensions import Self

    from guardrails.core.persistence import Decoder, Encoder

__all__ = [
    "CostRule",
    "CoverageThreshold",
    "RiskControlledThreshold",
]


@persistable
class CoverageThreshold(Policy):
    """Answer at least a share ``coverage`` of traffic: the threshold is chosen from data.

    ``fit`` sets ``threshold_`` to the ``floor((n + 1)(1 - coverage))``-th smallest
    calibration score, so that on exchangeable new rows the expected share answered is at
    least ``coverage`` (and below ``coverage + 1/(n + 1)`` when scores have no ties).
    The share is counted over rows the model answered; rows withheld earlier (invalid
    input, model error) are not in it.

    Args:
        coverage: target share of rows answered, in (0, 1].
        score: "confidence" (top-class probability) or "margin" (top two difference).

    Examples:
        >>> import numpy as np
        >>> from guardrails import CoverageThreshold, Decisions
        >>> d = Decisions(prediction=np.zeros(9), confidence=np.linspace(0.5, 0.9, 9))
        >>> CoverageThreshold(0.7).fit(d, np.zeros(9)).threshold_  # 3rd smallest of 9
        0.6
    """

    requires = frozenset({"proba"})

    def __init__(self, coverage: float, *, score: str = "confidence") -> None:
        self.coverage = check_unit("CoverageThreshold", "coverage", coverage)
        if self.coverage == 0.0:
            raise ConfigurationError(
                "The 'coverage' parameter of CoverageThreshold must be a float in (0, 1]. "
                "Got 0.0 instead."
            )
        self.score = _check_choice("CoverageThreshold", "score", score, tuple(_SCORES))

    def fit(self, d: Decisions, y: NDArray[Any]) -> Self:
        _check_labels("CoverageThreshold", d, y)
        s = _SCORES[self.score](d)
        s = np.sort(s[np.isfinite(s)])
        if s.shape[0] == 0:
            raise InvalidInputError("CoverageThreshold.fit got no rows with a finite score.")
        k = int(np.floor((s.shape[0] + 1) * (1.0 - self.coverage) + 1e-9))
        self.threshold_ = float(s[k - 1]) if k >= 1 else -np.inf
        self.n_calibration_ = int(s.shape[0])
        return self

    def is_fitted(self) -> bool:
        return hasattr(self, "threshold_")

    def evaluate(self, d: Decisions) -> Verdict:
        return _below_threshold(self, d, f"coverage target {self.coverage:g}")

    def __repr__(self) -> str:
        return f"CoverageThreshold(coverage={self.coverage!r}, score={self.score!r})"

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        state: dict[str, Any] = {"coverage": self.coverage, "score": self.score}
        if self.is_fitted():
            state["fitted"] = {"threshold": self.threshold_, "n": self.n_calibration_}
        return state

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> CoverageThreshold:
        out = cls(state["coverage"], score=state["score"])
        if "fitted" in state:
            out.threshold_ = float(state["fitted"]["threshold"])
            out.n_calibration_ = int(state["fitted"]["n"])
        return out


@persistable
class RiskControlledThreshold(Policy):
    """Answer as much as possible while selective risk stays below ``target_risk``.

    The guarantee: with probability at least ``1 - delta`` over the calibration draw, the
    error rate of the answered rows (on new rows from the same distribution) is at most
    ``target_risk``. How: a fixed grid of ``n_thresholds + 1`` thresholds from the lowest
    possible score (``1 / n_classes`` for confidence, 0 for margin) to 1, chosen before
    seeing data; for each threshold ``t`` the null hypothesis "risk at t exceeds
    the target" is tested with the exact binomial tail of the errors among the ``m_t``
    calibration rows answered at ``t``. The family of tests is controlled at ``delta``
    with Wiens' fallback procedure (as in learn-then-test): each threshold has
    ``delta / (n_thresholds + 1)`` of the level, thresholds are tested from the strictest
    down, and a rejected one hands its level to the next. The lowest rejected threshold,
    i.e. the largest coverage, is kept. This is the selection with guaranteed risk of
    Geifman and El-Yaniv (2017) with a multiple-testing bound over a fixed grid instead
    of their binary search. When no threshold passes, the policy withholds every
    row and warns at fit.

    Args:
        target_risk: the largest acceptable error rate among answered rows, in (0, 1).
        delta: allowed probability that the calibration draw misleads, in (0, 1).
        score: "confidence" or "margin"; rows with a higher score are answered first.
        n_thresholds: grid resolution; more thresholds, finer choice, smaller test level.

    Attributes (after fit):
        threshold_: answer rows whose score is at least this.
        coverage_: share of calibration rows answered at ``threshold_``.
        risk_: error rate of those calibration rows.
        risk_bound_: Clopper-Pearson upper bound on the risk at the level the chosen
            threshold was tested at.
    """

    requires = frozenset({"proba"})

    def __init__(
        self,
        target_risk: float,
        *,
        delta: float = 0.1,
        score: str = "confidence",
        n_thresholds: int = 50,
    ) -> None:
        owner = "RiskControlledThreshold"
        self.target_risk = check_unit(owner, "target_risk", target_risk, interval="(0, 1)")
        self.delta = check_unit(owner, "delta", delta, interval="(0, 1)")
        self.score = _check_choice(owner, "score", score, tuple(_SCORES))
        if (
            not isinstance(n_thresholds, (int, np.integer))
            or isinstance(n_thresholds, bool)
            or n_thresholds < 1
        ):
            raise ConfigurationError(
                f"The 'n_thresholds' parameter of {owner} must be an int >= 1. "
                f"Got {n_thresholds!r} instead."
            )
        self.n_thresholds = int(n_thresholds)

    def grid(self, n_classes: int = 0) -> NDArray[np.float64]:
        """The candidate thresholds, fixed before any data is seen.

        Confidence is never below ``1 / n_classes``, so thresholds start there (lower ones
        would all answer every row and only dilute the test level).
        """
        low = 1.0 / n_classes if self.score == "confidence" and n_classes > 0 else 0.0
        return np.linspace(low, 1.0, self.n_thresholds + 1)

    def fit(self, d: Decisions, y: NDArray[Any]) -> Self:
        from scipy.stats import beta, binom

        y = _check_labels("RiskControlledThreshold", d, y)
        s = _SCORES[self.score](d)
        keep = np.isfinite(s) & ~_no_candidate(d)
        if not keep.any():
            raise InvalidInputError("RiskControlledThreshold.fit got no rows with a score.")
        s = s[keep]
        wrong = (d.prediction[keep] != y[keep]).astype(np.int64)
        order = np.argsort(-s, kind="stable")
        s_desc, cum_wrong = s[order], np.r_[0, np.cumsum(wrong[order])]
        grid = self.grid(0 if d.proba is None else d.proba.shape[1])
        # rows answered at t: score >= t, i.e. the first m_t rows in descending order
        m = np.searchsorted(-s_desc, -grid, side="right")
        e = cum_wrong[m]
        pvalue = binom.cdf(e, m, self.target_risk)
        pvalue[m == 0] = 1.0
        # Wiens' fallback procedure: each threshold gets delta / len(grid) of the level,
        # tested from the strictest down; a rejected threshold passes its level on to the
        # next one. Controls the chance of any wrong rejection at delta.
        share = self.delta / grid.shape[0]
        levels = np.empty(grid.shape[0])
        carried = 0.0
        for i in range(grid.shape[0] - 1, -1, -1):
            levels[i] = share + carried
            carried = levels[i] if pvalue[i] <= levels[i] else 0.0
        passed = np.flatnonzero(pvalue <= levels)
        n = s.shape[0]
        if passed.shape[0] == 0:
            import warnings

            warnings.warn(
                f"RiskControlledThreshold: no threshold keeps the risk below "
                f"{self.target_risk:g} with confidence {1 - self.delta:g} on {n} calibration "
                "rows; every row will be withheld. Use more calibration data or a larger "
                "target_risk.",
                GuardrailsWarning,
                stacklevel=2,
            )
            self.threshold_ = np.inf
            self.coverage_, self.risk_, self.risk_bound_ = 0.0, 0.0, 1.0
        else:
            i = int(passed.min())
            self.threshold_ = float(grid[i])
            mi, ei = int(m[i]), int(e[i])
            self.coverage_ = mi / n
            self.risk_ = ei / mi
            level = float(levels[i])
            self.risk_bound_ = float(beta.ppf(1.0 - level, ei + 1, mi - ei)) if ei < mi else 1.0
        return self

    def is_fitted(self) -> bool:
        return hasattr(self, "threshold_")

    def evaluate(self, d: Decisions) -> Verdict:
        return _below_threshold(self, d, f"risk target {self.target_risk:g}")

    def __repr__(self) -> str:
        return (
            f"RiskControlledThreshold(target_risk={self.target_risk!r}, delta={self.delta!r}, "
            f"score={self.score!r}, n_thresholds={self.n_thresholds!r})"
        )

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        state: dict[str, Any] = {
            "target_risk": self.target_risk,
            "delta": self.delta,
            "score": self.score,
            "n_thresholds": self.n_thresholds,
        }
        if self.is_fitted():
            state["fitted"] = {
                "threshold": None if np.isinf(self.threshold_) else self.threshold_,
                "coverage": self.coverage_,
                "risk": self.risk_,
                "risk_bound": self.risk_bound_,
            }
        return state

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> RiskControlledThreshold:
        out = cls(
            state["target_risk"],
            delta=state["delta"],
            score=state["score"],
            n_thresholds=state["n_thresholds"],
        )
        fitted = state.get("fitted")
        if fitted is not None:
            t = fitted["threshold"]
            out.threshold_ = np.inf if t is None else float(t)
            out.coverage_ = float(fitted["coverage"])
            out.risk_ = float(fitted["risk"])
            out.risk_bound_ = float(fitted["risk_bound"])
        return out


@persistable
class CostRule(Policy):
    """Chow's rule: withhold exactly where answering costs more, in expectation, than review.

    With calibrated probabilities ``p`` and the model's answer ``j``, the expected cost of
    answering is ``sum_y p[y] * C[y, j]`` (``C`` the cost matrix, true label by answer;
    ``cost_error * (1 - p[j])`` without one). A row is withheld when that exceeds
    ``cost_review``; ties are answered. The rule keeps the model's answer (it never swaps
    labels) and is the pointwise, hence overall, cheapest choice between answering it and
    sending the row to review. It needs calibrated probabilities to mean anything.

    Args:
        cost_review: the cost of sending a row to review instead of answering.
        cost_error: the cost of a wrong answer (when no ``cost_matrix``).
        cost_matrix: ``(n_classes, n_classes)`` cost of answering column when the truth is
            row, in the order of the model's classes; the diagonal is usually 0.

    Examples:
        >>> import numpy as np
        >>> from guardrails import CostRule, Decisions
        >>> d = Decisions(prediction=np.array([0, 0]), proba=np.array([[0.9, 0.1], [0.6, 0.4]]),
        ...               classes=np.array([0, 1]))
        >>> rule = CostRule(cost_review=0.2, cost_error=1.0)
        >>> rule.evaluate(d).abstain.tolist(), rule.expected_cost(d).round(2).tolist()
        ([False, True], [0.1, 0.2])
    """

    requires = frozenset({"proba"})

    def __init__(
        self,
        *,
        cost_review: float,
        cost_error: float = 1.0,
        cost_matrix: NDArray[np.float64] | list[list[float]] | None = None,
    ) -> None:
        self.cost_review = _check_number("CostRule", "cost_review", cost_review)
        self.cost_error = _check_number("CostRule", "cost_error", cost_error)
        self.cost_matrix: NDArray[np.float64] | None = None
        if cost_matrix is not None:
            try:
                matrix = np.asarray(cost_matrix, dtype=np.float64)
            except (TypeError, ValueError):
                matrix = np.empty((0, 1))
            if (
                matrix.ndim != 2
                or matrix.shape[0] != matrix.shape[1]
                or matrix.shape[0] < 2
                or not np.isfinite(matrix).all()
                or (matrix < 0).any()
            ):
                raise ConfigurationError(
                    "The 'cost_matrix' parameter of CostRule must be a square "
                    "(n_classes, n_classes) array of finite non-negative costs. "
                    f"Got {cost_matrix!r} instead."
                )
            self.cost_matrix = matrix

    def answer_cost(self, d: Decisions) -> NDArray[np.float64]:
        """``(n,)`` expected cost of answering each row with the model's prediction."""
        if d.proba is None:
            return np.full(len(d), np.nan)
        p = d.proba
        if self.cost_matrix is None:
            return self.cost_error * (1.0 - confidence_score(d))
        if self.cost_matrix.shape[0] != p.shape[1]:
            raise ConfigurationError(
                f"CostRule has a {self.cost_matrix.shape[0]}x{self.cost_matrix.shape[0]} "
                f"cost matrix but the model gives {p.shape[1]} classes."
            )
        if d.classes is not None:
            j = label_index(d.prediction, d.classes)
        else:
            j = np.argmax(np.nan_to_num(p, nan=-1.0), axis=1)
        expected = p @ self.cost_matrix  # (n, k): expected cost of answering each label
        out = np.take_along_axis(expected, np.maximum(j, 0)[:, None], axis=1)[:, 0]
        out[j < 0] = np.nan
        return out

    def expected_cost(self, d: Decisions) -> NDArray[np.float64]:
        """``(n,)`` expected cost of what the rule does: answer, or review when cheaper."""
        a = self.answer_cost(d)
        return np.where(a <= self.cost_review, a, self.cost_review)

    def evaluate(self, d: Decisions) -> Verdict:
        costly = ~(self.answer_cost(d) <= self.cost_review)
        return Verdict(
            costly,
            Reason.LOW_CONFIDENCE,
            f"expected cost of answering above the review cost {self.cost_review:g}",
        )

    def __repr__(self) -> str:
        cost = (
            f"cost_error={self.cost_error!r}"
            if self.cost_matrix is None
            else f"cost_matrix={self.cost_matrix.tolist()!r}"
        )
        return f"CostRule(cost_review={self.cost_review!r}, {cost})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CostRule) and repr(other) == repr(self)

    __hash__ = None  # type: ignore[assignment]

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        return {
            "cost_review": self.cost_review,
            "cost_error": self.cost_error,
            "cost_matrix": enc.array(self.cost_matrix),
        }

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> CostRule:
        return cls(
            cost_review=state["cost_review"],
            cost_error=state["cost_error"],
            cost_matrix=dec.array(state["cost_matrix"]),
        )
