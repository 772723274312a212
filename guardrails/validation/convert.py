"""Cell conversion: one field's values as numbers, category codes and bounds.

Small, pure helpers of the schema compiler: what counts as missing, numbers and category
codes to float64 and back, the bounds a field allows and clipping to them, NaN masks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pydantic
from numpy.typing import NDArray

from guardrails.core.decisions import object_column
from guardrails.core.redaction import truncate
from guardrails.validation.schema import FieldSpec


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


def _is_nan(col: NDArray[Any]) -> NDArray[np.bool_]:
    """``(n,)`` bool: cells that are a float NaN (not None, not pd.NA)."""
    if col.dtype.kind in "fc":
        return np.isnan(col) if col.ndim == 1 else np.zeros(len(col), dtype=bool)
    out = np.zeros(len(col), dtype=bool)
    if col.dtype.kind == "O":
        for i, v in enumerate(col.tolist()):
            out[i] = isinstance(v, float) and v != v
    return out
