"""Validation: check every input row against a schema so invalid rows never reach the model.

[`Validated`][] is the innermost wrapper. It checks records through pydantic and arrays
or data frames column by column with numpy (the constraints come from a
[`Schema`][guardrails.validation.schema.Schema]), optionally repairs rows the user allowed it to
(clip to bounds, fill a declared default), turns valid rows into the model's input
(columns in training order, categories encoded), and sends only valid rows to the model.
Invalid rows come back withheld with reason ``INVALID_INPUT`` and their errors, or raise
[`InvalidInputError`][guardrails.core.errors.InvalidInputError] under policy ``"raise"``.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import pydantic
from numpy.typing import NDArray

from guardrails.core.adapter import as_layer
from guardrails.core.decisions import Decisions, Reason, object_column
from guardrails.core.errors import ArtifactError, ConfigurationError, InvalidInputError
from guardrails.core.layer import Call, Layer, ValidationNote, _is_frame, take_rows
from guardrails.core.persistence import persistable
from guardrails.core.redaction import REDACTED, Redactor, scrub_details, truncate
from guardrails.validation.schema import FieldSpec, Schema

if TYPE_CHECKING:
    from guardrails.core.persistence import Decoder, Encoder

__all__ = ["OnInvalid", "Validated", "ValidationResult"]

OnInvalid = Literal["abstain", "raise", "fallback"]
ExtraPolicy = Literal["forbid", "ignore"]
RepairStep = Literal["clip", "fill"]
_POLICIES: tuple[str, ...] = get_args(OnInvalid)
_EXTRA: tuple[str, ...] = get_args(ExtraPolicy)
_REPAIRS: tuple[str, ...] = get_args(RepairStep)
_DETAIL_LIMIT = 300
_STAGE = "validate"
_SCALARS = (float, int, str, bytes, type(None))
_BOUND_TYPES = frozenset({"greater_than_equal", "greater_than", "less_than_equal", "less_than"})
# pydantic error types whose message is written by user code and may quote the value
_USER_MESSAGES = frozenset({"value_error", "assertion_error"})

Repair = Iterable[RepairStep] | Mapping[RepairStep, Iterable[str] | None]


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


# -- the checker ---------------------------------------------------------------------------


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


def _block_min_max(
    M: NDArray[np.float64], block: int = 64
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-column min and max of ``M`` ``(n, k)``; NaN anywhere in a column gives NaN.

    ``M.min(axis=0)`` runs an inner loop of only ``k`` values per row; viewing blocks of
    ``block`` rows as one long row lets numpy vectorize (about 5x faster here).
    """
    n, k = M.shape
    if n < block or (M.flags.f_contiguous and not M.flags.c_contiguous):
        return M.min(axis=0), M.max(axis=0)
    top = n - n % block
    flat = M[:top].reshape(-1, block * k)
    lo = flat.min(axis=0).reshape(block, k).min(axis=0)
    hi = flat.max(axis=0).reshape(block, k).max(axis=0)
    if top < n:
        lo = np.minimum(lo, M[top:].min(axis=0))
        hi = np.maximum(hi, M[top:].max(axis=0))
    return lo, hi


