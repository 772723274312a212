"""Abstention: policies that decide which answers to withhold, and the Abstaining wrapper.

A policy looks at a batch of :class:`~guardrails.Decisions` (calibrated when a calibrator
sits inside) and says, per row, whether to withhold the answer and why. Policies are small
objects that combine with ``|`` (withhold if either does) and ``&`` (only if both do).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from guardrails.base import Call, Layer, PostLayer
from guardrails.decisions import Decisions, Reason, object_column
from guardrails.errors import ConfigurationError
from guardrails.persistence import persistable

if TYPE_CHECKING:
    from typing_extensions import Self

    from guardrails.persistence import Decoder, Encoder

__all__ = [
    "AllOf",
    "AnyOf",
    "Abstaining",
    "ConfidenceThreshold",
    "Policy",
    "Verdict",
    "confidence_below",
]


@dataclass
class Verdict:
    """What a policy says about a batch.

    Attributes:
        abstain: ``(n,)`` bool, rows to withhold.
        reason: the :class:`Reason` for every withheld row, or ``(n,)`` int8 codes.
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


class Policy(ABC):
    """Decides which rows of a batch to withhold.

    Subclasses implement :meth:`evaluate`; those that choose thresholds from data also
    implement :meth:`fit` and :meth:`is_fitted`. ``requires`` names the decision columns
    the policy reads ("proba", "interval", ...), checked when a guard is built.
    """

    requires: ClassVar[frozenset[str]] = frozenset()

    @abstractmethod
    def evaluate(self, d: Decisions) -> Verdict:
        """The verdict on every row of ``d``."""

    def fit(self, d: Decisions, y: NDArray[Any]) -> Self:
        """Learn thresholds from decisions on held-out data and their true labels."""
        return self

    def is_fitted(self) -> bool:
        """True when the policy needs no fitting or has been fitted."""
        return True

    def needs(self) -> frozenset[str]:
        """Every column this policy (and any policy inside it) reads."""
        return self.requires

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


def _check_unit(owner: str, name: str, value: Any, *, closed: bool = True) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok:
        ok = (0.0 <= value <= 1.0) if closed else (0.0 < value < 1.0)
    if not ok:
        interval = "[0, 1]" if closed else "(0, 1)"
        raise ConfigurationError(
            f"The {name!r} parameter of {owner} must be a float in {interval}. "
            f"Got {value!r} instead."
        )
    return float(value)


@persistable
class ConfidenceThreshold(Policy):
    """Withhold answers whose confidence (top-class probability) is below ``threshold``.

    Rows with unknown confidence (NaN) are withheld too: no probability, no trust.

    Example:
        >>> import numpy as np
        >>> from guardrails import ConfidenceThreshold, Decisions
        >>> d = Decisions(prediction=np.array([0, 1]), confidence=np.array([0.95, 0.6]))
        >>> ConfidenceThreshold(0.8).evaluate(d).abstain.tolist()
        [False, True]
    """

    requires = frozenset({"proba"})

    def __init__(self, threshold: float) -> None:
        self.threshold = _check_unit("ConfidenceThreshold", "threshold", threshold)

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
        return frozenset().union(*(p.needs() for p in self.policies))

    def fit(self, d: Decisions, y: NDArray[Any]) -> Self:
        for p in self.policies:
            p.fit(d, y)
        return self

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

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        return {"policies": [enc.component(p) for p in self.policies]}

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder) -> _Combined:
        return cls(*(dec.component(spec) for spec in state["policies"]))

    def _verdicts(self, d: Decisions) -> list[Verdict]:
        return [p.evaluate(d) for p in self.policies]

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

    def evaluate(self, d: Decisions) -> Verdict:
        verdicts = self._verdicts(d)
        abstain = np.zeros(len(d), dtype=bool)
        reason = np.zeros(len(d), dtype=np.int8)
        detail = object_column(len(d))
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

    def evaluate(self, d: Decisions) -> Verdict:
        verdicts = self._verdicts(d)
        abstain = np.logical_and.reduce([v.abstain for v in verdicts])
        first = verdicts[0]
        return Verdict(
            abstain, first.reason_codes(), first.detail_column(), self._columns(verdicts)
        )


@persistable
class Abstaining(PostLayer):
    """Withhold the answers a :class:`Policy` does not trust.

    Args:
        inner: the model or guard layer to wrap.
        policy: the policy that decides, e.g. ``ConfidenceThreshold(0.8)``.

    Example:
        >>> import numpy as np
        >>> from sklearn.linear_model import LogisticRegression
        >>> from guardrails import Abstaining, ConfidenceThreshold
        >>> X = np.r_[np.zeros((20, 1)), np.ones((20, 1))]; y = np.r_[np.zeros(20), np.ones(20)]
        >>> guarded = Abstaining(LogisticRegression().fit(X, y), policy=ConfidenceThreshold(0.9))
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

    def _learn(self, d: Decisions, y: NDArray[Any]) -> None:
        self.policy.fit(d, y)

    def _post(self, d: Decisions, call: Call) -> Decisions:
        verdict = self.policy.evaluate(d)
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


def _available(layer: Layer) -> frozenset[str]:
    """Columns a policy can read on top of ``layer``: probabilities bring confidence."""
    return layer.provides
