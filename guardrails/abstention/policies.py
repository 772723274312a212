"""Abstention: policies that decide which answers to withhold, and the Abstaining wrapper.

A policy looks at a batch of [`Decisions`][guardrails.Decisions] (calibrated when a calibrator
sits inside) and says, per row, whether to withhold the answer and why. Policies are small
objects that combine with ``|`` (withhold if either does) and ``&`` (only if both do).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from guardrails.core.checks import check_unit
from guardrails.core.decisions import Decisions, Reason, object_column
from guardrails.core.errors import (
    ConfigurationError,
    GuardrailsWarning,
    InvalidInputError,
    NotFittedError,
)
from guardrails.core.layer import Call, Layer
from guardrails.core.parameters import HasParams
from guardrails.core.persistence import persistable
from guardrails.core.post import PostLayer

if TYPE_CHECKING:
    from typing_extensions import Self

    from guardrails.core.persistence import Decoder, Encoder

__all__ = [
    "AllOf",
    "AnyOf",
    "Abstaining",
    "ConfidenceThreshold",
    "CostRule",
    "CoverageThreshold",
    "EntropyThreshold",
    "IntervalWiderThan",
    "MarginThreshold",
    "Policy",
    "RiskControlledThreshold",
    "SetSizeAbove",
    "Verdict",
    "confidence_below",
    "confidence_score",
    "entropy_above",
    "entropy_score",
    "interval_wider_than",
    "label_index",
    "margin_below",
    "margin_score",
    "set_size_above",
]


@dataclass
class Verdict:
    """What a policy says about a batch.

    Attributes:
        abstain: ``(n,)`` bool, rows to withhold.
        reason: the [`Reason`][] for every withheld row, or ``(n,)`` int8 codes.
        detail: readable explanation, one for all rows or ``(n,)`` object.
        columns: decision columns the policy computed (e.g. ``pred_set``), to be set.
    """

    abstain: NDArray[np.bool_]
    reason: Reason | NDArray[np.int8]
    detail: str | NDArray[np.object_] | None = None
    columns: dict[str, Any] = field(default_factory=dict)

    def reason_codes(self) -> NDArray[np.int8]:
        if isinstance(self.reason, np.ndarray):
            return self.reason
        return np.full(self.abstain.shape[0], int(self.reason), dtype=np.int8)

    def detail_column(self) -> NDArray[np.object_]:
        if isinstance(self.detail, np.ndarray):
            return self.detail
        return object_column(self.abstain.shape[0], self.detail)


class Policy(HasParams, ABC):
    """Decides which rows of a batch to withhold.

    Subclasses implement [`evaluate`][]; those that choose thresholds from data also
    implement [`fit`][] and [`is_fitted`][]. ``requires`` names the decision columns
    the policy reads ("proba", "interval", ...), checked when a guard is built. The
    ``__init__`` arguments are scikit-learn parameters (``get_params``/``set_params``),
    so a grid search can address ``policy__alpha`` and ``clone`` copies a policy.
    """

    requires: ClassVar[frozenset[str]] = frozenset()
    produces: ClassVar[frozenset[str]] = frozenset()

    @abstractmethod
    def evaluate(self, d: Decisions) -> Verdict:
        """The verdict on every row of ``d``."""

    def fit(self, d: Decisions, y: NDArray[Any]) -> Self:
        """Learn thresholds from decisions on held-out data and their true labels."""
        return self

    def evaluate_with_inputs(self, d: Decisions, X: Any) -> Verdict:
        """The verdict when the model-ready inputs ``X`` of the batch are known.

        The guard calls this one. Policies that read the inputs (e.g. conformal
        intervals from quantile models) override it; the default ignores ``X``.
        """
        return self.evaluate(d)

    def fit_with_inputs(self, d: Decisions, X: Any, y: NDArray[Any]) -> Self:
        """[`fit`][] when the model-ready inputs ``X`` are known (what the guard calls)."""
        return self.fit(d, y)

    def is_fitted(self) -> bool:
        """True when the policy needs no fitting or has been fitted."""
        return True

    def needs(self) -> frozenset[str]:
        """Every column this policy (and any policy inside it) reads."""
        return self.requires

    def adaptable(self) -> tuple[Any, ...]:
        """The policies here (this one or inside it) a drift action may switch to weighted
        conformal (they have ``shift_to(X)`` and ``unshift()``)."""
        return ()

    def makes(self) -> frozenset[str]:
        """Every column this policy (and any policy inside it) computes, e.g. ``pred_set``."""
        return self.produces

    def __or__(self, other: Policy) -> AnyOf:
        if not isinstance(other, Policy):
            return NotImplemented
        return AnyOf(self, other)

    def __and__(self, other: Policy) -> AllOf:
        if not isinstance(other, Policy):
            return NotImplemented
        return AllOf(self, other)

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        return {}


@persistable
class ConfidenceThreshold(Policy):
    """Withhold answers whose confidence (top-class probability) is below ``threshold``.

    Rows with unknown confidence (NaN) are withheld too: no probability, no trust.

    Examples:
        >>> import numpy as np
        >>> from guardrails import ConfidenceThreshold, Decisions
        >>> d = Decisions(prediction=np.array([0, 1]), confidence=np.array([0.95, 0.6]))
        >>> ConfidenceThreshold(0.8).evaluate(d).abstain.tolist()
        [False, True]
    """

    requires = frozenset({"proba"})

    def __init__(self, threshold: float) -> None:
        self.threshold = check_unit("ConfidenceThreshold", "threshold", threshold)

    def evaluate(self, d: Decisions) -> Verdict:
        if d.confidence is None:
            return Verdict(
                np.ones(len(d), dtype=bool),
                Reason.LOW_CONFIDENCE,
                "no confidence available for this answer",
            )
        low = ~(d.confidence >= self.threshold)  # NaN compares False: withheld
        return Verdict(low, Reason.LOW_CONFIDENCE, f"confidence below {self.threshold:g}")

    def __repr__(self) -> str:
        return f"ConfidenceThreshold(threshold={self.threshold!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ConfidenceThreshold) and other.threshold == self.threshold

    __hash__ = None  # type: ignore[assignment]

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        return {"threshold": self.threshold}

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> ConfidenceThreshold:
        return cls(state["threshold"])


def confidence_below(threshold: float) -> ConfidenceThreshold:
    """Withhold answers whose confidence is below ``threshold``."""
    return ConfidenceThreshold(threshold)


class _Combined(Policy):
    symbol: ClassVar[str] = "?"

    def __init__(self, *policies: Policy) -> None:
        if len(policies) < 2 or not all(isinstance(p, Policy) for p in policies):
            raise ConfigurationError(
                f"{type(self).__name__} combines two or more Policy objects. Got {policies!r}."
            )
        flat: list[Policy] = []
        for p in policies:
            flat.extend(p.policies if isinstance(p, _Combined) and type(p) is type(self) else (p,))
        self.policies: tuple[Policy, ...] = tuple(flat)

    def needs(self) -> frozenset[str]:
        # a column produced by an earlier policy (e.g. a conformal set) is available later
        needed: set[str] = set()
        made: set[str] = set()
        for p in self.policies:
            needed |= p.needs() - made
            made |= p.makes()
        return frozenset(needed)

    def makes(self) -> frozenset[str]:
        return frozenset().union(*(p.makes() for p in self.policies))

    def adaptable(self) -> tuple[Any, ...]:
        return tuple(a for p in self.policies for a in p.adaptable())

    def fit(self, d: Decisions, y: NDArray[Any]) -> Self:
        return self.fit_with_inputs(d, None, y)

    def fit_with_inputs(self, d: Decisions, X: Any, y: NDArray[Any]) -> Self:
        for p in self.policies:
            p.fit_with_inputs(d, X, y)
            if p.makes():  # later policies may read what this one computes
                d = _with_columns(d, p.evaluate_with_inputs(d, X))
        return self

    def evaluate(self, d: Decisions) -> Verdict:
        return self.evaluate_with_inputs(d, None)

    def evaluate_with_inputs(self, d: Decisions, X: Any) -> Verdict:
        return self._combine(self._verdicts(d, X))

    @abstractmethod
    def _combine(self, verdicts: list[Verdict]) -> Verdict:
        """One verdict from the policies' verdicts."""

    def is_fitted(self) -> bool:
        return all(p.is_fitted() for p in self.policies)

    def __repr__(self) -> str:
        return "(" + f" {self.symbol} ".join(repr(p) for p in self.policies) + ")"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, _Combined)
            and type(other) is type(self)
            and other.policies == self.policies
        )

    __hash__ = None  # type: ignore[assignment]

    # -- parameters: ``policies``, and each member by position ("0__threshold") ---------

    def _param_names(self) -> tuple[str, ...] | None:
        return ("policies",)

    def _get_param(self, name: str) -> Any:
        return self.policies

    def _rebuilt(self, params: dict[str, Any]) -> Self:
        return type(self)(*params["policies"])

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"policies": self.policies}
        if deep:
            for i, p in enumerate(self.policies):
                out[str(i)] = p
                out.update({f"{i}__{k}": v for k, v in p.get_params(deep=True).items()})
        return out

    def set_params(self, **params: Any) -> Self:
        policies = list(params.pop("policies", self.policies))
        nested: dict[int, dict[str, Any]] = {}
        for key, value in params.items():
            head, _, sub = key.partition("__")
            if not (head.isdigit() and int(head) < len(policies)):
                raise ConfigurationError(
                    f"Invalid parameter {key!r} for {type(self).__name__}. Valid parameters "
                    f"are 'policies' and the member positions 0..{len(policies) - 1} "
                    "(e.g. '0__threshold')."
                )
            if sub:
                nested.setdefault(int(head), {})[sub] = value
            else:
                policies[int(head)] = value
        for i, sub_params in nested.items():
            policies[i] = policies[i].set_params(**sub_params)
        fresh = self._rebuilt({"policies": policies})
        self.__dict__.clear()
        self.__dict__.update(fresh.__dict__)
        return self

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        return {"policies": [enc.component(p) for p in self.policies]}

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> _Combined:
        return cls(*(dec.component(spec) for spec in state["policies"]))

    def _verdicts(self, d: Decisions, X: Any) -> list[Verdict]:
        verdicts = []
        for p in self.policies:
            v = p.evaluate_with_inputs(d, X) if X is not None else p.evaluate(d)
            verdicts.append(v)
            d = _with_columns(d, v)
        return verdicts

    @staticmethod
    def _columns(verdicts: list[Verdict]) -> dict[str, Any]:
        columns: dict[str, Any] = {}
        for v in verdicts:
            columns.update(v.columns)
        return columns


