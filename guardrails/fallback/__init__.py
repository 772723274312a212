"""Fallback wing: the fallback chain (triggers and stages) and the circuit breaker."""

from guardrails.fallback.breaker import (
    BreakerState,
    CircuitBreaker,
    CircuitOpenError,
    StateListener,
)
from guardrails.fallback.chain import (
    Default,
    ModelStage,
    Retry,
    Rule,
    SendToReview,
    Stage,
    Trigger,
    WithFallback,
    as_stage,
    on_abstain,
    on_circuit_open,
    on_error,
    on_failure,
    on_invalid_input,
    on_timeout,
    on_withheld,
)

__all__ = [
    "BreakerState",
    "CircuitBreaker",
    "CircuitOpenError",
    "Default",
    "ModelStage",
    "Retry",
    "Rule",
    "SendToReview",
    "Stage",
    "StateListener",
    "Trigger",
    "WithFallback",
    "as_stage",
    "on_abstain",
    "on_circuit_open",
    "on_error",
    "on_failure",
    "on_invalid_input",
    "on_timeout",
    "on_withheld",
]