class _Checker:
    """Checks batches against a schema; knows the extra-field and repair settings."""

    def __init__(
        self,
        schema: Schema,
        *,
        extra: str,
        repair: Mapping[str, frozenset[str] | None],
        as_frame: bool,
    ) -> None:
        self.schema = schema
        self.extra = extra
        self.repair = repair
        self.as_frame = as_frame
        self.specs = schema.fields
        self.index = {name: j for j, name in enumerate(schema.names)}
        self.feature_idx = [self.index[name] for name in schema.features]
        self.identity = len(schema.features) == len(schema.names)
        # per-column bounds as vectors, so a clean float matrix costs one comparison
        self.lower = np.array([_lower(spec) for spec in self.specs])
        self.upper = np.array([_upper(spec) for spec in self.specs])
        self.plain = np.array([spec.kind == "float" for spec in self.specs])
        # the same bounds as Python floats, for the one-record path (no array reductions)
        self.bounds = list(zip(self.lower.tolist(), self.upper.tolist()))
        self.all_plain = bool(self.plain.all())
        self.enum_idx = [
            j for j, s in enumerate(self.specs) if s.kind == "category"
        ]  # Enum members become their values
        self.float_idx = [j for j, s in enumerate(self.specs) if s.kind == "float"]
        self.encoders = [(j, _encoder(self.specs[j])) for j in self.feature_idx]
        encoded = set(schema.encodings)
        # frames keep raw categories unless the user declared an encoding
        self.raw_categories = frozenset(
            s.name
            for s in self.specs
            if s.kind == "category" and as_frame and s.name not in encoded
        )

    def allows(self, step: str, spec: FieldSpec) -> bool:
        fields = self.repair.get(step, frozenset())
        return fields is None or spec.name in fields

    # -- entry point ---------------------------------------------------------------------

    def check(
        self, X: Any, n: int
    ) -> tuple[_Checked | None, NDArray[np.bool_], NDArray[np.bool_], _Errors]:
        errs = _Errors()
        checked: _Checked | None
        if isinstance(X, (list, tuple)):
            checked, repaired = self._records(X, errs)
        elif isinstance(X, np.ndarray):
            checked, repaired = self._array(X, n, errs)
        elif _is_frame(X):
            checked, repaired = self._frame(X, n, errs)
        else:
            errs.add_batch(
                (),
                "batch_type",
                f"Input should be an array, a data frame or a list of records, not "
                f"{type(X).__name__}",
                None,
            )
            checked, repaired = None, np.zeros(n, dtype=bool)
        valid = np.ones(n, dtype=bool)
        if errs.batch:
            valid[:] = False
            checked = None
        elif errs.rows:
            valid[list(errs.rows)] = False
        # records went through pydantic, which ran the schema's own validators already
        if checked is not None and checked.rows is None and self.schema.has_custom_validators:
            self._custom(checked, valid, errs, n)
        return checked, valid, repaired & valid, errs

    # -- records -------------------------------------------------------------------------

    def _records(self, rows: Sequence[Any], errs: _Errors) -> tuple[_Checked, NDArray[np.bool_]]:
        n = len(rows)
        values: list[list[Any] | None] = [None] * n
        repaired = np.zeros(n, dtype=bool)
        model = self.schema.model
        sensitive = self.schema.sensitive
        k = len(self.specs)
        for i, row in enumerate(rows):
            if isinstance(row, (list, tuple)):  # a row of values in field order (JSON arrays)
                if len(row) != k:
                    errs.add(
                        i,
                        (),
                        "column_count",
                        f"Row should have {k} values {list(self.schema.names)}; got {len(row)}",
                        None,
                    )
                    continue
                record: dict[Any, Any] | None = dict(zip(self.schema.names, row))
            else:
                record = _as_mapping(row)
            if record is None:
                errs.add(
                    i, (), "model_type", "Input should be a record (a dict of field values)", row
                )
                continue
            if sensitive:
                errs.secrets[i] = [
                    _safe_str(record[key]) for key in sensitive if record.get(key) is not None
                ]
            extras = [key for key in record if key not in self.index]
            if extras:
                if self.extra == "forbid":
                    for key in extras:
                        errs.add(
                            i,
                            (_loc_part(key),),
                            "extra_forbidden",
                            "Extra inputs are not permitted",
                            record[key],
                        )
                record = {key: v for key, v in record.items() if key in self.index}
            instance, found = _validate(model, record)
            if instance is None and self.repair:
                fixed = self._repair_record(record, found)
                if fixed is not None:
                    instance, again = _validate(model, fixed)
                    if instance is not None:
                        repaired[i] = True
                    else:
                        found = again
            if instance is None:
                for entry in found:
                    errs.add(i, tuple(entry["loc"]), entry["type"], entry["msg"], entry["input"])
                continue
            out = list(instance.__dict__.values())  # pydantic keeps fields in order here
            if len(out) != len(self.specs):
                out = [getattr(instance, spec.name) for spec in self.specs]
            for j in self.enum_idx:
                if isinstance(out[j], enum.Enum):
                    out[j] = out[j].value
            finite = True
            for j in self.float_idx:
                v = out[j]
                if v is not None and not math.isfinite(v):
                    name = self.specs[j].name
                    errs.add(i, (name,), "finite_number", "Input should be a finite number", v)
                    finite = False
            if finite:
                values[i] = out
        return _Checked(rows=values), repaired

    def _repair_record(
        self, record: dict[str, Any], found: list[dict[str, Any]]
    ) -> dict[str, Any] | None:
        fixed = dict(record)
        changed = False
        for entry in found:
            loc = entry["loc"]
            if len(loc) != 1 or loc[0] not in self.index:
                return None
            spec = self.specs[self.index[loc[0]]]
            value = entry["input"]
            if entry["type"] in _BOUND_TYPES and self.allows("clip", spec) and spec.numeric:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    return None
                fixed[spec.name] = _clip_scalar(float(value), spec)
                changed = True
            elif (
                (value is None or entry["type"] == "missing")
                and self.allows("fill", spec)
                and not spec.required
            ):
                fixed[spec.name] = spec.default
                changed = True
            else:
                return None
        return fixed if changed else None

    # -- arrays --------------------------------------------------------------------------

    def _array(
        self, X: NDArray[Any], n: int, errs: _Errors
    ) -> tuple[_Checked | None, NDArray[np.bool_]]:
        repaired = np.zeros(n, dtype=bool)
        k = len(self.specs)
        if X.ndim != 2:
            errs.add_batch(
                (),
                "array_shape",
                f"Input should be a 2-D array (n_samples, {k}); got a {X.ndim}-D array of "
                f"shape {X.shape}",
                None,
            )
            return None, repaired
        if X.shape[1] != k:
            errs.add_batch(
                (),
                "column_count",
                f"Input should have {k} columns {list(self.schema.names)}; got {X.shape[1]}",
                None,
            )
            return None, repaired
        if X.dtype.kind in "biuf":
            return self._matrix(X.astype(np.float64, copy=False), errs, repaired), repaired
        obj = X.astype(object) if X.dtype != object else X
        columns = {
            spec.name: self._objects(spec, obj[:, j], errs, repaired)
            for j, spec in enumerate(self.specs)
        }
        return _Checked(columns=columns), repaired

    def _matrix(
        self, M: NDArray[np.float64], errs: _Errors, repaired: NDArray[np.bool_]
    ) -> _Checked:
        """Check a float matrix holding every field; columns change only when repaired."""
        n = M.shape[0]
        if n == 0:
            return _Checked(matrix=M, finite=True)
        if n == 1 and self.all_plain:
            isfinite = math.isfinite
            if all(
                isfinite(v) and lo <= v <= hi for v, (lo, hi) in zip(M[0].tolist(), self.bounds)
            ):
                return _Checked(matrix=M, finite=True)
        lows, highs = _block_min_max(M)
        inside = np.isfinite(lows) & np.isfinite(highs) & (lows >= self.lower)
        inside &= highs <= self.upper
        if inside.all() and self.all_plain:
            return _Checked(matrix=M, finite=True)
        changed: NDArray[np.float64] | None = None
        decoded: dict[str, NDArray[Any]] = {}
        for j in np.flatnonzero(~(inside & self.plain)).tolist():
            spec = self.specs[j]
            col = M[:, j]
            if inside[j] and self._column_clean(spec, col):
                continue
            out = self._numbers(spec, col, errs, repaired)
            if out.dtype == object:
                decoded[spec.name] = out
            elif not np.array_equal(out, col, equal_nan=True):
                if changed is None:
                    changed = M.copy()
                changed[:, j] = out
        if decoded:
            source = M if changed is None else changed
            columns = {s.name: source[:, j] for j, s in enumerate(self.specs)}
            columns.update(decoded)
            return _Checked(columns=columns)
        if changed is None:
            return _Checked(matrix=M, finite=bool(inside.all()))
        return _Checked(matrix=changed)

    def _column_clean(self, spec: FieldSpec, col: NDArray[np.float64]) -> bool:
        """For a finite column inside its bounds: the checks its kind adds."""
        if spec.kind == "category":
            if spec.name in self.raw_categories:
                return False  # the frame the model takes holds the categories, not codes
            allowed = np.fromiter(_codes(spec).values(), dtype=np.float64)
            return bool(np.isin(col, allowed).all())
        if spec.kind in ("int", "bool"):
            return bool(np.array_equal(col, np.round(col)))
        return True

    # -- frames --------------------------------------------------------------------------

    def _frame(self, df: Any, n: int, errs: _Errors) -> tuple[_Checked | None, NDArray[np.bool_]]:
        repaired = np.zeros(n, dtype=bool)
        names = [str(c) for c in df.columns]
        if len(set(names)) != len(names):
            errs.add_batch((), "duplicate_column", "Data frame has duplicate column names", None)
            return None, repaired
        present = dict(zip(names, df.columns))
        extras = [c for c in names if c not in self.index]
        if extras and self.extra == "forbid":
            for name in extras:
                errs.add_batch(
                    (_loc_part(name),),
                    "extra_forbidden",
                    "Extra column is not permitted",
                    None,
                )
        missing = [s.name for s in self.specs if s.name not in present and s.required]
        for name in missing:
            errs.add_batch((name,), "missing", "Column is missing", None)
        if errs.batch:
            errs.batch.insert(0, self._column_summary(missing, extras))
            return None, repaired
        if all(s.name in present for s in self.specs):
            series = [df[present[s.name]] for s in self.specs]
            if all(getattr(c, "ndim", 1) == 1 and _is_numeric_series(c) for c in series):
                wanted = [present[s.name] for s in self.specs]
                sub = df if list(df.columns) == wanted else df[wanted]
                if all(str(dtype) == "float64" for dtype in sub.dtypes):
                    M = sub.to_numpy()  # one float block: often a view, no copy
                else:
                    M = sub.to_numpy(dtype=np.float64, na_value=np.nan)
                return self._matrix(M, errs, repaired), repaired
        columns: dict[str, NDArray[Any]] = {}
        for spec in self.specs:
            if spec.name not in present:
                columns[spec.name] = self._objects(
                    spec, object_column(n, spec.default), errs, repaired
                )
                continue
            s = df[present[spec.name]]
            if getattr(s, "ndim", 1) != 1:
                errs.add_batch((spec.name,), "duplicate_column", "Column is not 1-D", None)
                continue
            if _is_numeric_series(s):
                col = s.to_numpy(dtype=np.float64, na_value=np.nan)
                columns[spec.name] = self._numbers(spec, col, errs, repaired)
            else:
                columns[spec.name] = self._objects(spec, s.to_numpy(dtype=object), errs, repaired)
        if errs.batch:
            return None, repaired
        return _Checked(columns=columns), repaired

    def _column_summary(self, missing: list[str], extras: list[str]) -> dict[str, Any]:
        """One error naming the expected columns and which were missing or unexpected."""
        parts = [f"expected {_names([s.name for s in self.specs])}"]
        if missing:
            parts.append(f"missing {_names(missing)}")
        if extras:
            kind = "unexpected" if self.extra == "forbid" else "ignored"
            parts.append(f"{kind} {_names(extras)}")
        msg = "Data frame columns do not match the schema: " + "; ".join(parts)
        return {"loc": (), "type": "column_mismatch", "msg": msg, "input": None}

    # -- column checks -------------------------------------------------------------------

    def _numbers(
        self,
        spec: FieldSpec,
        col: NDArray[np.float64],
        errs: _Errors,
        repaired: NDArray[np.bool_],
        bad: NDArray[np.bool_] | None = None,
    ) -> NDArray[Any]:
        """Check a float column (NaN = missing) against ``spec``; values as the schema types."""
        loc = (spec.name,)
        col = col.copy()
        bad = np.zeros(col.shape[0], dtype=bool) if bad is None else bad
        missing = np.isnan(col) & ~bad
        if missing.any():
            self._missing(spec, missing, col, errs, repaired, fill_code=True)
        present = ~np.isnan(col) & ~bad
        inf = np.isinf(col) & present
        if inf.any():
            errs.add_mask(inf, loc, "finite_number", "Input should be a finite number", col)
            present &= ~inf
        if spec.kind == "category":
            allowed = np.fromiter(_codes(spec).values(), dtype=np.float64)
            unseen = present & ~np.isin(col, allowed)
            if unseen.any():
                errs.add_mask(
                    unseen,
                    loc,
                    "literal_error",
                    f"Input should be a code of one of {list(spec.categories or ())!r}",
                    col,
                )
            if spec.name in self.raw_categories:
                return _decode(spec, col, present & ~unseen)
            return col
        self._bounds(spec, col, present, errs, repaired)
        if spec.kind in ("int", "bool"):
            fractional = present & (col != np.round(col))
            if fractional.any():
                errs.add_mask(
                    fractional,
                    loc,
                    "int_from_float",
                    "Input should be a valid integer, got a number with a fractional part",
                    col,
                )
        if spec.kind == "bool":
            off = present & (col != 0) & (col != 1)
            if off.any():
                errs.add_mask(off, loc, "bool_parsing", "Input should be a valid boolean", col)
        return col

    def _bounds(
        self,
        spec: FieldSpec,
        col: NDArray[np.float64],
        present: NDArray[np.bool_],
        errs: _Errors,
        repaired: NDArray[np.bool_],
    ) -> None:
        checks = (
            ("ge", spec.ge, np.less, "greater_than_equal", "greater than or equal to"),
            ("gt", spec.gt, np.less_equal, "greater_than", "greater than"),
            ("le", spec.le, np.greater, "less_than_equal", "less than or equal to"),
            ("lt", spec.lt, np.greater_equal, "less_than", "less than"),
        )
        for _, bound, breaks, kind, text in checks:
            if bound is None:
                continue
            out = present & breaks(col, bound)
            if not out.any():
                continue
            if self.allows("clip", spec):
                col[out] = [_clip_scalar(v, spec) for v in col[out].tolist()]
                repaired |= out
            else:
                errs.add_mask(out, (spec.name,), kind, f"Input should be {text} {bound:g}", col)

    def _missing(
        self,
        spec: FieldSpec,
        missing: NDArray[np.bool_],
        col: NDArray[Any],
        errs: _Errors,
        repaired: NDArray[np.bool_],
        *,
        fill_code: bool,
    ) -> None:
        if spec.nullable:
            return
        if not spec.required and self.allows("fill", spec):
            value = spec.default
            if fill_code and spec.kind == "category":
                value = _codes(spec)[value]
            col[missing] = value
            repaired |= missing
            return
        nan = missing & _is_nan(col)
        errs.add_mask(nan, (spec.name,), "missing", "Input is NaN; the field is required", col)
        errs.add_mask(
            missing & ~nan, (spec.name,), "missing", "Field required (missing value)", col
        )

    def _objects(
        self,
        spec: FieldSpec,
        col: NDArray[Any],
        errs: _Errors,
        repaired: NDArray[np.bool_],
    ) -> NDArray[Any]:
        """Check an object column element by element (text, categories, mixed types)."""
        n = col.shape[0]
        loc = (spec.name,)
        missing = np.fromiter((_is_missing(v) for v in col), dtype=bool, count=n)
        if spec.numeric:
            out = np.full(n, np.nan)
            bad = np.zeros(n, dtype=bool)
            for i, v in enumerate(col.tolist()):
                if missing[i]:
                    continue
                number = _as_number(v, spec)
                if number is None:
                    bad[i] = True
                    errs.add(i, loc, f"{spec.kind}_type", _type_message(spec), v)
                else:
                    out[i] = number
            return self._numbers(spec, out, errs, repaired, bad=bad)
        values: NDArray[Any] = np.array(col, dtype=object)
        if missing.any():
            values[missing] = None
            self._missing(spec, missing, values, errs, repaired, fill_code=False)
        if spec.kind == "category":
            allowed = set(spec.categories or ())
            # True == 1 in Python: a bool only matches a bool category, a number a number
            flags = {c: isinstance(c, bool) for c in spec.categories or ()}
            for i, v in enumerate(values.tolist()):
                if missing[i]:
                    continue  # allowed, filled, or already reported as missing
                try:
                    ok = v in allowed and (isinstance(v, bool) == flags.get(v, False))
                except Exception:  # unhashable or hostile garbage
                    ok = False
                if not ok:
                    errs.add(
                        i,
                        loc,
                        "literal_error",
                        f"Input should be one of {list(spec.categories or ())!r}",
                        v,
                    )
            return values
        for i, v in enumerate(values.tolist()):
            if missing[i]:
                continue
            if not isinstance(v, str):
                errs.add(i, loc, "string_type", "Input should be a valid string", v)
            elif spec.max_length is not None and len(v) > spec.max_length:
                errs.add(
                    i,
                    loc,
                    "string_too_long",
                    f"String should have at most {spec.max_length} characters",
                    v,
                )
            elif spec.min_length is not None and len(v) < spec.min_length:
                errs.add(
                    i,
                    loc,
                    "string_too_short",
                    f"String should have at least {spec.min_length} characters",
                    v,
                )
        return values

    # -- custom validators ---------------------------------------------------------------

    def _custom(self, checked: _Checked, valid: NDArray[np.bool_], errs: _Errors, n: int) -> None:
        """Run the schema's own validators on rows the vectorized checks passed."""
        model = self.schema.model
        lists = [checked.column(j, s.name, n).tolist() for j, s in enumerate(self.specs)]
        for i in np.flatnonzero(valid).tolist():
            record = {s.name: _python_value(s, lists[j][i], self) for j, s in enumerate(self.specs)}
            if self.schema.sensitive:
                errs.secrets[i] = [
                    _safe_str(record[key])
                    for key in self.schema.sensitive
                    if record[key] is not None
                ]
            instance, found = _validate(model, record)
            if instance is None:
                valid[i] = False
                for entry in found:
                    errs.add(i, tuple(entry["loc"]), entry["type"], entry["msg"], entry["input"])

    # -- model input ---------------------------------------------------------------------

    def model_input(self, checked: _Checked | None, valid: NDArray[np.bool_], n: int) -> Any:
        """The batch as the model takes it; invalid rows hold NaN (None in text columns)."""
        m = len(self.feature_idx)
        if self.as_frame:
            return self._frame_input(checked, valid, n)
        if checked is None:
            return np.full((n, m), np.nan)
        if checked.matrix is not None:
            M = checked.matrix
            if valid.all():
                # nothing changed: the caller's float array goes through without a copy
                return M if self.identity else M[:, self.feature_idx]
            out = M.copy() if self.identity else M[:, self.feature_idx]
            out[~valid] = np.nan
            return out
        if checked.rows is not None:
            out = np.full((n, m), np.nan)
            encoders = self.encoders
            for i, row in enumerate(checked.rows):
                if row is not None and valid[i]:
                    out[i] = [encode(row[j]) for j, encode in encoders]
            return out
        out = np.empty((n, m))
        for c, j in enumerate(self.feature_idx):
            spec = self.specs[j]
            out[:, c] = _to_float(spec, checked.column(j, spec.name, n))
        if not valid.all():
            out[~valid] = np.nan
        return out

    def _frame_input(self, checked: _Checked | None, valid: NDArray[np.bool_], n: int) -> Any:
        import pandas as pd

        data: dict[str, Any] = {}
        for j in self.feature_idx:
            spec = self.specs[j]
            if checked is None:
                data[spec.name] = np.full(n, np.nan) if spec.numeric else object_column(n)
                continue
            col = checked.column(j, spec.name, n)
            if spec.numeric or (spec.kind == "category" and spec.name not in self.raw_categories):
                col = _to_float(spec, col)
                if not valid.all():
                    col = np.where(valid, col, np.nan)
            else:
                col = np.array(col, dtype=object)
                col[~valid] = None
            data[spec.name] = col
        return pd.DataFrame(data, columns=list(self.schema.features))


