"""The core every layer stands on; it imports no wing.

Errors, decision types, the call and layer protocol, the model adapter, persistence,
parameter checks, redaction and the worker pool.
"""

from guardrails.core.adapter import (
    ModelAdapter,
    OutputKind,
    as_layer,
)
from guardrails.core.checks import (
    check_unit,
)
from guardrails.core.decisions import (
    PRIMARY,
    Decision,
    Decisions,
    Reason,
)
from guardrails.core.errors import (
    ArtifactError,
    ConfigurationError,
    FallbackExhaustedError,
    GuardrailsError,
    GuardrailsWarning,
    InvalidInputError,
    ModelOutputError,
    NotFittedError,
)
from guardrails.core.layer import (
    Call,
    DriftNote,
    Layer,
    ReviewNote,
    ValidationNote,
    as_batch,
    one_row_batch,
    take_rows,
)
from guardrails.core.parameters import (
    HasParams,
)
from guardrails.core.persistence import (
    FORMAT,
    FORMAT_VERSION,
    Decoder,
    Encoder,
    Persistable,
    persistable,
)
from guardrails.core.post import (
    PostLayer,
)
from guardrails.core.redaction import (
    REDACTED,
    Redactor,
    fingerprint,
    scrub_details,
    truncate,
)
from guardrails.core.rowwise import (
    all_finite,
    row_argmax,
    row_max,
    row_pick,
    row_sum,
)
from guardrails.core.workers import (
    Abandoned,
    PoolStats,
    Shed,
    WorkerPool,
)

__all__ = [
    "Abandoned",
    "ArtifactError",
    "Call",
    "ConfigurationError",
    "Decision",
    "Decisions",
    "Decoder",
    "DriftNote",
    "Encoder",
    "FORMAT",
    "FORMAT_VERSION",
    "FallbackExhaustedError",
    "GuardrailsError",
    "GuardrailsWarning",
    "HasParams",
    "InvalidInputError",
    "Layer",
    "ModelAdapter",
    "ModelOutputError",
    "NotFittedError",
    "OutputKind",
    "PRIMARY",
    "Persistable",
    "PoolStats",
    "PostLayer",
    "REDACTED",
    "Reason",
    "Redactor",
    "ReviewNote",
    "Shed",
    "ValidationNote",
    "WorkerPool",
    "all_finite",
    "as_batch",
    "as_layer",
    "check_unit",
    "fingerprint",
    "one_row_batch",
    "persistable",
    "row_argmax",
    "row_max",
    "row_pick",
    "row_sum",
    "scrub_details",
    "take_rows",
    "truncate",
]
