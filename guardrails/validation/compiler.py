"""Schema compiler: a Schema turned into array checks, run over records, arrays and frames.

The checker holds a schema's bounds as vectors and its encoders, checks a batch in the
cheapest layout the input allows (a float matrix, columns, or records through pydantic),
applies the repairs the user allowed, and builds the model's input from the valid rows.
"""

from __future__ import annotations

import enum
import math
import operator
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from guardrails.core.decisions import object_column
from guardrails.core.layer import _is_frame
from guardrails.validation.convert import (
    _as_mapping,
    _as_number,
    _block_min_max,
    _clip_scalar,
    _codes,
    _decode,
    _encoder,
    _is_missing,
    _is_nan,
    _is_numeric_series,
    _loc_part,
    _lower,
    _safe_str,
    _to_float,
    _type_message,
    _upper,
    _validate,
)
from guardrails.validation.result import ValidationResult as ValidationResult
from guardrails.validation.result import _Checked, _Errors
from guardrails.validation.schema import FieldSpec, Schema

_BOUND_TYPES = frozenset({"greater_than_equal", "greater_than", "less_than_equal", "less_than"})


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
        self.lower_list: list[float] = self.lower.tolist()
        self.upper_list: list[float] = self.upper.tolist()
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
        valid = np.empty(n, dtype=bool)  # (np.ones is a Python-level function: dearer)
        valid.fill(True)
        if errs.batch:
            valid[:] = False
            checked = None
        elif errs.rows:
            valid[list(errs.rows)] = False
        # records went through pydantic, which ran the schema's own validators already
        if checked is not None and checked.rows is None and self.schema.has_custom_validators:
            self._custom(checked, valid, errs, n)
        # without a repair step no row is repaired: the zeros stand as they are
        return checked, valid, (repaired & valid) if self.repair else repaired, errs

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
            row = M[0].tolist()  # one record: the same comparisons without array reductions
            if (
                all(map(math.isfinite, row))
                and all(map(operator.le, self.lower_list, row))
                and all(map(operator.le, row, self.upper_list))
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
            if valid[0] if n == 1 else valid.all():
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


def _names(names: Sequence[str], limit: int = 12) -> str:
    """Column names as a short list: each cut to 40 characters, at most ``limit`` shown."""
    shown = [n if len(n) <= 40 else n[:37] + "..." for n in names[:limit]]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return f"{shown!r}{more}"
