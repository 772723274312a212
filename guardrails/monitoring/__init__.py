"""Monitoring wing: drift profiles and tests, the monitor layer, drift impact, change points."""

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
    "PageHinkley",
    "Reweight",
    "RouteToReview",
    "TESTS",
    "TestResult",
    "Tighten",
    "WindowState",
    "adjust_pvalues",
    "rank_impact",
]
