"""Validation results: what checking a batch found, per row, and the checked values.

[`ValidationResult`][guardrails.ValidationResult] is what
[`Validated.validate`][guardrails.validation.layer.Validated.validate] returns; the error
collector and the checked-values holder are what the schema compiler fills while it checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from guardrails.core.decisions import object_column

__all__ = ["ValidationResult"]


# -- per-row errors ------------------------------------------------------------------------


class _Errors:
    """Collects raw error entries per row while checks run."""

    def __init__(self) -> None:
        self.rows: dict[int, list[dict[str, Any]]] = {}
        self.secrets: dict[int, list[str]] = {}
        self.batch: list[dict[str, Any]] = []

    def add(self, row: int, loc: tuple[Any, ...], kind: str, msg: str, value: Any) -> None:
        self.rows.setdefault(row, []).append({"loc": loc, "type": kind, "msg": msg, "input": value})

    def add_mask(
        self,
        mask: NDArray[np.bool_],
        loc: tuple[Any, ...],
        kind: str,
        msg: str,
        values: NDArray[Any],
    ) -> None:
        for i in np.flatnonzero(mask).tolist():
            value = values[i]
            self.add(i, loc, kind, msg, value.item() if isinstance(value, np.generic) else value)

    def add_batch(self, loc: tuple[Any, ...], kind: str, msg: str, value: Any) -> None:
        """An error that makes every row invalid (wrong shape, missing column...)."""
        self.batch.append({"loc": loc, "type": kind, "msg": msg, "input": value})


@dataclass
class ValidationResult:
    """What checking a batch against a schema found.

    Attributes:
        model_input: model-ready rows for the whole batch: ``(n_samples, n_features)``
            float64 array, or a data frame when the layer feeds frames. Invalid rows hold
            NaN (None in text columns).
        valid: ``(n_samples,)`` bool, rows that passed (after repairs).
        repaired: ``(n_samples,)`` bool, rows changed by a repair step.
        errors: per invalid row, its error entries (``loc``, ``type``, ``msg``, ``input``),
            truncated and redacted.
    """

    model_input: Any
    valid: NDArray[np.bool_]
    repaired: NDArray[np.bool_]
    errors: dict[int, tuple[dict[str, Any], ...]] = field(default_factory=dict)
    _secrets: dict[int, list[str]] = field(default_factory=dict, repr=False, compare=False)
    # True when the valid rows of model_input hold only finite numbers (checked here once,
    # so the model adapter need not scan them again)
    _finite: bool = field(default=False, repr=False, compare=False)

    @property
    def invalid(self) -> NDArray[np.bool_]:
        """``(n_samples,)`` bool, rows that failed."""
        return ~self.valid


@dataclass
class _Checked:
    """Checked values in one of three layouts, whichever the input made cheapest."""

    matrix: NDArray[np.float64] | None = None  # every field, schema order (arrays, frames)
    columns: dict[str, NDArray[Any]] | None = None  # per field (mixed-type frames, objects)
    rows: list[list[Any] | None] | None = None  # per record, schema order (records)
    finite: bool = False  # matrix holds only finite numbers (every column inside bounds)

    def column(self, j: int, name: str, n: int) -> NDArray[Any]:
        if self.matrix is not None:
            return self.matrix[:, j]
        if self.columns is not None:
            return self.columns[name]
        out = object_column(n)
        assert self.rows is not None
        for i, row in enumerate(self.rows):
            if row is not None:
                out[i] = row[j]
        return out
