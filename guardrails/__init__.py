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
from guardrails.changepoint import PageHinkley
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
from guardrails.guard import CANONICAL_ORDER, Guard, guard, load
from guardrails.monitor import Alert, DriftAction, MarkDrift, Monitored, RouteToReview, Tighten
from guardrails.redaction import REDACTED, Redactor, fingerprint

__version__ = "0.1.0"

__all__ = [
    "CANONICAL_ORDER",
    "PRIMARY",
    "REDACTED",
    "Abstaining",
    "Alert",
    "AllOf",
    "AnyOf",
    "ArtifactError",
    "Call",
    "ConfidenceThreshold",
    "ConfigurationError",
    "Decision",
    "Decisions",
    "DriftAction",
    "DriftProfile",
    "DriftReport",
    "FallbackExhaustedError",
    "FeatureDrift",
    "Guard",
    "GuardrailsError",
    "GuardrailsWarning",
    "InvalidInputError",
    "Layer",
    "MarkDrift",
    "ModelAdapter",
    "ModelOutputError",
    "Monitored",
    "NotFittedError",
    "OutputKind",
    "PageHinkley",
    "Policy",
    "PostLayer",
    "Reason",
    "Redactor",
    "RouteToReview",
    "TestResult",
    "Tighten",
    "Verdict",
    "WindowState",
    "__version__",
    "as_layer",
    "confidence_below",
    "fingerprint",
    "guard",
    "load",
]
