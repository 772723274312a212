"""Conformal prediction: sets for classifiers, intervals for regressors, adaptive under drift.

Split conformal in one paragraph: score how badly each held-out row's true answer fits
the model (a *nonconformity score*), take the ``ceil((n + 1)(1 - alpha))``-th smallest of
the ``n`` calibration scores as the threshold ``q``, and give, for a new row, every answer
whose score is at most ``q``. When calibration and new rows are exchangeable the true
answer is in the set (or interval) with probability at least ``1 - alpha``, and at most
``1 - alpha + 1/(n + 1)`` when scores have no ties. The policies here put the set on the
decision (``pred_set`` ``(n_samples, n_classes)`` or ``interval`` ``(n_samples, 2)``) and
withhold the answer when the set is empty, holds too many labels, or the interval is too
wide.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from guardrails.abstention.policies import (
    Policy,
    Verdict,
    _check_choice,
    _check_labels,
    _check_number,
    _no_candidate,
    _not_fitted,
    label_index,
)
from guardrails.core.checks import check_unit
from guardrails.core.decisions import PRIMARY, Decisions, Reason, object_column
from guardrails.core.errors import (
    ConfigurationError,
    GuardrailsWarning,
    InvalidInputError,
    ModelOutputError,
)
from guardrails.core.layer import take_rows
from guardrails.core.persistence import persistable
from guardrails.core.rowwise import all_finite, row_pick

if TYPE_CHECKING:
    from typing_extensions import Self

    from guardrails.core.persistence import Decoder, Encoder

__all__ = [
    "AdaptiveConformal",
    "ConformalIntervals",
    "ConformalSets",
    "conformal_quantile",
    "conformal_rank",
    "set_scores",
]

TOLERANCE = 1e-8
"""A label is in the set when its score exceeds the threshold by at most this (as MAPIE)."""


def conformal_rank(n: int, alpha: float) -> int:
    """The rank ``ceil((n + 1)(1 - alpha))`` of the calibration score used as threshold.

    Computed as MAPIE 1.6 computes it, so thresholds agree to the bit.
    """
    return int(np.ceil((1 - alpha) * (n + 1)))


def min_calibration_size(alpha: float) -> int:
    """The fewest calibration rows for which ``alpha`` gives a finite threshold."""
    n = max(1, int(np.floor((1 - alpha) / alpha)) - 1)
    while conformal_rank(n, alpha) > n:
        n += 1
    return n


def conformal_quantile(scores: NDArray[np.float64], alpha: float) -> float:
    """The split conformal threshold: the ``ceil((n + 1)(1 - alpha))``-th smallest score.

    Args:
        scores: ``(n,)`` calibration scores (any order).
        alpha: the miscoverage level; any real number (adaptive conformal moves it outside
            (0, 1)).

    Returns:
        The threshold; ``+inf`` when the rank exceeds ``n`` (too few rows for ``alpha``,
        or ``alpha <= 0``: every answer is in the set), ``-inf`` when the rank is below 1
        (``alpha >= 1``: the set is empty).
    """
    n = scores.shape[0]
    k = conformal_rank(n, alpha)
    if k > n:
        return float("inf")
    if k < 1:
        return float("-inf")
    return float(np.partition(scores, k - 1)[k - 1])


_SET_SCORES = ("lac", "aps", "raps")


def set_scores(
    proba: NDArray[np.float64],
    score: str = "lac",
    *,
    penalty: float = 0.0,
    k_reg: int = 1,
    u: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """Nonconformity score of every label of every row, ``(n_samples, n_classes)``.

    - ``"lac"``: ``1 - p[y]`` (Sadinle et al. 2019): smallest sets on average.
    - ``"aps"``: the total probability of the labels ranked at or above ``y``
      (Romano et al. 2020), not randomized: sets adapt to how hard the row is.
    - ``"raps"``: APS plus ``penalty * max(0, rank(y) - k_reg)`` (Angelopoulos et al.
      2021), which discourages long tails of unlikely labels.

    With ``u`` ``(n_samples,)`` uniform draws, APS and RAPS are randomized: the label's
    own probability counts only for the share ``u`` (``cumsum - (1 - u) * p[y]``). That
    breaks the ties that make non-randomized APS conservative (the last-ranked label
    always scores exactly 1).
    """
    if score == "lac":
        return 1.0 - proba
    order = np.argsort(-proba, axis=1, kind="stable")
    cum = np.cumsum(np.take_along_axis(proba, order, axis=1), axis=1)
    if score == "raps" and penalty > 0:
        ranks = np.arange(1, proba.shape[1] + 1, dtype=np.float64)
        cum = cum + penalty * np.maximum(0.0, ranks - k_reg)
    out = np.empty_like(cum)
    np.put_along_axis(out, order, cum, axis=1)
    if u is not None:
        out -= (1.0 - u)[:, np.newaxis] * proba
    return out


def set_sizes(sets: NDArray[np.bool_]) -> NDArray[np.intp]:
    """``(n_samples,)`` number of labels in each set of ``(n_samples, n_classes)`` bool."""
    if sets.shape[1] > 64 or sets.shape[1] == 0:
        counted: NDArray[np.intp] = np.asarray(np.count_nonzero(sets, axis=1), dtype=np.intp)
        return counted
    out = sets[:, 0].astype(np.intp)
    for j in range(1, sets.shape[1]):  # a few column adds beat a row-wise reduction
        out += sets[:, j]
    return out


def _too_few(owner: str, n: int, alpha: float) -> InvalidInputError:
    return InvalidInputError(
        f"{owner} needs at least {min_calibration_size(alpha)} calibration rows for "
        f"alpha={alpha:g} (the threshold is the ceil((n+1)(1-alpha))-th smallest score); "
        f"got {n}. Use more calibration data or a larger alpha."
    )


def _check_alpha(owner: str, alpha: Any) -> float:
    return check_unit(owner, "alpha", alpha, interval="(0, 1)")


def _check_size(owner: str, name: str, value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ConfigurationError(
            f"The {name!r} parameter of {owner} must be an int >= 1 or None. Got {value!r} instead."
        )
    return int(value)


def _group_key(values: NDArray[Any]) -> NDArray[Any]:
    """Group labels in a form that can be saved and compared: numbers or str."""
    arr = np.asarray(values)
    return arr.astype(str) if arr.dtype == object else arr


@persistable
class ConformalSets(Policy):
    """Split conformal prediction sets for a classifier; withhold ambiguous answers.

    After ``fit`` on held-out rows, each row gets the set of labels whose score is within
    the calibrated threshold (``pred_set``, ``(n_samples, n_classes)`` bool). With
    exchangeable data the true label is in the set with probability at least
    ``1 - alpha`` (per class with ``class_conditional=True``; per group with ``groups``).

    The answer is withheld when:

    - the set is empty (``LOW_CONFIDENCE``): no label fits as well as the calibration
      labels did at this level; the row looks unlike calibration data for every class;
    - the set holds more than ``max_set_size`` labels (``AMBIGUOUS``);
    - the model's answer is not in the set (``AMBIGUOUS``; possible only with
      class-conditional or group thresholds).

    Args:
        alpha: the miscoverage level in (0, 1); sets hold the truth with prob. >= 1 - alpha.
        score: "lac", "aps" or "raps" (see `set_scores`).
        class_conditional: one threshold per true class (Mondrian conformal), for
            coverage within every class, not only on average.
        groups: a function of the decisions giving each row's group ``(n_samples,)``
            (e.g. a region or a confidence band); one threshold per group. Groups or
            classes with too few calibration rows for ``alpha`` get every label (and a
            [`GuardrailsWarning`][guardrails.GuardrailsWarning] at fit); a group never seen in
            calibration also gets every label.
        max_set_size: answer only when the set holds at most this many labels; ``None``
            never withholds for size.
        penalty: the RAPS regularisation (ignored by other scores).
        k_reg: the RAPS regularisation (ignored by other scores).
        randomized: for "aps" and "raps", draw one uniform number per row to break ties
            (Romano et al. 2020). Then coverage is also at most ``1 - alpha + 1/(n + 1)``
            and sets are smaller, but the same row can get a different set on another
            call. Without it (the default) decisions are reproducible and coverage is at
            least ``1 - alpha``, typically more.
        random_state: seed of the draws when ``randomized``.

    Raises:
        InvalidInputError: at fit, when there are too few calibration rows for ``alpha``
            (fewer than about ``1/alpha - 1``), or a label is not one of the model's
            classes.

    Examples:
        >>> import numpy as np
        >>> from guardrails import ConformalSets, Decisions
        >>> rng = np.random.default_rng(0)
        >>> p = rng.dirichlet([1, 1, 1], size=200); y = np.array([rng.choice(3, p=r) for r in p])
        >>> d = Decisions(prediction=p.argmax(1), proba=p, classes=np.arange(3))
        >>> policy = ConformalSets(alpha=0.2, max_set_size=2).fit(d, y)
        >>> policy.evaluate(d).columns["pred_set"].shape
        (200, 3)
    """

    requires = frozenset({"proba"})
    produces = frozenset({"pred_set"})
    online: ClassVar[bool] = True
    """Whether adaptive conformal may move this policy's level (not for risk control)."""

    def __init__(
        self,
        alpha: float = 0.1,
        *,
        score: str = "lac",
        class_conditional: bool = False,
        groups: Callable[[Decisions], Any] | None = None,
        max_set_size: int | None = 1,
        penalty: float = 0.01,
        k_reg: int = 1,
        randomized: bool = False,
        random_state: int | None = None,
    ) -> None:
        owner = "ConformalSets"
        self.alpha = _check_alpha(owner, alpha)
        self.score = _check_choice(owner, "score", score, _SET_SCORES)
        if not isinstance(class_conditional, bool):
            raise ConfigurationError(
                f"The 'class_conditional' parameter of {owner} must be a bool. "
                f"Got {class_conditional!r} instead."
            )
        if groups is not None and not callable(groups):
            raise ConfigurationError(
                f"The 'groups' parameter of {owner} must be a function of the decisions "
                f"returning one group per row, or None. Got {groups!r} instead."
            )
        if groups is not None and class_conditional:
            raise ConfigurationError(
                f"{owner} takes class_conditional=True or groups=..., not both."
            )
        self.class_conditional = class_conditional
        self.groups = groups
        self.max_set_size = _check_size(owner, "max_set_size", max_set_size)
        self.penalty = _check_number(owner, "penalty", penalty)
        self.k_reg = _check_size(owner, "k_reg", k_reg) or 1
        if not isinstance(randomized, bool) or (randomized and score == "lac"):
            raise ConfigurationError(
                f"The 'randomized' parameter of {owner} must be a bool, and True only with "
                f"score 'aps' or 'raps'. Got {randomized!r} with score={score!r}."
            )
        if random_state is not None and (
            not isinstance(random_state, (int, np.integer)) or isinstance(random_state, bool)
        ):
            raise ConfigurationError(
                f"The 'random_state' parameter of {owner} must be an int or None. "
                f"Got {random_state!r} instead."
            )
        self.randomized = randomized
        self.random_state = None if random_state is None else int(random_state)
        self._rng = np.random.default_rng(self.random_state)

    # -- scores --------------------------------------------------------------------------

    def scores(self, d: Decisions) -> NDArray[np.float64]:
        """``(n_samples, n_classes)`` nonconformity score of every label."""
        if d.proba is None:
            raise ConfigurationError(
                "ConformalSets needs class probabilities; the decisions have none."
            )
        u = self._rng.random(len(d)) if self.randomized else None
        return set_scores(d.proba, self.score, penalty=self.penalty, k_reg=self.k_reg, u=u)

    def _group_of(self, d: Decisions) -> NDArray[Any]:
        assert self.groups is not None
        g = np.asarray(self.groups(d))
        if g.shape != (len(d),):
            raise ConfigurationError(
                f"The 'groups' function of ConformalSets must return one group per row, "
                f"shape ({len(d)},). Got shape {g.shape}."
            )
        return _group_key(g)

    # -- fit -----------------------------------------------------------------------------

    def fit(self, d: Decisions, y: NDArray[Any]) -> Self:
        y = _check_labels("ConformalSets", d, y)
        if d.proba is None or d.classes is None:
            raise ConfigurationError(
                "ConformalSets needs class probabilities and classes; the decisions have none."
            )
        keep = ~_no_candidate(d)
        if not all_finite(d.proba):
            keep &= np.isfinite(d.proba).all(axis=1)
        yi = label_index(y[keep], d.classes)
        if (yi < 0).any():
            unknown = sorted({str(v) for v in y[keep][yi < 0]})[:5]
            raise InvalidInputError(
                f"ConformalSets.fit got labels that are not among the model's classes "
                f"{d.classes.tolist()!r}: {unknown}."
            )
        rows = np.flatnonzero(keep)
        if self.score == "lac" and not self.randomized:  # 1 - p[y] of the kept rows only
            cal = 1.0 - d.proba[rows, yi]
        else:
            cal = self.scores(d)[rows, yi]
        n = cal.shape[0]
        if conformal_rank(n, self.alpha) > n:
            raise _too_few("ConformalSets", n, self.alpha)
        self.classes_ = np.asarray(d.classes)
        self.group_labels_: NDArray[Any] | None
        self._calibrated(rows, cal)
        self.calibration_scores_ = cal  # thresholds come from a partition: no sort needed
        self.n_calibration_ = n
        if self.class_conditional:
            keys = np.arange(self.classes_.shape[0])
            self.group_labels_ = _group_key(self.classes_)
            self.thresholds_ = self._per_group(cal, yi, keys, self.group_labels_)
        elif self.groups is not None:
            g = self._group_of(d)[keep]
            self.group_labels_ = np.unique(g)
            self.thresholds_ = self._per_group(cal, g, self.group_labels_, self.group_labels_)
        else:
            self.group_labels_ = None
            self.thresholds_ = np.array([conformal_quantile(cal, self.alpha)])
        return self

    def _per_group(
        self, cal: NDArray[np.float64], g: NDArray[Any], keys: NDArray[Any], names: NDArray[Any]
    ) -> NDArray[np.float64]:
        out = np.empty(keys.shape[0])
        small = []
        for i, key in enumerate(keys):
            scores = cal[g == key]
            out[i] = conformal_quantile(scores, self.alpha)
            if np.isinf(out[i]):
                small.append(f"{names[i]!s} ({scores.shape[0]} rows)")
        if small:
            warnings.warn(
                f"ConformalSets: too few calibration rows for alpha={self.alpha:g} in "
                f"{', '.join(small[:10])}; rows there get every label (need "
                f"{min_calibration_size(self.alpha)} each).",
                GuardrailsWarning,
                stacklevel=3,
            )
        return out

    def _calibrated(self, rows: NDArray[np.intp], scores: NDArray[np.float64]) -> None:
        """Hook: the calibration rows used and their scores, unsorted (weighted conformal)."""

    def is_fitted(self) -> bool:
        return hasattr(self, "thresholds_")

    # -- sets and verdicts ----------------------------------------------------------------

    def prediction_sets(self, d: Decisions, *, threshold: float | None = None) -> NDArray[np.bool_]:
        """``(n_samples, n_classes)`` bool: the labels in each row's set.

        Args:
            d: decisions with ``proba``.
            threshold: use this threshold instead of the fitted ones (adaptive conformal).
        """
        if not self.is_fitted():
            raise _not_fitted(self)
        s = self.scores(d)
        if s.shape[1] != self.classes_.shape[0]:
            raise ConfigurationError(
                f"ConformalSets was fitted on {self.classes_.shape[0]} classes; the "
                f"decisions have {s.shape[1]}."
            )
        q: Any
        if threshold is not None:
            q = threshold
        elif self.group_labels_ is None:
            q = self.thresholds_[0]
        elif self.class_conditional:
            q = self.thresholds_[np.newaxis, :]
        else:
            gi = label_index(self._group_of(d), self.group_labels_)
            q = np.where(gi >= 0, self.thresholds_[np.maximum(gi, 0)], np.inf)[:, np.newaxis]
        with np.errstate(invalid="ignore"):
            out: NDArray[np.bool_] = (s - q) <= TOLERANCE
        return out

    def evaluate(self, d: Decisions) -> Verdict:
        return self._verdict(d, self.prediction_sets(d))

    def _verdict(self, d: Decisions, sets: NDArray[np.bool_]) -> Verdict:
        n = len(d)
        size = set_sizes(sets)
        empty = size == 0
        abstain = empty.copy()
        reason = np.full(n, int(Reason.AMBIGUOUS), dtype=np.int8)
        reason[empty] = Reason.LOW_CONFIDENCE
        detail = object_column(n)
        if self.max_set_size is not None:
            big = size > self.max_set_size
            detail[big] = f"more than {self.max_set_size} labels plausible at alpha={self.alpha:g}"
            abstain |= big
        assert d.classes is not None
        j = label_index(d.prediction, d.classes)
        outside = ~empty & ((j < 0) | ~row_pick(sets, np.maximum(j, 0)))
        detail[outside & ~abstain] = "the model's answer is not in the prediction set"
        abstain |= outside
        detail[empty] = f"empty prediction set: no label plausible at alpha={self.alpha:g}"
        return Verdict(abstain, reason, detail, {"pred_set": sets})

    def __repr__(self) -> str:
        parts = [f"alpha={self.alpha!r}", f"score={self.score!r}"]
        if self.class_conditional:
            parts.append("class_conditional=True")
        if self.groups is not None:
            parts.append(f"groups={getattr(self.groups, '__name__', repr(self.groups))}")
        parts.append(f"max_set_size={self.max_set_size!r}")
        if self.score == "raps":
            parts += [f"penalty={self.penalty!r}", f"k_reg={self.k_reg!r}"]
        if self.randomized:
            parts += ["randomized=True", f"random_state={self.random_state!r}"]
        return f"ConformalSets({', '.join(parts)})"

    # -- persistence ----------------------------------------------------------------------

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        state: dict[str, Any] = {
            "alpha": self.alpha,
            "score": self.score,
            "class_conditional": self.class_conditional,
            "groups": None
            if self.groups is None
            else enc.ref("groups", "the function giving each row's conformal group"),
            "max_set_size": self.max_set_size,
            "penalty": self.penalty,
            "k_reg": self.k_reg,
            "randomized": self.randomized,
            "random_state": self.random_state,
        }
        if self.is_fitted():
            classes = self.classes_.astype(str) if self.classes_.dtype == object else self.classes_
            state["fitted"] = {
                "classes": enc.array(classes),
                "scores": enc.array(self.calibration_scores_),
                "thresholds": enc.array(self.thresholds_),
                "group_labels": enc.array(self.group_labels_),
            }
        return state

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> ConformalSets:
        out = cls(
            state["alpha"],
            score=state["score"],
            class_conditional=state["class_conditional"],
            groups=None if state["groups"] is None else dec.ref(state["groups"]),
            max_set_size=state["max_set_size"],
            penalty=state["penalty"],
            k_reg=state["k_reg"],
            randomized=state["randomized"],
            random_state=state["random_state"],
        )
        fitted = state.get("fitted")
        if fitted is not None:
            out.classes_ = dec.required_array(fitted["classes"])
            out.calibration_scores_ = dec.required_array(fitted["scores"])
            out.n_calibration_ = int(out.calibration_scores_.shape[0])
            out.thresholds_ = dec.required_array(fitted["thresholds"])
            out.group_labels_ = dec.array(fitted["group_labels"])
        return out


