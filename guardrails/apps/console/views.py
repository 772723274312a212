"""What the console's pages show, computed from review cases (no HTML here).

The templates get plain values: the input as rows with the fields that failed validation
marked, the probabilities as bars, the label choices with their keyboard keys, and the
labelled cases nearest to this one among a bounded sample.
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from guardrails.core.redaction import REDACTED
from guardrails.review.cases import ReviewCase

__all__ = ["Bar", "Choice", "InputRow", "Similar", "bars", "choices", "input_rows", "similar"]

KEYS = "123456789"
SIMILAR_SAMPLE = 200
"""At most this many resolved cases of the same kind and reason are compared per page."""


@dataclass(frozen=True)
class InputRow:
    field: str
    value: str
    failed: bool
    redacted: bool


@dataclass(frozen=True)
class Bar:
    label: str
    p: float
    width: float
    candidate: bool
    in_set: bool


@dataclass(frozen=True)
class Choice:
    value: str
    text: str
    key: str | None


@dataclass(frozen=True)
class Similar:
    id: str
    label: str
    distance: float


def when(ts: float | None) -> str:
    """A unix time as ``YYYY-MM-DD HH:MM:SSZ``; "-" for None."""
    if ts is None:
        return "-"
    return datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%SZ"
    )


def age(seconds: float) -> str:
    """A duration as ``42 s``, ``5 min``, ``3 h`` or ``2 d``."""
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def show(value: Any) -> str:
    """A context value as text for a table cell (strings bare, the rest as JSON)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        return str(value)


def failed_fields(detail: Any) -> set[str]:
    """The top-level field names a validation detail names (``"invalid input: age: ..."``)."""
    if not isinstance(detail, str) or "invalid input:" not in detail:
        return set()
    text = detail.split("invalid input:", 1)[1]
    out = set()
    for part in text.split("; "):
        where = part.strip().split(": ", 1)[0]
        if where and where != "row":
            out.add(where.split(".", 1)[0])
    return out


def input_rows(case: ReviewCase) -> list[InputRow]:
    """The case's input as (field, value) rows; fields named by the detail are marked."""
    value = case.context.get("input")
    failed = failed_fields(case.context.get("detail"))
    items: Sequence[tuple[Any, Any]]
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    else:
        items = [("value", value)]
    return [InputRow(str(k), show(v), str(k) in failed, v == REDACTED) for k, v in items]


def bars(case: ReviewCase) -> list[Bar]:
    """One bar per class: its calibrated probability, the candidate and the set marked."""
    classes = case.context.get("classes")
    proba = case.context.get("proba")
    if not isinstance(classes, list) or not isinstance(proba, list):
        return []
    if len(classes) != len(proba):
        return []
    candidate = case.context.get("candidate")
    in_set = case.context.get("prediction_set")
    members = {show(c) for c in in_set} if isinstance(in_set, list) else set()
    out = []
    for c, p in zip(classes, proba):
        try:
            value = float(p)
        except (TypeError, ValueError):
            value = math.nan
        width = 0.0 if not math.isfinite(value) else min(1.0, max(0.0, value))
        out.append(
            Bar(
                show(c),
                value,
                round(width * 100.0, 2),
                show(c) == show(candidate),
                show(c) in members,
            )
        )
    return out


def choices(case: ReviewCase) -> list[Choice]:
    """The labels a reviewer can pick (the case's classes), the first nine with keys 1-9."""
    classes = case.classes
    if classes is None:
        return []
    return [
        Choice(show(c), show(c), KEYS[i] if i < len(KEYS) else None) for i, c in enumerate(classes)
    ]


def _numbers(value: Any) -> dict[str, float]:
    if isinstance(value, Mapping):
        items: Sequence[tuple[Any, Any]] = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    else:
        return {}
    out = {}
    for k, v in items:
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out[str(k)] = float(v)
    return out


def similar(case: ReviewCase, labelled: Sequence[ReviewCase], k: int = 3) -> list[Similar]:
    """The ``k`` labelled cases nearest to ``case`` on the numeric input fields they share.

    Each field is scaled by its spread among the compared cases, so no unit dominates;
    cases sharing no numeric field with ``case`` are left out.
    """
    mine = _numbers(case.context.get("input"))
    if not mine:
        return []
    others = [(c, _numbers(c.context.get("input"))) for c in labelled if c.id != case.id]
    others = [(c, nums) for c, nums in others if set(nums) & set(mine)]
    if not others:
        return []
    spread: dict[str, float] = {}
    for key in mine:
        values = [nums[key] for _, nums in others if key in nums] + [mine[key]]
        width = max(values) - min(values)
        spread[key] = width if width > 0 else 1.0
    scored = []
    for c, nums in others:
        shared = [key for key in mine if key in nums]
        d = math.sqrt(sum(((mine[key] - nums[key]) / spread[key]) ** 2 for key in shared))
        scored.append((d / math.sqrt(len(shared)), c.id, c))
    scored.sort(key=lambda t: (t[0], t[1]))
    return [Similar(c.id, show(c.label), round(d, 3)) for d, _, c in scored[:k]]
