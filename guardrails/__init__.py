"""guardrails: wrap any predict callable so every answer is validated, calibrated,
withheld when it should not be trusted, routed to a fallback or a person, and recorded.

The front door: every public name is imported here explicitly and listed in ``__all__``.
"""

import typing as _typing

from guardrails.abstention.conformal import ConformalSets
from guardrails.abstention.intervals import ConformalIntervals
from guardrails.abstention.online import AdaptiveConformal, DtACI
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
    entropy_above,
    interval_wider_than,
    margin_below,
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
)
from guardrails.apps.report import Report
from guardrails.builder import CANONICAL_ORDER, Guard, guard
from guardrails.calibration.calibrators import (
    Calibrated,
    CalibrationReport,
    CalibrationScores,
    Calibrator,
    HistogramBinning,
    IsotonicCalibration,
    PlattScaling,
    RecalibrationReport,
    TemperatureScaling,
    VectorScaling,
    calibration_report,
    logits_from_proba,
    recalibrate,
)
from guardrails.calibration.metrics import (
    ReliabilityCurve,
    brier_score,
    classwise_calibration_error,
    expected_calibration_error,
    maximum_calibration_error,
    negative_log_likelihood,
    reliability_curve,
)
from guardrails.core.adapter import ModelAdapter, OutputKind, as_layer
from guardrails.core.decisions import PRIMARY, Decision, Decisions, Reason
from guardrails.core.errors import (
    ArtifactError,
    ConfigurationError,
    FallbackExhaustedError,
    GuardrailsError,
    GuardrailsWarning,
    InvalidInputError,
    ModelOutputError,
    NotFittedError,
)
from guardrails.core.layer import Call, DriftNote, Layer, ReviewNote, ValidationNote
from guardrails.core.post import PostLayer
from guardrails.core.redaction import REDACTED, Redactor, fingerprint
from guardrails.core.workers import PoolStats, WorkerPool
from guardrails.fallback.breaker import BreakerState, CircuitBreaker, CircuitOpenError
from guardrails.fallback.chain import (
    Default,
    ModelStage,
    Retry,
    Rule,
    SendToReview,
    Stage,
    Trigger,
    WithFallback,
    on_abstain,
    on_circuit_open,
    on_error,
    on_failure,
    on_invalid_input,
    on_timeout,
    on_withheld,
)
from guardrails.loading import load
from guardrails.monitoring.changepoint import PageHinkley
from guardrails.monitoring.drift import (
    DriftProfile,
    DriftReport,
    FeatureDrift,
    TestResult,
    WindowState,
)
from guardrails.monitoring.impact import FeatureImpact, ImpactReport, rank_impact
from guardrails.monitoring.monitor import (
    DriftAction,
    DriftAlert,
    MarkDrift,
    Monitored,
    Reweight,
    RouteToReview,
    Tighten,
)
from guardrails.monitoring.novelty import NoveltyGate, NoveltyGated
from guardrails.monitoring.performance import (
    LossModel,
    PerformanceRule,
    estimate_performance,
    estimate_performance_chunks,
)
from guardrails.monitoring.ppi import ppi_accuracy
from guardrails.observability.alerts import (
    Alert,
    AlertRule,
    Alerts,
    abstention_rate_above,
    circuit_opened,
    drift_detected,
    error_rate_above,
    fallback_rate_above,
    review_age_above,
    review_backlog_above,
)
from guardrails.observability.observe import Logged
from guardrails.observability.telemetry import Metrics
from guardrails.review.backends import open_queue
from guardrails.review.budget import ReviewBudget
from guardrails.review.cases import ReviewCase, ReviewError
from guardrails.review.labels import labelled_data, realized_accuracy
from guardrails.review.layer import Reviewed
from guardrails.review.memory import MemoryQueue
from guardrails.review.queue import ReviewQueue
from guardrails.review.sqlite import SQLiteQueue
from guardrails.validation.layer import Validated, ValidationResult
from guardrails.validation.schema import FieldSpec, Schema, infer_schema

__version__ = "0.1.0"

