"""Abstention wing: abstention policies and conformal prediction.

Thresholds, costs and risk control decide when to withhold; conformal sets and intervals
carry a coverage guarantee.
"""

from guardrails.abstention.conformal import (
    ConformalSets,
    conformal_quantile,
    conformal_rank,
    set_scores,
)
from guardrails.abstention.intervals import (
    ConformalIntervals,
)
from guardrails.abstention.online import (
    AdaptiveConformal,
    DtACI,
)
from guardrails.abstention.policies import (
    Abstaining,
    AllOf,
    AnyOf,
    ConfidenceThreshold,
    CostRule,
    CoverageThreshold,
    EntropyThreshold,
    IntervalWiderThan,
    MarginThreshold,
    Policy,
    RiskControlledThreshold,
    SetSizeAbove,
    Verdict,
    confidence_below,
    confidence_score,
    entropy_above,
    entropy_score,
    interval_wider_than,
    label_index,
    margin_below,
    margin_score,
    set_size_above,
)
from guardrails.abstention.risk_control import (
    ConformalRiskControl,
    CostControlledThreshold,
    LearnThenTest,
)
from guardrails.abstention.weighted import (
    DomainClassifier,
    WeightedConformalIntervals,
    WeightedConformalSets,
    weighted_conformal_quantile,
)

__all__ = [
    "Abstaining",
    "AdaptiveConformal",
    "AllOf",
    "AnyOf",
    "ConfidenceThreshold",
    "ConformalIntervals",
    "ConformalRiskControl",
    "ConformalSets",
    "CostControlledThreshold",
    "CostRule",
    "CoverageThreshold",
    "DomainClassifier",
    "DtACI",
    "EntropyThreshold",
    "IntervalWiderThan",
    "LearnThenTest",
    "MarginThreshold",
    "Policy",
    "RiskControlledThreshold",
    "SetSizeAbove",
    "Verdict",
    "WeightedConformalIntervals",
    "WeightedConformalSets",
    "confidence_below",
    "confidence_score",
    "conformal_quantile",
    "conformal_rank",
    "entropy_above",
    "entropy_score",
    "interval_wider_than",
    "label_index",
    "margin_below",
    "margin_score",
    "set_scores",
    "set_size_above",
    "weighted_conformal_quantile",
]
