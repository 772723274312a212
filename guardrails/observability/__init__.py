"""Observability wing: the logging layer, in-process telemetry and alert rules.

Exporters of the telemetry live in `guardrails.exporters` (a public path).
"""

from guardrails.observability.alerts import (
    Alert,
    AlertRule,
    Alerts,
    Health,
    Sink,
    abstention_rate_above,
    circuit_opened,
    drift_detected,
    error_rate_above,
    fallback_rate_above,
    review_age_above,
    review_backlog_above,
)
from guardrails.observability.observe import (
    DECISION_KEYS,
    MAX_ROW_EVENTS,
    Logged,
    scrub,
)
from guardrails.observability.telemetry import (
    CONFIDENCE_BUCKETS,
    ERROR_REASONS,
    LATENCY_BUCKETS,
    OUTCOMES,
    GuardSnapshot,
    HistogramSnapshot,
    Metrics,
    Rates,
    Snapshot,
    row_outcomes,
)

__all__ = [
    "Alert",
    "AlertRule",
    "Alerts",
    "CONFIDENCE_BUCKETS",
    "DECISION_KEYS",
    "ERROR_REASONS",
    "GuardSnapshot",
    "Health",
    "HistogramSnapshot",
    "LATENCY_BUCKETS",
    "Logged",
    "MAX_ROW_EVENTS",
    "Metrics",
    "OUTCOMES",
    "Rates",
    "Sink",
    "Snapshot",
    "abstention_rate_above",
    "circuit_opened",
    "drift_detected",
    "error_rate_above",
    "fallback_rate_above",
    "review_age_above",
    "review_backlog_above",
    "row_outcomes",
    "scrub",
]
