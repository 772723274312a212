"""Risk control: sets and thresholds whose expected loss, or several risks, are bounded.

Conformal risk control (Angelopoulos, Bates, Fisch, Lei and Schuster, ICLR 2024) picks a
parameter ``lambda`` so that, for any loss bounded by ``B`` and nonincreasing in
``lambda`` (bigger sets, or fewer answers, never cost more), the expected loss on a new
exchangeable row is at most ``alpha``: ``lambda`` is the smallest value with
``(sum_i L_i(lambda) + B) / (n + 1) <= alpha``. It is tight: with continuous scores, the
expected loss is at least ``alpha - 2B / (n + 1)``. Split conformal is the case of the
0/1 miss loss; here the ready-made loss is a miss cost per class, and any user loss works.

Learn-then-test (Angelopoulos, Bates, Candes, Jordan and Lei 2021) certifies several
risks at once, with probability ``1 - delta`` over the calibration draw, by testing each
candidate threshold and controlling the family-wise error.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from guardrails.abstention.conformal import TOLERANCE, ConformalSets
from guardrails.abstention.policy import (
    Policy,
    Verdict,
    _below_threshold,
    _check_choice,
    _check_labels,
    _no_candidate,
    _not_fitted,
)
from guardrails.abstention.scores import _SCORES, label_index
from guardrails.core.checks import check_unit
from guardrails.core.decisions import Decisions
from guardrails.core.errors import ConfigurationError, GuardrailsWarning, InvalidInputError
from guardrails.core.persistence import persistable

if TYPE_CHECKING:
    from typing_extensions import Self

    from guardrails.core.persistence import Decoder, Encoder

__all__ = ["ConformalRiskControl", "CostControlledThreshold", "LearnThenTest"]

SetLoss = Callable[[NDArray[np.bool_], NDArray[np.intp]], Any]
"""A user loss: ``(sets (n, n_classes) bool, true label index (n,)) -> (n,)`` losses."""


def _class_costs(owner: str, costs: Any, classes: NDArray[Any]) -> NDArray[np.float64]:
    """Per class in the order of ``classes``: a cost in [0, 1] (mapping or sequence)."""
    k = classes.shape[0]
    if costs is None:
        return np.ones(k)
    if isinstance(costs, Mapping):
        out = np.ones(k)
        index = {str(c): i for i, c in enumerate(classes.tolist())}
        for label, cost in costs.items():
            if str(label) not in index:
                raise ConfigurationError(
                    f"The 'class_costs' of {owner} name {label!r}, not one of the classes "
                    f"{classes.tolist()!r}."
                )
            out[index[str(label)]] = cost
    else:
        out = np.asarray(costs, dtype=np.float64)
        if out.shape != (k,):
            raise ConfigurationError(
                f"The 'class_costs' of {owner} must give one cost per class ({k}); got shape "
                f"{out.shape}."
            )
    if not (np.isfinite(out).all() and (out >= 0).all() and (out <= 1).all()):
        raise ConfigurationError(f"The 'class_costs' of {owner} must lie in [0, 1]. Got {out}.")
    return out


def _check_costs(owner: str, costs: Any) -> Any:
    if costs is None or isinstance(costs, Mapping):
        return None if costs is None else dict(costs)
    try:
        arr = np.asarray(costs, dtype=np.float64)
    except (TypeError, ValueError):
        arr = np.array([np.nan])
    if arr.ndim != 1 or not (np.isfinite(arr).all() and (arr >= 0).all() and (arr <= 1).all()):
        raise ConfigurationError(
            f"The 'class_costs' parameter of {owner} must be a mapping label -> cost or a "
            f"sequence of costs, each in [0, 1]. Got {costs!r} instead."
        )
    return arr.tolist()


def _costs_to_state(costs: Any) -> dict[str, Any] | None:
    """Class costs as plain data: by label (a dict) or by class position (a sequence)."""
    if costs is None:
        return None
    if isinstance(costs, dict):
        return {"labels": [str(k) for k in costs], "costs": [float(v) for v in costs.values()]}
    return {"costs": costs}


def _costs_from_state(spec: dict[str, Any] | None) -> Any:
    """The class costs that `_costs_to_state` stored."""
    if spec is None:
        return None
    return dict(zip(spec["labels"], spec["costs"])) if "labels" in spec else spec["costs"]


def crc_threshold(losses_sum: NDArray[np.float64], n: int, bound: float, alpha: float) -> int:
    """Index of the first candidate (candidates sorted so losses do not increase) whose
    conformal risk control bound ``(sum L + B) / (n + 1)`` is at most ``alpha``, and
    from which on every later candidate's is too; ``-1`` when none is."""
    ok = (losses_sum + bound) / (n + 1) <= alpha + 1e-12
    if not ok[-1]:
        return -1
    bad = np.flatnonzero(~ok)
    return 0 if bad.size == 0 else int(bad[-1]) + 1