@persistable
class AnyOf(_Combined):
    """Withhold a row when any of the policies would; the first one's reason is kept."""

    symbol = "|"

    def _combine(self, verdicts: list[Verdict]) -> Verdict:
        n = verdicts[0].abstain.shape[0]
        abstain = np.zeros(n, dtype=bool)
        reason = np.zeros(n, dtype=np.int8)
        detail = object_column(n)
        for v in verdicts:  # the first policy that fires names the reason
            new = v.abstain & ~abstain
            reason[new] = v.reason_codes()[new]
            detail[new] = v.detail_column()[new]
            abstain |= v.abstain
        return Verdict(abstain, reason, detail, self._columns(verdicts))


@persistable
class AllOf(_Combined):
    """Withhold a row only when every policy would; the first one's reason is kept."""

    symbol = "&"

    def _combine(self, verdicts: list[Verdict]) -> Verdict:
        abstain = np.logical_and.reduce([v.abstain for v in verdicts])
        first = verdicts[0]
        return Verdict(
            abstain, first.reason_codes(), first.detail_column(), self._columns(verdicts)
        )


@persistable
class Abstaining(PostLayer):
    """Withhold the answers a [`Policy`][] does not trust.

    Args:
        inner: the model or guard layer to wrap.
        policy: the policy that decides, e.g. ``ConfidenceThreshold(0.8)``.

    Examples:
        >>> import numpy as np
        >>> from sklearn.linear_model import LogisticRegression
        >>> from guardrails import Abstaining, ConfidenceThreshold
        >>> X = np.r_[np.zeros((20, 1)), np.ones((20, 1))]; y = np.r_[np.zeros(20), np.ones(20)]
        >>> guarded = Abstaining(LogisticRegression().fit(X, y), policy=ConfidenceThreshold(0.8))
        >>> guarded.decide(np.array([[0.0], [0.5]])).abstained.tolist()
        [False, True]
    """

    name = "abstain"

    def __init__(self, inner: Any, *, policy: Policy) -> None:
        super().__init__(inner)
        if not isinstance(policy, Policy):
            raise ConfigurationError(
                "The 'policy' parameter of Abstaining must be a Policy such as "
                f"ConfidenceThreshold(0.8). Got {policy!r} instead."
            )
        self.policy = policy
        missing = policy.needs() - _available(self.inner)
        if missing:
            raise ConfigurationError(
                f"{policy!r} needs {sorted(missing)} but the model only gives "
                f"{sorted(self.inner.provides)}. "
                + (
                    "Calibrate scores into probabilities first (.calibrate(...))."
                    if "scores" in self.inner.provides
                    else "Use a model that gives probabilities, or a policy that reads labels."
                )
            )

    def is_fitted(self) -> bool:
        return self.policy.is_fitted()

    def learn(self, d: Decisions, y: NDArray[Any]) -> None:
        self.policy.fit(d, y)

    def fit_call(self, X: Any, y: NDArray[Any], call: Call) -> Decisions:
        d = self.inner.fit_call(X, y, call)
        self.policy.fit_with_inputs(d, _model_input(call), y)
        return self.post(d, call)

    def post(self, d: Decisions, call: Call) -> Decisions:
        adaptable = self.policy.adaptable()
        if adaptable:  # for a drift action outside (monitor.Reweight)
            call.reweightable = (*call.reweightable, *adaptable)
        if d.abstained[0] if len(d) == 1 else d.abstained.all():
            # nothing left to decide (e.g. every row invalid, or the model failed): the
            # model gave no output a policy could read, and the rows keep their reasons
            return d
        verdict = self.policy.evaluate_with_inputs(d, _model_input(call))
        if verdict.columns:
            d = d.replace(**verdict.columns)
        detail = verdict.detail
        return d.withhold(verdict.abstain, verdict.reason, detail=detail)

    def __repr__(self) -> str:
        return f"Abstaining(policy={self.policy!r})"

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        return {"policy": enc.component(self.policy)}

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder, inner: Layer | None) -> Abstaining:
        return cls(inner, policy=dec.component(state["policy"]))


