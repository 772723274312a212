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
from guardrails.base import Call, Layer, PostLayer
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
from guardrails.observe import Logged
from guardrails.redaction import REDACTED, Redactor, fingerprint
from guardrails.telemetry import Metrics

__version__ = "0.1.0"

__all__ = [
    "CANONICAL_ORDER",
    "PRIMARY",
    "REDACTED",
    "Abstaining",
    "Alert",
    "AlertRule",
    "Alerts",
    "AllOf",
    "AnyOf",
    "ArtifactError",
    "Call",
    "ConfidenceThreshold",
    "ConfigurationError",
    "Decision",
    "Decisions",
    "FallbackExhaustedError",
    "Guard",
    "GuardrailsError",
    "GuardrailsWarning",
    "InvalidInputError",
    "Layer",
    "Logged",
    "Metrics",
    "ModelAdapter",
    "ModelOutputError",
    "NotFittedError",
    "OutputKind",
    "Policy",
    "PostLayer",
    "Reason",
    "Redactor",
    "Verdict",
    "__version__",
    "abstention_rate_above",
    "as_layer",
    "circuit_opened",
    "confidence_below",
    "drift_detected",
    "error_rate_above",
    "fallback_rate_above",
    "fingerprint",
    "guard",
    "load",
]
