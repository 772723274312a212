"""Monitoring wing: drift tests and impact, the monitor layer, change points, novelty, estimates."""

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
from guardrails.monitoring.performance import (
    LossModel,
    PerformanceEstimate,
    PerformanceRule,
    PerformanceState,
    estimate_performance,
    estimate_performance_chunks,
)
from guardrails.monitoring.ppi import PPIEstimate, ppi_accuracy

__all__ = [
    "CORRECTIONS",
    "DriftAction",
    "DriftAlert",
    "DriftProfile",
    "DriftReport",
    "FeatureDrift",
    "FeatureImpact",
    "ImpactReport",
    "LossModel",
    "MarkDrift",
    "Monitored",
    "NoveltyGate",
    "NoveltyGated",
    "PPIEstimate",
    "PageHinkley",
    "PerformanceEstimate",
    "PerformanceRule",
    "PerformanceState",
    "Reweight",
    "RouteToReview",
    "SCORES",
    "TESTS",
    "TestResult",
    "Tighten",
    "WindowState",
    "adjust_pvalues",
    "conformal_p_values",
    "estimate_performance",
    "estimate_performance_chunks",
    "ppi_accuracy",
    "rank_impact",
]
