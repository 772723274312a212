"""Calibration wing: calibrators, the layer that applies them, and reliability metrics."""

from guardrails.calibration.calibrators import (
    METHODS,
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
from guardrails.calibration.metrics import (
    ReliabilityCurve,
    brier_score,
    classwise_calibration_error,
    expected_calibration_error,
    label_indices,
    maximum_calibration_error,
    negative_log_likelihood,
    reliability_curve,
)

__all__ = [
    "Calibrated",
    "CalibrationReport",
    "CalibrationScores",
    "Calibrator",
    "HistogramBinning",
    "IsotonicCalibration",
    "METHODS",
    "PlattScaling",
    "ReliabilityCurve",
    "TemperatureScaling",
    "VectorScaling",
    "brier_score",
    "calibration_report",
    "classwise_calibration_error",
    "expected_calibration_error",
    "label_indices",
    "logits_from_proba",
    "maximum_calibration_error",
    "negative_log_likelihood",
    "reliability_curve",
]