@persistable
class ConformalRiskControl(ConformalSets):
    """Prediction sets whose expected loss is at most ``alpha`` (conformal risk control).

    Sets are ``{y : score(x, y) <= lambda}`` as in [`ConformalSets`][guardrails.ConformalSets];
    ``lambda`` is chosen by conformal risk control, so that on new exchangeable rows
    ``E[loss] <= alpha``, and (scores without ties) ``E[loss] >= alpha - 2B/(n + 1)``.

    - The ready-made loss, ``class_costs``: missing a row of class ``y`` costs
      ``class_costs[y]`` in [0, 1] (1 for every class: split conformal's miss rate). Missing
      a dangerous class can cost 1 and a benign one 0.1; the sets then cover the dangerous
      class far more often than ``1 - alpha``. Solved exactly over every calibration score.
    - A user ``loss(sets, y_index) -> (n,)`` in ``[0, bound]``, nonincreasing as sets
      grow (e.g. the share of a row's true labels missed, or a miss cost that depends on
      the set). Solved over a fixed grid of ``n_grid`` thresholds spanning the possible
      scores; a loss that grows with the set is refused at fit.

    Args:
        alpha: the largest acceptable expected loss, in (0, 1).
        score: "lac", "aps" or "raps".
        class_costs: a mapping label -> cost or a sequence in class order; costs in [0, 1].
        loss: a user loss (instead of ``class_costs``).
        bound: the largest value the user loss can take (``B``); default 1.
        max_set_size: answer only when the set holds at most this many labels.
        n_grid: thresholds tried for a user loss.
        penalty: the RAPS regularisation.
        k_reg: the RAPS regularisation.

    Attributes (after fit):
        threshold_: ``lambda``; risk_: the calibration rows' mean loss at it.

    Examples:
        >>> import numpy as np
        >>> from guardrails import Decisions
        >>> rng = np.random.default_rng(0)
        >>> p = rng.dirichlet([1, 1, 1], size=500); y = np.array([rng.choice(3, p=r) for r in p])
        >>> d = Decisions(prediction=p.argmax(1), proba=p, classes=np.arange(3))
        >>> crc = ConformalRiskControl(0.05, class_costs={0: 1.0, 1: 0.2, 2: 0.2}).fit(d, y)
        >>> bool(crc.risk_ <= 0.05)
        True
    """

    online = False

    def __init__(
        self,
        alpha: float = 0.1,
        *,
        score: str = "lac",
        class_costs: Mapping[Any, float] | Any = None,
        loss: SetLoss | None = None,
        bound: float = 1.0,
        max_set_size: int | None = 1,
        n_grid: int = 500,
        penalty: float = 0.01,
        k_reg: int = 1,
    ) -> None:
        owner = "ConformalRiskControl"
        ConformalSets.__init__(
            self, alpha, score=score, max_set_size=max_set_size, penalty=penalty, k_reg=k_reg
        )
        if loss is not None and not callable(loss):
            raise ConfigurationError(
                f"The 'loss' parameter of {owner} must be a function (sets, y_index) -> "
                f"losses, or None. Got {loss!r} instead."
            )
        if loss is not None and class_costs is not None:
            raise ConfigurationError(f"{owner} takes class_costs=... or loss=..., not both.")
        self.class_costs = _check_costs(owner, class_costs)
        self.loss = loss
        if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not bound > 0:
            raise ConfigurationError(
                f"The 'bound' parameter of {owner} must be a float > 0. Got {bound!r} instead."
            )
        self.bound = float(bound)
        if isinstance(n_grid, bool) or not isinstance(n_grid, (int, np.integer)) or n_grid < 10:
            raise ConfigurationError(
                f"The 'n_grid' parameter of {owner} must be an int >= 10. Got {n_grid!r}."
            )
        self.n_grid = int(n_grid)

    def _score_top(self, k: int) -> float:
        if self.score == "raps":
            return 1.0 + self.penalty * max(0, k - self.k_reg)
        return 1.0

    def fit(self, d: Decisions, y: NDArray[Any]) -> Self:
        owner = "ConformalRiskControl"
        y = _check_labels(owner, d, y)
        if d.proba is None or d.classes is None:
            raise ConfigurationError(f"{owner} needs class probabilities and classes.")
        keep = ~_no_candidate(d) & np.isfinite(d.proba).all(axis=1)
        yi = label_index(y[keep], d.classes)
        if (yi < 0).any():
            raise InvalidInputError(
                f"{owner}.fit got labels that are not among the model's classes "
                f"{d.classes.tolist()!r}."
            )
        self.classes_ = np.asarray(d.classes)
        s = self.scores(d)[keep]
        n = s.shape[0]
        if self.loss is None:
            costs = _class_costs(owner, self.class_costs, self.classes_)
            bound = float(costs.max()) if costs.max() > 0 else 1.0
            true = s[np.arange(n), yi]
            c = costs[yi]
            order = np.argsort(true, kind="stable")
            cand = np.r_[-np.inf, true[order]]
            # loss sum at lambda = cand[k]: the cost of rows whose score exceeds it
            tail = np.r_[np.cumsum(c[order][::-1])[::-1], 0.0]
            i = crc_threshold(tail, n, bound, self.alpha)
            self._bound_used = bound
            if i < 0:
                raise _too_few_risk(owner, n, bound, self.alpha)
            lam = float(cand[i])
            risk = float(tail[i]) / n
        else:
            grid = np.linspace(0.0, self._score_top(s.shape[1]), self.n_grid)
            sums = np.empty(grid.shape[0])
            for g, lam_g in enumerate(grid):
                sums[g] = self._user_loss(s <= lam_g + TOLERANCE, yi).sum()
            rising = np.flatnonzero(np.diff(sums) > 1e-9 * max(1.0, n * self.bound))
            if rising.size:
                raise ConfigurationError(
                    f"The 'loss' of {owner} must not grow as sets grow (conformal risk "
                    f"control needs a loss nonincreasing in the threshold); its calibration "
                    f"total rose from {sums[rising[0]]:.4g} to {sums[rising[0] + 1]:.4g} "
                    f"between thresholds {grid[rising[0]]:.4g} and {grid[rising[0] + 1]:.4g}."
                )
            self._bound_used = self.bound
            i = crc_threshold(sums, n, self.bound, self.alpha)
            if i < 0:
                raise _too_few_risk(owner, n, self.bound, self.alpha)
            lam = float(grid[i])
            risk = float(sums[i]) / n
        self.threshold_ = lam
        self.thresholds_ = np.array([lam])
        self.group_labels_ = None
        self.risk_ = risk
        self.n_calibration_ = n
        self.calibration_scores_ = np.zeros(0)
        return self

    def _user_loss(self, sets: NDArray[np.bool_], yi: NDArray[np.intp]) -> NDArray[np.float64]:
        assert self.loss is not None
        out = np.asarray(self.loss(sets, yi), dtype=np.float64)
        if out.shape != (sets.shape[0],):
            raise ConfigurationError(
                f"The 'loss' of ConformalRiskControl must return one loss per row, shape "
                f"({sets.shape[0]},). Got shape {out.shape}."
            )
        if not (np.isfinite(out).all() and (out >= 0).all() and (out <= self.bound).all()):
            raise ConfigurationError(
                f"The 'loss' of ConformalRiskControl must return losses in [0, bound="
                f"{self.bound:g}]. Got values in [{out.min():g}, {out.max():g}]."
            )
        return out

    def __repr__(self) -> str:
        parts = [f"alpha={self.alpha!r}", f"score={self.score!r}"]
        if self.class_costs is not None:
            parts.append(f"class_costs={self.class_costs!r}")
        if self.loss is not None:
            name = getattr(self.loss, "__name__", repr(self.loss))
            parts += [f"loss={name}", f"bound={self.bound!r}"]
        parts.append(f"max_set_size={self.max_set_size!r}")
        return f"ConformalRiskControl({', '.join(parts)})"

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        costs = self.class_costs
        state: dict[str, Any] = {
            "alpha": self.alpha,
            "score": self.score,
            "class_costs": _costs_to_state(costs),
            "loss": None if self.loss is None else enc.ref("loss", "the loss function of CRC"),
            "bound": self.bound,
            "max_set_size": self.max_set_size,
            "n_grid": self.n_grid,
            "penalty": self.penalty,
            "k_reg": self.k_reg,
        }
        if self.is_fitted():
            classes = self.classes_.astype(str) if self.classes_.dtype == object else self.classes_
            state["fitted"] = {
                "classes": enc.array(classes),
                "threshold": None if np.isinf(self.threshold_) else self.threshold_,
                "risk": self.risk_,
                "n": self.n_calibration_,
            }
        return state

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> ConformalRiskControl:
        costs = _costs_from_state(state["class_costs"])
        out = cls(
            state["alpha"],
            score=state["score"],
            class_costs=costs,
            loss=None if state["loss"] is None else dec.ref(state["loss"]),
            bound=state["bound"],
            max_set_size=state["max_set_size"],
            n_grid=state["n_grid"],
            penalty=state["penalty"],
            k_reg=state["k_reg"],
        )
        fitted = state.get("fitted")
        if fitted is not None:
            out.classes_ = dec.required_array(fitted["classes"])
            t = fitted["threshold"]
            out.threshold_ = -np.inf if t is None else float(t)
            out.thresholds_ = np.array([out.threshold_])
            out.group_labels_ = None
            out.risk_ = float(fitted["risk"])
            out.n_calibration_ = int(fitted["n"])
            out.calibration_scores_ = np.zeros(0)
        return out


