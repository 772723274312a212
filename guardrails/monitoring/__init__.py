"""Monitoring wing: drift profiles and tests, the monitor layer, change points, estimates."""

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
from guardrails.monitoring.monitor import (
    DriftAction,
    DriftAlert,
    MarkDrift,
    Monitored,
    Reweight,
    RouteToReview,
    Tighten,
)
from guardrails.monitoring.performance import (
    LossModel,
    PerformanceEstimate,
    PerformanceRule,
    PerformanceState,
    PPIEstimate,
    estimate_performance,
    ppi_accuracy,
)

__all__ = [
    "CORRECTIONS",
    "DriftAction",
    "DriftAlert",
    "DriftProfile",
    "DriftReport",
    "FeatureDrift",
    "LossModel",
    "MarkDrift",
    "Monitored",
    "PPIEstimate",
    "PageHinkley",
    "PerformanceEstimate",
    "PerformanceRule",
    "PerformanceState",
    "Reweight",
    "RouteToReview",
    "TESTS",
    "TestResult",
    "Tighten",
    "WindowState",
    "adjust_pvalues",
    "estimate_performance",
    "ppi_accuracy",
]