def _model_input(call: Call) -> Any:
    """The whole batch as the model saw it (validated rows when a validator made them)."""
    return call.raw if call.model_input is None else call.model_input


def _with_columns(d: Decisions, verdict: Verdict) -> Decisions:
    """``d`` with the columns a verdict computed, for the policies that read them next."""
    return d.replace(**verdict.columns) if verdict.columns else d


def _available(layer: Layer) -> frozenset[str]:
    """Columns a policy can read on top of ``layer``: probabilities bring confidence."""
    return layer.provides


# -- what the simple policies read ------------------------------------------------------


def label_index(labels: NDArray[Any], classes: NDArray[Any]) -> NDArray[np.intp]:
    """Column of each label in ``classes`` (``(n,)`` ints), -1 for labels not in it."""
    labels = np.asarray(labels)
    classes = np.asarray(classes)
    out = np.full(labels.shape[0], -1, dtype=np.intp)
    if labels.shape[0] == 0 or classes.shape[0] == 0:
        return out
    k = classes.shape[0]
    if (
        labels.dtype.kind in "iu"
        and classes.dtype.kind in "iu"
        and classes[0] == 0
        and classes[-1] == k - 1
        and np.array_equal(classes, np.arange(k))
    ):  # the common case: classes 0..k-1, labels are their own columns
        inside = (labels >= 0) & (labels < k)
        out[inside] = labels[inside]
        return out
    try:
        sorter = np.argsort(classes, kind="stable")
        pos = np.searchsorted(classes, labels, sorter=sorter)
    except TypeError:  # labels that do not order against the classes: compare one by one
        lookup = {c: i for i, c in enumerate(classes.tolist())}
        return np.array([lookup.get(v, -1) for v in labels.tolist()], dtype=np.intp)
    pos = np.clip(pos, 0, classes.shape[0] - 1)
    cols = sorter[pos]
    found = classes[cols] == labels
    out[found] = cols[found]
    return out