# -- small helpers -------------------------------------------------------------------------


def _is_numeric_series(s: Any) -> bool:
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    return bool(is_numeric_dtype(s.dtype) or is_bool_dtype(s.dtype)) and str(s.dtype) != "object"


def _as_mapping(row: Any) -> dict[Any, Any] | None:
    if isinstance(row, pydantic.BaseModel):
        return row.model_dump()
    if isinstance(row, Mapping):
        try:
            return dict(row)
        except Exception:
            return None
    return None


def _validate(
    model: type[pydantic.BaseModel], record: dict[str, Any]
) -> tuple[pydantic.BaseModel | None, list[dict[str, Any]]]:
    try:
        return model.model_validate(record), []
    except pydantic.ValidationError as exc:
        return None, [
            {"loc": e["loc"], "type": e["type"], "msg": e["msg"], "input": e.get("input")}
            for e in exc.errors(include_url=False, include_context=False)
        ]
    except Exception as exc:  # a validator that raised something pydantic does not wrap
        return None, [
            {"loc": (), "type": "validator_error", "msg": f"{type(exc).__name__}", "input": None}
        ]


def _safe_str(value: Any) -> str:
    try:
        return str(value)
    except Exception:  # a hostile __str__ cannot be quoted anywhere, so nothing to scrub
        return ""