__all__ = [
    "CANONICAL_ORDER",
    "PRIMARY",
    "REDACTED",
    "Abstaining",
    "AdaptiveConformal",
    "Alert",
    "AlertRule",
    "Alerts",
    "AllOf",
    "AnyOf",
    "ArtifactError",
    "BreakerState",
    "Calibrated",
    "CalibrationReport",
    "CalibrationScores",
    "Calibrator",
    "Call",
    "CircuitBreaker",
    "CircuitOpenError",
    "ConfidenceThreshold",
    "ConfigurationError",
    "ConformalIntervals",
    "ConformalRiskControl",
    "ConformalSets",
    "CostControlledThreshold",
    "CostRule",
    "CoverageThreshold",
    "Decision",
    "Decisions",
    "Default",
    "DomainClassifier",
    "DriftAction",
    "DriftAlert",
    "DriftNote",
    "DriftProfile",
    "DriftReport",
    "DtACI",
    "EntropyThreshold",
    "FallbackExhaustedError",
    "FeatureDrift",
    "FeatureImpact",
    "FieldSpec",
    "Guard",
    "GuardedClassifier",
    "GuardedRegressor",
    "GuardrailsError",
    "GuardrailsWarning",
    "HistogramBinning",
    "ImpactReport",
    "IntervalWiderThan",
    "InvalidInputError",
    "IsotonicCalibration",
    "Layer",
    "LearnThenTest",
    "Logged",
    "LossModel",
    "MarginThreshold",
    "MarkDrift",
    "MemoryQueue",
    "Metrics",
    "ModelAdapter",
    "ModelOutputError",
    "ModelStage",
    "Monitored",
    "NotFittedError",
    "NoveltyGate",
    "NoveltyGated",
    "OutputKind",
    "PageHinkley",
    "PerformanceRule",
    "PlattScaling",
    "Policy",
    "PoolStats",
    "PostLayer",
    "Reason",
    "RecalibrationReport",
    "Redactor",
    "ReliabilityCurve",
    "Report",
    "Retry",
    "ReviewBudget",
    "ReviewCase",
    "ReviewError",
    "ReviewNote",
    "ReviewQueue",
    "Reviewed",
    "Reweight",
    "RiskControlledThreshold",
    "RouteToReview",
    "Rule",
    "SQLiteQueue",
    "Schema",
    "SendToReview",
    "SetSizeAbove",
    "Stage",
    "TemperatureScaling",
    "TestResult",
    "Tighten",
    "Trigger",
    "Validated",
    "ValidationNote",
    "ValidationResult",
    "VectorScaling",
    "Verdict",
    "WeightedConformalIntervals",
    "WeightedConformalSets",
    "WindowState",
    "WithFallback",
    "WorkerPool",
    "__version__",
    "abstention_rate_above",
    "as_layer",
    "brier_score",
    "calibration_report",
    "circuit_opened",
    "classwise_calibration_error",
    "confidence_below",
    "drift_detected",
    "entropy_above",
    "error_rate_above",
    "estimate_performance",
    "estimate_performance_chunks",
    "expected_calibration_error",
    "fallback_rate_above",
    "fingerprint",
    "guard",
    "infer_schema",
    "interval_wider_than",
    "labelled_data",
    "load",
    "logits_from_proba",
    "margin_below",
    "maximum_calibration_error",
    "negative_log_likelihood",
    "on_abstain",
    "on_circuit_open",
    "on_error",
    "on_failure",
    "on_invalid_input",
    "on_timeout",
    "on_withheld",
    "open_queue",
    "ppi_accuracy",
    "rank_impact",
    "realized_accuracy",
    "recalibrate",
    "reliability_curve",
    "review_age_above",
    "review_backlog_above",
    "set_size_above",
]

# The scikit-learn estimators subclass scikit-learn's BaseEstimator: they load with
# scikit-learn on first use, so that ``import guardrails`` stays light (a review command,
# a service that never touches them).
_LAZY = {
    "GuardedClassifier": "guardrails.apps.estimator",
    "GuardedRegressor": "guardrails.apps.estimator",
}

if _typing.TYPE_CHECKING:
    from guardrails.apps.estimator import GuardedClassifier, GuardedRegressor


# Modules reachable as ``from guardrails import outcomes`` (their home is a subpackage).
_LAZY_MODULES = {"outcomes": "guardrails.apps.outcomes"}


def __getattr__(name: str) -> _typing.Any:
    import importlib

    if name in _LAZY_MODULES:
        value = importlib.import_module(_LAZY_MODULES[name])
    else:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module 'guardrails' has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, *_LAZY_MODULES})
