"""The policy protocol: Verdict, Policy, the ``|``/``&`` combinators and the checks policies share.

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

from guardrails.abstention.scores import _SCORES
from guardrails.core.coded import CodedText
from guardrails.core.decisions import Decisions, Reason, object_column
from guardrails.core.errors import (
    ConfigurationError,
    InvalidInputError,
    NotFittedError,
)
from guardrails.core.parameters import HasParams
from guardrails.core.persistence import persistable

if TYPE_CHECKING:
    from typing_extensions import Self

    from guardrails.core.persistence import Decoder, Encoder

__all__ = [
    "AllOf",
    "AnyOf",
    "Policy",
    "Verdict",
]


@dataclass
class Verdict:
    """What a policy says about a batch.

    Attributes:
        abstain: ``(n,)`` bool, rows to withhold.
        reason: the [`Reason`][] for every withheld row, or ``(n,)`` int8 codes.
        detail: readable explanation, one for all rows or ``(n,)`` object, or a
            ``CodedText`` (guardrails.core.coded) that reads like that column
            (``len``, indexing, ``np.asarray``; ``detail_column()`` builds it).
        columns: decision columns the policy computed (e.g. ``pred_set``), to be set.
    """

    abstain: NDArray[np.bool_]
    reason: Reason | NDArray[np.int8]
    detail: str | NDArray[np.object_] | CodedText | None = None
    columns: dict[str, Any] = field(default_factory=dict)

    def reason_codes(self) -> NDArray[np.int8]:
        if isinstance(self.reason, np.ndarray):
            return self.reason
        return np.full(self.abstain.shape[0], int(self.reason), dtype=np.int8)

    def detail_column(self) -> NDArray[np.object_]:
        if isinstance(self.detail, np.ndarray):
            return self.detail
        if isinstance(self.detail, CodedText):
            return self.detail.column()
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


def _with_columns(d: Decisions, verdict: Verdict) -> Decisions:
    """``d`` with the columns a verdict computed, for the policies that read them next."""
    return d.replace(**verdict.columns) if verdict.columns else d


# -- checks the policies share ----------------------------------------------------------


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


def _not_fitted(policy: Policy) -> NotFittedError:
    return NotFittedError(
        f"This {type(policy).__name__} is not fitted yet. Call fit(X_cal, y_cal) on the guard "
        "(or policy.fit(decisions, y)) with held-out labelled data first."
    )


def _below_threshold(policy: Any, d: Decisions, target: str) -> Verdict:
    """Withhold the rows whose ``policy.score`` is below its fitted ``threshold_``.

    ``target`` closes the reason's detail in brackets; an unfitted policy raises.
    """
    if not policy.is_fitted():
        raise _not_fitted(policy)
    s = _SCORES[policy.score](d)
    return Verdict(
        ~(s >= policy.threshold_),
        Reason.LOW_CONFIDENCE,
        f"{policy.score} below {policy.threshold_:.4g} ({target})",
    )


def _check_labels(owner: str, d: Decisions, y: NDArray[Any]) -> NDArray[Any]:
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != len(d):
        raise InvalidInputError(
            f"{owner}.fit needs one label per decision: got {len(d)} decisions and labels "
            f"of shape {y.shape}."
        )
    return y


def _no_candidate(d: Decisions) -> NDArray[np.bool_]:
    """``(n,)`` rows where the model produced nothing (invalid input, error, timeout...)."""
    if not d.abstained.any():
        return np.zeros(len(d), dtype=bool)
    codes = [Reason.INVALID_INPUT, Reason.MODEL_ERROR, Reason.TIMEOUT, Reason.CIRCUIT_OPEN]
    return np.isin(d.reason, np.array(codes, dtype=np.int8)) & d.abstained