def _loc_part(key: Any) -> Any:
    return key if isinstance(key, (str, int)) and len(str(key)) <= 80 else truncate(key)


def _is_missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, (float, np.floating)):
        return bool(v != v)
    return type(v).__name__ in ("NAType", "NaTType")


def _as_number(v: Any, spec: FieldSpec) -> float | None:
    if isinstance(v, (bool, np.bool_)):
        return float(v) if spec.kind == "bool" else None
    if isinstance(v, (int, float, np.integer, np.floating)):
        try:
            return float(v)
        except OverflowError:
            return None
    return None


def _type_message(spec: FieldSpec) -> str:
    return {
        "float": "Input should be a valid number",
        "int": "Input should be a valid integer",
        "bool": "Input should be a valid boolean",
    }[spec.kind]


def _codes(spec: FieldSpec) -> Mapping[Any, float]:
    assert spec.codes is not None
    return spec.codes


def _decode(spec: FieldSpec, col: NDArray[np.float64], ok: NDArray[np.bool_]) -> NDArray[Any]:
    inverse = {code: cat for cat, code in _codes(spec).items()}
    out = object_column(col.shape[0])
    for i in np.flatnonzero(ok).tolist():
        out[i] = inverse[float(col[i])]
    return out


def _to_float(spec: FieldSpec, col: NDArray[Any]) -> NDArray[np.float64]:
    if col.dtype == np.float64:
        return col
    if spec.kind == "category":
        codes = _codes(spec)
        return np.fromiter(
            (_code_or_nan(codes, v) for v in col.tolist()),
            dtype=np.float64,
            count=col.shape[0],
        )
    return np.fromiter(
        (np.nan if _is_missing(v) else _finite_or_nan(v) for v in col.tolist()),
        dtype=np.float64,
        count=col.shape[0],
    )