def _top_two(proba: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    if proba.shape[1] < 2:
        top = proba[:, 0]
        return top, np.zeros_like(top)
    part = np.partition(proba, proba.shape[1] - 2, axis=1)
    return part[:, -1], part[:, -2]


def confidence_score(d: Decisions) -> NDArray[np.float64]:
    """``(n,)`` top-class probability; NaN where unknown."""
    if d.confidence is not None:
        return d.confidence
    if d.proba is not None:
        return _top_two(d.proba)[0]
    return np.full(len(d), np.nan)


def margin_score(d: Decisions) -> NDArray[np.float64]:
    """``(n,)`` difference between the two largest class probabilities; NaN where unknown."""
    if d.proba is None:
        return np.full(len(d), np.nan)
    first, second = _top_two(d.proba)
    return first - second


def entropy_score(d: Decisions) -> NDArray[np.float64]:
    """``(n,)`` Shannon entropy (nats) of the class probabilities; NaN where unknown."""
    if d.proba is None:
        return np.full(len(d), np.nan)
    p = d.proba
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    out: NDArray[np.float64] = terms.sum(axis=1)
    out[np.isnan(p).any(axis=1)] = np.nan
    return out


_SCORES = {"confidence": confidence_score, "margin": margin_score}


def _check_number(owner: str, name: str, value: Any, *, low: float = 0.0) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not np.isfinite(value) or value < low:
        raise ConfigurationError(
            f"The {name!r} parameter of {owner} must be a finite number >= {low:g}. "
            f"Got {value!r} instead."
        )
    return float(value)


def _check_choice(owner: str, name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigurationError(
            f"The {name!r} parameter of {owner} must be one of {', '.join(map(repr, choices))}. "
            f"Got {value!r} instead."
        )
    return str(value)


class _Simple(Policy):
    """A fixed threshold on one number per row; subclasses say which and how."""

    param: ClassVar[str] = "threshold"

    def __init__(self, value: float) -> None:
        self.value = value

    def _has_param(self, name: str) -> bool:
        return name == self.param

    def _get_param(self, name: str) -> Any:
        return self.value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.param}={self.value!r})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.value == self.value

    __hash__ = None  # type: ignore[assignment]

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        return {self.param: self.value}

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> Self:
        return cls(state[cls.param])


