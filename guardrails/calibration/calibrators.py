"""Calibration's public names under one path: calibrators, the Calibrated layer, reports.

A calibrator is fitted on held-out data of an already-trained model. Every calibrator
takes *scores*: logits, log-probabilities or margins, ``(n_samples, n_classes)``, or
``(n_samples,)`` margins of the positive class of a binary problem (read as the two
logits ``[0, s]``). To calibrate probabilities ``p``, pass ``np.log(p)``; the
[`Calibrated`][] layer does this for you. ``transform`` always returns probabilities
``(n_samples, n_classes)``.

- [`TemperatureScaling`][]: ``softmax(z / T)``, one parameter, fitted by minimising the
  negative log-likelihood exactly (the loss is convex in ``1 / T``).
- [`PlattScaling`][]: a sigmoid ``1 / (1 + exp(-(a s + b)))`` of each class's
  one-vs-rest logit ``s``, with Platt's prior-corrected targets; renormalised.
- [`IsotonicCalibration`][]: a monotone step-and-ramp map of each class's probability,
  one-vs-rest, renormalised.
- [`HistogramBinning`][]: the observed frequency in equal-mass (or equal-width) bins
  of each class's probability, one-vs-rest, renormalised.
- [`VectorScaling`][]: ``softmax(w * z + b)``, a scale and a bias per class.

This module gathers the calibration wing's public names under one path; the code lives in
`base` (the calibrator protocol), `scaling` (temperature, Platt, vector), `binning`
(isotonic, histogram), `layer` (the Calibrated layer) and `report` (reports, recalibrate).
"""

from guardrails.calibration.base import ISOTONIC_MIN_SAMPLES as ISOTONIC_MIN_SAMPLES
from guardrails.calibration.base import LOG_EPS as LOG_EPS
from guardrails.calibration.base import METHODS as METHODS
from guardrails.calibration.base import Calibrator as Calibrator
from guardrails.calibration.base import Method as Method
from guardrails.calibration.base import expit as expit
from guardrails.calibration.base import logits_from_proba as logits_from_proba
from guardrails.calibration.base import softmax as softmax
from guardrails.calibration.binning import HistogramBinning as HistogramBinning
from guardrails.calibration.binning import IsotonicCalibration as IsotonicCalibration
from guardrails.calibration.layer import Calibrated as Calibrated
from guardrails.calibration.layer import make_calibrator as make_calibrator
from guardrails.calibration.layer import row_fingerprints as row_fingerprints
from guardrails.calibration.report import CalibrationReport as CalibrationReport
from guardrails.calibration.report import CalibrationScores as CalibrationScores
from guardrails.calibration.report import RecalibrationReport as RecalibrationReport
from guardrails.calibration.report import calibration_report as calibration_report
from guardrails.calibration.report import recalibrate as recalibrate
from guardrails.calibration.scaling import PlattScaling as PlattScaling
from guardrails.calibration.scaling import TemperatureScaling as TemperatureScaling
from guardrails.calibration.scaling import VectorScaling as VectorScaling

__all__ = [
    "METHODS",
    "Calibrated",
    "CalibrationReport",
    "CalibrationScores",
    "Calibrator",
    "HistogramBinning",
    "IsotonicCalibration",
    "PlattScaling",
    "TemperatureScaling",
    "VectorScaling",
    "calibration_report",
    "logits_from_proba",
]