def _encoder(spec: FieldSpec) -> Any:
    """A function turning one validated value of ``spec`` into the float the model takes."""
    if spec.kind == "category":
        codes = _codes(spec)
        return lambda v: math.nan if v is None else codes.get(v, math.nan)
    return lambda v: math.nan if v is None else float(v)


def _finite_or_nan(v: Any) -> float:
    try:
        return float(v)
    except Exception:  # garbage in an invalid row: it is masked to NaN anyway
        return math.nan


def _code_or_nan(codes: Mapping[Any, float], v: Any) -> float:
    if v is None:
        return math.nan
    try:
        return codes.get(v, math.nan)
    except Exception:  # unhashable or hostile garbage in an invalid row
        return math.nan


def _python_value(spec: FieldSpec, v: Any, checker: _Checker) -> Any:
    if v is None or _is_missing(v):
        return None
    if spec.kind == "category":
        if isinstance(v, (float, np.floating)) and spec.name not in checker.raw_categories:
            inverse = {code: cat for cat, code in _codes(spec).items()}
            return inverse.get(float(v), v)
        return v
    if spec.kind == "int":
        return int(v)
    if spec.kind == "bool":
        return bool(v)
    if spec.kind == "float":
        return float(v)
    return v


def _lower(spec: FieldSpec) -> float:
    """The smallest value a numeric field allows (categories: any finite value)."""
    lower = -math.inf
    if spec.ge is not None:
        lower = spec.ge
    if spec.gt is not None:
        lower = max(lower, math.nextafter(spec.gt, math.inf))
    return max(lower, 0.0) if spec.kind == "bool" else lower


def _upper(spec: FieldSpec) -> float:
    """The largest value a numeric field allows (categories: any finite value)."""
    upper = math.inf
    if spec.le is not None:
        upper = spec.le
    if spec.lt is not None:
        upper = min(upper, math.nextafter(spec.lt, -math.inf))
    return min(upper, 1.0) if spec.kind == "bool" else upper


def _clip_scalar(v: float, spec: FieldSpec) -> float:
    """``v`` moved to the nearest value the field's bounds allow."""
    lower, upper = -math.inf, math.inf
    if spec.kind in ("int", "bool"):
        if spec.ge is not None:
            lower = math.ceil(spec.ge)
        if spec.gt is not None:
            lower = max(lower, math.floor(spec.gt) + 1)
        if spec.le is not None:
            upper = math.floor(spec.le)
        if spec.lt is not None:
            upper = min(upper, math.ceil(spec.lt) - 1)
    else:
        if spec.ge is not None:
            lower = spec.ge
        if spec.gt is not None:
            lower = max(lower, math.nextafter(spec.gt, math.inf))
        if spec.le is not None:
            upper = spec.le
        if spec.lt is not None:
            upper = min(upper, math.nextafter(spec.lt, -math.inf))
    return float(min(max(v, lower), upper))


# -- settings ------------------------------------------------------------------------------