@persistable
class MarginThreshold(_Simple):
    """Withhold answers whose top two class probabilities are closer than ``margin``.

    Two labels nearly tied means the model cannot tell them apart: the reason is
    ``AMBIGUOUS``. Rows without probabilities are withheld as ``LOW_CONFIDENCE``.

    Examples:
        >>> import numpy as np
        >>> from guardrails import Decisions, MarginThreshold
        >>> d = Decisions(prediction=np.array([0, 0]), proba=np.array([[0.9, 0.1], [0.55, 0.45]]))
        >>> MarginThreshold(0.2).evaluate(d).abstain.tolist()
        [False, True]
    """

    requires = frozenset({"proba"})
    param = "margin"

    def __init__(self, margin: float) -> None:
        super().__init__(check_unit("MarginThreshold", "margin", margin))

    def evaluate(self, d: Decisions) -> Verdict:
        m = margin_score(d)
        low = ~(m >= self.value)
        reason = np.where(np.isnan(m), Reason.LOW_CONFIDENCE, Reason.AMBIGUOUS).astype(np.int8)
        return Verdict(low, reason, f"top two classes within {self.value:g}")


@persistable
class EntropyThreshold(_Simple):
    """Withhold answers whose class distribution has entropy (nats) above ``entropy``.

    Examples:
        >>> import numpy as np
        >>> from guardrails import Decisions, EntropyThreshold
        >>> d = Decisions(prediction=np.array([0, 0]), proba=np.array([[0.99, 0.01], [0.5, 0.5]]))
        >>> EntropyThreshold(0.5).evaluate(d).abstain.tolist()
        [False, True]
    """

    requires = frozenset({"proba"})
    param = "entropy"

    def __init__(self, entropy: float) -> None:
        super().__init__(_check_number("EntropyThreshold", "entropy", entropy))

    def evaluate(self, d: Decisions) -> Verdict:
        h = entropy_score(d)
        return Verdict(~(h <= self.value), Reason.LOW_CONFIDENCE, f"entropy above {self.value:g}")


