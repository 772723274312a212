"""Split conformal prediction sets for classifiers, and the conformal quantile itself.

Split conformal in one paragraph: score how badly each held-out row's true answer fits
the model (a *nonconformity score*), take the ``ceil((n + 1)(1 - alpha))``-th smallest of
the ``n`` calibration scores as the threshold ``q``, and give, for a new row, every answer
whose score is at most ``q``. When calibration and new rows are exchangeable the true
answer is in the set (or interval) with probability at least ``1 - alpha``, and at most
``1 - alpha + 1/(n + 1)`` when scores have no ties. The policies here put the set on the
decision (``pred_set`` ``(n_samples, n_classes)`` or ``interval`` ``(n_samples, 2)``) and
withhold the answer when the set is empty, holds too many labels, or the interval is too
wide. Intervals live in ``guardrails.abstention.intervals``, online
(adaptive) conformal in ``guardrails.abstention.online``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from guardrails.abstention.policy import (
    Policy,
    Verdict,
    _check_choice,
    _check_labels,
    _check_number,
    _no_candidate,
    _not_fitted,
)
from guardrails.abstention.scores import label_index
from guardrails.core.checks import check_unit
from guardrails.core.coded import CodedText
from guardrails.core.decisions import Decisions, Reason
from guardrails.core.errors import (
    ConfigurationError,
    GuardrailsWarning,
    InvalidInputError,
)
from guardrails.core.persistence import persistable
from guardrails.core.rowwise import all_finite, row_pick

if TYPE_CHECKING:
    from typing_extensions import Self

    from guardrails.core.persistence import Decoder, Encoder

__all__ = [
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
        every = bool(keep.all())  # (the usual case: no gathers of the kept rows)
        yi = label_index(y if every else y[keep], d.classes)
        if (yi < 0).any():
            unknown = sorted({str(v) for v in y[keep][yi < 0]})[:5]
            raise InvalidInputError(
                f"ConformalSets.fit got labels that are not among the model's classes "
                f"{d.classes.tolist()!r}: {unknown}."
            )
        rows = np.arange(keep.shape[0]) if every else np.flatnonzero(keep)
        if self.score == "lac" and not self.randomized:  # 1 - p[y] of the kept rows only
            proba = d.proba
            if proba.flags.c_contiguous:  # p[rows, y] through flat offsets: one take
                cal = 1.0 - proba.reshape(-1).take(rows * proba.shape[1] + yi)
            else:
                cal = 1.0 - proba[rows, yi]
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
            if type(self).scores is ConformalSets.scores:  # a fresh array: shift it in place
                np.subtract(s, q, out=s)
            else:
                s = s - q
            out: NDArray[np.bool_] = np.less_equal(s, TOLERANCE)
        return out

    def evaluate(self, d: Decisions) -> Verdict:
        return self._verdict(d, self.prediction_sets(d))

    def _verdict(self, d: Decisions, sets: NDArray[np.bool_]) -> Verdict:
        """Withhold empty sets (LOW_CONFIDENCE), sets over ``max_set_size`` and sets
        without the model's answer (AMBIGUOUS); the detail of each row as a code."""
        n, k = sets.shape
        assert d.classes is not None
        j = label_index(d.prediction, d.classes)
        big: NDArray[np.bool_] | None = None
        if k == 2 and n >= 8:  # two columns: masks instead of counts
            first, second = sets[:, 0], sets[:, 1]
            empty = ~(first | second)
            if self.max_set_size == 1:
                big = first & second
            is_second = j == 1
            in_set = (is_second & second) | (~is_second & first)
        else:
            size = set_sizes(sets)
            empty = size == 0
            if self.max_set_size is not None:
                big = size > self.max_set_size
            in_set = row_pick(sets, np.maximum(j, 0))
        outside = (j < 0) | ~in_set
        outside &= ~empty
        # codes into the texts below: 1 too many labels, 2 answer outside the set, 3 empty
        if big is None:
            codes = np.zeros(n, dtype=np.uint8)
            abstain = empty | outside
        else:
            codes = big.astype(np.uint8)
            abstain = empty | big
            outside &= ~big  # (the first reason found names the row)
            abstain |= outside
        codes |= outside.view(np.uint8) << 1
        codes |= empty.view(np.uint8) * np.uint8(3)
        texts = (
            f"more than {self.max_set_size} labels plausible at alpha={self.alpha:g}",
            "the model's answer is not in the prediction set",
            f"empty prediction set: no label plausible at alpha={self.alpha:g}",
        )
        coded = CodedText(codes, texts)
        detail: CodedText | NDArray[np.object_] = coded if n >= 64 else coded.column()
        reason = np.full(n, int(Reason.AMBIGUOUS), dtype=np.int8)
        reason += empty.view(np.int8) * np.int8(int(Reason.LOW_CONFIDENCE) - int(Reason.AMBIGUOUS))
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