_INTERVAL_SCORES = ("absolute", "normalized", "cqr")


class _QuantilePair:
    """``(n_samples, 2)`` lower and upper predictions of two models (picklable)."""

    def __init__(self, lower: Any, upper: Any) -> None:
        self.lower, self.upper = lower, upper

    def __call__(self, X: Any) -> NDArray[np.float64]:
        return np.column_stack([self.lower.predict(X), self.upper.predict(X)])


def _as_function(owner: str, name: str, value: Any, columns: int) -> Callable[[Any], Any] | None:
    """A callable, a fitted model with ``predict``, or (for two columns) a pair of models."""
    if value is None:
        return None
    if columns == 2 and isinstance(value, tuple) and len(value) == 2:
        lower, upper = value
        if hasattr(lower, "predict") and hasattr(upper, "predict"):
            return _QuantilePair(lower, upper)
    if hasattr(value, "predict") and columns == 1:
        return value.predict  # type: ignore[no-any-return]
    if callable(value):
        return value  # type: ignore[no-any-return]
    what = (
        "a function X -> (n_samples, 2) lower and upper quantiles, or a pair "
        "(lower_model, upper_model) of fitted quantile regressors"
        if columns == 2
        else "a function X -> (n_samples,) positive spread, or a fitted model with predict"
    )
    raise ConfigurationError(
        f"The {name!r} parameter of {owner} must be {what}. Got {value!r} instead."
    )


