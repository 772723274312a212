"""Monitoring wing: drift profiles and tests, the drift monitor layer, change points."""

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

__all__ = [
    "CORRECTIONS",
    "DriftAction",
    "DriftAlert",
    "DriftProfile",
    "DriftReport",
    "FeatureDrift",
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
]
