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
from guardrails.breaker import BreakerState, CircuitBreaker, CircuitOpenError
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
    on_invalid_input,
    on_timeout,
    on_withheld,
)
from guardrails.guard import CANONICAL_ORDER, Guard, guard, load
from guardrails.redaction import REDACTED, Redactor, fingerprint
from guardrails.report import Report

__version__ = "0.1.0"

__all__ = [
    "CANONICAL_ORDER",
    "PRIMARY",
    "REDACTED",
    "Abstaining",
    "AllOf",
    "AnyOf",
    "ArtifactError",
    "BreakerState",
    "Call",
    "CircuitBreaker",
    "CircuitOpenError",
    "ConfidenceThreshold",
    "ConfigurationError",
    "Decision",
    "Decisions",
    "Default",
    "FallbackExhaustedError",
    "Guard",
    "GuardrailsError",
    "GuardrailsWarning",
    "InvalidInputError",
    "Layer",
    "ModelAdapter",
    "ModelOutputError",
    "ModelStage",
    "NotFittedError",
    "OutputKind",
    "Policy",
    "PostLayer",
    "Reason",
    "Redactor",
    "Report",
    "Retry",
    "Rule",
    "SendToReview",
    "Stage",
    "Trigger",
    "Verdict",
    "WithFallback",
    "__version__",
    "as_layer",
    "confidence_below",
    "fingerprint",
    "guard",
    "load",
    "on_abstain",
    "on_circuit_open",
    "on_error",
    "on_invalid_input",
    "on_timeout",
    "on_withheld",
]