def _normalize_repair(repair: Any, schema: Schema) -> dict[str, frozenset[str] | None]:
    if isinstance(repair, str):
        repair = (repair,)
    if isinstance(repair, Mapping):
        items = list(repair.items())
    else:
        try:
            items = [(step, None) for step in repair]
        except TypeError:
            raise ConfigurationError(
                "The 'repair' parameter of Validated must be a list of steps "
                f"{list(_REPAIRS)} or a mapping step -> field names. Got {repair!r} instead."
            ) from None
    out: dict[str, frozenset[str] | None] = {}
    for step, fields in items:
        if step not in _REPAIRS:
            raise ConfigurationError(
                f"The 'repair' parameter of Validated takes steps {list(_REPAIRS)}. "
                f"Got {step!r} instead."
            )
        if fields is None or fields is True:
            out[step] = None
            continue
        if isinstance(fields, str):
            fields = (fields,)
        names = frozenset(str(f) for f in fields)
        unknown = names - set(schema.names)
        if unknown:
            raise ConfigurationError(
                f"The 'repair' step {step!r} names unknown fields {sorted(unknown)}; the "
                f"schema's fields are {list(schema.names)}."
            )
        out[step] = names
    return out


def _as_schema(schema: Any) -> Schema:
    if isinstance(schema, Schema):
        return schema
    if isinstance(schema, type) and issubclass(schema, pydantic.BaseModel):
        return Schema(schema)
    raise ConfigurationError(
        "The 'schema' parameter of Validated must be a pydantic BaseModel subclass or a "
        f"guardrails.Schema. Got {schema!r} instead."
    )


# -- the layer -----------------------------------------------------------------------------