@persistable
class ConformalIntervals(Policy):
    """Split conformal prediction intervals for a regressor; withhold too-wide intervals.

    Scores (``y`` the truth, ``f(x)`` the model's prediction):

    - ``"absolute"``: ``|y - f(x)|``; interval ``f(x) -+ q``, the same width everywhere.
    - ``"normalized"``: ``|y - f(x)| / s(x)`` with ``scale`` giving ``s(x) > 0`` (e.g. a
      model of the absolute residual); interval ``f(x) -+ q s(x)``, wider where harder.
    - ``"cqr"``: conformalized quantile regression (Romano et al. 2019) with ``quantiles``
      giving lower and upper quantile predictions ``(lo, hi)``; score
      ``max(lo - y, y - hi)``; interval ``[lo - q, hi + q]``.

    The model's own prediction stays the answer; the interval is put on the decision
    (``interval`` ``(n_samples, 2)``) and holds the truth with probability at least
    ``1 - alpha`` on exchangeable data.

    The answer is withheld when the interval is wider than ``max_width`` (``AMBIGUOUS``),
    when it is empty (CQR bounds crossing, ``LOW_CONFIDENCE``), or when ``scale`` or
    ``quantiles`` fail or give unusable values for the row (``MODEL_ERROR``).

    Args:
        alpha: the miscoverage level in (0, 1).
        score: "absolute", "normalized" or "cqr".
        scale: for "normalized": a function of the model inputs returning ``(n_samples,)``
            positive spreads, or a fitted model with ``predict``.
        quantiles: for "cqr": a function of the model inputs returning
            ``(n_samples, 2)`` lower and upper quantiles, or a pair
            ``(lower_model, upper_model)`` of fitted quantile regressors (e.g.
            ``GradientBoostingRegressor(loss="quantile", alpha=0.05)`` and ``alpha=0.95``).
        max_width: withhold answers whose interval is wider than this; None never does.

    Functions and models are not saved with a guard: pass them back to
    [`guardrails.load`][] as ``scale=`` or ``quantiles=``.
    """

    requires = frozenset({"values"})
    produces = frozenset({"interval"})

    def __init__(
        self,
        alpha: float = 0.1,
        *,
        score: str = "absolute",
        scale: Any = None,
        quantiles: Any = None,
        max_width: float | None = None,
    ) -> None:
        owner = "ConformalIntervals"
        self.alpha = _check_alpha(owner, alpha)
        self.score = _check_choice(owner, "score", score, _INTERVAL_SCORES)
        self.scale = scale
        self.quantiles = quantiles
        self._scale = _as_function(owner, "scale", scale, 1)
        self._quantiles = _as_function(owner, "quantiles", quantiles, 2)
        if (self.score == "normalized") != (scale is not None):
            raise ConfigurationError(
                f"{owner}: score='normalized' needs scale=..., and scale is used only by it. "
                f"Got score={score!r}, scale={scale!r}."
            )
        if (self.score == "cqr") != (quantiles is not None):
            raise ConfigurationError(
                f"{owner}: score='cqr' needs quantiles=..., and quantiles is used only by it. "
                f"Got score={score!r}, quantiles={quantiles!r}."
            )
        self.max_width = None if max_width is None else _check_number(owner, "max_width", max_width)

    @property
    def uses_inputs(self) -> bool:
        """True when the policy reads the model inputs (normalized and CQR scores)."""
        return self.score != "absolute"

    def _need_inputs(self, X: Any, what: str) -> None:
        if self.uses_inputs and X is None:
            raise ConfigurationError(
                f"ConformalIntervals(score={self.score!r}) reads the model inputs: use it in "
                f"a guard, or call {what}_with_inputs(d, X, ...)."
            )

    def _parts(
        self, d: Decisions, X: Any, *, strict: bool = False
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
        """Per row: centre, lower base, upper base, and which rows are usable.

        The interval is ``[lower - q * spread, upper + q * spread]`` where spread is the
        scale for "normalized" and 1 otherwise; returned as (lower, upper, spread, ok).
        """
        n = len(d)
        pred = np.asarray(d.prediction, dtype=np.float64)
        ok = ~_no_candidate(d) & np.isfinite(pred)
        lower, upper, spread = pred.copy(), pred.copy(), np.ones(n)
        if not self.uses_inputs or not ok.any():
            return lower, upper, spread, ok
        idx = np.flatnonzero(ok)
        fn = self._scale if self.score == "normalized" else self._quantiles
        assert fn is not None
        cols = 1 if self.score == "normalized" else 2
        what = "scale" if cols == 1 else "quantiles"
        want = (idx.shape[0],) if cols == 1 else (idx.shape[0], 2)
        try:
            out = np.asarray(fn(take_rows(X, idx)), dtype=np.float64)
            if out.shape != want:
                raise ModelOutputError(f"returned shape {out.shape}; expected {want}")
        except Exception as exc:  # a user's model failed: these rows get no interval
            if strict:
                raise ModelOutputError(
                    f"the {what} function of ConformalIntervals failed: {type(exc).__name__}: {exc}"
                ) from exc
            ok[idx] = False
            return lower, upper, spread, ok
        if cols == 1:
            good: NDArray[np.bool_] = np.isfinite(out) & (out > 0)
            spread[idx] = out
        else:
            good = np.asarray(np.isfinite(out).all(axis=1))
            lower[idx], upper[idx] = out[:, 0], out[:, 1]
        ok[idx[~good]] = False
        return lower, upper, spread, ok

    def fit(self, d: Decisions, y: NDArray[Any]) -> Self:
        return self.fit_with_inputs(d, None, y)

    def fit_with_inputs(self, d: Decisions, X: Any, y: NDArray[Any]) -> Self:
        self._need_inputs(X, "fit")
        y = _check_labels("ConformalIntervals", d, y)
        try:
            y = y.astype(np.float64)
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"ConformalIntervals.fit needs numeric targets y; got dtype {y.dtype}."
            ) from None
        lower, upper, spread, ok = self._parts(d, X, strict=True)
        ok &= np.isfinite(y)
        if self.score == "cqr":
            cal = np.maximum(lower - y, y - upper)[ok]
        else:
            cal = np.abs(y - lower)[ok] / spread[ok]
        n = cal.shape[0]
        if conformal_rank(n, self.alpha) > n:
            raise _too_few("ConformalIntervals", n, self.alpha)
        self._calibrated(np.flatnonzero(ok), cal)
        self.calibration_scores_ = np.sort(cal)
        self.n_calibration_ = n
        self.threshold_ = conformal_quantile(cal, self.alpha)
        return self

    def _calibrated(self, rows: NDArray[np.intp], scores: NDArray[np.float64]) -> None:
        """Hook: the calibration rows used and their scores, unsorted (weighted conformal)."""

    def is_fitted(self) -> bool:
        return hasattr(self, "threshold_")

    def intervals(
        self, d: Decisions, X: Any = None, *, threshold: float | None = None
    ) -> NDArray[np.float64]:
        """``(n_samples, 2)`` prediction intervals; NaN rows where none can be made."""
        return self._intervals(d, X, threshold)[0]

    def _intervals(
        self, d: Decisions, X: Any, threshold: float | None
    ) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        if not self.is_fitted():
            raise _not_fitted(self)
        self._need_inputs(X, "evaluate")
        q = self.threshold_ if threshold is None else threshold
        lower, upper, spread, ok = self._parts(d, X)
        with np.errstate(invalid="ignore"):
            if np.isinf(q):  # an infinite threshold: the whole line, or nothing
                lo = np.full(len(d), -q)
                hi = np.full(len(d), q)
            else:
                lo, hi = lower - q * spread, upper + q * spread
        out = np.column_stack([lo, hi])
        out[~ok] = np.nan
        return out, ok

    def evaluate(self, d: Decisions) -> Verdict:
        return self.evaluate_with_inputs(d, None)

    def evaluate_with_inputs(self, d: Decisions, X: Any) -> Verdict:
        return self._verdict(d, *self._intervals(d, X, None))

    def _verdict(
        self, d: Decisions, interval: NDArray[np.float64], ok: NDArray[np.bool_]
    ) -> Verdict:
        n = len(d)
        width = interval[:, 1] - interval[:, 0]
        failed = ~ok & ~_no_candidate(d)
        empty = ok & (width < 0)
        reason = np.full(n, int(Reason.AMBIGUOUS), dtype=np.int8)
        detail = object_column(n)
        abstain = failed | empty
        if self.max_width is not None:
            wide = ok & ~(width <= self.max_width)
            detail[wide] = f"interval wider than {self.max_width:g} at alpha={self.alpha:g}"
            abstain |= wide
        reason[empty] = Reason.LOW_CONFIDENCE
        detail[empty] = "empty interval: the quantile bounds cross"
        reason[failed] = Reason.MODEL_ERROR
        detail[failed] = f"no usable {self.score} interval for this row"
        return Verdict(abstain, reason, detail, {"interval": interval})

    def __repr__(self) -> str:
        parts = [f"alpha={self.alpha!r}", f"score={self.score!r}"]
        if self.max_width is not None:
            parts.append(f"max_width={self.max_width!r}")
        return f"ConformalIntervals({', '.join(parts)})"

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        state: dict[str, Any] = {
            "alpha": self.alpha,
            "score": self.score,
            "scale": None
            if self.scale is None
            else enc.ref("scale", "the spread model of ConformalIntervals"),
            "quantiles": None
            if self.quantiles is None
            else enc.ref("quantiles", "the quantile models of ConformalIntervals"),
            "max_width": self.max_width,
        }
        if self.is_fitted():
            state["fitted"] = {"scores": enc.array(self.calibration_scores_)}
        return state

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> ConformalIntervals:
        out = cls(
            state["alpha"],
            score=state["score"],
            scale=None if state["scale"] is None else dec.ref(state["scale"]),
            quantiles=None if state["quantiles"] is None else dec.ref(state["quantiles"]),
            max_width=state["max_width"],
        )
        fitted = state.get("fitted")
        if fitted is not None:
            scores = dec.required_array(fitted["scores"])
            out.calibration_scores_ = scores
            out.n_calibration_ = int(scores.shape[0])
            out.threshold_ = conformal_quantile(scores, out.alpha)
        return out


