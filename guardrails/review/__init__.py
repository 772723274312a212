"""Review wing: the human review queue, its budget, its layer, its labels and its backends.

One job per module: ``cases`` (the case record, statuses, errors), ``queue`` (the protocol
and the reviewer operations), ``memory`` (the test queue), ``sql``/``sqlite``/``postgres``
(the durable backends), ``backends`` (``open_queue``: the one module that knows every
backend), ``budget`` (value of review, capacity, audit odds), ``layer`` (``Reviewed``) and
``labels`` (labelled data and weighted realized accuracy).
"""

from guardrails.review.backends import (
    open_queue,
)
from guardrails.review.budget import (
    PriorityFn,
    ReviewBudget,
    cost_priority,
    inclusion_probabilities,
    uncertainty,
)
from guardrails.review.cases import (
    BUDGET_FALLBACK,
    DATA_QUALITY,
    KINDS,
    PENDING_REVIEW,
    STATUSES,
    UNREVIEWED,
    CaseNotFoundError,
    CaseStateError,
    InvalidLabelError,
    Kind,
    LeaseExpiredError,
    NewCase,
    QueueStats,
    ReviewCase,
    ReviewError,
    Status,
    case_from_row,
    check_label,
)
from guardrails.review.labels import (
    Accuracy,
    LabelledData,
    RealizedAccuracy,
    labelled_data,
    realized_accuracy,
    weighted_accuracy,
)
from guardrails.review.layer import (
    Reviewed,
    pending_answers,
)
from guardrails.review.memory import (
    MemoryQueue,
)
from guardrails.review.postgres import (
    PostgresQueue,
)
from guardrails.review.queue import (
    BaseQueue,
    ReviewQueue,
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
    "DATA_QUALITY",
    "InvalidLabelError",
    "KINDS",
    "Kind",
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
    "Status",
    "UNREVIEWED",
    "case_from_row",
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
