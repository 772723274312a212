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
from guardrails.schema import FieldSpec, Schema, infer_schema
from guardrails.validation import Validated, ValidationResult

__version__ = "0.1.0"

__all__ = [
    "CANONICAL_ORDER",
    "PRIMARY",
    "REDACTED",
    "Abstaining",
    "AllOf",
    "AnyOf",
    "ArtifactError",
    "Call",
    "ConfidenceThreshold",
    "ConfigurationError",
    "Decision",
    "Decisions",
    "FallbackExhaustedError",
    "FieldSpec",
    "Guard",
    "GuardrailsError",
    "GuardrailsWarning",
    "InvalidInputError",
    "Layer",
    "ModelAdapter",
    "ModelOutputError",
    "NotFittedError",
    "OutputKind",
    "Policy",
    "PostLayer",
    "Reason",
    "Redactor",
    "Schema",
    "Validated",
    "ValidationResult",
    "Verdict",
    "__version__",
    "as_layer",
    "confidence_below",
    "fingerprint",
    "guard",
    "infer_schema",
    "load",
]