@persistable
class AdaptiveConformal(Policy):
    """Adaptive conformal inference (Gibbs and Candes 2021): coverage that survives drift.

    Wraps a split conformal policy (marginal [`ConformalSets`][] or
    [`ConformalIntervals`][]) and moves its miscoverage level as labels arrive:
    after each labelled row, ``alpha_t <- alpha_t + gamma * (alpha - err_t)`` where
    ``err_t`` is 1 when the set or interval given for that row missed the truth. Sets
    are made at level ``alpha_t`` from the calibration scores; ``alpha_t <= 0`` gives
    every label (or the whole line), ``alpha_t >= 1`` the empty set. Whatever the data
    do, the long-run miss rate over ``T`` labelled rows is within
    ``(max(alpha, 1 - alpha) + gamma) / (gamma * T)`` of ``alpha`` when rows are updated
    one at a time (``B`` times that bound's ``gamma`` term for batches of ``B``).

    Labels may arrive later (from the review queue, say): keep the decisions, and call
    [`update`][] with them and the true answers. The state is thread-safe.

    Args:
        base: the split conformal policy to adapt (unfitted or fitted).
        gamma: the step size; larger adapts faster but makes sets jumpier.

    Attributes (after fit):
        alpha_t_: the current miscoverage level.
        n_updates_, n_misses_: labelled rows seen by [`update`][], and how many missed.
    """

    def __init__(self, base: ConformalSets | ConformalIntervals, *, gamma: float = 0.005) -> None:
        if not isinstance(base, (ConformalSets, ConformalIntervals)) or (
            isinstance(base, ConformalSets)
            and (base.class_conditional or base.groups is not None or not base.online)
        ):
            raise ConfigurationError(
                "The 'base' parameter of AdaptiveConformal must be a ConformalSets without "
                "class_conditional or groups (and not a risk control), or a "
                f"ConformalIntervals. Got {base!r} instead."
            )
        self.base = base
        self.gamma = check_unit("AdaptiveConformal", "gamma", gamma, interval="(0, 1)")
        self._lock = threading.Lock()

    def needs(self) -> frozenset[str]:
        return self.base.needs()

    def makes(self) -> frozenset[str]:
        return self.base.makes()

    def fit(self, d: Decisions, y: NDArray[Any]) -> Self:
        return self.fit_with_inputs(d, None, y)

    def fit_with_inputs(self, d: Decisions, X: Any, y: NDArray[Any]) -> Self:
        self.base.fit_with_inputs(d, X, y)
        with self._lock:
            self.alpha_t_ = self.base.alpha
            self.n_updates_ = 0
            self.n_misses_ = 0
        return self

    def is_fitted(self) -> bool:
        return hasattr(self, "alpha_t_") and self.base.is_fitted()

    def threshold(self) -> float:
        """The current threshold on the base policy's scores (at level ``alpha_t_``)."""
        if not self.is_fitted():
            raise _not_fitted(self)
        return conformal_quantile(self.base.calibration_scores_, self.alpha_t_)

    def evaluate(self, d: Decisions) -> Verdict:
        return self.evaluate_with_inputs(d, None)

    def evaluate_with_inputs(self, d: Decisions, X: Any) -> Verdict:
        q = self.threshold()
        if isinstance(self.base, ConformalSets):
            return self.base._verdict(d, self.base.prediction_sets(d, threshold=q))
        return self.base._verdict(d, *self.base._intervals(d, X, q))

    def update(self, d: Decisions, y_true: Any) -> float:
        """Learn from true answers that arrived for decisions made earlier.

        Args:
            d: the decisions as returned (they carry the sets or intervals that were
                given). Rows without one are skipped: where the model never ran, and rows
                answered by a fallback stage (their columns are that stage's, not this
                policy's; their stage is not "primary").
            y_true: ``(n_samples,)`` the true labels or values of those rows, in order.

        Returns:
            The new miscoverage level ``alpha_t_``.

        Raises:
            InvalidInputError: ``y_true`` does not match ``d``, or holds unknown labels.
        """
        if not self.is_fitted():
            raise _not_fitted(self)
        y = _check_labels("AdaptiveConformal.update", d, np.asarray(y_true))
        if isinstance(self.base, ConformalSets):
            if d.pred_set is None or d.classes is None:
                raise InvalidInputError(
                    "AdaptiveConformal.update needs the decisions that carry the prediction "
                    "sets it gave (pred_set)."
                )
            j = label_index(y, d.classes)
            if (j < 0).any():
                raise InvalidInputError(
                    "AdaptiveConformal.update got labels that are not among the classes "
                    f"{d.classes.tolist()!r}."
                )
            seen = ~_no_candidate(d) & (d.stage == PRIMARY)
            covered = d.pred_set[np.arange(len(d)), j]
        else:
            if d.interval is None:
                raise InvalidInputError(
                    "AdaptiveConformal.update needs the decisions that carry the intervals "
                    "it gave (interval)."
                )
            yv = y.astype(np.float64)
            lo, hi = d.interval[:, 0], d.interval[:, 1]
            seen = ~_no_candidate(d) & ~np.isnan(lo) & (d.stage == PRIMARY)
            covered = (lo <= yv) & (yv <= hi)
        misses = int((~covered & seen).sum())
        count = int(seen.sum())
        with self._lock:
            # the sequential updates add up: alpha_T = alpha_1 + gamma * sum(alpha - err_t)
            self.alpha_t_ += self.gamma * (count * self.base.alpha - misses)
            self.n_updates_ += count
            self.n_misses_ += misses
            return self.alpha_t_

    def __repr__(self) -> str:
        return f"AdaptiveConformal({self.base!r}, gamma={self.gamma!r})"

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        state: dict[str, Any] = {"base": enc.component(self.base), "gamma": self.gamma}
        if self.is_fitted():
            state["fitted"] = {
                "alpha_t": self.alpha_t_,
                "n_updates": self.n_updates_,
                "n_misses": self.n_misses_,
            }
        return state

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> AdaptiveConformal:
        out = cls(dec.component(state["base"]), gamma=state["gamma"])
        fitted = state.get("fitted")
        if fitted is not None:
            out.alpha_t_ = float(fitted["alpha_t"])
            out.n_updates_ = int(fitted["n_updates"])
            out.n_misses_ = int(fitted["n_misses"])
        return out
