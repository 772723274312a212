"""Review wing: the human review queue, its layer, and its SQL backends.

The queue protocol, the in-memory queue, the ``Reviewed`` layer and label analytics; the
SQLite and Postgres queues share one SQL implementation.
"""

from guardrails.review.budget import (
    inclusion_probabilities,
    uncertainty,
)
from guardrails.review.postgres import (
    PostgresQueue,
)
from guardrails.review.queue import (
    BUDGET_FALLBACK,
    KINDS,
    PENDING_REVIEW,
    STATUSES,
    UNREVIEWED,
    Accuracy,
    BaseQueue,
    CaseNotFoundError,
    CaseStateError,
    InvalidLabelError,
    LabelledData,
    LeaseExpiredError,
    MemoryQueue,
    NewCase,
    PriorityFn,
    QueueStats,
    RealizedAccuracy,
    ReviewBudget,
    ReviewCase,
    Reviewed,
    ReviewError,
    ReviewQueue,
    check_label,
    cost_priority,
    labelled_data,
    open_queue,
    pending_answers,
    realized_accuracy,
    weighted_accuracy,
)
from guardrails.review.sql import (
    COLUMNS,
    SQLQueue,
    check_table,
)
from guardrails.review.sqlite import (
    SQLiteQueue,
)

__all__ = [
    "Accuracy",
    "BUDGET_FALLBACK",
    "BaseQueue",
    "COLUMNS",
    "CaseNotFoundError",
    "CaseStateError",
    "InvalidLabelError",
    "KINDS",
    "LabelledData",
    "LeaseExpiredError",
    "MemoryQueue",
    "NewCase",
    "PENDING_REVIEW",
    "PostgresQueue",
    "PriorityFn",
    "QueueStats",
    "RealizedAccuracy",
    "ReviewBudget",
    "ReviewCase",
    "ReviewError",
    "ReviewQueue",
    "Reviewed",
    "SQLQueue",
    "SQLiteQueue",
    "STATUSES",
    "UNREVIEWED",
    "check_label",
    "check_table",
    "cost_priority",
    "inclusion_probabilities",
    "labelled_data",
    "open_queue",
    "pending_answers",
    "realized_accuracy",
    "uncertainty",
    "weighted_accuracy",
]