@persistable
class SetSizeAbove(_Simple):
    """Withhold answers whose prediction set holds more than ``size`` labels (``AMBIGUOUS``).

    Reads the ``pred_set`` column, e.g. the one a [`ConformalSets`][guardrails.ConformalSets]
    placed before it in ``ConformalSets(...) | SetSizeAbove(2)`` computes. Rows without a
    set are withheld.
    """

    requires = frozenset({"pred_set"})
    param = "size"

    def __init__(self, size: int) -> None:
        if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 0:
            raise ConfigurationError(
                f"The 'size' parameter of SetSizeAbove must be an int >= 0. Got {size!r} instead."
            )
        super().__init__(int(size))

    def evaluate(self, d: Decisions) -> Verdict:
        if d.pred_set is None:
            return Verdict(np.ones(len(d), dtype=bool), Reason.AMBIGUOUS, "no prediction set")
        big = d.pred_set.sum(axis=1) > self.value
        return Verdict(big, Reason.AMBIGUOUS, f"more than {self.value} labels are plausible")


@persistable
class IntervalWiderThan(_Simple):
    """Withhold answers whose prediction interval is wider than ``width`` (``AMBIGUOUS``).

    Reads the ``interval`` column (e.g. from [`ConformalIntervals`][guardrails.ConformalIntervals]).
    Rows without a finite interval are withheld.
    """

    requires = frozenset({"interval"})
    param = "width"

    def __init__(self, width: float) -> None:
        super().__init__(_check_number("IntervalWiderThan", "width", width))

    def evaluate(self, d: Decisions) -> Verdict:
        if d.interval is None:
            return Verdict(np.ones(len(d), dtype=bool), Reason.AMBIGUOUS, "no interval")
        width = d.interval[:, 1] - d.interval[:, 0]
        return Verdict(
            ~(width <= self.value), Reason.AMBIGUOUS, f"interval wider than {self.value:g}"
        )


def margin_below(margin: float) -> MarginThreshold:
    """Withhold answers whose top two class probabilities differ by less than ``margin``."""
    return MarginThreshold(margin)


def entropy_above(entropy: float) -> EntropyThreshold:
    """Withhold answers whose class distribution has entropy above ``entropy`` nats."""
    return EntropyThreshold(entropy)


def set_size_above(size: int) -> SetSizeAbove:
    """Withhold answers whose prediction set holds more than ``size`` labels."""
    return SetSizeAbove(size)


def interval_wider_than(width: float) -> IntervalWiderThan:
    """Withhold answers whose prediction interval is wider than ``width``."""
    return IntervalWiderThan(width)


# -- thresholds chosen from data ---------------------------------------------------------


def _not_fitted(policy: Policy) -> NotFittedError:
    return NotFittedError(
        f"This {type(policy).__name__} is not fitted yet. Call fit(X_cal, y_cal) on the guard "
        "(or policy.fit(decisions, y)) with held-out labelled data first."
    )


def _check_labels(owner: str, d: Decisions, y: NDArray[Any]) -> NDArray[Any]:
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != len(d):
        raise InvalidInputError(
            f"{owner}.fit needs one label per decision: got {len(d)} decisions and labels "
            f"of shape {y.shape}."
        )
    return y


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
        if not self.is_fitted():
            raise _not_fitted(self)
        s = _SCORES[self.score](d)
        return Verdict(
            ~(s >= self.threshold_),
            Reason.LOW_CONFIDENCE,
            f"{self.score} below {self.threshold_:.4g} (coverage target {self.coverage:g})",
        )

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
        if not self.is_fitted():
            raise _not_fitted(self)
        s = _SCORES[self.score](d)
        return Verdict(
            ~(s >= self.threshold_),
            Reason.LOW_CONFIDENCE,
            f"{self.score} below {self.threshold_:.4g} (risk target {self.target_risk:g})",
        )

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


def _no_candidate(d: Decisions) -> NDArray[np.bool_]:
    """``(n,)`` rows where the model produced nothing (invalid input, error, timeout...)."""
    codes = [Reason.INVALID_INPUT, Reason.MODEL_ERROR, Reason.TIMEOUT, Reason.CIRCUIT_OPEN]
    return np.isin(d.reason, np.array(codes, dtype=np.int8)) & d.abstained


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
