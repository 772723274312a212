"""guardrails: wrap any predict callable so every answer is validated, calibrated,
withheld when it should not be trusted, routed to a fallback or a person, and recorded.

The front door: every public name is imported here explicitly and listed in ``__all__``.
"""

import typing as _typing

from guardrails.abstention import (
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
from guardrails.adapter import ModelAdapter, OutputKind, as_layer
from guardrails.alerts import (
    Alert,
    AlertRule,
    Alerts,
    abstention_rate_above,
    circuit_opened,
    drift_detected,
    error_rate_above,
    fallback_rate_above,
)
from guardrails.base import Call, DriftNote, Layer, PostLayer, ReviewNote, ValidationNote
from guardrails.breaker import BreakerState, CircuitBreaker, CircuitOpenError
from guardrails.calibration import (
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
from guardrails.changepoint import PageHinkley
from guardrails.conformal import AdaptiveConformal, ConformalIntervals, ConformalSets
from guardrails.decisions import PRIMARY, Decision, Decisions, Reason
from guardrails.drift import DriftProfile, DriftReport, FeatureDrift, TestResult, WindowState
from guardrails.errors import (
    ArtifactError,
    ConfigurationError,
    FallbackExhaustedError,
    GuardrailsError,
    GuardrailsWarning,
    InvalidInputError,
    ModelOutputError,
    NotFittedError,
)
from guardrails.fallback import (
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
from guardrails.guard import CANONICAL_ORDER, Guard, guard, load
from guardrails.impact import FeatureImpact, ImpactReport, rank_impact
from guardrails.monitor import DriftAction, DriftAlert, MarkDrift, Monitored, RouteToReview, Tighten
from guardrails.observe import Logged
from guardrails.redaction import REDACTED, Redactor, fingerprint
from guardrails.reliability import (
    ReliabilityCurve,
    brier_score,
    classwise_calibration_error,
    expected_calibration_error,
    maximum_calibration_error,
    negative_log_likelihood,
    reliability_curve,
)
from guardrails.report import Report
from guardrails.review import (
    MemoryQueue,
    ReviewCase,
    Reviewed,
    ReviewError,
    ReviewQueue,
    labelled_data,
    open_queue,
    realized_accuracy,
)
from guardrails.review_sqlite import SQLiteQueue
from guardrails.schema import FieldSpec, Schema, infer_schema
from guardrails.telemetry import Metrics
from guardrails.validation import Validated, ValidationResult
from guardrails.workers import PoolStats, WorkerPool

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
    "ConformalSets",
    "CostRule",
    "CoverageThreshold",
    "Decision",
    "Decisions",
    "Default",
    "DriftAction",
    "DriftAlert",
    "DriftNote",
    "DriftProfile",
    "DriftReport",
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
    "Logged",
    "MarginThreshold",
    "MarkDrift",
    "MemoryQueue",
    "Metrics",
    "ModelAdapter",
    "ModelOutputError",
    "ModelStage",
    "Monitored",
    "NotFittedError",
    "OutputKind",
    "PageHinkley",
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
    "ReviewCase",
    "ReviewError",
    "ReviewNote",
    "ReviewQueue",
    "Reviewed",
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
    "rank_impact",
    "realized_accuracy",
    "recalibrate",
    "reliability_curve",
    "set_size_above",
]

# The scikit-learn estimators subclass scikit-learn's BaseEstimator: they load with
# scikit-learn on first use, so that ``import guardrails`` stays light (a review command,
# a service that never touches them).
_LAZY = {
    "GuardedClassifier": "guardrails.estimator",
    "GuardedRegressor": "guardrails.estimator",
}

if _typing.TYPE_CHECKING:
    from guardrails.estimator import GuardedClassifier, GuardedRegressor


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'guardrails' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
