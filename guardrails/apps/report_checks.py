"""Checks of what a report is handed: numbers, labels, sequences and table cells.

Each check returns the value in the form the drawing needs (a float array, a str) or raises
a [`ConfigurationError`][guardrails.ConfigurationError] that names the parameter, its owner,
what was expected and what was given, so that bad input never reaches matplotlib.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from guardrails.core.errors import ConfigurationError
from guardrails.core.text import truncate

DASH = "\u2013"  # a missing number, in a table or on a bar


def _check_text(value: Any, name: str, owner: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        raise ConfigurationError(
            f"The {name!r} parameter of {owner} must be a non-empty str. "
            f"Got {truncate(value)} instead."
        )
    return value


def _numbers(
    value: Any,
    *,
    name: str,
    owner: str,
    low: float | None = None,
    high: float | None = None,
    allow_nan: bool = True,
) -> NDArray[np.float64]:
    """A non-empty 1-d float array; NaN marks a missing point, but not every point."""

    def bad(what: str) -> ConfigurationError:
        return ConfigurationError(
            f"The {name!r} parameter of {owner} must be {what}. Got {truncate(value)} instead."
        )

    if isinstance(value, (str, bytes)):
        raise bad("a 1-d sequence of numbers")
    try:
        raw = np.asarray(value)
        if raw.dtype.kind in "US":
            raise ValueError
        arr = raw.astype(np.float64)
    except (TypeError, ValueError):
        raise bad("a 1-d sequence of numbers") from None
    if arr.ndim != 1 or arr.size == 0:
        raise bad("a non-empty 1-d sequence of numbers")
    if np.isinf(arr).any():
        raise bad("finite numbers (NaN marks a missing point)")
    missing = np.isnan(arr)
    if missing.any() and not allow_nan:
        raise bad("numbers without NaN")
    if missing.all():
        raise bad("a sequence with at least one number that is not NaN")
    finite = arr[~missing]
    if (low is not None and (finite < low).any()) or (high is not None and (finite > high).any()):
        span = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise bad(f"numbers in {span}" if high is not None else f"numbers {span}")
    return arr


def _scalar(
    value: Any, *, name: str, owner: str, low: float | None = None, high: float | None = None
) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )
    number = float(value) if ok else math.nan
    if ok and math.isfinite(number):
        ok = (low is None or number >= low) and (high is None or number <= high)
    else:
        ok = False
    if not ok:
        if low is not None and high is not None:
            what = f"a finite number in [{low}, {high}]"
        elif low is not None:
            what = f"a finite number >= {low}"
        else:
            what = "a finite number"
        raise ConfigurationError(
            f"The {name!r} parameter of {owner} must be {what}. Got {truncate(value)} instead."
        )
    return number


def _same_length(owner: str, columns: Mapping[str, NDArray[Any]]) -> None:
    lengths = {k: len(v) for k, v in columns.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{k!r} has {n}" for k, n in lengths.items())
        raise ConfigurationError(
            f"The sequences given to {owner} must have the same length: {listed}."
        )


def _labels(value: Any, *, name: str, owner: str) -> list[str]:
    if isinstance(value, (str, bytes)):
        items = None
    else:
        try:
            items = [str(v) for v in np.asarray(value, dtype=object).tolist()]
        except (TypeError, ValueError):
            items = None
        if items is not None and np.asarray(value, dtype=object).ndim != 1:
            items = None
    if not items:
        raise ConfigurationError(
            f"The {name!r} parameter of {owner} must be a non-empty 1-d sequence of labels. "
            f"Got {truncate(value)} instead."
        )
    return items


def _risk_curve(
    coverage: Any, risk: Any, *, owner: str, prefix: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    cname = f"{prefix}[0] (coverage)" if prefix else "coverage"
    rname = f"{prefix}[1] (risk)" if prefix else "risk"
    cov = _numbers(coverage, name=cname, owner=owner, low=0, high=1, allow_nan=False)
    rsk = _numbers(risk, name=rname, owner=owner, low=0)
    _same_length(owner, {cname: cov, rname: rsk})
    keep = ~np.isnan(rsk)
    return cov[keep], rsk[keep]


def _series(
    series: Any,
    *,
    owner: str,
    n: int,
    low: float | None,
    high: float | None,
    what: str,
) -> dict[str, NDArray[np.float64]]:
    name = "series" if what == "rates" else "scores"
    if not isinstance(series, Mapping) or not series:
        raise ConfigurationError(
            f"The {name!r} parameter of {owner} must be a non-empty mapping of name -> "
            f"{what} per window. Got {truncate(series)} instead."
        )
    out: dict[str, NDArray[np.float64]] = {}
    for key, values in series.items():
        label = _check_text(key, f"{name} key", owner)
        arr = _numbers(values, name=f"{name}[{key!r}]", owner=owner, low=low, high=high)
        _same_length(owner, {"t": np.empty(n), f"{name}[{key!r}]": arr})
        out[label] = arr
    return out


def _moments(value: Any, name: str, owner: str) -> list[Any]:
    if isinstance(value, (str, bytes, _dt.date, np.datetime64, int, float)):
        return [value]
    try:
        return list(value)
    except TypeError:
        raise ConfigurationError(
            f"The {name!r} parameter of {owner} must be a sequence of positions of 't'. "
            f"Got {truncate(value)} instead."
        ) from None


def _cell(value: Any, *, row: int, owner: str) -> str:
    if value is None:
        return DASH
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}" if abs(int(value)) >= 10_000 else str(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if math.isnan(number):
            return DASH
        if math.isinf(number):
            return "∞" if number > 0 else "-∞"
        if abs(number) >= 1000:
            return f"{number:,.0f}"
        return f"{number:.4g}"
    raise ConfigurationError(
        f"Cells in the 'rows' parameter of {owner} must be str, int, float, bool or None "
        f"(labels and aggregate numbers, never records or arrays). Row {row} has "
        f"{type(value).__name__} {truncate(value, 40)}."
    )


def _data(value: Any, owner: str) -> str | None:
    """The ``data`` line of a plot: which rows it draws (None when not given)."""
    if value is None:
        return None
    return _check_text(value, "data", owner)