def _too_few_risk(owner: str, n: int, bound: float, alpha: float) -> InvalidInputError:
    need = int(np.ceil(bound / alpha)) - 1
    return InvalidInputError(
        f"{owner} cannot keep the expected loss below alpha={alpha:g} on {n} calibration "
        f"rows: even the largest sets leave (sum of losses + B) / (n + 1) above alpha (B = "
        f"{bound:g}; at least {need} rows are needed when the largest sets cost nothing). "
        "Use more calibration data or a larger alpha."
    )


@persistable
class CostControlledThreshold(Policy):
    """Answer as many rows as possible while the expected cost of wrong answers stays <= alpha.

    Rows are answered when their score (confidence or margin) is at least ``lambda``;
    the loss of a row is ``class_costs[y]`` when it is answered and wrong, else 0. It is
    bounded and nonincreasing in ``lambda``, so conformal risk control gives, on new
    exchangeable rows, ``E[cost of a wrong answer, per row] <= alpha`` (rows withheld
    cost 0 here: they go to a person). Unlike
    [`RiskControlledThreshold`][guardrails.RiskControlledThreshold] (selective risk with
    probability ``1 - delta``), this is a guarantee in expectation, and tight.

    Args:
        alpha: the largest acceptable expected cost per row, in (0, 1).
        class_costs: mapping label -> cost in [0, 1] or a sequence in class order; the
            cost of answering wrongly a row whose true class it is (default 1 each).
        score: "confidence" or "margin".

    Attributes (after fit):
        threshold_: answer rows whose score is at least this; coverage_: share of
        calibration rows answered; risk_: their mean cost.
    """

    requires = frozenset({"proba"})

    def __init__(
        self,
        alpha: float = 0.05,
        *,
        class_costs: Mapping[Any, float] | Any = None,
        score: str = "confidence",
    ) -> None:
        owner = "CostControlledThreshold"
        self.alpha = check_unit(owner, "alpha", alpha, interval="(0, 1)")
        self.class_costs = _check_costs(owner, class_costs)
        self.score = _check_choice(owner, "score", score, tuple(_SCORES))

    def fit(self, d: Decisions, y: NDArray[Any]) -> Self:
        owner = "CostControlledThreshold"
        y = _check_labels(owner, d, y)
        if d.classes is None:
            raise ConfigurationError(f"{owner} needs the model's classes.")
        s = _SCORES[self.score](d)
        keep = np.isfinite(s) & ~_no_candidate(d)
        yi = label_index(y[keep], d.classes)
        if (yi < 0).any():
            raise InvalidInputError(f"{owner}.fit got labels that are not among the classes.")
        costs = _class_costs(owner, self.class_costs, np.asarray(d.classes))
        bound = float(costs.max()) if costs.max() > 0 else 1.0
        s = s[keep]
        n = s.shape[0]
        loss = costs[yi] * (d.prediction[keep] != y[keep])
        order = np.argsort(-s, kind="stable")
        s_desc = s[order]
        # candidates from strictest (+inf: answer nothing) down to the lowest score
        cand = np.r_[np.inf, np.unique(s)[::-1]]
        answered = np.searchsorted(-s_desc, -cand, side="right")
        sums = np.r_[0.0, np.cumsum(loss[order])][answered]
        # larger lambda (earlier candidate) never costs more: sort so losses do not increase
        i = crc_threshold(sums[::-1], n, bound, self.alpha)
        if i < 0:
            raise _too_few_risk(owner, n, bound, self.alpha)
        j = cand.shape[0] - 1 - i
        self.threshold_ = float(cand[j])
        self.coverage_ = float(answered[j]) / n
        self.risk_ = float(sums[j]) / n
        self.n_calibration_ = n
        return self

    def is_fitted(self) -> bool:
        return hasattr(self, "threshold_")

    def evaluate(self, d: Decisions) -> Verdict:
        return _below_threshold(self, d, f"expected cost target {self.alpha:g}")

    def __repr__(self) -> str:
        costs = "" if self.class_costs is None else f", class_costs={self.class_costs!r}"
        return f"CostControlledThreshold(alpha={self.alpha!r}{costs}, score={self.score!r})"

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        costs = self.class_costs
        state: dict[str, Any] = {
            "alpha": self.alpha,
            "score": self.score,
            "class_costs": _costs_to_state(costs),
        }
        if self.is_fitted():
            state["fitted"] = {
                "threshold": None if np.isinf(self.threshold_) else self.threshold_,
                "coverage": self.coverage_,
                "risk": self.risk_,
                "n": self.n_calibration_,
            }
        return state

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> CostControlledThreshold:
        costs = _costs_from_state(state["class_costs"])
        out = cls(state["alpha"], class_costs=costs, score=state["score"])
        fitted = state.get("fitted")
        if fitted is not None:
            t = fitted["threshold"]
            out.threshold_ = np.inf if t is None else float(t)
            out.coverage_ = float(fitted["coverage"])
            out.risk_ = float(fitted["risk"])
            out.n_calibration_ = int(fitted["n"])
        return out