@persistable
class Validated(Layer):
    """Check inputs against a schema; only valid rows reach the model.

    Args:
        inner: the model or guard layer to wrap (the model, usually).
        schema: a pydantic ``BaseModel`` subclass or a [`Schema`][guardrails.Schema].
        on_invalid: ``"abstain"`` (default: invalid rows come back withheld with reason
            ``INVALID_INPUT`` and their errors), ``"raise"`` ([`InvalidInputError`][]
            carrying every row's errors) or ``"fallback"`` (withheld like abstain, and
            marked for the fallback chain to answer).
        extra: ``"forbid"`` (default: a field or column the schema does not declare makes
            the row invalid) or ``"ignore"`` (it is dropped).
        repair: opt-in repair steps: ``"clip"`` (numbers outside their bounds are clipped
            to them) and ``"fill"`` (a missing value of a field with a default takes the
            default); a list of steps for every field, or a mapping step -> field names.
            Repaired rows have ``repaired=True`` on their decision.
        redactor: hides more fields in errors (fields the schema declares sensitive,
            ``SecretStr`` or ``json_schema_extra={"sensitive": True}``, are always hidden).
        as_frame: feed the model a pandas data frame with the schema's field names
            (categories raw unless encoded) instead of a float array.

    Examples:
        >>> import numpy as np, pydantic
        >>> from guardrails import Validated
        >>> class Row(pydantic.BaseModel):
        ...     x: float = pydantic.Field(ge=0, le=1)
        >>> model = lambda X: np.column_stack([1 - X[:, 0], X[:, 0]])
        >>> from guardrails import ModelAdapter
        >>> layer = Validated(ModelAdapter(model, output="proba", classes=[0, 1]), schema=Row)
        >>> d = layer.decide([{"x": 0.9}, {"x": 7.0}])
        >>> d.abstained.tolist(), d[1].errors[0]["type"]
        ([False, True], 'less_than_equal')
    """

    name = _STAGE
    inner: Layer

    def __init__(
        self,
        inner: Any,
        *,
        schema: type[pydantic.BaseModel] | Schema,
        on_invalid: OnInvalid = "abstain",
        extra: ExtraPolicy = "forbid",
        repair: Repair = (),
        redactor: Redactor | None = None,
        as_frame: bool = False,
    ) -> None:

        settings = Validated.check_settings(
            schema=schema,
            on_invalid=on_invalid,
            extra=extra,
            repair=repair,
            redactor=redactor,
            as_frame=as_frame,
        )
        self.inner = as_layer(inner)
        self.schema: Schema = settings["schema"]
        self.on_invalid: str = on_invalid
        self.extra: str = extra
        self.repair: dict[str, frozenset[str] | None] = settings["repair"]
        self.as_frame = bool(as_frame)
        self._user_redactor = redactor
        base = redactor or Redactor()
        self.redactor = Redactor(
            fields=base.fields | self.schema.sensitive,
            patterns=base.patterns,
            reveal=base.reveal,
        )
        self._checker = _Checker(
            self.schema, extra=extra, repair=self.repair, as_frame=self.as_frame
        )

    @staticmethod
    def check_settings(
        *,
        schema: Any,
        on_invalid: Any,
        extra: Any,
        repair: Any,
        redactor: Any,
        as_frame: Any,
    ) -> dict[str, Any]:
        """Validate the settings of a Validated layer; raise ConfigurationError if wrong."""
        compiled = _as_schema(schema)
        if on_invalid not in _POLICIES:
            raise ConfigurationError(
                f"The 'on_invalid' parameter of Validated must be one of {list(_POLICIES)}. "
                f"Got {on_invalid!r} instead."
            )
        if extra not in _EXTRA:
            raise ConfigurationError(
                f"The 'extra' parameter of Validated must be one of {list(_EXTRA)}. "
                f"Got {extra!r} instead."
            )
        if redactor is not None and not isinstance(redactor, Redactor):
            raise ConfigurationError(
                "The 'redactor' parameter of Validated must be a guardrails.Redactor or None. "
                f"Got {redactor!r} instead."
            )
        if not isinstance(as_frame, bool):
            raise ConfigurationError(
                f"The 'as_frame' parameter of Validated must be a bool. Got {as_frame!r} instead."
            )
        if as_frame:
            try:
                import pandas  # noqa: F401
            except ImportError as exc:
                raise ConfigurationError(
                    "as_frame=True needs pandas: pip install 'predict-guardrails[pandas]'."
                ) from exc
        else:
            text = [s.name for s in compiled.feature_specs if s.kind == "str"]
            if text:
                raise ConfigurationError(
                    f"Fields {text} hold free text, which an array model cannot take. Feed "
                    "the model a data frame (as_frame=True) or leave them out of the model "
                    "input (Schema(..., exclude=[...]))."
                )
        return {"schema": compiled, "repair": _normalize_repair(repair, compiled)}

    def __repr__(self) -> str:
        text = f"Validated(schema={self.schema!r}, on_invalid={self.on_invalid!r}"
        if self.extra != "forbid":
            text += f", extra={self.extra!r}"
        if self.repair:
            steps = {k: None if v is None else sorted(v) for k, v in self.repair.items()}
            text += f", repair={steps!r}"
        if self.as_frame:
            text += ", as_frame=True"
        return text + ")"

    # -- checking ------------------------------------------------------------------------

    def validate(self, X: Any) -> ValidationResult:
        """Check batch ``X`` without calling the model.

        Args:
            X: a list of records (dicts or pydantic instances), an array
                ``(n_samples, n_fields)`` or a data frame.

        Returns:
            The model-ready rows, the valid and repaired masks, and each invalid row's
            errors (truncated and redacted).
        """
        n = _rows(X)
        checked, valid, repaired, errs = self._checker.check(X, n)
        return ValidationResult(
            model_input=self._checker.model_input(checked, valid, n),
            valid=valid,
            repaired=repaired,
            errors=self._entries(errs, valid),
            _secrets=errs.secrets,
            _finite=checked is not None and checked.finite and not self.as_frame,
        )

    def _entries(
        self, errs: _Errors, valid: NDArray[np.bool_]
    ) -> dict[int, tuple[dict[str, Any], ...]]:
        if errs.batch:
            shared = tuple(self._clean(e, ()) for e in errs.batch)
            return {i: shared for i in range(valid.shape[0])}
        # many rows often share an error (a bad column): clean each rule once, then fill in
        # the value; a sensitive field's entry is the same object for every row
        templates: dict[tuple[Any, ...], tuple[dict[str, Any], bool]] = {}
        out: dict[int, tuple[dict[str, Any], ...]] = {}
        for i, entries in errs.rows.items():
            secrets = errs.secrets.get(i, ())
            cleaned = []
            for e in entries:
                value = e["input"]
                if secrets or not isinstance(value, _SCALARS):
                    cleaned.append(self._clean(e, secrets))
                    continue
                key = (e["loc"], e["type"], e["msg"], value is None)
                found = templates.get(key)
                if found is None:
                    template = self._clean(e, ())
                    hidden = template["input"] == REDACTED or value is None
                    found = templates[key] = (template, hidden)
                template, hidden = found
                cleaned.append(template if hidden else {**template, "input": truncate(value)})
            out[i] = tuple(cleaned)
        return out

    def _clean(self, entry: dict[str, Any], secrets: Sequence[str]) -> dict[str, Any]:
        loc = tuple(_loc_part(p) for p in entry["loc"])
        value = entry["input"]
        reveal = self.redactor.reveal
        known = self.schema.names
        if isinstance(value, Mapping):
            try:
                value = self.redactor.record({str(k): v for k, v in value.items()})
                if not reveal:  # a key the schema does not know (api_keyy) may be a secret
                    value = {k: v if k in known else REDACTED for k, v in value.items()}
            except Exception:
                value = f"<{type(value).__name__}>"
        msg = str(entry["msg"])
        unknown = bool(loc) and isinstance(loc[0], str) and loc[0] not in known and not reveal
        sensitive = unknown or any(self.redactor.is_sensitive(p) for p in loc)
        if sensitive and entry["type"] in _USER_MESSAGES:
            msg = "Value error (message hidden: the field is sensitive)"
        for secret in secrets:
            if secret and not self.redactor.reveal:
                msg = msg.replace(secret, REDACTED)
        out = {
            "loc": loc,
            "type": str(entry["type"]),
            "msg": _cut(msg),
            "input": None if value is None else truncate(value),
        }
        if out["input"] is not None:
            out = self.redactor.error(out)
            if unknown:  # named, never shown
                out["input"] = REDACTED
                out.pop("ctx", None)
        text = out["input"]
        if isinstance(text, str) and not self.redactor.reveal:
            for secret in secrets:
                if secret:
                    text = text.replace(secret, REDACTED)
            out["input"] = text
        return out

    # -- the Layer protocol --------------------------------------------------------------

    def _prepare(self, X: Any, call: Call) -> tuple[ValidationResult, float]:
        t0 = time.perf_counter()
        result = self.validate(X)
        if X is call.raw or call.model_input is None:
            call.model_input = result.model_input
            call.valid = result.valid
        # raw sensitive values per row travel too, for outer layers to scrub their messages
        call.validation = ValidationNote(self.on_invalid, result.invalid, result._secrets)
        if self.on_invalid == "raise" and result.errors:
            raise _error(result, self.schema)
        return result, time.perf_counter() - t0

    def _assemble(
        self, result: ValidationResult, inner: Decisions | None, seconds: float, n: int
    ) -> Decisions:
        valid = result.valid
        if inner is not None and valid.all():
            out = inner
        else:
            details = object_column(n)
            errors = object_column(n)
            texts: dict[tuple[int, ...], str] = {}  # rows sharing cleaned errors share a text
            for i, entries in result.errors.items():
                errors[i] = entries
                key = tuple(id(e) for e in entries)
                if key not in texts:
                    texts[key] = _detail(entries)
                details[i] = texts[key]
            out = Decisions.withheld(
                n,
                Reason.INVALID_INPUT,
                stage=_STAGE,
                classes=self.classes_,
                dtype=self._dtype(),
            ).replace(detail=details, errors=errors)
            if inner is not None:
                out = out.merge(np.flatnonzero(valid), inner)
        if result._secrets and out.detail is not None and not self.redactor.reveal:
            out = out.replace(detail=scrub_details(out.detail, result._secrets))
        if self.repair:
            out = out.replace(repaired=result.repaired.copy())
        out.timings[_STAGE] = out.timings.get(_STAGE, 0.0) + seconds
        return out

    def _dtype(self) -> Any:
        if self.inner.task == "regression":
            return np.float64
        classes = self.classes_
        return object if classes is None else classes.dtype

    def screen(self, X: Any, call: Call) -> Decisions:
        """Validate ``X`` for ``call`` without calling the layers inside.

        For a fallback chain whose primary was skipped (circuit open, deadline passed):
        ``call.model_input`` and ``call.valid`` are set as in a normal call, invalid rows
        come back withheld with ``INVALID_INPUT`` and their errors (raised under policy
        "raise"), and the valid rows come back withheld too, with no detail, for the
        caller to mark with its own reason.
        """
        result, seconds = self._prepare(X, call)
        return self._assemble(result, None, seconds, result.valid.shape[0])

    def decide_call(self, X: Any, call: Call) -> Decisions:
        result, seconds = self._prepare(X, call)
        rows = self._inner_rows(result, call)
        inner = None if rows is None else self.inner.decide_call(rows, call)
        return self._assemble(result, inner, seconds, result.valid.shape[0])

    def awaits_io(self) -> bool:
        return False  # its async path does the sync path's work without a thread hop

    async def adecide_call(self, X: Any, call: Call) -> Decisions:
        result, seconds = self._prepare(X, call)
        rows = self._inner_rows(result, call)
        inner = None if rows is None else await self.inner.adecide_call(rows, call)
        return self._assemble(result, inner, seconds, result.valid.shape[0])

    def fit_call(self, X: Any, y: NDArray[Any], call: Call) -> Decisions:
        result, seconds = self._prepare(X, call)
        idx = np.flatnonzero(result.valid)
        if idx.size == 0:
            raise InvalidInputError(
                "fit() got no valid rows: every row failed validation against "
                f"{self.schema!r}. First errors: {_detail(next(iter(result.errors.values())))}",
                errors=_error_list(result),
            )
        inner = self.inner.fit_call(self._inner_rows(result, call), y[idx], call)
        return self._assemble(result, inner, seconds, result.valid.shape[0])

    def _inner_rows(self, result: ValidationResult, call: Call) -> Any:
        """The valid model-ready rows the layers inside get (sync and async alike), or None
        when a non-empty batch has none. Rows found finite are named on the call, so that
        the model adapter does not scan them a second time."""
        n = result.valid.shape[0]
        if n == 1 or result.valid.all():
            if n == 1 and not result.valid[0]:
                return None
            rows = result.model_input
        else:
            idx = np.flatnonzero(result.valid)
            if idx.size == 0:
                return None
            rows = take_rows(result.model_input, idx)
        if result._finite:
            call.finite_rows = rows
        return rows

    # -- persistence ---------------------------------------------------------------------

    def _to_state(self, enc: Encoder) -> dict[str, Any]:
        model = self.schema.model
        return {
            "schema": enc.ref(
                "schema", f"the pydantic model {model.__module__}.{model.__qualname__}"
            ),
            "fields": list(self.schema.names),
            "encodings": {
                name: [[_json_key(k), v] for k, v in codes.items()]
                for name, codes in self.schema.encodings.items()
            },
            "exclude": list(self.schema.exclude),
            "on_invalid": self.on_invalid,
            "extra": self.extra,
            "repair": {k: None if v is None else sorted(v) for k, v in self.repair.items()},
            "redactor": None if self._user_redactor is None else enc.component(self._user_redactor),
            "as_frame": self.as_frame,
        }

    @classmethod
    def _from_state(cls, state: dict[str, Any], dec: Decoder, inner: Layer | None) -> Validated:
        given = dec.ref(state["schema"])
        if isinstance(given, Schema):
            schema = given
        elif isinstance(given, type) and issubclass(given, pydantic.BaseModel):
            encodings = {
                name: dict(map(tuple, pairs)) for name, pairs in state["encodings"].items()
            }
            schema = Schema(given, encodings=encodings, exclude=state["exclude"])
        else:
            raise ArtifactError(
                f"load(schema=...) must be a pydantic model class or a Schema; got {given!r}"
            )
        if list(schema.names) != list(state["fields"]):
            raise ArtifactError(
                f"the schema given to load() has fields {list(schema.names)}; the guard was "
                f"saved with {state['fields']}"
            )
        redactor = None if state["redactor"] is None else dec.component(state["redactor"])
        return cls(
            inner,
            schema=schema,
            on_invalid=state["on_invalid"],
            extra=state["extra"],
            repair=state["repair"],
            redactor=redactor,
            as_frame=bool(state["as_frame"]),
        )


