"""Validation wing: the input schema and the layer that enforces it.

The schema is inferred or declared and compiled to array checks; the ``Validated`` layer
withholds the rows that break it.
"""

from guardrails.validation.layer import (
    OnInvalid,
    Validated,
    ValidationResult,
)
from guardrails.validation.schema import (
    FieldSpec,
    Schema,
    infer_schema,
)

__all__ = [
    "FieldSpec",
    "OnInvalid",
    "Schema",
    "Validated",
    "ValidationResult",
    "infer_schema",
]
