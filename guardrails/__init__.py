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
from guardrails.estimator import GuardedClassifier, GuardedRegressor
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
from guardrails.monitor import Alert, DriftAction, MarkDrift, Monitored, RouteToReview, Tighten
from guardrails.redaction import REDACTED, Redactor, fingerprint
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
    "BreakerState",
    "Call",
    "CircuitBreaker",
    "CircuitOpenError",
    "ConfidenceThreshold",
    "ConfigurationError",
    "Decision",
    "Decisions",
    "Default",
    "DriftAction",
    "DriftProfile",
    "DriftReport",
    "FallbackExhaustedError",
    "FeatureDrift",
    "Guard",
    "GuardedClassifier",
    "GuardedRegressor",
    "GuardrailsError",
    "GuardrailsWarning",
    "InvalidInputError",
    "Layer",
    "MarkDrift",
    "MemoryQueue",
    "ModelAdapter",
    "ModelOutputError",
    "ModelStage",
    "Monitored",
    "NotFittedError",
    "OutputKind",
    "PageHinkley",
    "Policy",
    "PostLayer",
    "Reason",
    "Redactor",
    "Retry",
    "ReviewCase",
    "ReviewError",
    "ReviewQueue",
    "Reviewed",
    "RouteToReview",
    "Rule",
    "SQLiteQueue",
    "SendToReview",
    "Stage",
    "TestResult",
    "Tighten",
    "Trigger",
    "Verdict",
    "WindowState",
    "WithFallback",
    "__version__",
    "as_layer",
    "confidence_below",
    "fingerprint",
    "guard",
    "labelled_data",
    "load",
    "on_abstain",
    "on_circuit_open",
    "on_error",
    "on_invalid_input",
    "on_timeout",
    "on_withheld",
    "open_queue",
    "realized_accuracy",
]
