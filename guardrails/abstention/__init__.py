"""Abstention wing: abstention policies and conformal prediction.

Thresholds, costs and risk control decide when to withhold; conformal sets and intervals
carry a coverage guarantee.
"""

from guardrails.abstention.conformal import (
    AdaptiveConformal,
    ConformalIntervals,
    ConformalSets,
    conformal_quantile,
    conformal_rank,
    set_scores,
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

__all__ = [
    "Abstaining",
    "AdaptiveConformal",
    "AllOf",
    "AnyOf",
    "ConfidenceThreshold",
    "ConformalIntervals",
    "ConformalSets",
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
]