def _json_key(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def _rows(X: Any) -> int:
    if isinstance(X, np.ndarray):
        return int(X.shape[0]) if X.ndim >= 1 else 1
    if _is_frame(X) or isinstance(X, (list, tuple)):
        return len(X)
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) >= 1:
        return int(shape[0])
    return 1


def _names(names: Sequence[str], limit: int = 12) -> str:
    """Column names as a short list: each cut to 40 characters, at most ``limit`` shown."""
    shown = [n if len(n) <= 40 else n[:37] + "..." for n in names[:limit]]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return f"{shown!r}{more}"


def _cut(text: str) -> str:
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 3] + "..."


def _detail(entries: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for e in entries:
        where = ".".join(str(p) for p in e["loc"]) or "row"
        got = "" if e["input"] is None else f" (got {e['input']})"
        parts.append(f"{where}: {e['msg']}{got}")
    return _cut("invalid input: " + "; ".join(parts))


def _error_list(result: ValidationResult) -> list[dict[str, Any]]:
    return [{"row": i, "errors": list(e)} for i, e in sorted(result.errors.items())]


def _error(result: ValidationResult, schema: Schema) -> InvalidInputError:
    rows = sorted(result.errors)
    shown = "; ".join(f"row {i}: {_detail(result.errors[i])}" for i in rows[:3])
    more = f" (and {len(rows) - 3} more rows)" if len(rows) > 3 else ""
    return InvalidInputError(
        f"{len(rows)} of {result.valid.shape[0]} rows failed validation against "
        f"{schema!r}: {shown}{more}",
        errors=_error_list(result),
    )


def _is_nan(col: NDArray[Any]) -> NDArray[np.bool_]:
    """``(n,)`` bool: cells that are a float NaN (not None, not pd.NA)."""
    if col.dtype.kind in "fc":
        return np.isnan(col) if col.ndim == 1 else np.zeros(len(col), dtype=bool)
    out = np.zeros(len(col), dtype=bool)
    if col.dtype.kind == "O":
        for i, v in enumerate(col.tolist()):
            out[i] = isinstance(v, float) and v != v
    return out