_RISKS = ("selective_error", "abstention_rate", "error", "cost")


@persistable
class LearnThenTest(Policy):
    """One threshold certified for several risks at once (learn-then-test).

    Rows are answered when their score is at least a threshold from a fixed grid. Each
    constraint ``name <= target`` is tested at each grid threshold:

    - "selective_error": error rate among answered rows (exact binomial test given the
      number answered);
    - "abstention_rate": share of rows withheld (exact binomial test);
    - "error": share of rows answered wrongly (exact binomial test);
    - "cost": mean of ``class_costs[y]`` over rows answered wrongly (Hoeffding test).

    Constraints are listed by priority. At each threshold, the first ``k`` constraints
    are certified when all their p-values are below ``delta / len(grid)`` (Bonferroni over
    the grid; within a threshold the nested families need no further split). The policy
    keeps the threshold that certifies the most constraints, the one answering most rows
    among those. With probability at least ``1 - delta`` over the calibration draw, every
    constraint reported in ``certified_`` holds on new rows from the same distribution.
    When even the first constraint cannot be certified, every row is withheld (and a
    [`GuardrailsWarning`][guardrails.GuardrailsWarning] says so at fit).

    Args:
        constraints: mapping name -> target in (0, 1), in priority order, e.g.
            ``{"selective_error": 0.05, "abstention_rate": 0.3}``.
        delta: the chance that the calibration draw misleads, in (0, 1).
        score: "confidence" or "margin".
        n_thresholds: grid resolution.
        class_costs: for "cost", a cost in [0, 1] per true class.

    Attributes (after fit):
        threshold_: answer rows whose score is at least this.
        certified_: constraint name -> True when certified at ``threshold_``.
        risks_: constraint name -> calibration value at ``threshold_``.
        p_values_: constraint name -> p-value at ``threshold_``.

    Examples:
        >>> import numpy as np
        >>> from guardrails import Decisions
        >>> rng = np.random.default_rng(0)
        >>> p = rng.dirichlet([0.3, 0.3], size=2000); y = (rng.random(2000) < p[:, 1]).astype(int)
        >>> d = Decisions(prediction=p.argmax(1), proba=p, classes=np.arange(2))
        >>> ltt = LearnThenTest({"selective_error": 0.1, "abstention_rate": 0.5}).fit(d, y)
        >>> ltt.certified_
        {'selective_error': True, 'abstention_rate': True}
    """

    requires = frozenset({"proba"})

    def __init__(
        self,
        constraints: Mapping[str, float],
        *,
        delta: float = 0.1,
        score: str = "confidence",
        n_thresholds: int = 50,
        class_costs: Mapping[Any, float] | Any = None,
    ) -> None:
        owner = "LearnThenTest"
        if not isinstance(constraints, Mapping) or not constraints:
            raise ConfigurationError(
                f"The 'constraints' parameter of {owner} must be a non-empty mapping "
                f"name -> target, names among {list(_RISKS)}. Got {constraints!r} instead."
            )
        for name, target in constraints.items():
            _check_choice(owner, "constraints", name, _RISKS)
            check_unit(owner, f"constraints[{name!r}]", target, interval="(0, 1)")
        self.constraints = {str(k): float(v) for k, v in constraints.items()}
        self.delta = check_unit(owner, "delta", delta, interval="(0, 1)")
        self.score = _check_choice(owner, "score", score, tuple(_SCORES))
        if (
            isinstance(n_thresholds, bool)
            or not isinstance(n_thresholds, (int, np.integer))
            or n_thresholds < 1
        ):
            raise ConfigurationError(
                f"The 'n_thresholds' parameter of {owner} must be an int >= 1. "
                f"Got {n_thresholds!r} instead."
            )
        self.n_thresholds = int(n_thresholds)
        self.class_costs = _check_costs(owner, class_costs)

    def grid(self, n_classes: int = 0) -> NDArray[np.float64]:
        """The candidate thresholds, fixed before any data is seen."""
        low = 1.0 / n_classes if self.score == "confidence" and n_classes > 0 else 0.0
        return np.linspace(low, 1.0, self.n_thresholds + 1)

    def fit(self, d: Decisions, y: NDArray[Any]) -> Self:
        from scipy.stats import binom  # heavy: imported when used

        owner = "LearnThenTest"
        y = _check_labels(owner, d, y)
        s = _SCORES[self.score](d)
        keep = np.isfinite(s) & ~_no_candidate(d)
        if not keep.any():
            raise InvalidInputError(f"{owner}.fit got no rows with a score.")
        s = s[keep]
        n = s.shape[0]
        wrong = d.prediction[keep] != y[keep]
        cost = wrong.astype(np.float64)
        if "cost" in self.constraints:
            if d.classes is None:
                raise ConfigurationError(f"{owner} needs the model's classes for 'cost'.")
            yi = label_index(y[keep], d.classes)
            costs = _class_costs(owner, self.class_costs, np.asarray(d.classes))
            cost = np.where(yi >= 0, costs[np.maximum(yi, 0)], 1.0) * wrong
        order = np.argsort(-s, kind="stable")
        grid = self.grid(0 if d.proba is None else d.proba.shape[1])
        m = np.searchsorted(-s[order], -grid, side="right")  # rows answered at each threshold
        e = np.r_[0, np.cumsum(wrong[order])][m]
        c = np.r_[0.0, np.cumsum(cost[order])][m]
        pv: dict[str, NDArray[np.float64]] = {}
        risk: dict[str, NDArray[np.float64]] = {}
        for name, target in self.constraints.items():
            if name == "selective_error":
                p = np.where(m > 0, binom.cdf(e, np.maximum(m, 1), target), 1.0)
                r = np.where(m > 0, e / np.maximum(m, 1), 0.0)
            elif name == "abstention_rate":
                p = binom.cdf(n - m, n, target)
                r = (n - m) / n
            elif name == "error":
                p = binom.cdf(e, n, target)
                r = e / n
            else:
                r = c / n
                p = np.where(r < target, np.exp(-2.0 * n * (target - r) ** 2), 1.0)
            pv[name], risk[name] = np.asarray(p, np.float64), np.asarray(r, np.float64)
        level = self.delta / grid.shape[0]
        names = list(self.constraints)
        nested = np.maximum.accumulate(np.vstack([pv[k] for k in names]), axis=0)
        certified = (nested <= level).sum(axis=0)  # a prefix length per threshold
        best = int(certified.max())
        if best == 0:
            warnings.warn(
                f"LearnThenTest: no threshold certifies {names[0]} <= "
                f"{self.constraints[names[0]]:g} with confidence {1 - self.delta:g} on {n} "
                "calibration rows; every row will be withheld.",
                GuardrailsWarning,
                stacklevel=2,
            )
            self.threshold_ = np.inf
            self.certified_ = {k: False for k in names}
            self.risks_ = {k: float("nan") for k in names}
            self.p_values_ = {k: 1.0 for k in names}
        else:
            i = int(np.flatnonzero(certified == best).min())
            self.threshold_ = float(grid[i])
            self.certified_ = {k: j < best for j, k in enumerate(names)}
            self.risks_ = {k: float(risk[k][i]) for k in names}
            self.p_values_ = {k: float(pv[k][i]) for k in names}
        self.n_calibration_ = n
        return self

    def is_fitted(self) -> bool:
        return hasattr(self, "threshold_")

    def evaluate(self, d: Decisions) -> Verdict:
        if not self.is_fitted():
            raise _not_fitted(self)
        held = [k for k, ok in self.certified_.items() if ok]
        return _below_threshold(self, d, f"certified: {', '.join(held) or 'none'}")

    def __repr__(self) -> str:
        return (
            f"LearnThenTest({self.constraints!r}, delta={self.delta!r}, score={self.score!r}, "
            f"n_thresholds={self.n_thresholds!r})"
        )

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        costs = self.class_costs
        state: dict[str, Any] = {
            "names": list(self.constraints),
            "targets": list(self.constraints.values()),
            "delta": self.delta,
            "score": self.score,
            "n_thresholds": self.n_thresholds,
            "class_costs": _costs_to_state(costs),
        }
        if self.is_fitted():
            names = list(self.constraints)
            state["fitted"] = {
                "threshold": None if np.isinf(self.threshold_) else self.threshold_,
                "certified": [self.certified_[k] for k in names],
                "risks": [None if np.isnan(self.risks_[k]) else self.risks_[k] for k in names],
                "p_values": [self.p_values_[k] for k in names],
                "n": self.n_calibration_,
            }
        return state

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> LearnThenTest:
        costs = _costs_from_state(state["class_costs"])
        names = state["names"]
        out = cls(
            dict(zip(names, state["targets"])),
            delta=state["delta"],
            score=state["score"],
            n_thresholds=state["n_thresholds"],
            class_costs=costs,
        )
        fitted = state.get("fitted")
        if fitted is not None:
            t = fitted["threshold"]
            out.threshold_ = np.inf if t is None else float(t)
            out.certified_ = dict(zip(names, (bool(v) for v in fitted["certified"])))
            out.risks_ = {
                k: float("nan") if v is None else float(v) for k, v in zip(names, fitted["risks"])
            }
            out.p_values_ = dict(zip(names, (float(v) for v in fitted["p_values"])))
            out.n_calibration_ = int(fitted["n"])
        return out
