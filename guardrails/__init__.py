"""guardrails: wrap any predict callable so every answer is validated, calibrated,
withheld when it should not be trusted, routed to a fallback or a person, and recorded.

The front door: every public name is imported here explicitly and listed in ``__all__``.
"""

from guardrails.abstention import (
    Abstaining,
    AllOf,
    AnyOf,
    ConfidenceThreshold,
    Policy,
    Verdict,
    confidence_below,
)
from guardrails.adapter import ModelAdapter, OutputKind, as_layer
from guardrails.base import Call, Layer, PostLayer
from guardrails.calibration import (
    Calibrated,
    CalibrationReport,
    CalibrationScores,
    Calibrator,
    HistogramBinning,
    IsotonicCalibration,
    PlattScaling,
    TemperatureScaling,
    VectorScaling,
    calibration_report,
    logits_from_proba,
)
from guardrails.decisions import PRIMARY, Decision, Decisions, Reason
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
from guardrails.guard import CANONICAL_ORDER, Guard, guard, load
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

__version__ = "0.1.0"

__all__ = [
    "CANONICAL_ORDER",
    "PRIMARY",
    "REDACTED",
    "Abstaining",
    "AllOf",
    "AnyOf",
    "ArtifactError",
    "Calibrated",
    "CalibrationReport",
    "CalibrationScores",
    "Calibrator",
    "Call",
    "ConfidenceThreshold",
    "ConfigurationError",
    "Decision",
    "Decisions",
    "FallbackExhaustedError",
    "Guard",
    "GuardrailsError",
    "GuardrailsWarning",
    "HistogramBinning",
    "InvalidInputError",
    "IsotonicCalibration",
    "Layer",
    "ModelAdapter",
    "ModelOutputError",
    "NotFittedError",
    "OutputKind",
    "PlattScaling",
    "Policy",
    "PostLayer",
    "Reason",
    "Redactor",
    "ReliabilityCurve",
    "TemperatureScaling",
    "VectorScaling",
    "Verdict",
    "__version__",
    "as_layer",
    "brier_score",
    "calibration_report",
    "classwise_calibration_error",
    "confidence_below",
    "expected_calibration_error",
    "fingerprint",
    "guard",
    "load",
    "logits_from_proba",
    "maximum_calibration_error",
    "negative_log_likelihood",
    "reliability_curve",
]
