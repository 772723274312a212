"""Monitoring wing: drift tests and impact, the monitor layer, change points, novelty."""

from guardrails.monitoring.changepoint import (
    PageHinkley,
)
from guardrails.monitoring.drift import (
    CORRECTIONS,
    TESTS,
    DriftProfile,
    DriftReport,
    FeatureDrift,
    TestResult,
    WindowState,
    adjust_pvalues,
)
from guardrails.monitoring.impact import (
    FeatureImpact,
    ImpactReport,
    rank_impact,
)
from guardrails.monitoring.monitor import (
    DriftAction,
    DriftAlert,
    MarkDrift,
    Monitored,
    Reweight,
    RouteToReview,
    Tighten,
)
from guardrails.monitoring.novelty import (
    SCORES,
    NoveltyGate,
    NoveltyGated,
    conformal_p_values,
)

__all__ = [
    "CORRECTIONS",
    "DriftAction",
    "DriftAlert",
    "DriftProfile",
    "DriftReport",
    "FeatureDrift",
    "FeatureImpact",
    "ImpactReport",
    "MarkDrift",
    "Monitored",
    "NoveltyGate",
    "NoveltyGated",
    "PageHinkley",
    "Reweight",
    "RouteToReview",
    "SCORES",
    "TESTS",
    "TestResult",
    "Tighten",
    "WindowState",
    "adjust_pvalues",
    "conformal_p_values",
    "rank_impact",
]
