"""guardrails: wrap any predict callable so every answer is validated, calibrated,
withheld when it should not be trusted, routed to a fallback or a person, and recorded.

The front door: every public name is imported here explicitly and listed in ``__all__``.
"""

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
from guardrails.base import Call, Layer, PostLayer
from guardrails.conformal import AdaptiveConformal, ConformalIntervals, ConformalSets
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

__version__ = "0.1.0"

__all__ = [
    "CANONICAL_ORDER",
    "PRIMARY",
    "REDACTED",
    "Abstaining",
    "AdaptiveConformal",
    "AllOf",
    "AnyOf",
    "ArtifactError",
    "Call",
    "ConfidenceThreshold",
    "ConfigurationError",
    "ConformalIntervals",
    "ConformalSets",
    "CostRule",
    "CoverageThreshold",
    "Decision",
    "Decisions",
    "EntropyThreshold",
    "FallbackExhaustedError",
    "Guard",
    "GuardrailsError",
    "GuardrailsWarning",
    "IntervalWiderThan",
    "InvalidInputError",
    "Layer",
    "MarginThreshold",
    "ModelAdapter",
    "ModelOutputError",
    "NotFittedError",
    "OutputKind",
    "Policy",
    "PostLayer",
    "Reason",
    "Redactor",
    "RiskControlledThreshold",
    "SetSizeAbove",
    "Verdict",
    "as_layer",
    "confidence_below",
    "entropy_above",
    "fingerprint",
    "guard",
    "interval_wider_than",
    "load",
    "margin_below",
    "set_size_above",
    "__version__",
]
