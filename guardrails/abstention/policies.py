"""The Abstaining layer: withholds the answers a policy does not trust.

The policies themselves live by job in ``policy`` (the protocol and combinators),
``thresholds`` (fixed thresholds), ``selective`` (thresholds chosen from data, cost rule)
and ``scores`` (what they read); this module re-exports them so that
``guardrails.abstention.policies.X`` keeps working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from numpy.typing import NDArray

from guardrails.abstention.policy import AllOf as AllOf
from guardrails.abstention.policy import AnyOf as AnyOf
from guardrails.abstention.policy import Policy as Policy
from guardrails.abstention.policy import Verdict as Verdict
from guardrails.abstention.scores import confidence_score as confidence_score
from guardrails.abstention.scores import entropy_score as entropy_score
from guardrails.abstention.scores import label_index as label_index
from guardrails.abstention.scores import margin_score as margin_score
from guardrails.abstention.selective import CostRule as CostRule
from guardrails.abstention.selective import CoverageThreshold as CoverageThreshold
from guardrails.abstention.selective import RiskControlledThreshold as RiskControlledThreshold
from guardrails.abstention.thresholds import ConfidenceThreshold as ConfidenceThreshold
from guardrails.abstention.thresholds import EntropyThreshold as EntropyThreshold
from guardrails.abstention.thresholds import IntervalWiderThan as IntervalWiderThan
from guardrails.abstention.thresholds import MarginThreshold as MarginThreshold
from guardrails.abstention.thresholds import SetSizeAbove as SetSizeAbove
from guardrails.abstention.thresholds import confidence_below as confidence_below
from guardrails.abstention.thresholds import entropy_above as entropy_above
from guardrails.abstention.thresholds import interval_wider_than as interval_wider_than
from guardrails.abstention.thresholds import margin_below as margin_below
from guardrails.abstention.thresholds import set_size_above as set_size_above
from guardrails.core.decisions import Decisions
from guardrails.core.errors import (
    ConfigurationError,
)
from guardrails.core.layer import Call, Layer
from guardrails.core.persistence import persistable
from guardrails.core.post import PostLayer

if TYPE_CHECKING:
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


def _available(layer: Layer) -> frozenset[str]:
    """Columns a policy can read on top of ``layer``: probabilities bring confidence."""
    return layer.provides
